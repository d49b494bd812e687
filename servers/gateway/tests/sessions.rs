//! Sessions across connections and gateways, through the real path (client -> gateway -> Redis
//! Streams -> server -> gateway): resume after a dropped connection, and one session per
//! account across gateway nodes.
//!
//! The login server here is a small stand-in for the account server: it serves Hello and a
//! device login (the device id is the player id) over the bus and issues real tokens, so these
//! tests exercise only what the gateway does. The account server's own tests cover accounts.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::{Bus, node, serve::serve, tokens};
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError, ListenerConfig, RateLimit, Registry, Router, Shutdown, Stage};
use mmo_proto::{
    AuthSession, ErrorCode, Friend, FriendNtf, HelloReq, HelloResp, LoginReq, LoginResp, PingReq, PingResp,
    ResumeReq, ResumeResp, login_req::Credential,
};
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{ClientError, TestClient};
use mmo_wire::{Flags, MsgType};
use prost::Message as _;

async fn hello(_ctx: Ctx<()>, _req: HelloReq) -> Result<HelloResp, HandlerError> {
    _ctx.session().set_stage(Stage::Versioned);
    Ok(ListenerConfig::default().hello_resp(_ctx.session().id()))
}

struct LoginState {
    bus: Bus,
}

async fn login(ctx: Ctx<LoginState>, req: LoginReq) -> Result<LoginResp, HandlerError> {
    let Some(Credential::Device(d)) = req.credential else {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    };
    let player = PlayerId(d.device_id.parse().map_err(|_| HandlerError::Reject(ErrorCode::InvalidArgument))?);
    let issued = tokens::issue(&ctx.state().bus, player, Duration::from_secs(60))
        .await
        .map_err(HandlerError::internal)?;
    ctx.session().set_player(player);
    ctx.session().set_stage(Stage::Authenticated);
    let session = AuthSession { player_id: player.0, token: issued.token, ..Default::default() };
    Ok(LoginResp { session: Some(session) })
}

struct Cluster {
    redis: TestRedis,
    shutdown: Shutdown,
    /// The login server's bus (pushes to players go through it, as from any server).
    server: Bus,
}

impl Cluster {
    async fn new() -> Cluster {
        let redis = TestRedis::new();
        let shutdown = Shutdown::new();
        let server = redis.bus("login-server", &shutdown).await;
        let hello_router = Router::new().route(Stage::Connected, hello);
        serve(&server, "hello", hello_router, Arc::new(()), &shutdown).await.unwrap();
        let login_router = Router::new().route(Stage::Versioned.rate_limit(RateLimit::per_second(10)), login);
        serve(&server, "login", login_router, Arc::new(LoginState { bus: server.clone() }), &shutdown)
            .await
            .unwrap();
        Cluster { redis, shutdown, server }
    }

    /// A gateway node: the real gateway, on its own bus node id.
    async fn gateway(&self, node_id: &str, cfg: ListenerConfig) -> Gateway {
        let bus = self.redis.bus(node_id, &self.shutdown).await;
        let registry = Registry::new();
        let cfg = ListenerConfig { listen: "127.0.0.1:0".parse().unwrap(), ..cfg };
        let listener = mmo_gateway::bind(
            cfg,
            mmo_gateway::GatewayConfig::default(),
            registry.clone(),
            self.shutdown.clone(),
            Some(&bus),
        )
        .await
        .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(listener.run());
        Gateway { addr, registry, bus }
    }

    async fn push(&self, player: u64, n: u64) {
        let ntf = FriendNtf { friend: Some(Friend { player_id: n, ..Default::default() }) };
        assert!(node::push_to_player(&self.server, PlayerId(player), &ntf).await.unwrap(), "player online");
    }

    /// Every event in the event stream, as (kind, player, reason attr).
    async fn events(&self) -> Vec<(String, u64, String)> {
        let events = mmo_testkit::redis::events(&self.server).await;
        events
            .into_iter()
            .map(|e| {
                let reason = match e.detail {
                    Some(mmo_proto::bus::game_event::Detail::Logout(l)) => l.reason,
                    _ => String::new(),
                };
                (e.kind, e.player, reason)
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

struct Gateway {
    addr: std::net::SocketAddr,
    registry: Registry,
    /// The gateway's bus: logout events are emitted on it.
    bus: Bus,
}

impl Gateway {
    async fn client(&self) -> TestClient {
        let mut c = TestClient::connect(self.addr).await.unwrap();
        c.hello().await.unwrap();
        c
    }

    /// Waits (bounded) until `cond` holds for this gateway's registry.
    async fn until(&self, what: &str, cond: impl Fn(&Registry) -> bool) {
        for _ in 0..500 {
            if cond(&self.registry) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for: {what}");
    }
}

async fn login_as(c: &mut TestClient, player: u64) -> String {
    let req = LoginReq {
        credential: Some(Credential::Device(mmo_proto::DeviceCredential { device_id: player.to_string() })),
    };
    let resp: LoginResp = c.request(&req).await.unwrap();
    resp.session.unwrap().token
}

/// Reads the next frame and checks it is FriendNtf number `n`.
async fn expect_ntf(c: &mut TestClient, n: u64) {
    let f = c.recv().await.unwrap();
    assert_eq!(f.header.id, FriendNtf::ID, "expected FriendNtf {n}");
    assert!(!f.header.flags.contains(Flags::DROPPABLE));
    let ntf: FriendNtf = f.decode_body().unwrap();
    assert_eq!(ntf.friend.unwrap().player_id, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_gets_the_frames_it_missed_in_order_and_once() {
    let cl = Cluster::new().await;
    let gw = cl.gateway("gw-1", ListenerConfig::default()).await;
    let mut c1 = gw.client().await;
    let token = login_as(&mut c1, 7).await; // counted frame 1: the LoginResp
    for n in 1..=3 {
        cl.push(7, n).await;
    }
    // All three reach the socket, but (as when a connection dies with frames in flight) the
    // client will say it got only the first one (counted frame 2).
    for n in 1..=3 {
        expect_ntf(&mut c1, n).await;
    }
    drop(c1);
    gw.until("the session is parked", |r| r.parked() == 1).await;
    // Pushes while nobody is connected queue up.
    cl.push(7, 4).await;
    cl.push(7, 5).await;
    let frame_len = |n: u64| {
        4 + 7 + FriendNtf { friend: Some(Friend { player_id: n, ..Default::default() }) }.encoded_len()
    };
    let queued = frame_len(4) + frame_len(5);
    gw.until("pushes queued", |r| r.sessions().iter().any(|s| s.queued_bytes() == queued)).await;

    let mut c2 = gw.client().await;
    let resp: ResumeResp = c2.request(&ResumeReq { token: token.clone(), received: 2 }).await.unwrap();
    assert_eq!(resp.player_id, 7);
    assert_eq!(resp.replayed, 4, "2 and 3 from the replay buffer, 4 and 5 queued while detached");
    for n in 2..=5 {
        expect_ntf(&mut c2, n).await;
    }
    // The session goes on: a request is answered, and the next frame is its answer (nothing twice).
    let pong: PingResp = c2.request(&PingReq { client_time_ms: 9 }).await.unwrap();
    assert_eq!(pong.client_time_ms, 9);
    cl.push(7, 6).await;
    expect_ntf(&mut c2, 6).await;
    assert_eq!(gw.registry.parked(), 0);
    assert_eq!(gw.registry.len(), 1, "the temporary session of the new connection is gone");

    // A second drop and resume works the same way. Counted so far: LoginResp, pushes 1-5,
    // PingResp, push 6 (the ResumeResp belongs to the new connection's handshake).
    drop(c2);
    gw.until("parked again", |r| r.parked() == 1).await;
    let mut c3 = gw.client().await;
    let resp: ResumeResp = c3.request(&ResumeReq { token, received: 8 }).await.unwrap();
    assert_eq!(resp.replayed, 0);
    cl.push(7, 8).await;
    expect_ntf(&mut c3, 8).await;
    // What the gateway emitted is written before the stream is read.
    assert!(gw.bus.flush(Duration::from_secs(5)).await);
    let events = cl.events().await;
    assert!(events.iter().all(|(kind, _, _)| kind != "logout"), "no logout while resumed: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_logged_in_client_is_told_idle_timeout_and_can_still_resume() {
    let cl = Cluster::new().await;
    let cfg = ListenerConfig { idle_timeout: Duration::from_millis(500), ..ListenerConfig::default() };
    let gw = cl.gateway("gw-1", cfg).await;
    let mut c1 = gw.client().await;
    let token = login_as(&mut c1, 9).await; // counted frame 1
    cl.push(9, 1).await; // counted frame 2
    expect_ntf(&mut c1, 1).await;
    // Silence past the idle timeout: the last frame is a DisconnectNtf saying why (not
    // counted), then the connection closes; the session waits for a resume.
    let f = tokio::time::timeout(Duration::from_secs(5), c1.recv()).await.unwrap().unwrap();
    assert_eq!(f.header.id, mmo_proto::DisconnectNtf::ID);
    assert_eq!(f.decode_body::<mmo_proto::DisconnectNtf>().unwrap().reason(), ErrorCode::IdleTimeout);
    assert!(matches!(c1.recv().await, Err(ClientError::Closed | ClientError::Io(_))));
    drop(c1);
    gw.until("the session is parked", |r| r.parked() == 1).await;
    cl.push(9, 2).await;

    let mut c2 = gw.client().await;
    let resp: ResumeResp = c2.request(&ResumeReq { token, received: 2 }).await.unwrap();
    assert_eq!((resp.player_id, resp.replayed), (9, 1), "the push queued while parked");
    expect_ntf(&mut c2, 2).await;
    let _: PingResp = c2.request(&PingReq::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_is_refused_after_the_window_with_a_bad_token_or_a_bad_count() {
    let cl = Cluster::new().await;
    let cfg = ListenerConfig { resume_window: Duration::from_millis(300), ..ListenerConfig::default() };
    let gw = cl.gateway("gw-1", cfg).await;
    let mut c1 = gw.client().await;
    let token = login_as(&mut c1, 11).await;
    drop(c1);
    gw.until("parked", |r| r.parked() == 1).await;

    let forged = "A".repeat(tokens::TOKEN_LEN);
    for (token, received) in [(forged.as_str(), 1), ("short", 1), (token.as_str(), 99)] {
        let mut c = gw.client().await;
        let err = c.request::<_, ResumeResp>(&ResumeReq { token: token.into(), received }).await.unwrap_err();
        assert!(matches!(err, ClientError::Rejected { code: ErrorCode::ResumeFailed }), "{err:?}");
    }
    // A refused count leaves the session parked; the window still ends it.
    gw.until("the window ends the session", |r| r.parked() == 0 && r.is_empty()).await;
    let mut c = gw.client().await;
    let err = c.request::<_, ResumeResp>(&ResumeReq { token, received: 1 }).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::ResumeFailed }), "{err:?}");
    // A failed resume leaves the connection as it was (stage Versioned): it logs in at once.
    login_as(&mut c, 12).await;
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    // The ended session logged out and released its presence.
    assert!(gw.bus.flush(Duration::from_secs(5)).await);
    assert!(cl.events().await.contains(&("logout".into(), 11, "RESUME_WINDOW_EXPIRED".into())));
    for _ in 0..100 {
        if node::presence(&cl.server, PlayerId(11)).await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("presence not released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_takes_over_a_connection_the_server_still_thinks_alive() {
    let cl = Cluster::new().await;
    let gw = cl.gateway("gw-1", ListenerConfig::default()).await;
    let mut old = gw.client().await;
    let token = login_as(&mut old, 5).await;
    // The old connection is still open (as after a silent network loss).
    let mut new = gw.client().await;
    let resp: ResumeResp = new.request(&ResumeReq { token, received: 1 }).await.unwrap();
    assert_eq!((resp.player_id, resp.replayed), (5, 0));
    cl.push(5, 1).await;
    expect_ntf(&mut new, 1).await;
    // The old connection was let go without a notice: it just ends.
    assert!(matches!(old.recv().await, Err(ClientError::Closed | ClientError::Io(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_kicks_the_first_on_the_same_or_another_gateway() {
    let cl = Cluster::new().await;
    let gw1 = cl.gateway("gw-1", ListenerConfig::default()).await;
    let gw2 = cl.gateway("gw-2", ListenerConfig::default()).await;

    let mut first = gw1.client().await;
    login_as(&mut first, 3).await;
    let mut second = gw2.client().await;
    login_as(&mut second, 3).await;
    assert_eq!(first.expect_disconnect().await.unwrap(), ErrorCode::DuplicateLogin);
    drop(first);
    let at = node::presence(&cl.server, PlayerId(3)).await.unwrap().unwrap();
    assert_eq!(at.node, "gw-2");
    // Pushes reach the one live session.
    cl.push(3, 1).await;
    expect_ntf(&mut second, 1).await;

    // Same gateway: the newer one wins again; a parked session is ended too (no resume of it).
    let mut third = gw2.client().await;
    login_as(&mut third, 3).await;
    assert_eq!(second.expect_disconnect().await.unwrap(), ErrorCode::DuplicateLogin);
    drop(second);
    gw1.until("gw-1 has no session left", |r| r.is_empty()).await;
    gw2.until("gw-2 holds one session", |r| r.len() == 1).await;
    // The logout events are queued on the gateways' buses as the sessions end.
    for gw in [&gw1, &gw2] {
        assert!(gw.bus.flush(Duration::from_secs(5)).await);
    }
    let events = cl.events().await;
    assert_eq!(
        events.iter().filter(|e| e.0 == "logout" && e.2 == "DUPLICATE_LOGIN").count(),
        2,
        "{events:?}"
    );
}
