//! The chat server's error type, and how it becomes a handler's answer.

use std::time::Duration;

use mmo_core::HandlerError;
use mmo_core::bus::BusError;
use mmo_core::store::StoreError;
use mmo_proto::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("password hashing: {0}")]
    Hash(String),
    /// A refusal the client is told: the code, a detail, how long to wait.
    #[error("refused: {0:?} {1}")]
    Refused(ErrorCode, String, Option<Duration>),
}

impl ChatError {
    pub fn refused(code: ErrorCode) -> ChatError {
        ChatError::Refused(code, String::new(), None)
    }
}

impl From<redis::RedisError> for ChatError {
    fn from(e: redis::RedisError) -> Self {
        ChatError::Bus(e.into())
    }
}

impl From<ChatError> for HandlerError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::Refused(code, detail, None) if detail.is_empty() => HandlerError::Reject(code),
            ChatError::Refused(code, detail, wait) => HandlerError::refuse(code, detail, wait),
            e => HandlerError::internal(e),
        }
    }
}
