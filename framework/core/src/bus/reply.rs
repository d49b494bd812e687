//! Answers sent back over the bus to a gateway's inbox: the one place their envelopes are laid
//! out, so every server (a `serve`d router, a zone node, a zone instance) answers alike.
//!
//! - An **answer** completes a forwarded request (`complete`, the request's seq): the
//!   gateway hands the session its next frame only then. A one-way request's answer (only ever
//!   a rejection) completes nothing: the gateway never waited.
//! - A **rejection** is an answer carrying an `ErrorResp` (with `detail` and `retry_after_ms`
//!   when there is something to say). A protocol violation (a body that does not decode) is also
//!   a strike against the session (`strike`).

use std::time::Duration;

use bytes::Bytes;
use mmo_proto::bus::Answer;
use mmo_proto::{ErrorCode, ErrorResp};
use mmo_wire::{MsgId, MsgType};

/// The answer to request `seq` of `session`, without a frame yet (`msg_id` 0: it only
/// completes, or carries changes to the session such as a stage or a binding).
pub fn answer(session: u64, seq: u32, oneway: bool) -> Answer {
    Answer { session, seq, complete: !oneway, ..Default::default() }
}

/// The answer carrying a response to request `seq` of `session`.
pub fn response(session: u64, seq: u32, id: MsgId, body: Bytes) -> Answer {
    Answer { msg_id: u32::from(id.0), body, ..answer(session, seq, false) }
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
) -> Answer {
    let mut answer = answer(session, seq, oneway);
    reject(&mut answer, request, code, detail, retry_after);
    answer
}

/// Makes `answer` the rejection of its request (of type `request`).
pub fn reject(
    answer: &mut Answer,
    request: MsgId,
    code: ErrorCode,
    detail: &str,
    retry_after: Option<Duration>,
) {
    answer.msg_id = u32::from(ErrorResp::ID.0);
    answer.body = crate::error::error_body(request, code, detail, retry_after);
    // A protocol violation only a server can see.
    answer.strike |= code == ErrorCode::MalformedBody;
}
