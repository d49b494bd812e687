//! ScoreSubmitReq: checks the range, then (one script) the player's rate and the board's mode
//! (best: kept if better, ties keep the earlier; cumulative: added); the game's validator is
//! asked before the script. A changed entry is written to MySQL and, on boards that ask for it,
//! the friends it passed are told.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, ScoreSubmitReq, ScoreSubmitResp};

use super::{me, open, wire};
use crate::config::Mode;
use crate::error::LbError;
use crate::hooks::{Candidate, Verdict};
use crate::ranking::{self, Submit, Submitted};
use crate::{State, notify, store};

pub async fn handle_score_submit(
    ctx: Ctx<State>,
    req: ScoreSubmitReq,
) -> Result<ScoreSubmitResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let (cfg, season, keys) = open(st, &req.board).await?;
    // Cumulative boards take any delta that keeps within the range; best boards the score itself.
    let in_range = match cfg.mode {
        Mode::Best => (cfg.min_score..=cfg.max_score).contains(&req.score),
        Mode::Cumulative => req.score.abs() <= cfg.max_score.saturating_sub(cfg.min_score),
    };
    if !in_range {
        let detail = format!("{}..={}", cfg.min_score, cfg.max_score);
        return Err(LbError::Refused(ErrorCode::ScoreOutOfRange, detail, None).into());
    }
    if let Some(v) = &st.validator {
        let c = Candidate { player, board: req.board.clone(), season, score: req.score };
        match v.validate(&c).await.map_err(HandlerError::internal)? {
            Verdict::Accept => {}
            Verdict::Reject(why) => return Err(LbError::Refused(ErrorCode::ScoreRejected, why, None).into()),
        }
    }
    let now = mmo_core::clock::now_ms();
    let s = Submit { keys: &keys, cfg, player, score: req.score, now_ms: now, restore: false };
    let (improved, entry, old) = match ranking::submit(&st.bus, &s).await.map_err(LbError::from)? {
        Submitted::Limited(wait) => {
            return Err(LbError::Refused(ErrorCode::ScoreRateLimited, String::new(), Some(wait)).into());
        }
        Submitted::Done { improved, entry, old } => (improved, entry, old),
    };
    if improved {
        store::save(&st.store, &req.board, cfg, season, (player, entry.score, entry.achieved_ms))
            .await
            .map_err(LbError::from)?;
        if cfg.notify_friends_passed
            && let Some(old) = old
        {
            st.notify.queue(notify::Job {
                board: req.board.clone(),
                cfg: cfg.clone(),
                season,
                old,
                new: entry.clone(),
            });
        }
    }
    let wired = wire(st, std::slice::from_ref(&entry)).await?;
    Ok(ScoreSubmitResp { entry: wired.into_iter().next(), improved, season })
}
