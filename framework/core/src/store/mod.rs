//! Persistence in MySQL/MariaDB: a pool with deadlines, per-server migrations, retry of
//! conflicting transactions, and write-behind of hot rows.
//!
//! MySQL is the system of record (accounts, progress, wallets, purchases); this module is the
//! one road to it, and it keeps the framework's rules on that road:
//!
//! - **Every read has a deadline.** Getting a connection is bounded by `connect_timeout`, each
//!   statement or transaction attempt by `query_timeout`. A statement that runs out of time is
//!   killed on the server (`KILL <connection id>`) rather than left to finish unobserved: a
//!   write the caller was told failed must not commit later behind its back.
//! - **Each server owns its tables.** A server embeds its own migrations folder with
//!   `refinery::embed_migrations!` and hands it to [`Store::migrate`] under its own name; the
//!   history of each owner lives in its own table, `_migrations_<owner>`.
//! - **Conflicts are retried, nothing else is.** Deadlock (1213), lock wait timeout (1205) and
//!   MariaDB's snapshot-isolation conflict (1020) mean "run the whole transaction again";
//!   [`retry`] and [`Store::in_tx`] do that with bounded, jittered, doubling pauses. Any other
//!   error is returned at once.
//! - **Every queue is bounded.** [`WriteBehind`] keeps the newest value per key in a dirty set
//!   of at most `max_dirty` keys and writes it as multi-row upserts.
//!
//! Metric names are the constants below (base units, low-cardinality labels).

mod config;
mod error;
mod migrate;
mod pool;
mod retry;
mod write_behind;

pub use config::{MYSQL_URL_ENV, MysqlConfig, WriteBehindConfig};
pub use error::{ER_CHECKREAD, ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, StoreError};
pub use migrate::{AppliedMigration, MigrationReport, Migrations};
pub use pool::{Store, TxFuture};
pub use retry::{RetryPolicy, retry};
pub use write_behind::{Upsert, WriteBehind, WriteBehindFull};

/// Label `op` (`exec`, `tx`, `upsert`): seconds a statement or transaction attempt took,
/// waiting for the connection excluded.
pub const STORE_QUERY_SECONDS: &str = "mmo_store_query_seconds";
/// Label `code` (`1213`, `1205`, `1020`): attempts retried after a conflict.
pub const STORE_RETRIES: &str = "mmo_store_retries_total";
/// Label `op` (`connect`, `exec`, `tx`, `upsert`, `migrate`): deadlines missed.
pub const STORE_TIMEOUTS: &str = "mmo_store_timeouts_total";
/// Label `table`: rows written by write-behind flushes.
pub const WRITE_BEHIND_ROWS: &str = "mmo_write_behind_rows_total";
/// Label `table`: keys waiting to be written.
pub const WRITE_BEHIND_DIRTY: &str = "mmo_write_behind_dirty";
/// Label `table`: seconds one flush took, all its batches included.
pub const WRITE_BEHIND_FLUSH_SECONDS: &str = "mmo_write_behind_flush_seconds";
/// Label `table`: flushes that failed (their rows were put back to be written later).
pub const WRITE_BEHIND_FAILURES: &str = "mmo_write_behind_failures_total";
/// Label `table`: marks refused because the dirty set was full.
pub const WRITE_BEHIND_REFUSED: &str = "mmo_write_behind_refused_total";

/// Checks a name that is spliced into SQL (database, table, column): identifiers cannot be
/// bound as parameters, so only `[A-Za-z0-9_]`, at most 64 characters (MySQL's limit), may pass.
pub(crate) fn check_ident(name: &str) -> Result<(), StoreError> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok { Ok(()) } else { Err(StoreError::InvalidName(name.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::check_ident;

    #[test]
    fn identifiers_are_checked() {
        assert!(check_ident("players_2").is_ok());
        for bad in ["", "a b", "a`b", "a;drop", "é", &"x".repeat(65)] {
            assert!(check_ident(bad).is_err(), "{bad:?}");
        }
    }
}
