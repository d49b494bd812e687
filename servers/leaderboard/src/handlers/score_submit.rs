//! ScoreSubmitReq: checks the range, then (the submit script, batched with other submits by
//! [`crate::submitter`]) the player's rate and the board's mode (best: kept if better, ties keep
//! the earlier; cumulative: added); the game's validator is asked before the script. A changed
//! entry goes to MySQL through the write-behind (written before the answer when that is full)
//! and, on boards that ask for it, the friends it passed are told.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, ScoreSubmitReq, ScoreSubmitResp};

use super::{me, open, wire};
use crate::config::Mode;
use crate::error::LbError;
use crate::hooks::{Candidate, Verdict};
use crate::ranking::Submitted;
use crate::{State, notify};

pub async fn handle_score_submit(
    ctx: Ctx<State>,
    req: ScoreSubmitReq,
) -> Result<ScoreSubmitResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let (cfg, season, _) = open(st, &req.board).await?;
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
    let out = st
        .submitter
        .submit(&req.board, season, player, req.score, now, !req.skip_rank)
        .await
        .map_err(LbError::from)?;
    let (improved, entry, old) = match out.submitted {
        Submitted::Limited(wait) => {
            return Err(LbError::Refused(ErrorCode::ScoreRateLimited, String::new(), Some(wait)).into());
        }
        Submitted::Done { improved, entry, old } => (improved, entry, old),
    };
    if let Some(row) = out.unsaved {
        // MySQL is behind: this submit waits for its own row rather than dropping it.
        st.writer.write_now(&st.store, vec![row]).await.map_err(LbError::from)?;
    }
    // `old` is there only when this submit moved an existing entry.
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
    let wired = wire(st, std::slice::from_ref(&entry)).await?;
    Ok(ScoreSubmitResp { entry: wired.into_iter().next(), improved, season })
}
