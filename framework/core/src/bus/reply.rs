//! Answers sent back over the bus to a gateway's inbox: the one place their envelopes are laid
//! out, so every server (a `serve`d router, a zone node, a zone instance) answers alike.
//!
//! - An **answer** completes a forwarded request (flag `COMPLETE`, the request's seq): the
//!   gateway hands the session its next frame only then. A one-way request's answer (only ever
//!   a rejection) completes nothing: the gateway never waited.
//! - A **rejection** is an answer carrying an `ErrorResp` (with `detail` and `retry_after_ms`
//!   when there is something to say). A protocol violation (a body that does not decode) is also
//!   a strike against the session (flag `STRIKE`).

use std::time::Duration;

use bytes::Bytes;
use mmo_proto::bus::{COMPLETE, Envelope, STRIKE};
use mmo_proto::{ErrorCode, ErrorResp};
use mmo_wire::{MsgId, MsgType};

/// The answer envelope to request `seq` of `session`, without a body yet (`msg_id` 0: it only
/// completes, or carries changes to the session such as a stage or a binding).
pub fn answer(session: u64, seq: u32, oneway: bool) -> Envelope {
    Envelope { session, seq, flags: if oneway { 0 } else { COMPLETE }, ..Default::default() }
}

/// The answer carrying `msg` (a response) to request `seq` of `session`.
pub fn response(session: u64, seq: u32, id: MsgId, body: Bytes) -> Envelope {
    Envelope { msg_id: u32::from(id.0), body, ..answer(session, seq, false) }
}

/// The rejection of request `seq` (of type `request`) of `session`: an `ErrorResp`, a strike
/// if the body did not decode (`MALFORMED_BODY`).
pub fn rejection(
    session: u64,
    seq: u32,
    request: MsgId,
    oneway: bool,
    code: ErrorCode,
    detail: &str,
    retry_after: Option<Duration>,
) -> Envelope {
    let mut env = answer(session, seq, oneway);
    env.msg_id = u32::from(ErrorResp::ID.0);
    env.body = crate::error::error_body(request, code, detail, retry_after);
    mark_strike(&mut env, code);
    env
}

/// Sets `STRIKE` on an answer whose code is a protocol violation only a server can see.
fn mark_strike(env: &mut Envelope, code: ErrorCode) {
    if code == ErrorCode::MalformedBody {
        env.flags |= STRIKE;
    }
}
