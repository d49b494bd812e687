//! The swarm against a real in-process gateway (every ping answered once), and against fake
//! servers that misbehave on purpose, to show that refusals, silence and duplicates are counted.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use mmo_bots::{Options, Report};
use mmo_proto::{PingReq, PingResp};
use mmo_wire::{Flags, MsgType};

async fn gateway() -> SocketAddr {
    let listener = mmo_gateway::bind(
        mmo_core::ListenerConfig { listen: "127.0.0.1:0".parse().expect("address"), ..Default::default() },
        mmo_gateway::GatewayConfig::default(),
        mmo_core::Registry::new(),
        mmo_core::Shutdown::new(),
        None,
    )
    .await
    .expect("bind the gateway");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(listener.run());
    addr
}

fn opts(addr: SocketAddr, bots: usize) -> Options {
    Options {
        addr,
        bots,
        duration: Duration::from_secs(1),
        ping_interval: Some(Duration::from_millis(100)),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_bots_get_every_ping_answered_exactly_once() {
    let addr = gateway().await;
    let report = mmo_bots::run(opts(addr, 20)).await.expect("run");

    assert_eq!(report.connected, 20, "{report}");
    assert!(report.answered > 0, "{report}");
    assert_eq!(report.lost, 0, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.duplicated, 0, "{report}");
    assert_eq!(report.answered, report.sent, "{report}");
    // 20 bots at 10/s for 1 s, each starting at a random phase: about 200 (not timed, only sane).
    assert!(report.sent <= 20 * 11, "{report}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max, "{report}");
    assert!(report.passed());

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
        "errors_by_kind",
        "throughput_per_s",
        "latency_ms",
    ] {
        assert!(json.get(key).is_some(), "JSON lacks {key}: {json}");
    }
    for key in ["p50", "p90", "p99", "max", "mean"] {
        assert!(json["latency_ms"].get(key).is_some_and(|v| v.is_f64()), "latency_ms lacks {key}: {json}");
    }
    assert_eq!(json["scenario"], "ping");
    assert!(json["errors"].is_u64() && json["errors_by_kind"].is_object(), "{json}");
}

#[tokio::test]
async fn a_refused_connection_is_an_error_with_its_reason() {
    // A port that was just free: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
    let report = mmo_bots::run(opts(addr, 3)).await.expect("run");

    assert_eq!(report.connected, 0);
    assert_eq!(report.errors, 3);
    assert_eq!(report.errors_by_kind.get("connect"), Some(&3));
    assert!(report.error_examples["connect"].to_lowercase().contains("refused"), "{report}");
    assert_eq!(report.sent, 0);
    assert!(!report.passed());
}

/// How the fake server answers pings.
#[derive(Clone, Copy)]
enum Pings {
    Ignore,
    AnswerTwice,
}

/// A server that does Hello properly and then mistreats pings.
async fn fake_server(pings: Pings) -> SocketAddr {
    common::fake_server(move |frame| match (frame.header.id, pings) {
        (PingReq::ID, Pings::Ignore) => None,
        (PingReq::ID, Pings::AnswerTwice) => {
            let one = PingResp::default().to_frame_bytes(frame.header.seq, Flags::NONE);
            Some([one.clone(), one].concat().into())
        }
        (other, _) => panic!("unexpected message {other}"),
    })
    .await
}

fn short(addr: SocketAddr) -> Options {
    Options { duration: Duration::from_millis(300), ..opts(addr, 2) }
}

fn assert_sent_some(report: &Report) {
    assert_eq!(report.connected, 2, "{report}");
    assert!(report.sent >= 2, "{report}");
}

#[tokio::test]
async fn unanswered_pings_are_lost_after_the_drain() {
    let addr = fake_server(Pings::Ignore).await;
    let report = mmo_bots::run(short(addr)).await.expect("run");

    assert_sent_some(&report);
    assert_eq!(report.answered, 0, "{report}");
    assert_eq!(report.lost, report.sent, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(!report.passed());
}

#[tokio::test]
async fn a_second_answer_to_the_same_ping_is_a_duplicate() {
    let addr = fake_server(Pings::AnswerTwice).await;
    let report = mmo_bots::run(short(addr)).await.expect("run");

    assert_sent_some(&report);
    assert_eq!(report.answered, report.sent, "{report}");
    assert_eq!(report.duplicated, report.sent, "{report}");
    assert_eq!(report.lost, 0, "{report}");
}
