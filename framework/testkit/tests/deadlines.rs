//! Handshake and idle deadlines, and slowloris, on tokio's paused clock: the runtime jumps to
//! the next timer whenever every task waits, so these tests take no wall time.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use mmo_core::ListenerConfig;
use mmo_proto::{ErrorCode, PingReq, PingResp};
use mmo_wire::MsgType as _;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let start = Instant::now();
    let mut c = server.client().await;
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::HandshakeTimeout);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn pings_do_not_extend_the_handshake_deadline() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let start = Instant::now();
    let mut c = server.client().await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    }
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::HandshakeTimeout);
    assert!(start.elapsed() < Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_session_alive_and_silence_ends_it() {
    let cfg = ListenerConfig::default();
    let (server, _) = common::start(cfg.clone()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    // Ten heartbeats at the advertised interval: three times the idle timeout in all.
    for _ in 0..9 {
        tokio::time::sleep(cfg.heartbeat_interval).await;
        let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    }
    let quiet_since = Instant::now();
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::IdleTimeout);
    let waited = quiet_since.elapsed();
    assert!(waited >= cfg.idle_timeout && waited < cfg.idle_timeout + Duration::from_secs(1), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn slowloris_trickling_a_frame_is_closed_at_the_deadline() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let start = Instant::now();
    // Announce a frame at the limit, then trickle one byte every 10 s. Bytes arrive, but no frame
    // completes, so the idle deadline still runs.
    c.send_raw(&(64u32 * 1024).to_be_bytes()).await.unwrap();
    let closed_at = loop {
        match tokio::time::timeout(Duration::from_secs(10), c.recv()).await {
            Err(_) => c.send_raw(&[0]).await.unwrap(),
            Ok(frame) => {
                let ntf: mmo_proto::DisconnectNtf = frame.unwrap().decode_body().unwrap();
                assert_eq!(ntf.reason(), ErrorCode::IdleTimeout);
                break start.elapsed();
            }
        }
    };
    assert!(closed_at >= Duration::from_secs(30) && closed_at < Duration::from_secs(31), "{closed_at:?}");
    // Meanwhile a legitimate client is served.
    let mut d = server.client().await;
    d.hello().await.unwrap();
}

/// A server behind the gateway that takes every request and never answers.
struct BlackHole;

impl mmo_core::router::Forward for BlackHole {
    fn spec(&self, _id: mmo_wire::MsgId) -> Option<mmo_core::RouteSpec> {
        Some(mmo_core::Stage::Authenticated.into())
    }

    fn forward(&self, _session: &mmo_core::Session, _frame: mmo_wire::Frame) -> Result<(), ErrorCode> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_forwarded_request_nobody_answers_gets_unavailable_at_the_request_timeout() {
    // The timer armed before the request (the handshake deadline, made long here) must not
    // hold the request's own deadline back.
    let cfg = ListenerConfig { handshake_timeout: Duration::from_secs(60), ..Default::default() };
    let router = common::router().forward_unknown(std::sync::Arc::new(BlackHole));
    let server = mmo_testkit::TestServer::start(cfg.clone(), router, Default::default()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let start = Instant::now();
    let seq = c.send(&mmo_proto::LoginReq::default()).await.unwrap();
    let f = c.recv().await.unwrap();
    let waited = start.elapsed();
    assert_eq!((f.header.id, f.header.seq), (mmo_proto::ErrorResp::ID, seq));
    let err: mmo_proto::ErrorResp = f.decode_body().unwrap();
    assert_eq!(err.code(), ErrorCode::Unavailable);
    assert_eq!(err.retry_after_ms, cfg.retry_hint.as_millis() as u64);
    // At the request's own deadline, not when the timer armed earlier fires.
    assert!(
        waited >= cfg.request_timeout && waited < cfg.request_timeout + Duration::from_secs(1),
        "{waited:?}"
    );
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
}
