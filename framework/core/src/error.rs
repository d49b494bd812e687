//! What a handler's failure means for the session.

use mmo_proto::ErrorCode;

/// A handler error says what happens next:
///
/// - [`HandlerError::Reject`]: the client gets an `ErrorResp` with the code; the session goes on.
/// - [`HandlerError::Kick`]: the client gets a `DisconnectNtf` with the code; the connection closes.
/// - [`HandlerError::Internal`]: logged with its source; the client sees `INTERNAL`.
///
/// Domain outcomes that are not failures (name taken, not enough gold) belong in the response
/// message, not here.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("rejected: {0:?}")]
    Reject(ErrorCode),
    #[error("kicked: {0:?}")]
    Kick(ErrorCode),
    #[error("internal: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// Wraps any error as an internal one.
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        HandlerError::Internal(e.into())
    }
}
