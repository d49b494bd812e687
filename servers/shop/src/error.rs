//! The shop's error type, and how it becomes a handler's answer: refusals carry their code,
//! MySQL being down or overloaded is `SHOP_STORE_UNAVAILABLE` with a retry hint.

use std::time::Duration;

use mmo_core::HandlerError;
use mmo_core::store::StoreError;
use mmo_proto::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A refusal the client is told: the code and a detail.
    #[error("refused: {0:?} {1}")]
    Refused(ErrorCode, String),
    /// A grant or catalog that makes no sense (caller's bug or a bad file).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl ShopError {
    pub fn refused(code: ErrorCode) -> ShopError {
        ShopError::Refused(code, String::new())
    }

    /// The code a refusal carries (None for other errors).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ShopError::Refused(c, _) => Some(*c),
            _ => None,
        }
    }

    /// The handler's answer; `retry` is the hint sent when MySQL is unavailable.
    pub fn into_handler(self, retry: Duration) -> HandlerError {
        match self {
            ShopError::Refused(code, d) if d.is_empty() => HandlerError::Reject(code),
            ShopError::Refused(code, d) => HandlerError::refuse(code, d, None),
            ShopError::Invalid(d) => HandlerError::refuse(ErrorCode::InvalidArgument, d, None),
            ShopError::Store(e) if e.is_unavailable() => {
                HandlerError::refuse(ErrorCode::ShopStoreUnavailable, "store unavailable", Some(retry))
            }
            e => HandlerError::internal(e),
        }
    }
}

impl From<mysql_async::Error> for ShopError {
    fn from(e: mysql_async::Error) -> Self {
        ShopError::Store(StoreError::Mysql(e))
    }
}
