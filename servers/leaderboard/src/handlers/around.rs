//! LeaderboardAroundReq: the sender's entry with the entries above and below it (each side at
//! most the board's max_around). The sender is always among them when it has a score.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{LeaderboardAroundReq, LeaderboardAroundResp};

use super::{me, open, wire};
use crate::error::LbError;
use crate::{State, ranking};

pub async fn handle_leaderboard_around(
    ctx: Ctx<State>,
    req: LeaderboardAroundReq,
) -> Result<LeaderboardAroundResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let (cfg, season, keys) = open(st, &req.board).await?;
    let (before, after) = (req.before.min(cfg.max_around), req.after.min(cfg.max_around));
    let (total, entries) =
        ranking::around(&st.bus, &keys, cfg, player, before, after).await.map_err(LbError::from)?;
    Ok(LeaderboardAroundResp { entries: wire(st, &entries).await?, total, season })
}
