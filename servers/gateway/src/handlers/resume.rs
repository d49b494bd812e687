//! ResumeReq: a client whose connection dropped takes its logged-in session back on a new
//! connection (after Hello), within the resume window, instead of logging in again.
//!
//! The token says which player; the presence directory says which session of which gateway
//! holds it. Only this gateway's sessions can be resumed here (the session's queue lives in this
//! process); elsewhere the client gets RESUME_FAILED and logs in with its token. If the old
//! connection has not noticed it is dead yet, it is asked to let go and the session is taken
//! once it is parked (`Registry::take_over`). The session then replaces the new connection's own
//! (`Registry::hand_over`), with the frames the client missed queued first.

use std::time::Duration;

use metrics::counter;
use mmo_core::bus::{node, tokens};
use mmo_core::metrics::RESUMES;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, ResumeReq, ResumeResp};

use crate::State;

/// How long a takeover may take: the old connection only has to notice a flag.
const TAKEOVER_WAIT: Duration = Duration::from_secs(2);

fn fail(result: &'static str, detail: &str) -> HandlerError {
    counter!(RESUMES, "result" => result).increment(1);
    HandlerError::refuse(ErrorCode::ResumeFailed, detail, None)
}

pub async fn handle_resume(ctx: Ctx<State>, req: ResumeReq) -> Result<ResumeResp, HandlerError> {
    let st = ctx.state();
    let Some(bus) = st.bus.as_ref() else { return Err(fail("disabled", "resume is off")) };
    if st.listener.resume_window.is_zero() {
        return Err(fail("disabled", "resume is off"));
    }
    let player = tokens::verify(bus, &req.token)
        .await
        .map_err(HandlerError::internal)?
        .ok_or_else(|| fail("invalid_token", "token not valid"))?;
    let at = node::presence(bus, player)
        .await
        .map_err(HandlerError::internal)?
        .ok_or_else(|| fail("no_session", "no session to resume"))?;
    if at.node != bus.node() {
        return Err(fail("other_gateway", "the session is on another gateway; log in with the token"));
    }
    let session = st
        .registry
        .session(at.session)
        .filter(|s| s.player() == Some(player))
        .ok_or_else(|| fail("no_session", "no session to resume"))?;
    let guard = st
        .registry
        .take_over(&session, TAKEOVER_WAIT)
        .await
        .ok_or_else(|| fail("no_session", "the session could not be taken over"))?;
    match session.resume(req.received) {
        Ok(replayed) => {
            counter!(RESUMES, "result" => "ok").increment(1);
            st.registry.hand_over(ctx.session(), session, guard);
            Ok(ResumeResp { player_id: player.0, replayed: replayed.min(u64::from(u32::MAX)) as u32 })
        }
        Err(e) => {
            // The session stays parked for its window: a login with the token ends it cleanly.
            st.registry.park(guard, st.listener.resume_window);
            Err(fail("count", &e.to_string()))
        }
    }
}
