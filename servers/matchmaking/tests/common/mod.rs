//! The cluster matchmaking tests run against: real Redis and MariaDB, a gateway on port 0, the
//! version, account and zone servers and one or more matchmaking instances, as in production.
//! And a client that keeps the pushes it gets while waiting for answers.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running};
use mmo_core::store::WriteBehindConfig;
use mmo_core::{ListenerConfig, Registry, Shutdown};
use mmo_matchmaking::{Matchmaking, MatchmakingConfig, ModeRules, Modes};
use mmo_proto::{DeviceCredential, LoginReq, LoginResp, login_req::Credential};
use mmo_testkit::TestClient;
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

/// How long any answer, push or condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Quick rules for tests: `duel` (1 v 1) and `team` (2 v 2, parties up to 2).
pub fn test_config() -> MatchmakingConfig {
    let base = ModeRules {
        rating_window: 100.0,
        widen_per_sec: 0.0,
        ready_timeout: Duration::from_secs(2),
        decline_penalty: Duration::from_secs(30),
        ..ModeRules::default()
    };
    let duel = ModeRules { team_size: 1, teams: 2, ..base.clone() };
    let team = ModeRules { team_size: 2, teams: 2, max_party: 2, ..base };
    MatchmakingConfig {
        pass_interval: Duration::from_millis(50),
        lease_ttl: Duration::from_millis(600),
        instance_timeout: Duration::from_secs(5),
        modes: Modes([("duel".to_string(), duel), ("team".to_string(), team)].into_iter().collect()),
        ..MatchmakingConfig::default()
    }
}

pub struct Cluster {
    pub addr: std::net::SocketAddr,
    pub bus: Bus,
    pub db: TestDb,
    pub redis: TestRedis,
    pub shutdown: Shutdown,
    pub mm: Matchmaking,
}

pub async fn cluster() -> Cluster {
    cluster_with(test_config(), Duration::ZERO).await
}

/// A cluster with these matchmaking settings and this resume window.
pub async fn cluster_with(cfg: MatchmakingConfig, resume_window: Duration) -> Cluster {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    for m in [
        mmo_version::migrations(),
        mmo_account::migrations(),
        mmo_eventlog::migrations(),
        mmo_shop::migrations(),
        mmo_zone::migrations(),
        mmo_matchmaking::migrations(),
    ] {
        db.store().migrate(&m).await.unwrap();
    }
    let bus = redis.bus("node-1", &shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    let account =
        mmo_account::AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..Default::default() };
    mmo_account::run(&bus, db.store().clone(), account, &shutdown).await.unwrap();
    let zone = mmo_zone::ZoneServerConfig {
        maps: vec!["start".into()],
        start_map: "start".into(),
        save_interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(1),
        match_start_timeout: Duration::from_secs(5),
        match_linger: Duration::from_millis(300),
        ..mmo_zone::ZoneServerConfig::default()
    };
    let wb = WriteBehindConfig { interval: Duration::from_millis(200), ..WriteBehindConfig::default() };
    mmo_zone::run(&bus, db.store().clone(), zone, wb, &shutdown).await.unwrap();
    let mm = matchmaking(&bus, &db, cfg, &shutdown).await;
    // The real gateway (its own routes: resume), on port 0.
    let listener =
        ListenerConfig { resume_window, listen: "127.0.0.1:0".parse().unwrap(), ..ListenerConfig::default() };
    let gateway = mmo_gateway::bind(
        listener,
        mmo_gateway::GatewayConfig::default(),
        Registry::new(),
        shutdown.clone(),
        Some(&bus),
    )
    .await
    .unwrap();
    let addr = gateway.local_addr().unwrap();
    tokio::spawn(gateway.run());
    Cluster { addr, bus, db, redis, shutdown, mm }
}

/// A matchmaking instance on `bus`.
pub async fn matchmaking(bus: &Bus, db: &TestDb, cfg: MatchmakingConfig, shutdown: &Shutdown) -> Matchmaking {
    let launch =
        Launch::new(mmo_matchmaking::SERVICE, bus.clone(), Some(db.store().clone()), shutdown.clone());
    match mmo_matchmaking::server(cfg).start(launch).await.unwrap() {
        Running::Handle(h) => h.downcast_ref::<Matchmaking>().unwrap().clone(),
        other => panic!("matchmaking started as {other:?}"),
    }
}

impl Cluster {
    /// A new connection to the gateway.
    pub async fn client(&self) -> TestClient {
        TestClient::connect(self.addr).await.unwrap()
    }

    /// A guest logged in (not in the world).
    pub async fn guest(&self, device: &str) -> Client {
        let mut c = self.client().await;
        c.hello().await.unwrap();
        let device_id = format!("device-{device}-0123456789");
        let req = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
        let resp: LoginResp = c.request(&req).await.unwrap();
        let s = resp.session.unwrap();
        Client::new(c, s.player_id, s.token, 1)
    }

    /// Sets a player's rating in a mode.
    pub async fn set_rating(&self, player: u64, mode: &str, rating: f64) {
        self.db
            .store()
            .exec_drop(
                "INSERT INTO mm_ratings (player_id, mode, rating, deviation, volatility, games, wins, losses, draws, updated_ms) \
                 VALUES (?, ?, ?, 350, 0.06, 0, 0, 0, 0, 0) ON DUPLICATE KEY UPDATE rating = VALUES(rating)",
                (player, mode, rating),
            )
            .await
            .unwrap();
        // Written behind matchmaking's back, as an operator would: the cached rating goes too.
        let mut conn = self.bus.conn().await.unwrap();
        let key = mmo_matchmaking::keys::rating(&self.bus, mode, player);
        redis::cmd("DEL").arg(key).query_async::<()>(&mut *conn).await.unwrap();
    }

    pub async fn events(&self) -> Vec<mmo_proto::bus::GameEvent> {
        mmo_testkit::redis::events(&self.bus).await
    }

    pub async fn finish(self) {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(10)).await;
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

/// A logged-in client that keeps the pushes it receives while waiting for an answer.
pub use mmo_testkit::Player as Client;
