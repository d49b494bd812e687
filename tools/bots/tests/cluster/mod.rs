//! `mmo all` in the test's process, as the login and zone scenarios' tests run it: on its own
//! Redis prefix and database, both deleted when the cluster stops. Needs Redis at
//! `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`).

use std::net::SocketAddr;
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::Bus;
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

pub struct Cluster {
    pub addr: SocketAddr,
    shutdown: Shutdown,
    bus: Bus,
    db: TestDb,
    redis: TestRedis,
}

impl Cluster {
    /// Starts every server with the defaults, as `adjust` changes them, the gateway on a free
    /// port. `name` goes into the node id.
    pub async fn start(name: &str, adjust: impl FnOnce(&mut mmo::Config)) -> Cluster {
        let redis = TestRedis::new();
        let db = TestDb::new().await;
        let mut cfg = mmo::Config::default();
        cfg.node.id = format!("bots-{name}-{}", std::process::id());
        cfg.bus = redis.cfg.clone();
        cfg.mysql = db.config().clone();
        cfg.listener.listen = "127.0.0.1:0".parse().expect("an address");
        adjust(&mut cfg);
        let shutdown = Shutdown::new();
        let started = mmo::start(mmo::Role::All, &cfg, &shutdown).await.expect("the cluster starts");
        Cluster { addr: started.gateway.expect("a gateway"), shutdown, bus: started.bus, db, redis }
    }

    /// A pool on the cluster's database, straight to the server (not through any proxy).
    #[allow(dead_code)]
    pub fn store(&self) -> &mmo_core::store::Store {
        self.db.store()
    }

    /// The URL of the cluster's database, straight to the server.
    #[allow(dead_code)]
    pub fn mysql_url(&self) -> String {
        self.db.config().url.clone()
    }

    /// Stops the servers and their bus, then drops the database and the Redis keys.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.bus.close();
        // Readers notice within one scheduling round; then nothing recreates the keys.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.db.cleanup().await;
        self.redis.cleanup();
    }
}
