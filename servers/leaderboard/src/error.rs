//! The leaderboard server's error type, and how it becomes a handler's answer.

use std::time::Duration;

use mmo_core::HandlerError;
use mmo_core::bus::BusError;
use mmo_core::store::StoreError;
use mmo_proto::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum LbError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// A reward grant failed (the rollover is retried).
    #[error("reward: {0}")]
    Reward(String),
    /// A refusal the client is told: the code, a detail, how long to wait.
    #[error("refused: {0:?} {1}")]
    Refused(ErrorCode, String, Option<Duration>),
}

impl LbError {
    pub fn refused(code: ErrorCode) -> LbError {
        LbError::Refused(code, String::new(), None)
    }
}

impl From<redis::RedisError> for LbError {
    fn from(e: redis::RedisError) -> Self {
        LbError::Bus(e.into())
    }
}

impl From<LbError> for HandlerError {
    fn from(e: LbError) -> Self {
        match e {
            LbError::Refused(code, detail, None) if detail.is_empty() => HandlerError::Reject(code),
            LbError::Refused(code, detail, wait) => HandlerError::refuse(code, detail, wait),
            e => HandlerError::internal(e),
        }
    }
}
