//! The cluster the leaderboard tests run against: real Redis (a key prefix of its own) and
//! MariaDB (a fresh database), the version, account and leaderboard servers, and a real gateway
//! on port 0. Test boards are short-lived (an hour-long season) and rate-free except one; a
//! validator refuses the score 666 on every board.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running};
use mmo_core::{ListenerConfig, Registry, Shutdown};
use mmo_leaderboard::config::{BoardConfig, Direction, ItemConfig, Mode, Period, Ranking, RewardConfig};
use mmo_leaderboard::hooks::BoxFuture;
use mmo_leaderboard::{Candidate, Leaderboard, LeaderboardConfig, ScoreValidator, Verdict};
use mmo_proto::{
    DeviceCredential, FriendAcceptReq, FriendAcceptResp, FriendRequestReq, FriendRequestResp, LoginReq,
    LoginResp, login_req::Credential,
};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{Player, TestClient};

/// Refuses 666.
struct No666;

impl ScoreValidator for No666 {
    fn validate<'a>(&'a self, c: &'a Candidate) -> BoxFuture<'a, Result<Verdict, String>> {
        Box::pin(async move {
            Ok(if c.score == 666 { Verdict::Reject("suspicious".into()) } else { Verdict::Accept })
        })
    }
}

fn free(b: BoardConfig) -> BoardConfig {
    BoardConfig { submit_interval: Duration::ZERO, ..b }
}

/// The test boards: `points` (descending, best, competition, 0-1000, friends told when
/// passed), `race` (ascending, best, dense), `limited` (2 at once, then one per 10 s),
/// `weekly` (cumulative, hour-long seasons, rewards for ranks 1 and 2-3).
pub fn test_config() -> LeaderboardConfig {
    let gold = |n: i64| BTreeMap::from([("gold".to_string(), n)]);
    let boards = BTreeMap::from([
        (
            "points".into(),
            free(BoardConfig { max_score: 1000, notify_friends_passed: true, ..Default::default() }),
        ),
        (
            "race".into(),
            free(BoardConfig {
                direction: Direction::Ascending,
                ranking: Ranking::Dense,
                min_score: 1,
                max_score: 100_000,
                ..Default::default()
            }),
        ),
        (
            "limited".into(),
            BoardConfig { submit_interval: Duration::from_secs(10), submit_burst: 2, ..Default::default() },
        ),
        (
            "weekly".into(),
            free(BoardConfig {
                mode: Mode::Cumulative,
                reset: Period::Every(Duration::from_secs(3600)),
                rewards: vec![
                    RewardConfig {
                        from_rank: 1,
                        to_rank: 1,
                        currencies: gold(100),
                        items: vec![ItemConfig { item: 5, count: 1 }],
                    },
                    RewardConfig { from_rank: 2, to_rank: 3, currencies: gold(10), items: Vec::new() },
                ],
                ..Default::default()
            }),
        ),
    ]);
    LeaderboardConfig {
        boards,
        friends_cache: Duration::ZERO,
        built_check: Duration::ZERO,
        ..LeaderboardConfig::default()
    }
}

pub struct Cluster {
    pub gateway: SocketAddr,
    pub bus: Bus,
    pub db: TestDb,
    pub redis: TestRedis,
    pub shutdown: Shutdown,
    pub lb: Leaderboard,
}

pub async fn cluster() -> Cluster {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    for m in [
        mmo_version::migrations(),
        mmo_account::migrations(),
        mmo_eventlog::migrations(),
        mmo_shop::migrations(),
        mmo_leaderboard::migrations(),
    ] {
        db.store().migrate(&m).await.unwrap();
    }
    let bus = redis.bus("node-1", &shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    let account =
        mmo_account::AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..Default::default() };
    mmo_account::run(&bus, db.store().clone(), account, &shutdown).await.unwrap();
    let launch =
        Launch::new(mmo_leaderboard::SERVICE, bus.clone(), Some(db.store().clone()), shutdown.clone());
    let lb =
        match mmo_leaderboard::server_with(test_config(), Some(Arc::new(No666))).start(launch).await.unwrap()
        {
            Running::Handle(h) => h.downcast_ref::<Leaderboard>().unwrap().clone(),
            other => panic!("leaderboard started as {other:?}"),
        };
    let gw_bus = redis.bus("gw-1", &shutdown).await;
    let listener = ListenerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..ListenerConfig::default() };
    let gateway = mmo_gateway::bind(
        listener,
        mmo_gateway::GatewayConfig::default(),
        Registry::new(),
        shutdown.clone(),
        Some(&gw_bus),
    )
    .await
    .unwrap();
    let addr = gateway.local_addr().unwrap();
    tokio::spawn(gateway.run());
    Cluster { gateway: addr, bus, db, redis, shutdown, lb }
}

impl Cluster {
    /// A guest logged in.
    pub async fn guest(&self, device: &str) -> Player {
        let mut c = TestClient::connect(self.gateway).await.unwrap();
        c.hello().await.unwrap();
        let device_id = format!("device-{device}-0123456789");
        let req = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
        let resp: LoginResp = c.request(&req).await.unwrap();
        let s = resp.session.unwrap();
        Player::new(c, s.player_id, s.token, 1)
    }

    /// A player's display name.
    pub async fn name(&self, player: u64) -> String {
        let n: Option<String> = self
            .db
            .store()
            .exec_first("SELECT display_name FROM profiles WHERE player_id = ?", (player,))
            .await
            .unwrap();
        n.unwrap()
    }

    pub async fn finish(self) {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(10)).await;
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

pub async fn befriend(a: &mut Player, b: &mut Player) {
    let _: FriendRequestResp = a.ok(&FriendRequestReq { player_id: b.id, username: String::new() }).await;
    let _: FriendAcceptResp = b.ok(&FriendAcceptReq { player_id: a.id }).await;
}
