//! What a handler's failure means for the session.

use mmo_proto::ErrorCode;

/// A handler error says what happens next:
///
/// - [`HandlerError::Reject`]: the client gets an `ErrorResp` with the code; the session goes on.
/// - [`HandlerError::Kick`]: the client gets a `DisconnectNtf` with the code; the connection closes.
/// - [`HandlerError::Refused`]: like `Reject`, with a detail for the player and a retry delay
///   (bans, attempt limits): build it with [`HandlerError::refuse`].
/// - [`HandlerError::Internal`]: logged with its source; the client sees `INTERNAL`.
///
/// Outcomes that are not failures (an empty search, a partial result) belong in the response
/// message, not here.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("rejected: {0:?}")]
    Reject(ErrorCode),
    #[error("kicked: {0:?}")]
    Kick(ErrorCode),
    #[error("refused: {0:?}")]
    Refused(Box<Refusal>),
    #[error("internal: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A rejection with its detail (shown to the player, never parsed) and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub detail: String,
    pub retry_after: Option<std::time::Duration>,
}

impl HandlerError {
    /// A rejection with a detail and an optional retry delay (`ErrorResp.retry_after_ms`).
    pub fn refuse(
        code: ErrorCode,
        detail: impl Into<String>,
        retry_after: Option<std::time::Duration>,
    ) -> Self {
        HandlerError::Refused(Box::new(Refusal { code, detail: detail.into(), retry_after }))
    }

    /// Wraps any error as an internal one.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        HandlerError::Internal(e.into())
    }

    /// `UNAVAILABLE` with a detail and [`UNAVAILABLE_RETRY_AFTER`]: a dependency is down or
    /// overloaded, and the same request may work in a moment.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::refuse(ErrorCode::Unavailable, detail, Some(UNAVAILABLE_RETRY_AFTER))
    }
}

/// A retry delay as `retry_after_ms` says it: 0 for none, else at least 1 (0 would mean none).
pub fn retry_after_ms(retry_after: Option<std::time::Duration>) -> u64 {
    retry_after.map_or(0, |d| (d.as_millis() as u64).max(1))
}

/// The body of an `ErrorResp` to a request of type `request`: the one place it is built, for
/// the gateway's own rejections, a router's refusals and the answers servers send over the bus.
pub fn error_body(
    request: mmo_wire::MsgId,
    code: ErrorCode,
    detail: &str,
    retry_after: Option<std::time::Duration>,
) -> bytes::Bytes {
    let err = mmo_proto::ErrorResp {
        code: code.code(),
        request_msg_id: u32::from(request.0),
        detail: detail.into(),
        retry_after_ms: retry_after_ms(retry_after),
    };
    prost::Message::encode_to_vec(&err).into()
}

/// The retry hint (`ErrorResp.retry_after_ms`) of an `UNAVAILABLE` answered by a server. (The
/// gateway's own, for a server that does not answer, is `[listener] retry_hint`.)
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
