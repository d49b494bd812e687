//! The bus: every server talks to every other only through Redis Streams.
//!
//! - [`producer`]: envelopes are buffered per destination stream and written by one flusher task
//!   per process as one stream entry per destination (a `Batch` of many envelopes), all
//!   destinations pipelined in one round trip. The flusher writes as soon as it is idle and lets
//!   envelopes pile up while a write is in flight (group commit): no timer latency when load is
//!   light, large batches when it is heavy.
//! - [`consumer`]: a consumer-group reader: `XREADGROUP` with `COUNT` and `BLOCK`, `XACK` after
//!   handling, reclaim of a dead consumer's entries (`XAUTOCLAIM`), a dead-letter stream after
//!   `max_deliveries`, and group re-creation when Redis comes back empty (`NOGROUP`).
//! - [`serve`]: feeds a server's [`Router`](crate::Router) from its service stream and routes
//!   answers back to the gateway that sent each request.
//! - [`relay`]: the gateway's side: forwards frames it has no handler for, and applies what
//!   comes back to its sessions.
//! - [`node`]: node heartbeats and the presence directory (player -> gateway node, session).
//! - [`routes`]: the route table servers publish, from which the gateway gates and forwards.

pub mod consumer;
pub mod events;
pub mod keys;
pub mod node;
pub mod producer;
pub mod relay;
pub mod reply;
pub mod routes;
pub mod serve;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use mobc_redis::RedisConnectionManager;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

pub use keys::Keys;
pub use mmo_proto::bus::{Batch, Envelope};
pub use producer::Producer;

use crate::shutdown::Shutdown;

/// The `[bus]` section.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Redis URL. Env `MMO_REDIS_URL` overrides. Default `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prefix of every key this cluster uses, so clusters (and tests) can share a Redis.
    /// Env `MMO_BUS_PREFIX` overrides. Default "mmo".
    pub prefix: String,
    /// Redis connections per process. Default 16.
    pub pool_max: u64,
    /// Envelopes in one stream entry at most. Default 512.
    pub batch_max: usize,
    /// Envelopes buffered in this process, not yet written; beyond it sends fail with
    /// UNAVAILABLE instead of growing memory. Default 100000.
    pub max_pending: usize,
    /// Entries read per XREADGROUP. Default 256.
    pub read_count: usize,
    /// How long one XREADGROUP blocks waiting for entries. Default 1s.
    #[serde(with = "humantime_serde")]
    pub block: Duration,
    /// Deadline of every Redis command (on top of `block` for blocking reads). Default 5s.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// An entry read but not acknowledged for this long is taken over by another consumer of
    /// the group if its reader's node has no live heartbeat (`node_ttl`), or handled again by
    /// its own reader if that one is not working on it (its handler asked for a retry). An
    /// entry still being handled is never taken over, however long it takes. Default 5s.
    #[serde(with = "humantime_serde")]
    pub claim_idle: Duration,
    /// How often each consumer looks for entries to take over. Default 1s.
    #[serde(with = "humantime_serde")]
    pub claim_interval: Duration,
    /// Deliveries after which an entry goes to the dead-letter stream. Default 5.
    pub max_deliveries: u64,
    /// Approximate cap on a stream's length (XADD MAXLEN ~); the consumers' lag is watched so an
    /// entry trimmed before it was read is counted and logged. Default 1000000.
    pub stream_maxlen: u64,
    /// Node heartbeat period; a node is presumed dead after `node_ttl`. Default 2s.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Default 10s.
    #[serde(with = "humantime_serde")]
    pub node_ttl: Duration,
    /// Envelopes a server handles at once, across all the stream entries it is working on
    /// (different sessions; one session's requests are ordered by the gateway). Default 64.
    pub handler_concurrency: usize,
    /// How often the gateway reloads the route table servers publish. Default 2s.
    #[serde(with = "humantime_serde")]
    pub routes_refresh: Duration,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            url: "redis://127.0.0.1:6379".into(),
            prefix: "mmo".into(),
            pool_max: 16,
            batch_max: 512,
            max_pending: 100_000,
            read_count: 256,
            block: Duration::from_secs(1),
            command_timeout: Duration::from_secs(5),
            claim_idle: Duration::from_secs(5),
            claim_interval: Duration::from_secs(1),
            max_deliveries: 5,
            stream_maxlen: 1_000_000,
            heartbeat_interval: Duration::from_secs(2),
            node_ttl: Duration::from_secs(10),
            handler_concurrency: 64,
            routes_refresh: Duration::from_secs(2),
        }
    }
}

impl BusConfig {
    /// Applies `MMO_REDIS_URL` and `MMO_BUS_PREFIX`.
    pub fn apply_env(&mut self) {
        crate::config::env_override(&mut self.url, "MMO_REDIS_URL");
        crate::config::env_override(&mut self.prefix, "MMO_BUS_PREFIX");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis pool: {0}")]
    Pool(String),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("bus buffer full ({0} envelopes pending)")]
    Full(usize),
    #[error("{0}")]
    Conflict(String),
}

impl BusError {
    /// True when Redis is down, unreachable or too slow, or the bus buffer is full: the request
    /// was fine and may work in a moment (see [`crate::unavailable_dependency`]).
    pub fn is_unavailable(&self) -> bool {
        match self {
            BusError::Pool(_) | BusError::Timeout(_) | BusError::Full(_) => true,
            BusError::Redis(e) => {
                e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_timeout()
                    || matches!(e.kind(), redis::ErrorKind::BusyLoadingError | redis::ErrorKind::TryAgain)
            }
            BusError::Conflict(_) => false,
        }
    }
}

impl From<mobc::Error<redis::RedisError>> for BusError {
    fn from(e: mobc::Error<redis::RedisError>) -> Self {
        match e {
            mobc::Error::Inner(e) => BusError::Redis(e),
            other => BusError::Pool(other.to_string()),
        }
    }
}

pub type Conn = mobc::Connection<RedisConnectionManager>;

/// A process's handle on the bus. Cheap to clone.
#[derive(Clone)]
pub struct Bus(Arc<Inner>);

struct Inner {
    pool: mobc::Pool<RedisConnectionManager>,
    /// For connections of their own (blocking reads), outside the pool.
    client: redis::Client,
    keys: Keys,
    node: String,
    cfg: BusConfig,
    producer: Producer,
    /// Cancelled by [`Bus::close`]: readers that must outlive the drain (a gateway's inbox)
    /// stop on it instead of on the shutdown token.
    closed: CancellationToken,
    /// By stream and group: ids of the entries this node's consumers are working on. Shared by
    /// every consumer of that stream and group in the process (they all have the node's name in
    /// the group, e.g. an instance's next incarnation starting as the last one stops).
    in_flight: dashmap::DashMap<(Arc<str>, String), consumer::InFlight>,
    /// Set once this node's heartbeat runs (see [`Bus::start_heartbeat`]).
    heartbeating: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").field("node", &self.0.node).field("prefix", &self.0.keys.prefix()).finish()
    }
}

impl Bus {
    /// Connects (checking Redis answers) and starts the flusher task, tracked by `shutdown` so
    /// what is buffered is written before the process exits.
    pub async fn connect(
        cfg: BusConfig,
        node: impl Into<String>,
        shutdown: &Shutdown,
    ) -> Result<Bus, BusError> {
        let client = redis::Client::open(cfg.url.as_str())?;
        let pool = mobc::Pool::builder()
            .max_open(cfg.pool_max)
            .max_idle(cfg.pool_max)
            // The checkout deadline is tokio's (`Bus::conn`): mobc's own arms a futures-timer
            // delay, which costs a wake-up of a global timer thread on every checkout.
            .get_timeout(None)
            // A connection that died with Redis fails its PING and is replaced; checked at most
            // once a second, not on every checkout (that would double every round trip).
            .test_on_check_out(true)
            .health_check_interval(Some(Duration::from_secs(1)))
            .build(RedisConnectionManager::new(client.clone()));
        let node = node.into();
        let keys = Keys::new(&cfg.prefix);
        let producer = Producer::new(cfg.max_pending);
        let bus = Bus(Arc::new(Inner {
            pool,
            client,
            keys,
            node,
            cfg,
            producer,
            closed: CancellationToken::new(),
            in_flight: dashmap::DashMap::new(),
            heartbeating: std::sync::atomic::AtomicBool::new(false),
        }));
        // Fail at start-up, not at the first message, if Redis is not there.
        let mut conn = bus.conn().await?;
        let _: String = bus.timed(redis::cmd("PING").query_async(&mut *conn)).await?;
        drop(conn);
        let token = shutdown.token();
        shutdown.spawn(producer::run_flusher(bus.clone(), token));
        Ok(bus)
    }

    pub fn node(&self) -> &str {
        &self.0.node
    }

    /// Makes this node live for the cluster: writes its heartbeat now, then every
    /// `heartbeat_interval` until shutdown or [`Bus::close`] (then the node is removed). Once
    /// per bus; later calls return at once. Everything that consumes a stream through the
    /// framework (`serve`, `serve_stream`, the gateway relay) calls it, so no server can forget
    /// it: without a heartbeat, another consumer would take over its slow entries and run them
    /// twice.
    pub async fn start_heartbeat(&self, shutdown: &Shutdown) -> Result<(), BusError> {
        use std::sync::atomic::Ordering;
        if self.0.heartbeating.load(Ordering::Acquire) {
            return Ok(());
        }
        node::heartbeat(self).await?;
        if self.0.heartbeating.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        tokio::spawn(node::heartbeat_loop(self.clone(), shutdown.token()));
        Ok(())
    }

    pub fn keys(&self) -> &Keys {
        &self.0.keys
    }

    pub fn config(&self) -> &BusConfig {
        &self.0.cfg
    }

    /// Stops every consumer reading through this bus, including those that run past the drain
    /// (see [`Bus::closed`]).
    pub fn close(&self) {
        self.0.closed.cancel();
    }

    /// The token cancelled by [`Bus::close`].
    pub fn closed(&self) -> CancellationToken {
        self.0.closed.clone()
    }

    /// The in-flight set of this node's consumers of `stream` in `group`.
    pub(crate) fn in_flight(&self, stream: &Arc<str>, group: &str) -> consumer::InFlight {
        self.0.in_flight.entry((stream.clone(), group.to_owned())).or_default().clone()
    }

    /// Drops the in-flight set of `stream` in `group` if `set` (the caller's, about to go) is its
    /// last user besides this map: streams come and go (match instances).
    pub(crate) fn drop_in_flight(&self, stream: &Arc<str>, group: &str, set: &consumer::InFlight) {
        self.0.in_flight.remove_if(&(stream.clone(), group.to_owned()), |_, v| {
            Arc::ptr_eq(v, set) && Arc::strong_count(v) <= 2
        });
    }

    pub(crate) fn producer(&self) -> &Producer {
        &self.0.producer
    }

    /// A pooled connection (not for blocking commands shared with others: each checkout is
    /// exclusive until dropped).
    /// Waits at most `command_timeout` for one.
    pub async fn conn(&self) -> Result<Conn, BusError> {
        self.timed(self.0.pool.get()).await
    }

    /// A connection of its own, outside the pool, for a blocking read (`XREADGROUP BLOCK`): a
    /// pooled connection held through every block would take one of `pool_max` from everyone
    /// else for as long as its reader lives, and a node with many readers (a zone node with
    /// many match instances) would starve its own requests.
    pub async fn dedicated(&self) -> Result<redis::aio::MultiplexedConnection, BusError> {
        self.timed(self.0.client.get_multiplexed_async_connection()).await
    }

    /// Runs a Redis command (or a pool checkout) under the configured deadline.
    pub async fn timed<T, E: Into<BusError>>(
        &self,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, BusError> {
        let limit = self.0.cfg.command_timeout;
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err(BusError::Timeout(limit)),
        }
    }

    /// Queues an envelope for `stream`. Fails fast when the process has `max_pending` envelopes
    /// not yet written (Redis down or too slow): the caller answers UNAVAILABLE.
    pub fn send(&self, stream: &Arc<str>, env: Envelope) -> Result<(), BusError> {
        self.0.producer.push(stream, env)
    }

    /// Queues several envelopes for `stream` at once: they are written together (one stream
    /// entry, up to `batch_max`), which a per-tick fan-out relies on. All or none are queued.
    pub fn send_all(&self, stream: &Arc<str>, envs: Vec<Envelope>) -> Result<(), BusError> {
        self.0.producer.push_all(stream, envs)
    }

    /// Waits until everything queued before this call is written to Redis (or `timeout`).
    pub async fn flush(&self, timeout: Duration) -> bool {
        self.0.producer.wait_flushed(timeout).await
    }
}
