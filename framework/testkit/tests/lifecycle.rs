//! Shutdown drains (in-flight handlers finish, clients are told why) and the connection cap.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use mmo_core::ListenerConfig;
use mmo_proto::{EchoReq, EchoResp, ErrorCode, PingReq, PingResp};
use mmo_wire::MsgType;

#[tokio::test(start_paused = true)]
async fn shutdown_finishes_in_flight_handlers_and_tells_every_client() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let mut busy = server.client().await;
    busy.hello().await.unwrap();
    let mut idle = server.client().await;
    idle.hello().await.unwrap();
    // This handler takes a second: shutdown begins while it runs.
    let seq = busy.send(&EchoReq { payload: b"slow".to_vec().into() }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let drain = {
        let s = server.shutdown.clone();
        tokio::spawn(async move { s.drain(Duration::from_secs(10)).await })
    };
    let f = busy.recv().await.unwrap();
    assert_eq!((f.header.id, f.header.seq), (EchoResp::ID, seq), "the in-flight request is answered");
    assert_eq!(busy.expect_disconnect().await.unwrap(), ErrorCode::ShuttingDown);
    assert_eq!(idle.expect_disconnect().await.unwrap(), ErrorCode::ShuttingDown);
    assert!(drain.await.unwrap(), "every connection task ended within the grace period");
    assert!(server.registry.is_empty());
    // No longer accepting: the port is closed, or at least nobody answers there.
    let refused = match mmo_testkit::TestClient::connect(server.addr).await {
        Err(_) => true,
        Ok(mut c) => {
            tokio::time::timeout(Duration::from_secs(1), c.hello()).await.map_or(true, |r| r.is_err())
        }
    };
    assert!(refused, "a new client was served after shutdown");
}

#[tokio::test(start_paused = true)]
async fn clients_over_the_connection_cap_are_told_the_server_is_full_and_may_come_back() {
    let cfg = ListenerConfig { max_connections: 2, ..Default::default() };
    let (server, _) = common::start(cfg.clone()).await;
    let mut a = server.client().await;
    a.hello().await.unwrap();
    let mut b = server.client().await;
    b.hello().await.unwrap();
    // Over the cap: answered at once, whether the client said Hello already or not, with a
    // retry hint, and closed. Nothing of it reaches a handler or the registry.
    for say_hello_first in [false, true] {
        let mut c = server.client().await;
        if say_hello_first {
            c.send(&mmo_proto::HelloReq { protocol_version: 1, ..Default::default() }).await.unwrap();
        }
        let f = tokio::time::timeout(Duration::from_secs(1), c.recv()).await.expect("answered").unwrap();
        assert_eq!(f.header.id, mmo_proto::DisconnectNtf::ID);
        let ntf: mmo_proto::DisconnectNtf = f.decode_body().unwrap();
        assert_eq!(ntf.reason(), mmo_proto::ErrorCode::ServerFull);
        assert_eq!(ntf.retry_after_ms, cfg.retry_hint.as_millis() as u64);
        assert!(c.recv().await.is_err(), "the connection closes after the notice");
        assert_eq!(server.registry.len(), 2);
    }
    // A slot frees: the next client is served, and the others never noticed.
    drop(a);
    assert!(common::eventually(|| server.registry.len() == 1).await);
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    let _: PingResp = b.request(&PingReq::default()).await.unwrap();
}

#[tokio::test]
async fn a_burst_over_the_cap_is_answered_not_left_hanging() {
    // 300 clients at once against a cap of 10: every one connects (the backlog holds the
    // burst) and gets its HelloResp or SERVER_FULL at once; past `max_refusing` answers in
    // progress, the rest are closed at once. None waits for its own timeout.
    let cfg = ListenerConfig { max_connections: 10, max_refusing: 50, ..Default::default() };
    let (server, _) = common::start(cfg).await;
    let tries = (0..300).map(|_| {
        let addr = server.addr;
        tokio::spawn(async move {
            let mut c = mmo_testkit::TestClient::connect(addr).await.unwrap();
            c.send(&mmo_proto::HelloReq { protocol_version: 1, ..Default::default() }).await.unwrap();
            let outcome =
                match tokio::time::timeout(Duration::from_secs(10), c.recv()).await.expect("no hang") {
                    Ok(f) if f.header.id == mmo_proto::HelloResp::ID => "served",
                    Ok(f) => {
                        let ntf: mmo_proto::DisconnectNtf = f.decode_body().unwrap();
                        assert_eq!(ntf.reason(), ErrorCode::ServerFull);
                        "full"
                    }
                    Err(_) => "closed",
                };
            (outcome, c)
        })
    });
    let mut outcomes = std::collections::HashMap::new();
    let mut clients = Vec::new();
    for t in tries {
        let (outcome, c) = t.await.unwrap();
        *outcomes.entry(outcome).or_insert(0) += 1;
        clients.push(c);
    }
    assert_eq!(outcomes.get("served"), Some(&10), "{outcomes:?}");
    assert!(outcomes.get("full").is_some_and(|n| *n >= 50), "{outcomes:?}");
}
