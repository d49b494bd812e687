//! Redis for tests: each [`TestRedis`] has its own random key prefix on the Redis at
//! `MMO_REDIS_URL` (default `redis://127.0.0.1:6379`), so tests run side by side without seeing
//! each other's streams, and every key under the prefix is deleted when it is dropped.

use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusConfig};

pub struct TestRedis {
    pub cfg: BusConfig,
    /// Buses handed out, closed before the keys are deleted: a reader still running would
    /// recreate its stream (NOGROUP recovery) right after the cleanup.
    buses: parking_lot::Mutex<Vec<Bus>>,
}

impl Default for TestRedis {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRedis {
    /// A fresh prefix with timings shortened for tests (reclaim after 300 ms, routes refreshed
    /// every 200 ms, reads blocking 200 ms).
    pub fn new() -> TestRedis {
        let url = std::env::var("MMO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        Self::at(&url)
    }

    /// The same, on a given Redis (e.g. a private one a test started).
    pub fn at(url: &str) -> TestRedis {
        let prefix = format!("mmotest:{:016x}", rand::random::<u64>());
        let cfg = BusConfig {
            url: url.to_string(),
            prefix,
            block: Duration::from_millis(200),
            command_timeout: Duration::from_secs(2),
            claim_idle: Duration::from_millis(300),
            claim_interval: Duration::from_millis(100),
            routes_refresh: Duration::from_millis(200),
            heartbeat_interval: Duration::from_millis(200),
            node_ttl: Duration::from_secs(2),
            ..BusConfig::default()
        };
        TestRedis { cfg, buses: parking_lot::Mutex::new(Vec::new()) }
    }

    /// A bus node on this prefix.
    pub async fn bus(&self, node: &str, shutdown: &Shutdown) -> Bus {
        let bus = Bus::connect(self.cfg.clone(), node, shutdown)
            .await
            .expect("connect to Redis (is it running? scripts/services.sh)");
        self.buses.lock().push(bus.clone());
        bus
    }

    /// Closes `bus` with the others at cleanup (a bus a launcher connected on this prefix).
    pub fn track(&self, bus: &Bus) {
        self.buses.lock().push(bus.clone());
    }

    /// Closes the buses handed out, then deletes every key under the prefix.
    pub fn cleanup(&self) {
        let buses = std::mem::take(&mut *self.buses.lock());
        if !buses.is_empty() {
            for bus in &buses {
                bus.close();
            }
            // Readers notice within one scheduling round; blocked reads are cancelled, not waited.
            std::thread::sleep(Duration::from_millis(100));
        }
        let Ok(client) = redis::Client::open(self.cfg.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
        let pattern = format!("{}:*", self.cfg.prefix);
        let keys: Vec<String> = match redis::cmd("KEYS").arg(&pattern).query(&mut conn) {
            Ok(k) => k,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Every game event on `bus`'s event stream so far, in order (after flushing what `bus` itself
/// still buffers).
pub async fn events(bus: &Bus) -> Vec<mmo_proto::bus::GameEvent> {
    use prost::Message as _;
    assert!(bus.flush(Duration::from_secs(10)).await, "the bus did not flush");
    let mut conn = bus.conn().await.expect("a Redis connection");
    let reply: ::redis::streams::StreamRangeReply = ::redis::cmd("XRANGE")
        .arg(&*bus.keys().events())
        .arg("-")
        .arg("+")
        .query_async(&mut *conn)
        .await
        .expect("XRANGE of the event stream");
    let mut out = Vec::new();
    for entry in reply.ids {
        let blob: Vec<u8> = entry.get("b").expect("an entry holds a batch in field b");
        let batch = mmo_proto::bus::Batch::decode(blob.as_slice()).expect("a batch");
        out.extend(batch.envelopes.iter().map(|e| mmo_core::bus::events::decode(e).expect("an event")));
    }
    out
}
