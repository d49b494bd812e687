//! The matchmaking server's error type, and how it becomes a handler's answer.

use std::time::Duration;

use mmo_core::HandlerError;
use mmo_core::bus::BusError;
use mmo_core::store::StoreError;
use mmo_proto::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum MmError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    /// A match reward's grant failed (the result is delivered again, and the grant applied
    /// once).
    #[error("shop: {0}")]
    Shop(#[from] mmo_shop::ShopError),
    /// A refusal the client is told, with how long to wait before trying again.
    #[error("refused: {0:?}")]
    Refused(ErrorCode, Option<Duration>),
}

impl MmError {
    pub fn refused(code: ErrorCode) -> MmError {
        MmError::Refused(code, None)
    }
}

impl From<MmError> for HandlerError {
    fn from(e: MmError) -> Self {
        match e {
            MmError::Refused(code, None) => HandlerError::Reject(code),
            MmError::Refused(code, Some(wait)) => HandlerError::refuse(code, "", Some(wait)),
            e => HandlerError::internal(e),
        }
    }
}
