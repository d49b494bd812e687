//! What the event-log tests share: a real Redis (own key prefix) and MariaDB (fresh database
//! with the event log's tables), an emitting node, and event-log servers started and stopped
//! on nodes of their own.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::Bus;
use mmo_core::server::Launch;
use mmo_eventlog::EventlogConfig;
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

/// How long any condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Setup {
    pub redis: TestRedis,
    pub db: TestDb,
    /// The node that emits events (and is live).
    pub bus: Bus,
    pub shutdown: Shutdown,
}

pub async fn setup() -> Setup {
    let redis = TestRedis::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_eventlog::migrations()).await.unwrap();
    let shutdown = Shutdown::new();
    let bus = redis.bus("emitter", &shutdown).await;
    bus.start_heartbeat(&shutdown).await.unwrap();
    Setup { redis, db, bus, shutdown }
}

/// Settings with short pauses for tests.
pub fn test_config() -> EventlogConfig {
    EventlogConfig {
        batch_rows: 50,
        linger: Duration::from_millis(5),
        relay_interval: Duration::from_millis(20),
        relay_lease: Duration::from_secs(2),
        max_backoff: Duration::from_millis(200),
        ..EventlogConfig::default()
    }
}

/// An event-log server running on node `node`, stopped by triggering `shutdown`.
pub struct Writer {
    pub bus: Bus,
    pub shutdown: Shutdown,
}

impl Setup {
    pub async fn writer(&self, node: &str, cfg: EventlogConfig) -> Writer {
        self.writer_on(node, cfg, self.db.store().clone()).await
    }

    /// An event-log server using `store` (e.g. one with a short query deadline).
    pub async fn writer_on(&self, node: &str, cfg: EventlogConfig, store: mmo_core::store::Store) -> Writer {
        let shutdown = Shutdown::new();
        let bus = self.redis.bus(node, &shutdown).await;
        let launch = Launch::new(mmo_eventlog::SERVICE, bus.clone(), Some(store), shutdown.clone());
        mmo_eventlog::server(cfg).start(launch).await.unwrap();
        Writer { bus, shutdown }
    }

    /// Rows in `game_events`.
    pub async fn rows(&self) -> u64 {
        let n: Option<u64> =
            self.db.store().exec_first("SELECT COUNT(*) FROM game_events", ()).await.unwrap();
        n.unwrap_or(0)
    }

    /// Ids stored, sorted.
    pub async fn ids(&self) -> Vec<String> {
        self.db.store().exec("SELECT id FROM game_events ORDER BY id", ()).await.unwrap()
    }

    /// Waits until `cond` holds.
    pub async fn until<F, Fut>(&self, what: &str, cond: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !cond().await {
            assert!(tokio::time::Instant::now() < deadline, "not reached in time: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Deletes every key of this test's prefix: the stream, its consumer groups, the relay
    /// lease, the nodes' heartbeats. Not FLUSHALL: the Redis is shared with other tests running
    /// at the same time, each under its own prefix.
    pub async fn flush_prefix(&self) {
        let mut conn = self.bus.conn().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.bus.keys().prefix()))
            .query_async(&mut *conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut *conn).await.unwrap();
        }
    }

    pub async fn finish(self) {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(5)).await;
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

impl Writer {
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(5)).await;
        self.bus.close();
    }
}
