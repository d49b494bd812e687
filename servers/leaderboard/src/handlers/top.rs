//! LeaderboardTopReq: a page of the board from `offset`, at most the board's max_top.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{LeaderboardTopReq, LeaderboardTopResp};

use super::{open, wire};
use crate::error::LbError;
use crate::{State, ranking};

pub async fn handle_leaderboard_top(
    ctx: Ctx<State>,
    req: LeaderboardTopReq,
) -> Result<LeaderboardTopResp, HandlerError> {
    let st = ctx.state();
    let (cfg, season, keys) = open(st, &req.board).await?;
    let limit = if req.limit == 0 { cfg.max_top } else { req.limit.min(cfg.max_top) };
    let (total, entries) =
        ranking::page(&st.bus, &keys, cfg, req.offset, limit).await.map_err(LbError::from)?;
    Ok(LeaderboardTopResp { entries: wire(st, &entries).await?, total, season })
}
