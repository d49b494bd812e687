//! What the shop tests run against: real Redis and MariaDB (a fresh database with the shop's
//! and the event log's tables), a bus, and for the end-to-end tests the version, account and
//! shop servers behind a real gateway on port 0; helpers that read the record back (balances,
//! ledger sums, outbox rows).
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running};
use mmo_core::store::Store;
use mmo_core::{ListenerConfig, Registry, Shutdown};
use mmo_proto::{DeviceCredential, LoginReq, LoginResp, login_req::Credential};
use mmo_shop::{Shop, ShopConfig};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{Player, TestClient};

/// How long any condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub const CATALOG: &str = r#"
[[item]]
id = 1
name = "Sword"
prices = { gold = 100 }

[[item]]
id = 2
name = "Shield"
prices = { gold = 50, gems = 5 }
limit = 2

[[item]]
id = 3
name = "Potion"
prices = { gold = 1 }
"#;

pub struct Env {
    pub db: TestDb,
    pub redis: TestRedis,
    pub bus: Bus,
    pub shutdown: Shutdown,
}

/// A database with the shop's and the event log's tables and the test catalog, and a bus.
pub async fn env() -> Env {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    for m in [mmo_shop::migrations(), mmo_eventlog::migrations()] {
        db.store().migrate(&m).await.unwrap();
    }
    mmo_shop::admin::load_catalog(db.store(), CATALOG).await.unwrap();
    let bus = redis.bus("node-1", &shutdown).await;
    Env { db, redis, bus, shutdown }
}

impl Env {
    pub fn store(&self) -> &Store {
        self.db.store()
    }

    /// Gives `player` `amount` of `currency` (an admin grant under a fresh key).
    pub async fn fund(&self, player: u64, currency: &str, amount: i64) {
        let key = format!("fund-{}-{}", mmo_core::clock::now_ms(), rand_u64());
        mmo_shop::admin::grant_currency(self.store(), &self.bus, player, currency, amount, &key, "test")
            .await
            .unwrap();
    }

    pub async fn balance(&self, player: u64, currency: &str) -> i64 {
        let b: Option<i64> = self
            .store()
            .exec_first("SELECT balance FROM wallets WHERE player = ? AND currency = ?", (player, currency))
            .await
            .unwrap();
        b.unwrap_or(0)
    }

    /// The sum of the player's ledger rows of `currency`.
    pub async fn ledger_sum(&self, player: u64, currency: &str) -> i64 {
        let s: Option<i64> = self
            .store()
            .exec_first(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM wallet_ledger WHERE player = ? AND currency = ?",
                (player, currency),
            )
            .await
            .unwrap();
        s.unwrap_or(0)
    }

    pub async fn count(&self, sql: &str, player: u64) -> u64 {
        let n: Option<u64> = self.store().exec_first(sql, (player,)).await.unwrap();
        n.unwrap_or(0)
    }

    pub async fn items(&self, player: u64, item: u32) -> i64 {
        let n: Option<i64> = self
            .store()
            .exec_first("SELECT count FROM inventory WHERE player = ? AND item_id = ?", (player, item))
            .await
            .unwrap();
        n.unwrap_or(0)
    }

    /// The staged outbox events, decoded, oldest first.
    pub async fn outbox(&self) -> Vec<mmo_proto::bus::GameEvent> {
        use prost::Message as _;
        let rows: Vec<Vec<u8>> =
            self.store().exec("SELECT body FROM event_outbox ORDER BY seq", ()).await.unwrap();
        rows.iter().map(|b| mmo_proto::bus::GameEvent::decode(b.as_slice()).unwrap()).collect()
    }

    pub async fn finish(self) {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(10)).await;
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

pub fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The version, account and shop servers and a gateway on `env`'s bus; the gateway's address.
pub async fn cluster(env: &Env, cfg: ShopConfig) -> (SocketAddr, Shop) {
    let store = env.store().clone();
    for m in [mmo_version::migrations(), mmo_account::migrations()] {
        store.migrate(&m).await.unwrap();
    }
    let bus = &env.bus;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), env.shutdown.token()));
    mmo_version::run(bus, store.clone(), ListenerConfig::default(), &env.shutdown).await.unwrap();
    let account =
        mmo_account::AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..Default::default() };
    mmo_account::run(bus, store.clone(), account, &env.shutdown).await.unwrap();
    let launch = Launch::new(mmo_shop::SERVICE, bus.clone(), Some(store), env.shutdown.clone());
    let shop = match mmo_shop::server(cfg).start(launch).await.unwrap() {
        Running::Handle(h) => h.downcast_ref::<Shop>().unwrap().clone(),
        other => panic!("shop started as {other:?}"),
    };
    let gw_bus = env.redis.bus("gw-1", &env.shutdown).await;
    let listener = ListenerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..ListenerConfig::default() };
    let gateway = mmo_gateway::bind(
        listener,
        mmo_gateway::GatewayConfig::default(),
        Registry::new(),
        env.shutdown.clone(),
        Some(&gw_bus),
    )
    .await
    .unwrap();
    let addr = gateway.local_addr().unwrap();
    tokio::spawn(gateway.run());
    (addr, shop)
}

/// A guest logged in through the gateway at `addr`.
pub async fn guest(addr: SocketAddr, device: &str) -> Player {
    let mut c = TestClient::connect(addr).await.unwrap();
    c.hello().await.unwrap();
    let device_id = format!("device-{device}-0123456789");
    let req = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
    let resp: LoginResp = c.request(&req).await.unwrap();
    let s = resp.session.unwrap();
    Player::new(c, s.player_id, s.token, 1)
}
