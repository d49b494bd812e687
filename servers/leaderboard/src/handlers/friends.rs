//! LeaderboardFriendsReq: the sender's friends with a score, and the sender, ranked among
//! themselves in the board's style (friends from the account server's table, cached briefly).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{LeaderboardFriendsReq, LeaderboardFriendsResp};

use super::{me, open, wire};
use crate::error::LbError;
use crate::{State, ranking};

pub async fn handle_leaderboard_friends(
    ctx: Ctx<State>,
    req: LeaderboardFriendsReq,
) -> Result<LeaderboardFriendsResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let (cfg, season, keys) = open(st, &req.board).await?;
    let friends = st.people.friends(&st.store, player).await.map_err(LbError::from)?;
    let players: Vec<u64> = friends.iter().copied().chain([player]).collect();
    let mut entries = ranking::of(&st.bus, &keys, cfg, &players).await.map_err(LbError::from)?;
    ranking::rank_among(cfg, &mut entries);
    Ok(LeaderboardFriendsResp { entries: wire(st, &entries).await?, season })
}
