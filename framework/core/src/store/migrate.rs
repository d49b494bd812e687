//! Versioned schema migrations, one history per owning server.
//!
//! Each server keeps its SQL in its own folder (`servers/shop/migrations/V1__wallets.sql`, ...)
//! and embeds it with `refinery::embed_migrations!`, so a binary carries exactly the schema it
//! was built for. [`Store::migrate`] applies what the owner's history table, `_migrations_<owner>`,
//! does not list yet; a restart applies nothing. Separate histories let servers that share a
//! database evolve their tables independently (refinery's default single table would see one
//! server's migrations as "missing" from the other's folder).
//!
//! ```text
//! // In the server crate (which depends on `refinery`):
//! mod embedded {
//!     refinery::embed_migrations!("migrations");
//! }
//! pub const MIGRATIONS: Migrations = Migrations { owner: "shop", runner: embedded::migrations::runner };
//! // At start-up:
//! store.migrate(&MIGRATIONS).await?;
//! ```

use mysql_async::prelude::Queryable;

use super::{Store, StoreError};

/// One server's migrations: its name and the runner `embed_migrations!` generated.
#[derive(Clone, Copy, Debug)]
pub struct Migrations {
    /// Names the history table `_migrations_<owner>`: `[a-z0-9_]`, at most 52 characters.
    pub owner: &'static str,
    /// `migrations::runner` from the owner's `refinery::embed_migrations!`.
    pub runner: fn() -> refinery::Runner,
}

/// What one [`Store::migrate`] call applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    pub owner: String,
    /// In the order applied; empty when the schema was already current.
    pub applied: Vec<AppliedMigration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

impl Store {
    /// Applies `m`'s pending migrations, each in its own transaction (MySQL commits DDL
    /// implicitly, so a failed migration can leave its earlier statements applied: keep one
    /// change per file). Processes starting together are serialised by a server-side lock per
    /// database and owner, so only one of them applies anything. The whole call, waiting for
    /// that lock included, is bounded by `migrate_timeout`.
    pub async fn migrate(&self, m: &Migrations) -> Result<MigrationReport, StoreError> {
        let owner = m.owner;
        let owner_ok = !owner.is_empty()
            && owner.len() <= 52
            && owner.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !owner_ok {
            return Err(StoreError::InvalidName(owner.to_string()));
        }
        let mut runner = (m.runner)();
        runner.set_migration_table_name(format!("_migrations_{owner}"));
        let lock = lock_name(self.database().unwrap_or(""), owner);
        let limit = self.migrate_timeout();

        let work = async {
            let mut conn = self.conn().await?;
            // GET_LOCK answers 1 when taken, 0 when its own timeout passed.
            let secs = limit.as_secs().max(1);
            let got: Option<Option<i64>> = conn.exec_first("SELECT GET_LOCK(?, ?)", (&lock, secs)).await?;
            if got.flatten() != Some(1) {
                return Err(StoreError::Migration(format!(
                    "{owner}: another process holds the migration lock"
                )));
            }
            let mut pool = self.pool().clone();
            let result = runner.run_async(&mut pool).await;
            // Also released if this connection goes away; releasing now lets the next process in.
            let _ = conn.exec_drop("DO RELEASE_LOCK(?)", (&lock,)).await;
            let report = result.map_err(|e| StoreError::Migration(format!("{owner}: {e}")))?;
            Ok(report
                .applied_migrations()
                .iter()
                .map(|mig| AppliedMigration {
                    version: i64::from(mig.version()),
                    name: mig.name().to_string(),
                })
                .collect())
        };
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(applied)) => {
                let report = MigrationReport { owner: owner.to_string(), applied };
                for a in &report.applied {
                    tracing::info!(owner, version = a.version, name = %a.name, "store: migration applied");
                }
                Ok(report)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                metrics::counter!(super::STORE_TIMEOUTS, "op" => "migrate").increment(1);
                Err(StoreError::Timeout(limit))
            }
        }
    }
}

/// A server-wide lock name for migrating `owner` in `database`. MySQL limits lock names to 64
/// characters, so long ones are replaced by a hash of the full name.
fn lock_name(database: &str, owner: &str) -> String {
    let full = format!("mmo_migrate:{database}:{owner}");
    if full.len() <= 64 {
        return full;
    }
    // FNV-1a: stable across builds and platforms, unlike std's randomly seeded hasher.
    let hash =
        full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("mmo_migrate:{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::lock_name;

    #[test]
    fn lock_names_fit_mysql_limit() {
        assert_eq!(lock_name("mmo", "shop"), "mmo_migrate:mmo:shop");
        let long = lock_name(&"d".repeat(64), &"o".repeat(52));
        assert!(long.len() <= 64);
        assert_ne!(long, lock_name(&"d".repeat(64), &"p".repeat(52)));
    }
}
