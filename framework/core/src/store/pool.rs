//! [`Store`]: the connection pool, and every way of running SQL through it under a deadline.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use mysql_async::prelude::{FromRow, Queryable};
use mysql_async::{Conn, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Transaction, TxOpts};

use super::retry::RetryPolicy;
use super::{MysqlConfig, STORE_QUERY_SECONDS, STORE_TIMEOUTS, StoreError, check_ident};

/// What an [`Store::in_tx`] closure returns: the transaction's work, borrowing the transaction.
pub type TxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, mysql_async::Error>> + Send + 'a>>;

/// A pool of connections to one database, with the deadlines and retry policy of its
/// [`MysqlConfig`]. Cheap to clone: clones share the pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    database: Option<String>,
    connect_timeout: Duration,
    query_timeout: Duration,
    migrate_timeout: Duration,
    retry: RetryPolicy,
}

impl Store {
    /// Opens the pool and checks that the server answers. With `create_database`, first
    /// creates the URL's database if it does not exist (over a connection that names no
    /// database, since one that names a missing database is refused).
    pub async fn connect(cfg: &MysqlConfig) -> Result<Store, StoreError> {
        cfg.validate()?;
        let opts = Opts::from_url(&cfg.url).map_err(|e| StoreError::Config(format!("mysql.url: {e}")))?;
        let database = opts.db_name().map(str::to_string);
        if let Some(db) = &database {
            check_ident(db)?;
            if cfg.create_database {
                let server = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
                let mut conn = deadline(cfg.connect_timeout, "connect", Conn::new(server)).await?;
                // The name was checked above: it can be spliced into the statement.
                let sql = format!("CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4");
                deadline(cfg.query_timeout, "exec", conn.query_drop(sql)).await?;
                // A failed goodbye does not matter: the database exists.
                let _ = conn.disconnect().await;
            }
        }
        let constraints = PoolConstraints::new(cfg.pool_min, cfg.pool_max)
            .ok_or_else(|| StoreError::Config("mysql.pool_min must not exceed mysql.pool_max".into()))?;
        // Connections are not reset (COM_RESET_CONNECTION) on their way back to the pool: a
        // reset costs a round trip and forgets the connection's prepared statements, so every
        // statement would be prepared again each time. The price is a rule: leave no session
        // state (`SET @var`, `SET SESSION`, temporary tables, `GET_LOCK`) on a pooled
        // connection. Transactions always end in commit or rollback, and a connection cut off
        // by a deadline is killed, never reused.
        let pool_opts = PoolOpts::new()
            .with_constraints(constraints)
            .with_reset_connection(false)
            .with_inactive_connection_ttl(cfg.pool_idle_ttl);
        let pool = Pool::new(OptsBuilder::from_opts(opts).pool_opts(pool_opts));
        let store = Store {
            pool,
            database,
            connect_timeout: cfg.connect_timeout,
            query_timeout: cfg.query_timeout,
            migrate_timeout: cfg.migrate_timeout,
            retry: cfg.retry_policy(),
        };
        // Fail at start-up, not on the first request, when the server is not there.
        let mut conn = store.conn().await?;
        store.timed("exec", conn.ping()).await?;
        Ok(store)
    }

    /// The underlying pool, for work this type has no helper for. Work done through it has
    /// no deadline unless the caller adds one ([`Store::timed`]).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The database the pool is connected to.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn query_timeout(&self) -> Duration {
        self.query_timeout
    }

    pub(crate) fn migrate_timeout(&self) -> Duration {
        self.migrate_timeout
    }

    /// A connection from the pool, within `connect_timeout` (which also bounds the wait for
    /// a free one when all `pool_max` are in use).
    pub async fn conn(&self) -> Result<Conn, StoreError> {
        deadline(self.connect_timeout, "connect", self.pool.get_conn()).await
    }

    /// Runs `fut` under `query_timeout` and records its duration. On timeout the server-side
    /// work is not stopped: prefer the helpers below, which kill it, when the future runs on a
    /// connection you hold.
    pub async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, mysql_async::Error>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let r = deadline(self.query_timeout, op, fut).await;
        metrics::histogram!(STORE_QUERY_SECONDS, "op" => op).record(started.elapsed().as_secs_f64());
        r
    }

    /// Executes one prepared statement and discards its result.
    pub async fn exec_drop(&self, stmt: &str, params: impl Into<Params> + Send) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let id = conn.id();
        let r = self.timed("exec", conn.exec_drop(stmt, params)).await;
        self.settle(r, id, conn)
    }

    /// [`Store::exec_drop`] for write-behind batches, which also waits, after a timeout, until
    /// the server has killed the statement: the rows go back into the dirty set only then, so
    /// a straggling old batch cannot commit after a later flush wrote newer values.
    pub(crate) async fn upsert(&self, stmt: &str, params: Vec<mysql_async::Value>) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let id = conn.id();
        let r = self.timed("upsert", conn.exec_drop(stmt, params)).await;
        if matches!(r, Err(StoreError::Timeout(_))) {
            let _ = self.kill(id, conn).await;
        }
        r
    }

    /// Executes one prepared statement and collects its rows.
    pub async fn exec<T: FromRow + Send + 'static>(
        &self,
        stmt: &str,
        params: impl Into<Params> + Send,
    ) -> Result<Vec<T>, StoreError> {
        let mut conn = self.conn().await?;
        let id = conn.id();
        let r = self.timed("exec", conn.exec(stmt, params)).await;
        self.settle(r, id, conn)
    }

    /// Executes one prepared statement and returns its first row, if any.
    pub async fn exec_first<T: FromRow + Send + 'static>(
        &self,
        stmt: &str,
        params: impl Into<Params> + Send,
    ) -> Result<Option<T>, StoreError> {
        let mut conn = self.conn().await?;
        let id = conn.id();
        let r = self.timed("exec", conn.exec_first(stmt, params)).await;
        self.settle(r, id, conn)
    }

    /// Runs text SQL (several statements allowed) and discards the results: DDL, `SET`, and
    /// statements the binary protocol cannot prepare.
    pub async fn query_drop(&self, sql: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let id = conn.id();
        let r = self.timed("exec", conn.query_drop(sql)).await;
        self.settle(r, id, conn)
    }

    /// Runs `f` in a transaction and commits, retrying the whole transaction on a conflict
    /// (see [`retry`](super::retry)). In each attempt, getting a connection and `BEGIN` have
    /// `connect_timeout`, then `f` and the commit together have `query_timeout`.
    /// When `f` fails the transaction is rolled back and its error returned (after retries,
    /// if it was a conflict). `f` is called once per attempt, so it must not consume what it
    /// captures: clone owned values into the future it returns.
    ///
    /// ```no_run
    /// # use mmo_core::store::{Store, StoreError};
    /// # async fn demo(store: &Store, player: u64, price: u64) -> Result<bool, StoreError> {
    /// use mysql_async::prelude::Queryable;
    /// store
    ///     .in_tx(|tx| {
    ///         Box::pin(async move {
    ///             let gold: Option<u64> =
    ///                 tx.exec_first("SELECT gold FROM wallets WHERE player = ? FOR UPDATE", (player,)).await?;
    ///             if gold.unwrap_or(0) < price {
    ///                 return Ok(false); // not enough gold is an answer, not an error
    ///             }
    ///             tx.exec_drop("UPDATE wallets SET gold = gold - ? WHERE player = ?", (price, player)).await?;
    ///             Ok(true)
    ///         })
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn in_tx<T, F>(&self, mut f: F) -> Result<T, StoreError>
    where
        T: Send,
        F: for<'a> FnMut(&'a mut Transaction<'static>) -> TxFuture<'a, T> + Send,
    {
        let mut attempt = 1;
        loop {
            match self.tx_once(&mut f).await {
                Ok(v) => return Ok(v),
                Err(e) => match self.retry.after_failure(attempt, &e) {
                    Some(pause) => {
                        tokio::time::sleep(pause).await;
                        attempt += 1;
                    }
                    None => return Err(e),
                },
            }
        }
    }

    async fn tx_once<T, F>(&self, f: &mut F) -> Result<T, StoreError>
    where
        F: for<'a> FnMut(&'a mut Transaction<'static>) -> TxFuture<'a, T>,
    {
        let mut tx =
            deadline(self.connect_timeout, "connect", self.pool.start_transaction(TxOpts::default())).await?;
        let id = tx.id();
        let started = Instant::now();
        let r = tokio::time::timeout(self.query_timeout, f(&mut tx)).await;
        let out = match r {
            Ok(Ok(v)) => {
                let left = self.query_timeout.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, tx.commit()).await {
                    Ok(Ok(())) => Ok(v),
                    Ok(Err(e)) => Err(StoreError::Mysql(e)),
                    Err(_) => {
                        // The commit future owned the transaction and is gone; the kill
                        // still stops whatever the server was doing on that connection.
                        drop(self.kill(id, ()));
                        Err(self.timeout_error("tx"))
                    }
                }
            }
            Ok(Err(e)) => {
                // Roll back now rather than leave it to the pool: after a lock wait timeout
                // (1205) InnoDB keeps the transaction's other locks, and the retry must not
                // queue behind them.
                let left = self.query_timeout.saturating_sub(started.elapsed());
                let _ = tokio::time::timeout(left, tx.rollback()).await;
                Err(StoreError::Mysql(e))
            }
            Err(_) => {
                drop(self.kill(id, tx));
                Err(self.timeout_error("tx"))
            }
        };
        metrics::histogram!(STORE_QUERY_SECONDS, "op" => "tx").record(started.elapsed().as_secs_f64());
        out
    }

    /// Closes every connection. Waits for connections taken from the pool to come back.
    pub async fn disconnect(self) -> Result<(), StoreError> {
        Ok(self.pool.disconnect().await?)
    }

    /// Turns the result of work on `conn` into the caller's result. After a timeout the
    /// connection is mid-statement: it is killed and never returned to the pool in that state.
    fn settle<T>(&self, r: Result<T, StoreError>, id: u32, conn: Conn) -> Result<T, StoreError> {
        if matches!(r, Err(StoreError::Timeout(_))) {
            drop(self.kill(id, conn));
        }
        r
    }

    fn timeout_error(&self, op: &'static str) -> StoreError {
        metrics::counter!(STORE_TIMEOUTS, "op" => op).increment(1);
        StoreError::Timeout(self.query_timeout)
    }

    /// Kills connection `id` on the server, in the background, then drops `holder` (the
    /// connection or transaction that was running on it). The server would otherwise finish a
    /// statement whose caller has already been told it failed (and a write could commit), and
    /// the connection, possibly cut mid-packet, must not be reused: killed, it is discarded
    /// by the pool when dropped.
    /// The returned handle resolves once the kill is done (or failed); callers that need not
    /// wait drop it.
    pub(crate) fn kill<H: Send + 'static>(&self, id: u32, holder: H) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        let connect_timeout = self.connect_timeout;
        let query_timeout = self.query_timeout;
        tokio::spawn(async move {
            let killed = tokio::time::timeout(connect_timeout + query_timeout, async {
                let mut conn = pool.get_conn().await?;
                // `id` is a number: nothing to escape.
                conn.query_drop(format!("KILL {id}")).await
            })
            .await;
            match killed {
                Ok(Ok(())) => tracing::debug!(id, "store: killed connection after a timeout"),
                // 1094 "unknown thread": the statement ended on its own meanwhile.
                Ok(Err(e)) => tracing::debug!(id, error = %e, "store: could not kill connection"),
                Err(_) => tracing::warn!(id, "store: could not kill connection in time"),
            }
            drop(holder);
        })
    }
}

/// Awaits `fut` for at most `limit`, mapping the MySQL error and counting a missed deadline.
async fn deadline<T>(
    limit: Duration,
    op: &'static str,
    fut: impl Future<Output = Result<T, mysql_async::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(StoreError::from),
        Err(_) => {
            metrics::counter!(STORE_TIMEOUTS, "op" => op).increment(1);
            Err(StoreError::Timeout(limit))
        }
    }
}
