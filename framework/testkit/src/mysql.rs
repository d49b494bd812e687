//! A fresh MySQL/MariaDB database per test: `mmo_test_<random hex>` on the server named by
//! `MMO_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`), dropped afterwards, so tests run in
//! parallel without seeing each other's rows and leave nothing behind.

use std::time::Duration;

use mmo_core::store::{MYSQL_URL_ENV, MysqlConfig, Store};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};

/// The server tests use when `MMO_MYSQL_URL` is not set (what `scripts/services.sh` ensures).
pub const DEFAULT_SERVER_URL: &str = "mysql://root@127.0.0.1:3306";
/// Bound on dropping the database, so a stuck server cannot hang a test's exit.
const DROP_TIMEOUT: Duration = Duration::from_secs(30);

/// A database that exists for one test. Call [`TestDb::cleanup`] at the end; if the test
/// panics first, dropping the value drops the database on a helper thread.
pub struct TestDb {
    store: Option<Store>,
    config: MysqlConfig,
    name: String,
    dropped: bool,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish()
    }
}

impl TestDb {
    /// Creates the database and connects to it with default settings. Panics when the server
    /// does not answer: a test that needs MySQL cannot pass without it.
    pub async fn new() -> TestDb {
        Self::with_config(|_| {}).await
    }

    /// Like [`TestDb::new`], after letting `adjust` change the settings (timeouts, pool size).
    /// The URL it leaves is ignored: the database is always a fresh one.
    pub async fn with_config(adjust: impl FnOnce(&mut MysqlConfig)) -> TestDb {
        let name = format!("mmo_test_{:016x}", rand::random::<u64>());
        let mut config = MysqlConfig::default();
        adjust(&mut config);
        config.url = server_url();
        config.set_database(&name).expect("generated database name is valid");
        config.create_database = true;
        let store = Store::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("MySQL at {} (run scripts/services.sh): {e}", config.url));
        TestDb { store: Some(store), config, name, dropped: false }
    }

    /// The pool on the test's database.
    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("store is present until cleanup")
    }

    /// Settings that reach the test's database: [`Store::connect`] on them opens a second,
    /// independent pool (a "restarted" server).
    pub fn config(&self) -> &MysqlConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Closes the pool and drops the database.
    pub async fn cleanup(mut self) {
        if let Some(store) = self.store.take() {
            // Connections still held elsewhere (a flusher task) would make this wait forever.
            let _ = tokio::time::timeout(Duration::from_secs(5), store.disconnect()).await;
        }
        match tokio::time::timeout(DROP_TIMEOUT, drop_database(&self.config, &self.name)).await {
            Ok(Ok(())) => self.dropped = true,
            Ok(Err(e)) => eprintln!("TestDb: could not drop {}: {e}", self.name),
            Err(_) => eprintln!("TestDb: dropping {} timed out", self.name),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Reached when a test panicked before `cleanup`. Drop cannot await, and the test's
        // runtime may be the current-thread kind that cannot block on itself, so a helper
        // thread with its own runtime drops the database; joining it makes sure that happens
        // before the test process exits.
        let config = self.config.clone();
        let name = self.name.clone();
        let helper = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match rt {
                Ok(rt) => {
                    let r = rt.block_on(async {
                        tokio::time::timeout(DROP_TIMEOUT, drop_database(&config, &name)).await
                    });
                    if !matches!(r, Ok(Ok(()))) {
                        eprintln!("TestDb: could not drop {name}");
                    }
                }
                Err(e) => eprintln!("TestDb: no runtime to drop {name}: {e}"),
            }
        });
        let _ = helper.join();
    }
}

/// `DROP DATABASE IF EXISTS` over a connection that names no database.
async fn drop_database(config: &MysqlConfig, name: &str) -> Result<(), mysql_async::Error> {
    let opts = Opts::from_url(&config.url).map_err(mysql_async::Error::Url)?;
    let mut conn = Conn::new(OptsBuilder::from_opts(opts).db_name(None::<String>)).await?;
    // `name` was generated from hex digits and checked by `set_database`.
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`")).await?;
    conn.disconnect().await
}

/// The MySQL server the tests share: `MMO_MYSQL_URL`, or [`DEFAULT_SERVER_URL`].
pub fn server_url() -> String {
    std::env::var(MYSQL_URL_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_string())
}

/// The address of the MySQL server `url` names (where a [`crate::proxy::TcpProxy`] in front of
/// it forwards to).
pub async fn server_addr(url: &str) -> std::net::SocketAddr {
    let o = Opts::from_url(url).expect("a MySQL URL");
    let mut addrs = tokio::net::lookup_host((o.ip_or_hostname(), o.tcp_port())).await.expect("MySQL host");
    addrs.next().expect("MySQL host has an address")
}

/// `url` with its host and port replaced by `addr` (a proxy's), over TCP only: by default the
/// driver switches to MySQL's Unix socket when it finds one, which would bypass the proxy.
pub fn url_through(url: &str, addr: std::net::SocketAddr) -> String {
    let o = Opts::from_url(url).expect("a MySQL URL");
    let auth = match (o.user(), o.pass()) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (Some(u), None) => format!("{u}@"),
        _ => String::new(),
    };
    format!("mysql://{auth}{addr}/{}?prefer_socket=false", o.db_name().unwrap_or_default())
}
