//! The `echo` scenario: against the real path (gateway, Redis Streams bus, diagnostics server) every
//! echo comes back once with its own bytes, open and closed loop; against fake servers, a wrong
//! echo and a refusal are counted as errors of their kind.
//!
//! The real-path tests need Redis at `MMO_REDIS_URL` (default `redis://127.0.0.1:6379`); each
//! uses its own key prefix and deletes it at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use mmo_bots::{Options, Report, Scenario};
use mmo_core::Shutdown;
use mmo_proto::{EchoReq, EchoResp, ErrorCode, ErrorResp, PingReq, PingResp};
use mmo_testkit::redis::TestRedis;
use mmo_wire::{Flags, MsgType};

/// A gateway with a bus and the diagnostics server behind it. Keep it alive for the test: its
/// drop stops the servers and deletes the test's Redis keys.
struct Path {
    addr: SocketAddr,
    shutdown: Shutdown,
    _redis: TestRedis,
    _db: mmo_testkit::mysql::TestDb,
}

impl Drop for Path {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn echo_path() -> Path {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = redis.bus("node-1", &shutdown).await;
    mmo_diagnostics::run(&bus, &shutdown).await.expect("start the diagnostics server");
    // Hello goes to the version server behind the bus; with no build policy every build is OK.
    let db = mmo_testkit::mysql::TestDb::new().await;
    db.store().migrate(&mmo_version::migrations()).await.expect("version tables");
    let listener_cfg = mmo_core::ListenerConfig::default();
    mmo_version::run(&bus, db.store().clone(), listener_cfg, &shutdown)
        .await
        .expect("start the version server");
    let listener = mmo_gateway::bind(
        mmo_core::ListenerConfig { listen: "127.0.0.1:0".parse().expect("address"), ..Default::default() },
        mmo_gateway::GatewayConfig::default(),
        mmo_core::Registry::new(),
        shutdown.clone(),
        Some(&bus),
    )
    .await
    .expect("bind the gateway");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(listener.run());
    Path { addr, shutdown, _redis: redis, _db: db }
}

fn echo(addr: SocketAddr, bots: usize) -> Options {
    Options { addr, bots, duration: Duration::from_secs(1), scenario: Scenario::Echo, ..Options::default() }
}

fn assert_all_answered_once(report: &Report, bots: u64) {
    assert_eq!(report.connected, bots, "{report}");
    assert!(report.answered > 0, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.duplicated, 0, "{report}");
    assert_eq!(report.answered, report.sent, "{report}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max, "{report}");
    assert!(report.passed(), "{report}");
}

#[test]
fn the_bots_know_the_servers_echo_limit() {
    assert_eq!(mmo_bots::scenario::ECHO_LIMIT_PER_S, mmo_diagnostics::RATE_PER_SECOND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_get_every_echo_back_once_through_the_bus() {
    let path = echo_path().await;
    // 50 echos per second and bot, 100 bytes each.
    let opts = Options { rate: Some(1000.0), payload: 100, ..echo(path.addr, 20) };
    let report = mmo_bots::run(opts).await.expect("run");

    assert_all_answered_once(&report, 20);
    // 1000/s for 1 s, each bot starting at a random phase: about 1000 (not timed, only sane).
    assert!(report.sent >= 500 && report.sent <= 20 * 51, "{report}");
    assert!(!report.closed_loop);

    let json = serde_json::to_value(&report).expect("serialise");
    for key in [
        "scenario",
        "bots",
        "duration_s",
        "connected",
        "sent",
        "answered",
        "lost",
        "duplicated",
        "errors",
        "latency_ms",
        "throughput_per_s",
        "rate",
        "payload",
    ] {
        assert!(json.get(key).is_some(), "JSON lacks {key}: {json}");
    }
    for key in ["p50", "p90", "p99", "max", "mean"] {
        assert!(json["latency_ms"].get(key).is_some_and(|v| v.is_f64()), "latency_ms lacks {key}: {json}");
    }
    assert_eq!(json["scenario"], "echo");
    assert_eq!(json["rate"], 1000.0);
    assert_eq!(json["payload"], 100);
    assert_eq!(json["ping_interval_ms"], 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_bots_keep_one_echo_in_flight_and_stay_under_the_limit() {
    let path = echo_path().await;
    let opts = Options { closed_loop: true, ..echo(path.addr, 4) };
    let report = mmo_bots::run(opts).await.expect("run");

    // No RATE_LIMITED: a bot that answers come back to fast waits for the limit.
    assert_all_answered_once(&report, 4);
    assert!(report.sent <= 4 * (u64::from(mmo_bots::scenario::ECHO_LIMIT_PER_S) + 1), "{report}");
    assert!(report.throughput_per_s > 20.0, "{report}");
    let json = serde_json::to_value(&report).expect("serialise");
    assert!(json["rate"].is_null() && json["ping_interval_ms"].is_null(), "{json}");
    assert_eq!(json["closed_loop"], true);
}

/// How the fake server answers EchoReq.
#[derive(Clone, Copy)]
enum Echo {
    /// With the payload's first byte flipped.
    Corrupt,
    /// With ErrorResp(UNAVAILABLE), as the gateway does when the service does not answer.
    Unavailable,
}

/// A server that does Hello and Ping properly and mistreats echos.
async fn fake_server(echo: Echo) -> SocketAddr {
    common::fake_server(move |frame| {
        let seq = frame.header.seq;
        Some(match frame.header.id {
            PingReq::ID => PingResp::default().to_frame_bytes(seq, Flags::NONE),
            EchoReq::ID => match echo {
                Echo::Corrupt => {
                    let mut payload = frame.decode_body::<EchoReq>().expect("EchoReq").payload.to_vec();
                    payload[0] ^= 0xff;
                    EchoResp { payload: payload.into() }.to_frame_bytes(seq, Flags::NONE)
                }
                Echo::Unavailable => ErrorResp {
                    code: ErrorCode::Unavailable.code(),
                    request_msg_id: u32::from(EchoReq::ID.0),
                    ..Default::default()
                }
                .to_frame_bytes(seq, Flags::NONE),
            },
            other => panic!("unexpected message {other}"),
        })
    })
    .await
}

fn short(addr: SocketAddr) -> Options {
    Options { duration: Duration::from_millis(300), rate: Some(40.0), ..echo(addr, 2) }
}

#[tokio::test]
async fn an_echo_with_other_bytes_is_a_mismatch() {
    let addr = fake_server(Echo::Corrupt).await;
    let report = mmo_bots::run(short(addr)).await.expect("run");

    assert_eq!(report.connected, 2, "{report}");
    assert!(report.sent >= 2, "{report}");
    assert_eq!(report.answered, 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.errors, report.sent, "{report}");
    assert_eq!(report.errors_by_kind.get("echo.mismatch"), Some(&report.sent), "{report}");
    assert!(report.error_examples["echo.mismatch"].contains("first difference at byte 0"), "{report}");
    assert!(!report.passed());
}

#[tokio::test]
async fn an_unavailable_service_is_an_error_of_its_kind() {
    let addr = fake_server(Echo::Unavailable).await;
    let report = mmo_bots::run(short(addr)).await.expect("run");

    assert!(report.sent >= 2, "{report}");
    assert_eq!((report.answered, report.lost), (0, 0), "{report}");
    assert_eq!(report.errors_by_kind.get("error_resp.UNAVAILABLE"), Some(&report.sent), "{report}");
    assert!(!report.passed());
}

#[tokio::test]
async fn a_closed_loop_goes_on_after_a_refusal() {
    // Every echo refused at once: a closed-loop bot must send the next, not wait forever.
    let addr = fake_server(Echo::Unavailable).await;
    let opts = Options { rate: None, closed_loop: true, ..short(addr) };
    let report = mmo_bots::run(opts).await.expect("run");

    // 300 ms at most 1000/s per bot: far more than one each, at most ~600.
    assert!(report.sent > 20 && report.sent <= 2 * 301, "{report}");
    assert_eq!(report.errors_by_kind.get("error_resp.UNAVAILABLE"), Some(&report.sent), "{report}");
    assert_eq!(report.lost, 0, "{report}");
}
