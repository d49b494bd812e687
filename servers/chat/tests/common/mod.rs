//! The cluster chat tests run against: real Redis and MariaDB, the version, account and chat
//! servers, and two real gateways on port 0 sharing the bus (members on either are reached).
//! And a client that keeps the pushes it gets while waiting for answers, counting the frames it
//! received so it can resume.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use mmo_chat::{Chat, ChatConfig};
use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running};
use mmo_core::{ListenerConfig, Registry, Shutdown};
use mmo_proto::{
    ChannelKind, ChannelRef, ChatSendReq, ChatSendResp, DeviceCredential, LoginReq, LoginResp, ResumeReq,
    ResumeResp, login_req::Credential,
};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{Player, TestClient};

/// How long any answer, push or condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Short escalation times, so a test waits them out in well under a second; a wide mute window
/// and slow-mode interval, so a loaded machine sending a flood slowly still sees it as one.
pub fn test_config() -> ChatConfig {
    ChatConfig {
        rate_per_sec: 5,
        slow_mode_interval: Duration::from_secs(2),
        slow_mode_duration: Duration::from_millis(300),
        mute_messages: 11,
        mute_window: Duration::from_secs(3),
        mute_duration: Duration::from_millis(800),
        block_cache: Duration::ZERO,
        history_len: 5,
        max_offline_whispers: 3,
        ..ChatConfig::default()
    }
}

pub struct Cluster {
    /// The two gateways' addresses.
    pub gateways: [SocketAddr; 2],
    pub bus: Bus,
    pub db: TestDb,
    pub redis: TestRedis,
    pub shutdown: Shutdown,
    pub chat: Chat,
}

pub async fn cluster() -> Cluster {
    cluster_with(test_config(), Duration::ZERO).await
}

/// A cluster with these chat settings and this resume window.
pub async fn cluster_with(cfg: ChatConfig, resume_window: Duration) -> Cluster {
    cluster_classified(cfg, resume_window, None).await
}

/// A cluster whose chat server calls `classifier` on every message.
pub async fn cluster_classified(
    cfg: ChatConfig,
    resume_window: Duration,
    classifier: Option<std::sync::Arc<dyn mmo_chat::Classifier>>,
) -> Cluster {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    for m in [mmo_version::migrations(), mmo_account::migrations(), mmo_chat::migrations()] {
        db.store().migrate(&m).await.unwrap();
    }
    let bus = redis.bus("node-1", &shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    let account =
        mmo_account::AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..Default::default() };
    mmo_account::run(&bus, db.store().clone(), account, &shutdown).await.unwrap();
    let chat = chat(&bus, &db, cfg, classifier, &shutdown).await;
    let mut gateways = Vec::new();
    for node in ["gw-1", "gw-2"] {
        let gw_bus = redis.bus(node, &shutdown).await;
        let listener = ListenerConfig {
            resume_window,
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ListenerConfig::default()
        };
        let gateway = mmo_gateway::bind(
            listener,
            mmo_gateway::GatewayConfig::default(),
            Registry::new(),
            shutdown.clone(),
            Some(&gw_bus),
        )
        .await
        .unwrap();
        gateways.push(gateway.local_addr().unwrap());
        tokio::spawn(gateway.run());
    }
    Cluster { gateways: [gateways[0], gateways[1]], bus, db, redis, shutdown, chat }
}

/// A chat instance on `bus`.
pub async fn chat(
    bus: &Bus,
    db: &TestDb,
    cfg: ChatConfig,
    classifier: Option<std::sync::Arc<dyn mmo_chat::Classifier>>,
    shutdown: &Shutdown,
) -> Chat {
    let launch = Launch::new(mmo_chat::SERVICE, bus.clone(), Some(db.store().clone()), shutdown.clone());
    match mmo_chat::server_with(cfg, classifier).start(launch).await.unwrap() {
        Running::Handle(h) => h.downcast_ref::<Chat>().unwrap().clone(),
        other => panic!("chat started as {other:?}"),
    }
}

impl Cluster {
    /// A guest logged in on gateway `gw` (0 or 1), once it is in the world channel.
    pub async fn guest_on(&self, gw: usize, device: &str) -> Client {
        let mut c = TestClient::connect(self.gateways[gw]).await.unwrap();
        c.hello().await.unwrap();
        let device_id = format!("device-{device}-0123456789");
        let req = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
        let resp: LoginResp = c.request(&req).await.unwrap();
        let s = resp.session.unwrap();
        let client = Client { p: Player::new(c, s.player_id, s.token, 1), gw };
        // This session (not an earlier one of the same player) joined the world channel.
        let world = mmo_chat::keys::members(&self.bus, "w");
        self.until(|| async {
            let Some(at) = mmo_chat::channels::where_is(&self.bus, client.id).await.unwrap() else {
                return false;
            };
            let mut conn = self.bus.conn().await.unwrap();
            let held: Option<String> =
                redis::cmd("HGET").arg(&world).arg(client.id).query_async(&mut *conn).await.unwrap();
            held == Some(at)
        })
        .await;
        client
    }

    /// A guest on the first gateway.
    pub async fn guest(&self, device: &str) -> Client {
        self.guest_on(0, device).await
    }

    /// Drops `old`'s connection (its session waits for a resume); what it needs to resume.
    pub fn disconnect(old: Client) -> Detached {
        let Client { p, gw } = old;
        let Player { c, id, token, received, .. } = p;
        drop(c);
        Detached { id, token, received, gw }
    }

    /// Resumes a dropped session on a new connection to its gateway.
    pub async fn resume(&self, d: Detached) -> (Client, ResumeResp) {
        let Detached { id, token, received, gw } = d;
        let mut c = TestClient::connect(self.gateways[gw]).await.unwrap();
        c.hello().await.unwrap();
        let resp: ResumeResp =
            c.request_retrying(&ResumeReq { token: token.clone(), received }, 20).await.unwrap();
        (Client { p: Player::new(c, id, token, received), gw }, resp)
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

    /// Waits until `cond` holds.
    pub async fn until<F, Fut>(&self, cond: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !cond().await {
            assert!(tokio::time::Instant::now() < deadline, "condition not reached in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

pub fn world() -> Option<ChannelRef> {
    Some(ChannelRef { kind: ChannelKind::World as i32, name: String::new() })
}

pub fn channel(kind: ChannelKind, name: &str) -> Option<ChannelRef> {
    Some(ChannelRef { kind: kind as i32, name: name.into() })
}

/// A client whose connection dropped: what it needs to resume.
pub struct Detached {
    pub id: u64,
    pub token: String,
    pub received: u64,
    pub gw: usize,
}

/// A logged-in player (see [`Player`]) and the gateway it is connected to.
pub struct Client {
    pub p: Player,
    /// The gateway it is connected to.
    pub gw: usize,
}

impl std::ops::Deref for Client {
    type Target = Player;
    fn deref(&self) -> &Player {
        &self.p
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Player {
        &mut self.p
    }
}

impl Client {
    /// Says `text` in `channel`.
    pub async fn say(&mut self, channel: Option<ChannelRef>, text: &str) -> mmo_proto::ChatMessage {
        let r: ChatSendResp = self.ok(&ChatSendReq { channel, text: text.as_bytes().to_vec().into() }).await;
        r.message.unwrap()
    }
}
