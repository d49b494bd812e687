//! A channel message becomes one bus envelope per gateway holding members, listing that
//! gateway's sessions, never one per member; a gateway that is not alive gets nothing.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::time::Duration;

use mmo_chat::deliver;
use mmo_chat::people::People;
use mmo_core::Shutdown;
use mmo_core::bus::{Bus, node};
use mmo_proto::bus::{Batch, Kind};
use mmo_proto::{ChatMessage, ChatMessageNtf};
use mmo_testkit::redis::TestRedis;
use mmo_wire::MsgType as _;
use prost::Message as _;

/// The envelopes written to `node`'s inbox.
async fn inbox(bus: &Bus, node: &str) -> Vec<mmo_proto::bus::Envelope> {
    let mut conn = bus.conn().await.unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&*bus.keys().inbox(node))
        .arg("-")
        .arg("+")
        .query_async(&mut *conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for entry in reply.ids {
        let blob: Vec<u8> = entry.get("b").unwrap();
        out.extend(Batch::decode(blob.as_slice()).unwrap().envelopes);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_envelope_per_gateway_not_per_member() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = redis.bus("chat-1", &shutdown).await;
    for gw in ["gw-a", "gw-b"] {
        node::heartbeat(&redis.bus(gw, &shutdown).await).await.unwrap();
    }
    let mut members: Vec<(u64, String)> = (1..=5).map(|p| (p, format!("gw-a {}", 100 + p))).collect();
    members.extend((6..=8).map(|p| (p, format!("gw-b {}", 100 + p))));
    members.push((9, "gw-dead 109".to_string()));
    let ntf = ChatMessageNtf {
        channel: None,
        message: Some(ChatMessage { id: 1, text: "hi".into(), ..Default::default() }),
    };
    // The sender (1) and a player who blocked it (7) are skipped.
    let sent = deliver::fan_out(&bus, &People::new(Duration::ZERO), &members, |p| p == 1 || p == 7, &ntf)
        .await
        .unwrap();
    assert_eq!(sent, 6);
    assert!(bus.flush(Duration::from_secs(5)).await);
    for (gw, sessions) in [("gw-a", vec![102, 103, 104, 105]), ("gw-b", vec![106, 108])] {
        let envs = inbox(&bus, gw).await;
        assert_eq!(envs.len(), 1, "{gw}: one envelope");
        let Some(Kind::FanOut(f)) = &envs[0].kind else { panic!("{gw}: a fan-out") };
        let mut got = f.sessions.clone();
        got.sort();
        assert_eq!(got, sessions);
        assert_eq!(f.msg_id, u32::from(ChatMessageNtf::ID.0));
        assert_eq!(ChatMessageNtf::decode(f.body.clone()).unwrap(), ntf);
    }
    assert!(inbox(&bus, "gw-dead").await.is_empty(), "no stream for a dead gateway");
    shutdown.trigger();
    drop(redis);
}
