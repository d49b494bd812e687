//! The event log's errors.

use mmo_core::bus::BusError;
use mmo_core::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EventlogError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

impl From<mysql_async::Error> for EventlogError {
    fn from(e: mysql_async::Error) -> Self {
        EventlogError::Store(StoreError::Mysql(e))
    }
}
