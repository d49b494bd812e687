//! MatchHistoryReq: the sender's last matches, newest first.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{MatchHistoryReq, MatchHistoryResp, MatchRecord, MatchTeam};

use super::me;
use crate::error::MmError;
use crate::{State, results};

/// Matches returned when the request does not say.
const DEFAULT_LIMIT: u32 = 20;

pub async fn handle_match_history(
    ctx: Ctx<State>,
    req: MatchHistoryReq,
) -> Result<MatchHistoryResp, HandlerError> {
    let limit = if req.limit == 0 { DEFAULT_LIMIT } else { req.limit.min(results::MAX_HISTORY) };
    let entries = results::history(&ctx.state().store, me(&ctx)?, limit).await.map_err(MmError::from)?;
    let matches = entries
        .into_iter()
        .map(|e| MatchRecord {
            match_id: e.match_id,
            mode: e.mode,
            ended_ms: e.ended_ms,
            duration_ms: e.duration_ms,
            team: e.team,
            rank: e.rank,
            score: e.score,
            rating_before: e.rating_before,
            rating_after: e.rating_after,
            teams: e.teams.into_iter().map(|players| MatchTeam { players }).collect(),
        })
        .collect();
    Ok(MatchHistoryResp { matches })
}
