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
async fn the_connection_cap_holds_new_clients_in_the_backlog_until_a_slot_frees() {
    let (server, _) = common::start(ListenerConfig { max_connections: 2, ..Default::default() }).await;
    let mut a = server.client().await;
    a.hello().await.unwrap();
    let mut b = server.client().await;
    b.hello().await.unwrap();
    // The third connects (the kernel completes the handshake) but is not served yet.
    let mut c = server.client().await;
    let waiting = tokio::time::timeout(Duration::from_secs(2), c.hello()).await;
    assert!(waiting.is_err(), "served beyond the cap");
    assert_eq!(server.registry.len(), 2);
    drop(a);
    // The hello sent earlier is answered as soon as a slot frees.
    let f = tokio::time::timeout(Duration::from_secs(2), c.recv()).await.expect("served").unwrap();
    assert_eq!(f.header.id, mmo_proto::HelloResp::ID);
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    let _: PingResp = b.request(&PingReq::default()).await.unwrap();
}
