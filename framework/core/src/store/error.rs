//! The store's error type, and which MySQL errors mean "run the transaction again".

use std::time::Duration;

/// Deadlock found when trying to get lock; InnoDB rolled the transaction back.
pub const ER_LOCK_DEADLOCK: u16 = 1213;
/// Lock wait timeout exceeded; the statement was rolled back (and with it, here, the
/// transaction).
pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// "Record has changed since last read": MariaDB's conflict under `innodb_snapshot_isolation`.
pub const ER_CHECKREAD: u16 = 1020;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    /// The deadline passed; for a write, whether it committed is unknown (only a commit that
    /// was in flight can have), so writes that must happen once carry an idempotency key.
    #[error("mysql did not answer within {0:?}")]
    Timeout(Duration),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid SQL name {0:?}: only [A-Za-z0-9_], at most 64 characters")]
    InvalidName(String),
    #[error("invalid store configuration: {0}")]
    Config(String),
}

impl StoreError {
    /// The MySQL server error code, when the server answered with an error.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            StoreError::Mysql(mysql_async::Error::Server(e)) => Some(e.code),
            _ => None,
        }
    }

    /// True for conflicts that running the whole transaction again resolves: deadlock, lock
    /// wait timeout, snapshot-isolation conflict. Not for timeouts or lost connections: those
    /// may have committed, and only the caller knows whether a repeat is harmless.
    pub fn is_retryable(&self) -> bool {
        matches!(self.server_code(), Some(ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT | ER_CHECKREAD))
    }

    /// True when MySQL is down, unreachable, overloaded or restarting, rather than the request
    /// being wrong: a client is told `UNAVAILABLE` with a retry hint, not `INTERNAL`.
    pub fn is_unavailable(&self) -> bool {
        use mysql_async::{DriverError, Error};
        match self {
            StoreError::Timeout(_) => true,
            StoreError::Mysql(Error::Io(_)) => true,
            StoreError::Mysql(Error::Driver(
                DriverError::ConnectionClosed | DriverError::PoolDisconnected,
            )) => true,
            // Conflicts still there after every retry, too many connections, shutting down,
            // the connection killed (a statement past its deadline), read-only (a fail-over).
            StoreError::Mysql(Error::Server(e)) => {
                self.is_retryable() || matches!(e.code, 1040 | 1053 | 1077 | 1078 | 1079 | 1927 | 1290 | 1836)
            }
            _ => false,
        }
    }
}
