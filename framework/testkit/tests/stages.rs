//! Stage gating, strikes, rate limits and unknown ids, through a real socket.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::sync::atomic::Ordering;

use mmo_core::ListenerConfig;
use mmo_proto::{EchoReq, EchoResp, ErrorCode, HelloReq, HelloResp, PingReq, PingResp, TimeReq, TimeResp};
use mmo_testkit::ClientError;
use mmo_wire::MsgType;

#[tokio::test]
async fn a_message_before_hello_is_rejected_before_any_handler_runs() {
    let (server, counters) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    let err = c.request::<_, EchoResp>(&EchoReq { payload: b"x".to_vec().into() }).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::WrongStage }), "{err:?}");
    assert_eq!(counters.handled.load(Ordering::SeqCst), 0, "no handler ran");
    // A body that would not even decode is still rejected for its stage, not its body.
    c.send_frame(EchoReq::ID.0, 9, &[0xff, 0xff, 0xff]).await.unwrap();
    let f = c.recv().await.unwrap();
    let e: mmo_proto::ErrorResp = f.decode_body().unwrap();
    assert_eq!(
        (e.code(), f.header.seq.0, e.request_msg_id),
        (ErrorCode::WrongStage, 9, u32::from(EchoReq::ID.0))
    );
    // The session still works: Ping is allowed in every stage, then Hello, then Echo.
    let pong: PingResp = c.request(&PingReq { client_time_ms: 42 }).await.unwrap();
    assert_eq!(pong.client_time_ms, 42);
    c.hello().await.unwrap();
    let r: EchoResp = c.request(&EchoReq { payload: b"hi".to_vec().into() }).await.unwrap();
    assert_eq!(r.payload.as_ref(), b"hi");
}

#[tokio::test]
async fn a_second_hello_is_rejected_and_changes_nothing() {
    let (server, counters) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let err = c.request::<_, HelloResp>(&HelloReq::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::WrongStage }), "{err:?}");
    assert_eq!(counters.handled.load(Ordering::SeqCst), 1, "the second Hello reached no handler");
}

#[tokio::test]
async fn unknown_ids_and_malformed_bodies_strike_until_the_connection_closes() {
    let cfg = ListenerConfig { max_strikes: 3, ..Default::default() };
    let (server, _) = common::start(cfg).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    c.send_frame(60_000, 1, b"").await.unwrap();
    let e: mmo_proto::ErrorResp = c.recv().await.unwrap().decode_body().unwrap();
    assert_eq!(e.code(), ErrorCode::UnknownMessage);
    // Field 1 declared as a 10-byte bytes field with 1 byte present: truncated.
    c.send_frame(EchoReq::ID.0, 2, &[0x0a, 0x0a, 0x01]).await.unwrap();
    let e: mmo_proto::ErrorResp = c.recv().await.unwrap().decode_body().unwrap();
    assert_eq!(e.code(), ErrorCode::MalformedBody);
    // The last strike still gets its ErrorResp, then the DisconnectNtf.
    c.send_frame(60_001, 3, b"").await.unwrap();
    let f = c.recv().await.unwrap();
    assert_eq!((f.header.id, f.header.seq.0), (mmo_proto::ErrorResp::ID, 3));
    assert_eq!(f.decode_body::<mmo_proto::ErrorResp>().unwrap().code(), ErrorCode::UnknownMessage);
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::TooManyStrikes);
}

#[tokio::test]
async fn ids_nobody_handles_are_unknown_in_every_stage_including_server_to_client_ones() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    // Before Hello, an id of no message at all, and a server-to-client id sent by the client:
    // UNKNOWN_MESSAGE, a strike each, before anything is decoded.
    for (stage_done, id) in
        [(false, 60_000u16), (false, HelloResp::ID.0), (true, mmo_proto::DisconnectNtf::ID.0)]
    {
        let mut c = server.client().await;
        if stage_done {
            c.hello().await.unwrap();
        }
        c.send_frame(id, 9, b"\x08\x01").await.unwrap();
        let f = c.recv().await.unwrap();
        assert_eq!((f.header.id, f.header.seq.0), (mmo_proto::ErrorResp::ID, 9));
        let e: mmo_proto::ErrorResp = f.decode_body().unwrap();
        assert_eq!((e.code(), e.request_msg_id), (ErrorCode::UnknownMessage, u32::from(id)));
    }
}

#[tokio::test(start_paused = true)]
async fn rate_limited_messages_get_an_explicit_error() {
    let (server, counters) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let before = counters.handled.load(Ordering::SeqCst);
    let _: TimeResp = c.request(&TimeReq {}).await.unwrap();
    let _: TimeResp = c.request(&TimeReq {}).await.unwrap();
    // 2 per second with a burst of 2: the third at once is refused, with how long to wait for
    // the next token (half a second at 2/s).
    let seq = c.send(&TimeReq {}).await.unwrap();
    let f = c.recv().await.unwrap();
    assert_eq!((f.header.id, f.header.seq), (mmo_proto::ErrorResp::ID, seq));
    let e: mmo_proto::ErrorResp = f.decode_body().unwrap();
    assert_eq!(e.code(), ErrorCode::RateLimited);
    assert!((490..=500).contains(&e.retry_after_ms), "retry_after_ms {}", e.retry_after_ms);
    assert_eq!(counters.handled.load(Ordering::SeqCst), before + 2);
    // Tokens come back with time: after the hinted wait, it goes through.
    tokio::time::sleep(std::time::Duration::from_millis(e.retry_after_ms)).await;
    let _: TimeResp = c.request(&TimeReq {}).await.unwrap();
}

#[tokio::test]
async fn responses_echo_the_request_sequence_in_order() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    c.hello().await.unwrap();
    // Pipeline 100 requests without waiting; answers come back in order with their seq.
    let mut seqs = Vec::new();
    for i in 0..100u32 {
        seqs.push(c.send(&EchoReq { payload: i.to_be_bytes().to_vec().into() }).await.unwrap());
    }
    for (i, seq) in seqs.into_iter().enumerate() {
        let f = c.recv().await.unwrap();
        assert_eq!(f.header.seq, seq);
        assert_eq!(f.header.flags, mmo_wire::Flags::NONE);
        let r: EchoResp = f.decode_body().unwrap();
        assert_eq!(r.payload.as_ref(), (i as u32).to_be_bytes());
    }
}
