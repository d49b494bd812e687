//! The `chat` scenario against a real cluster started in-process the way `mmo all` starts it
//! (gateway, accounts, chat, the bus, MySQL): a dozen bots join a custom channel (the first to
//! find it missing creates it) and talk at two messages a second each; every acknowledged
//! message reaches every other bot once. Then the same in the world channel. Against a fake
//! server that delivers every message twice, the duplicates fail the run.
//!
//! Needs Redis at `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`);
//! the cluster has its own key prefix and database, deleted at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;
mod common;

use std::time::Duration;

use bytes::Bytes;
use cluster::Cluster;
use mmo_bots::{Options, Report, Scenario};
use mmo_proto::{
    AuthSession, ChannelInfo, ChannelJoinReq, ChannelJoinResp, ChatMessage, ChatMessageNtf, ChatSendReq,
    ChatSendResp, LoginReq, LoginResp, PingReq, PingResp,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};

const BOTS: usize = 12;
const WINDOW: Duration = Duration::from_secs(3);
const RATE: f64 = 2.0;

fn opts(addr: std::net::SocketAddr, tag: &str, channel: &str) -> Options {
    Options {
        addr,
        bots: BOTS,
        scenario: Scenario::Chat,
        duration: WINDOW,
        run_tag: tag.into(),
        chat_channel: Some(channel.into()),
        chat_rate: Some(RATE),
        ..Options::default()
    }
}

/// What a run in a working cluster must show: every bot in, every message acknowledged and
/// delivered once to every bot that was in the channel when it was sent.
fn assert_clean(report: &Report, channel: &str) {
    println!("{report}");
    let c = report.chat.as_ref().expect("a chat report");
    let bots = BOTS as u64;
    assert_eq!(report.login.as_ref().unwrap().ok, bots, "{report}");
    assert_eq!((c.joined, c.join_failed), (bots, 0), "{report}");
    // Two a second for three seconds each: six, or five when a bot's phase puts its last slot
    // at the window's end.
    assert!(c.sent >= 5 * bots && c.sent <= 6 * bots, "{report}");
    assert_eq!((c.acked, c.refused), (c.sent, 0), "{report}");
    assert_eq!((report.sent, report.answered, report.lost), (c.sent, c.sent, 0), "{report}");
    // Each message is owed to the other eleven bots that were in by then.
    assert!(c.expected > 0 && c.expected <= c.acked * (bots - 1), "{report}");
    assert!(c.expected >= c.acked * (bots - 1) / 2, "most bots were in from the start: {report}");
    assert_eq!((c.lost, c.duplicated), (0, 0), "{report}");
    assert!(c.deliveries >= c.expected && c.deliveries <= c.acked * (bots - 1), "{report}");
    assert!((c.deliveries_per_s - c.deliveries as f64 / report.duration_s).abs() < 1e-9, "{report}");
    let l = c.latency_ms;
    assert!(l.p50 > 0.0 && l.p50 <= l.p99 && l.p99 <= l.max && l.max < 5_000.0, "{report}");
    assert!(report.passed(), "{:?}\n{report}", report.failures());

    let text = report.to_string();
    let head = format!("chat         channel {channel}, 2 messages/s per bot");
    for line in [head.as_str(), "  deliveries ", "  latency ms "] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["scenario"], "chat");
    for key in ["deliveries", "deliveries_per_s", "lost", "duplicated", "expected", "acked"] {
        assert!(json["chat"][key].is_number(), "chat lacks {key}: {json}");
    }
    for key in ["p50", "p99"] {
        assert!(json["chat"]["latency_ms"][key].is_f64(), "latency lacks {key}: {json}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dozen_bots_talk_in_a_custom_channel_then_in_the_world_and_every_message_arrives_once() {
    let cluster = Cluster::start("chat", |_| {}).await;
    let report = mmo_bots::run(opts(cluster.addr, "chatters", "Bots-Lobby")).await.unwrap();
    assert_clean(&report, "Bots-Lobby");
    // The world channel: joined at login; other accounts, so the sessions above are not touched.
    let report = mmo_bots::run(opts(cluster.addr, "worldly", "world")).await.unwrap();
    assert_clean(&report, "world");
    cluster.stop().await;
}

/// A channel of one bot whose server acknowledges each message and then pushes it twice.
async fn echoing_twice() -> std::net::SocketAddr {
    common::fake_server(|frame: &Frame| {
        let seq = frame.header.seq;
        let reply: Bytes = match frame.header.id {
            LoginReq::ID => {
                let session = AuthSession { player_id: 7, token: "t".repeat(43), ..Default::default() };
                LoginResp { session: Some(session) }.to_frame_bytes(seq, Flags::NONE)
            }
            PingReq::ID => PingResp::default().to_frame_bytes(seq, Flags::NONE),
            ChannelJoinReq::ID => {
                let channel = ChannelInfo { members: 1, ..Default::default() };
                ChannelJoinResp { channel: Some(channel), history: Vec::new() }
                    .to_frame_bytes(seq, Flags::NONE)
            }
            ChatSendReq::ID => {
                let req: ChatSendReq = frame.decode_body().unwrap();
                let message = ChatMessage {
                    id: u64::from(seq.0),
                    sender: 7,
                    text: String::from_utf8(req.text.to_vec()).unwrap(),
                    ..Default::default()
                };
                let ntf = ChatMessageNtf { channel: req.channel, message: Some(message.clone()) };
                [
                    ChatSendResp { message: Some(message) }.to_frame_bytes(seq, Flags::NONE),
                    ntf.to_frame_bytes(Seq(0), Flags::PUSH),
                    ntf.to_frame_bytes(Seq(0), Flags::PUSH),
                ]
                .concat()
                .into()
            }
            other => panic!("unexpected message {other}"),
        };
        Some(reply)
    })
    .await
}

#[tokio::test]
async fn a_message_delivered_twice_fails_the_run() {
    let addr = echoing_twice().await;
    let opts = Options {
        bots: 1,
        duration: Duration::from_secs(1),
        chat_rate: Some(4.0),
        ..opts(addr, "fake", "lobby")
    };
    let report = mmo_bots::run(opts).await.unwrap();
    let c = report.chat.as_ref().unwrap();
    assert_eq!((c.joined, c.refused, c.lost), (1, 0, 0), "{report}");
    assert!(c.acked >= 3 && c.acked == c.sent, "{report}");
    // The first copy is a delivery, the second a duplicate.
    assert_eq!((c.deliveries, c.duplicated), (c.acked, c.acked), "{report}");
    assert_eq!(report.failures(), [format!("{} chat deliveries duplicated", c.acked)], "{report}");
}
