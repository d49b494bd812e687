//! The cluster the account tests run against: real Redis and MariaDB, a gateway on port 0, and
//! the version and account servers behind the bus, as in production. Plus a client that shows
//! an ErrorResp whole (detail, retry delay), which the account codes need.

#![allow(dead_code)] // each test file uses its own part of this

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mmo_account::AccountConfig;
use mmo_core::bus::{Bus, node};
use mmo_core::session::PlayerId;
use mmo_core::{ListenerConfig, Registry, Router, Shutdown};
use mmo_proto::bus::GameEvent;
use mmo_proto::{
    AuthSession, DisconnectNtf, ErrorCode, ErrorResp, LoginReq, LoginResp, PasswordCredential, RegisterReq,
    RegisterResp, login_req::Credential,
};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{TestClient, TestServer};
use mmo_wire::{Flags, MsgType};

/// How long any single answer, push or condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub gateway: TestServer,
    pub bus: Bus,
    pub db: TestDb,
    pub redis: TestRedis,
    pub shutdown: Shutdown,
}

/// Cheap argon2 so the suite stays fast; everything else at its default.
pub fn test_config() -> AccountConfig {
    AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AccountConfig::default() }
}

pub async fn cluster() -> Cluster {
    cluster_with(|_| {}).await
}

pub async fn cluster_with(adjust: impl FnOnce(&mut AccountConfig)) -> Cluster {
    let mut cfg = test_config();
    adjust(&mut cfg);
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_version::migrations()).await.unwrap();
    db.store().migrate(&mmo_account::migrations()).await.unwrap();
    let bus = redis.bus("node-1", &shutdown).await;
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    mmo_account::run(&bus, db.store().clone(), cfg, &shutdown).await.unwrap();
    // No resume window: a dropped connection ends its session (and its presence) at once.
    let listener = ListenerConfig { resume_window: Duration::ZERO, ..ListenerConfig::default() };
    let gateway = TestServer::start_gateway(listener, Router::<()>::new(), Arc::new(()), &bus).await;
    Cluster { gateway, bus, db, redis, shutdown }
}

impl Cluster {
    /// A connected client past Hello (stage Versioned).
    pub async fn client(&self) -> TestClient {
        let mut c = self.gateway.client().await;
        c.hello().await.unwrap();
        c
    }

    /// A new client logged in as a new account `name` (password `name` + "-password"), once the
    /// gateway has recorded it as online.
    pub async fn player(&self, name: &str) -> (TestClient, AuthSession) {
        let mut c = self.client().await;
        let req =
            RegisterReq { username: name.into(), password: password_of(name), display_name: String::new() };
        let s = call::<_, RegisterResp>(&mut c, &req).await.unwrap().session.unwrap();
        self.wait_presence(PlayerId(s.player_id), true).await;
        (c, s)
    }

    /// Waits until the gateway has (or no longer has) `player` in the presence directory.
    pub async fn wait_presence(&self, player: PlayerId, online: bool) {
        tokio::time::timeout(DEADLINE, async {
            while node::presence(&self.bus, player).await.unwrap().is_some() != online {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("player {player} never became online={online}"));
    }

    /// Every game event emitted so far, in order.
    pub async fn events(&self) -> Vec<GameEvent> {
        mmo_testkit::redis::events(&self.bus).await
    }

    /// Stops everything and deletes the test's database and keys.
    pub async fn finish(self) {
        self.shutdown.trigger();
        self.gateway.shutdown.trigger();
        // `TestRedis::bus` does not record the buses it hands out, so `TestRedis` cannot close
        // this one before deleting the keys: close it here. A closed bus writes and reads
        // nothing more, so a late event (the gateway's logouts as the clients go) or a reader
        // recreating its stream cannot bring keys back after the cleanup.
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

/// A production gateway (the real one, resume on) on its own node of the bus.
pub async fn gateway(redis: &TestRedis, node_id: &str, shutdown: &Shutdown) -> (SocketAddr, Bus) {
    let bus = redis.bus(node_id, shutdown).await;
    let cfg = ListenerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..ListenerConfig::default() };
    let gw = mmo_gateway::bind(cfg, Default::default(), Registry::new(), shutdown.clone(), Some(&bus))
        .await
        .unwrap();
    let addr = gw.local_addr().unwrap();
    tokio::spawn(gw.run());
    (addr, bus)
}

/// A client of the gateway at `addr`, past Hello (stage Versioned).
pub async fn client(addr: SocketAddr) -> TestClient {
    let mut c = TestClient::connect(addr).await.unwrap();
    c.hello().await.unwrap();
    c
}

pub fn password_of(name: &str) -> String {
    format!("{name}-password")
}

/// Sends `req` and returns its answer, or the ErrorResp whole. Pushes in between are skipped;
/// a DisconnectNtf fails the test.
pub async fn call<Req: MsgType, Resp: MsgType>(c: &mut TestClient, req: &Req) -> Result<Resp, ErrorResp> {
    let seq = c.send(req).await.unwrap();
    loop {
        let frame = tokio::time::timeout(DEADLINE, c.recv()).await.expect("an answer in time").unwrap();
        if frame.header.id == DisconnectNtf::ID {
            panic!("disconnected: {:?}", frame.decode_body::<DisconnectNtf>().unwrap());
        }
        if frame.header.flags.contains(Flags::PUSH) || frame.header.seq != seq {
            continue;
        }
        if frame.header.id == ErrorResp::ID {
            return Err(frame.decode_body().unwrap());
        }
        assert_eq!(frame.header.id, Resp::ID, "answer to {}", Req::NAME);
        return Ok(frame.decode_body().unwrap());
    }
}

/// The error code of a call that must fail.
pub async fn refused<Req: MsgType, Resp: MsgType + std::fmt::Debug>(
    c: &mut TestClient,
    req: &Req,
) -> ErrorCode {
    let err = call::<Req, Resp>(c, req).await.expect_err("refused");
    err.code()
}

/// The next push of type `M`; any other push or answer in between fails the test.
pub async fn expect_push<M: MsgType>(c: &mut TestClient) -> M {
    let frame = tokio::time::timeout(DEADLINE, c.recv()).await.expect("a push in time").unwrap();
    assert!(frame.header.flags.contains(Flags::PUSH), "expected a push, got id {}", frame.header.id);
    assert_eq!(frame.header.id, M::ID, "expected {}", M::NAME);
    frame.decode_body().unwrap()
}

pub fn password_login(username: &str, password: &str) -> LoginReq {
    LoginReq {
        credential: Some(Credential::Password(PasswordCredential {
            username: username.into(),
            password: password.into(),
        })),
    }
}

pub fn token_login(token: &str) -> LoginReq {
    LoginReq { credential: Some(Credential::Token(token.into())) }
}

pub fn device_login(device_id: &str) -> LoginReq {
    LoginReq {
        credential: Some(Credential::Device(mmo_proto::DeviceCredential { device_id: device_id.into() })),
    }
}

/// Logs in on a fresh connection.
pub async fn login(cl: &Cluster, req: &LoginReq) -> Result<(TestClient, AuthSession), ErrorResp> {
    let mut c = cl.client().await;
    let s = call::<_, LoginResp>(&mut c, req).await?.session.unwrap();
    Ok((c, s))
}

pub fn now_ms() -> u64 {
    mmo_account::accounts::now_ms()
}
