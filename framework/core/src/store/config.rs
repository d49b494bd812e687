//! Configuration of the MySQL/MariaDB store (`[mysql]`) and of write-behind (`[write_behind]`):
//! every limit is a field with a documented default, durations are written like "10s".

use std::time::Duration;

use serde::Deserialize;

use super::StoreError;
use super::retry::RetryPolicy;

/// The connection pool and its deadlines (the `[mysql]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MysqlConfig {
    /// Server and database, `mysql://user[:password]@host[:port]/database`. The environment
    /// variable `MMO_MYSQL_URL` overrides it (see [`MysqlConfig::apply_env`]). Default
    /// `mysql://root@127.0.0.1:3306/mmo`.
    pub url: String,
    /// Idle connections the pool keeps open however long they idle. Default 2.
    pub pool_min: usize,
    /// Connections open at once; callers beyond it wait up to `connect_timeout` for one to be
    /// returned. Default 32.
    pub pool_max: usize,
    /// How long a connection beyond `pool_min` stays open once idle. Closing it at once (the
    /// driver's default) means every burst of more than `pool_min` concurrent statements
    /// connects, authenticates and prepares anew: measured, that capped a two-query request
    /// path at ~0.9k requests/s. Default 60s.
    #[serde(with = "humantime_serde")]
    pub pool_idle_ttl: Duration,
    /// Time to get a connection, whether new or from the pool. Default 5s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time one statement, or one attempt at a transaction, may take; past it the caller gets
    /// `StoreError::Timeout` and the server-side query is killed. Default 10s.
    #[serde(with = "humantime_serde")]
    pub query_timeout: Duration,
    /// Time the migrations of one owner may take at start-up, waiting for another process that
    /// migrates the same owner included. Schema changes on big tables are slow, so this is its
    /// own deadline rather than `query_timeout`. Default 5m.
    #[serde(with = "humantime_serde")]
    pub migrate_timeout: Duration,
    /// Attempts at a statement or transaction that failed on a conflict (deadlock 1213, lock
    /// wait timeout 1205, snapshot conflict 1020), the first one included; 1 means never retry.
    /// Default 5.
    pub retry_attempts: u32,
    /// Pause before the first retry; it doubles on each further retry, and each pause is drawn
    /// between half and all of its nominal length so that conflicting callers spread out.
    /// Default 20ms.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Run `CREATE DATABASE IF NOT EXISTS` for the URL's database on connect, so that a fresh
    /// MariaDB works without a set-up step. Default true.
    pub create_database: bool,
}

impl Default for MysqlConfig {
    fn default() -> Self {
        MysqlConfig {
            url: "mysql://root@127.0.0.1:3306/mmo".into(),
            pool_min: 2,
            pool_max: 32,
            pool_idle_ttl: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            query_timeout: Duration::from_secs(10),
            migrate_timeout: Duration::from_secs(300),
            retry_attempts: 5,
            retry_backoff: Duration::from_millis(20),
            create_database: true,
        }
    }
}

/// The environment variable that overrides [`MysqlConfig::url`].
pub const MYSQL_URL_ENV: &str = "MMO_MYSQL_URL";

impl MysqlConfig {
    /// Applies `MMO_MYSQL_URL` when it is set. That variable often names only the server
    /// (`scripts/services.sh` defaults it to `mysql://root@127.0.0.1:3306`); when it names no
    /// database, the database of the configured URL is kept, so one variable can point every
    /// server at another MariaDB without giving them all the same database.
    pub fn apply_env(&mut self) {
        let configured_db = database_of(&self.url);
        crate::config::env_override(&mut self.url, MYSQL_URL_ENV);
        if database_of(&self.url).is_none()
            && let Some(db) = configured_db
        {
            self.url = with_database(&self.url, &db);
        }
    }

    /// The database named by the URL, if any.
    pub fn database(&self) -> Option<String> {
        database_of(&self.url)
    }

    /// Points the URL at another database on the same server.
    pub fn set_database(&mut self, name: &str) -> Result<(), StoreError> {
        super::check_ident(name)?;
        self.url = with_database(&self.url, name);
        Ok(())
    }

    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy { attempts: self.retry_attempts, backoff: self.retry_backoff }
    }

    /// Checks relations between fields that serde cannot.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.pool_max == 0 || self.pool_min > self.pool_max {
            return Err(StoreError::Config("mysql.pool_max must be >= 1 and >= mysql.pool_min".into()));
        }
        if self.retry_attempts == 0 {
            return Err(StoreError::Config("mysql.retry_attempts must be at least 1".into()));
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("query_timeout", self.query_timeout),
            ("migrate_timeout", self.migrate_timeout),
        ] {
            if d.is_zero() {
                return Err(StoreError::Config(format!("mysql.{name} must be > 0")));
            }
        }
        Ok(())
    }
}

/// Write-behind of frequently changing rows (the `[write_behind]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WriteBehindConfig {
    /// Time between background flushes: the most progress a crash can lose. Default 2s.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Rows per multi-row upsert statement. Larger batches cost fewer round trips and commits;
    /// `batch_rows` x columns must stay within MySQL's 65535 placeholders. Default 500.
    pub batch_rows: usize,
    /// Distinct keys waiting to be written. Past half of it the flusher is woken early; at the
    /// limit, marking a key that is not already waiting is refused (overwrites always succeed).
    /// Default 100000.
    pub max_dirty: usize,
}

impl Default for WriteBehindConfig {
    fn default() -> Self {
        WriteBehindConfig { interval: Duration::from_secs(2), batch_rows: 500, max_dirty: 100_000 }
    }
}

/// The path of a `scheme://authority/path?query` URL, split as (before path, path, after path).
/// Credentials containing `/`, `?` or `#` must be percent-encoded in a URL, so the first of
/// those after the authority starts the path.
fn split_path(url: &str) -> (&str, &str, &str) {
    let auth_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[auth_start..];
    let path_start = auth_start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after = &url[path_start..];
    let path_len = after.find(['?', '#']).unwrap_or(after.len());
    (&url[..path_start], &after[..path_len], &after[path_len..])
}

fn database_of(url: &str) -> Option<String> {
    let (_, path, _) = split_path(url);
    let db = path.trim_start_matches('/');
    (!db.is_empty()).then(|| db.to_string())
}

fn with_database(url: &str, db: &str) -> String {
    let (head, _, tail) = split_path(url);
    format!("{head}/{db}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_read_and_replaced() {
        assert_eq!(database_of("mysql://root@127.0.0.1:3306/mmo"), Some("mmo".into()));
        assert_eq!(database_of("mysql://root@127.0.0.1:3306"), None);
        assert_eq!(database_of("mysql://root@127.0.0.1:3306/"), None);
        assert_eq!(database_of("mysql://u:p@h/db?pool_max=3"), Some("db".into()));
        assert_eq!(with_database("mysql://root@127.0.0.1:3306", "x"), "mysql://root@127.0.0.1:3306/x");
        assert_eq!(with_database("mysql://u:p@h/db?a=1", "y"), "mysql://u:p@h/y?a=1");
        assert_eq!(with_database("mysql://u:p@h/?a=1", "y"), "mysql://u:p@h/y?a=1");
    }

    #[test]
    fn defaults_parse_from_empty_toml() {
        let c: MysqlConfig = crate::config::from_toml_str("").expect("parse");
        assert_eq!(c, MysqlConfig::default());
        c.validate().expect("defaults are valid");
        let w: WriteBehindConfig =
            crate::config::from_toml_str("interval = \"500ms\"\nbatch_rows = 10").expect("parse");
        assert_eq!(w.interval, Duration::from_millis(500));
        assert_eq!(w.max_dirty, 100_000);
        assert!(crate::config::from_toml_str::<MysqlConfig>("nope = 1").is_err());
    }
}
