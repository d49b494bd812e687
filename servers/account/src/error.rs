//! The account server's error type (admin functions, start-up), and how its parts become a
//! handler's answer.

use mmo_core::HandlerError;
use mmo_core::bus::BusError;
use mmo_core::store::StoreError;
use mmo_proto::ErrorCode;

use crate::password::HashError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("password hashing: {0}")]
    Hash(#[from] HashError),
    /// No account has this id or username.
    #[error("no account {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<AccountError> for HandlerError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Hash(HashError::Busy(_)) => HandlerError::Reject(ErrorCode::Unavailable),
            AccountError::NotFound(_) => HandlerError::Reject(ErrorCode::PlayerNotFound),
            e => HandlerError::internal(e),
        }
    }
}

/// `?` on store, bus and hashing results inside handlers: all internal, except a full hasher.
pub(crate) trait OrInternal<T> {
    fn or_internal(self) -> Result<T, HandlerError>;
}

impl<T, E: Into<AccountError>> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, HandlerError> {
        self.map_err(|e| HandlerError::from(e.into()))
    }
}
