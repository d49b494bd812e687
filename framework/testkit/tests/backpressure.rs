//! A client that stops reading: droppable pushes coalesce (latest wins) before the kernel holds
//! many of them, the connection keeps reading its input and stays open; reliable frames left
//! unread past `send_timeout`, or backing up past `outbound_queue`, close it (SLOW_CONSUMER),
//! whatever else it is sent. Others are unaffected.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use bytesize::ByteSize;
use mmo_core::ListenerConfig;
use mmo_core::session::Delivery;
use std::time::Duration;

use mmo_proto::{DisconnectNtf, EchoResp, ErrorCode, MoveReq, PingReq, PingResp};
use mmo_testkit::TestClient;
use mmo_wire::{Flags, MsgType};
use tokio::time::Instant;

fn payload(i: u32) -> bytes::Bytes {
    let mut v = vec![0u8; 1024];
    v[..4].copy_from_slice(&i.to_be_bytes());
    prost::Message::encode_to_vec(&EchoResp { payload: v.into() }).into()
}

#[tokio::test]
async fn droppable_pushes_coalesce_and_only_reliable_backlog_closes_a_slow_client() {
    let cfg = ListenerConfig {
        outbound_queue: ByteSize::kib(64),
        droppable_high_water: ByteSize::kib(16),
        ..Default::default()
    };
    let (server, _) = common::start(cfg).await;
    let mut slow = server.client().await;
    slow.hello().await.unwrap();
    let mut other = server.client().await;
    other.hello().await.unwrap();
    let session = server.registry.sessions().into_iter().min_by_key(|s| s.id()).unwrap();

    // 20 MiB of position-like updates for one entity while the client reads nothing. Yielding
    // lets the connection task write until the kernel buffers are full; after that the queue
    // holds at most the newest update.
    const N: u32 = 20_000;
    for i in 0..N {
        session.push_body(EchoResp::ID, payload(i), Delivery::Droppable { key: 1 }).unwrap();
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
        assert!(session.queued_bytes() <= 16 * 1024, "droppable pushes must not grow the queue");
    }
    // Others are served meanwhile.
    let _: PingResp = other.request(&PingReq::default()).await.unwrap();

    // The slow client wakes up: it reads far fewer frames than were pushed, the last one is the
    // newest, and its session is still open.
    let mut received = 0u32;
    let mut last = 0u32;
    while last != N - 1 {
        let f = slow.recv().await.unwrap();
        assert_eq!(f.header.flags, Flags::PUSH.union(Flags::DROPPABLE));
        let r: EchoResp = f.decode_body().unwrap();
        let i = u32::from_be_bytes(r.payload[..4].try_into().unwrap());
        assert!(received == 0 || i > last, "updates arrive in order, {i} after {last}");
        last = i;
        received += 1;
    }
    assert!(received < N, "coalescing dropped nothing ({received} of {N})");
    let _: PingResp = slow.request(&PingReq::default()).await.unwrap();

    // Reliable pushes are never dropped: once they back up past the limit, the client is closed.
    let mut accepted = 0;
    for i in 0..N {
        if session.push_body(EchoResp::ID, payload(i), Delivery::Reliable).is_err() {
            break;
        }
        accepted += 1;
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert!(accepted < N, "the slow client was never closed");
    assert_eq!(session.closing_reason(), Some(ErrorCode::SlowConsumer));
    // Every reliable frame the client gets is in order with no gap, then the reason.
    let mut expected_seq = 1;
    let reason = loop {
        let f = slow.recv().await.unwrap();
        if f.header.id == mmo_proto::DisconnectNtf::ID {
            break f.decode_body::<mmo_proto::DisconnectNtf>().unwrap().reason();
        }
        assert_eq!(f.header.seq.0, expected_seq);
        expected_seq += 1;
    };
    assert_eq!(reason, ErrorCode::SlowConsumer);
    let _: PingResp = other.request(&PingReq::default()).await.unwrap();
    drop(slow);
    assert!(common::eventually(|| server.registry.len() == 1).await);
}

/// A zone-like feed for one session until `until`: every 50 ms a 1 KiB droppable "positions"
/// frame (all with one key: the newest replaces an older one still queued) carrying its number,
/// and, if `reliable`, a small reliable "tick" frame. Returns how many positions were pushed.
fn feed(session: mmo_core::Session, until: Instant, reliable: bool) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut n = 0;
        while Instant::now() < until {
            tick.tick().await;
            if session.push_body(EchoResp::ID, payload(n), Delivery::Droppable { key: 1 }).is_err() {
                break;
            }
            n += 1;
            let small = prost::Message::encode_to_vec(&EchoResp { payload: vec![7; 32].into() });
            if reliable && session.push_body(EchoResp::ID, small.into(), Delivery::Reliable).is_err() {
                break;
            }
        }
        n
    })
}

/// Sends one-way inputs once a second (nothing comes back for them) until `until`, reading
/// nothing, as a client whose rendering stalled but whose input loop runs.
async fn send_inputs(c: &mut TestClient, until: Instant) {
    while Instant::now() < until {
        c.send(&MoveReq::default()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_keeps_being_read_and_its_positions_coalesce_early() {
    let cfg = ListenerConfig::default();
    let (server, counters) = common::start(cfg.clone()).await;
    let mut slow = server.client().await;
    slow.hello().await.unwrap();
    let session = server.registry.sessions().pop().unwrap();

    // 45 s of positions (900 KiB) while the client reads nothing but keeps sending inputs:
    // longer than the idle timeout, far more than the kernel buffers.
    let end = Instant::now() + Duration::from_secs(45);
    let feeder = feed(session.clone(), end, false);
    let handled_before = counters.handled.load(std::sync::atomic::Ordering::SeqCst);
    send_inputs(&mut slow, end).await;
    let pushed = feeder.await.unwrap();
    assert_eq!(
        session.closing_reason(),
        None,
        "not closed: it sends, and is behind on droppable frames only"
    );
    assert_eq!(server.registry.len(), 1);
    let inputs = counters.handled.load(std::sync::atomic::Ordering::SeqCst) - handled_before;
    assert!(inputs >= 44, "its inputs were handled while its writes were blocked ({inputs})");

    // It reads again: a few stale positions (what the kernel and one write batch held), then
    // the newest. Before the send buffer was bounded, every one of the 900 came, 44 s late.
    let mut received = 0u32;
    let mut last = None;
    while last != Some(pushed - 1) {
        let f = slow.recv().await.unwrap();
        assert_eq!(f.header.flags, Flags::PUSH.union(Flags::DROPPABLE));
        let r: EchoResp = f.decode_body().unwrap();
        let i = u32::from_be_bytes(r.payload[..4].try_into().unwrap());
        assert!(last.is_none_or(|l| i > l), "positions arrive in order");
        last = Some(i);
        received += 1;
    }
    eprintln!("{received} of {pushed} positions reached the client");
    // The bytes in flight: the server's send buffer (doubled by Linux), one write batch, the
    // client's receive buffer (128 KiB by default on Linux), and the newest in the queue.
    let in_flight = 2 * cfg.send_buffer.as_u64() + cfg.write_batch.as_u64() + 128 * 1024;
    assert!(
        u64::from(received) <= in_flight / 1024 + 2,
        "{received} of {pushed} positions delivered: they did not coalesce"
    );
    let _: PingResp = slow.request(&PingReq::default()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_reader_behind_on_reliable_frames_is_closed_slow_consumer_even_under_droppable_traffic() {
    let cfg = ListenerConfig::default();
    let (server, _) = common::start(cfg.clone()).await;
    let mut slow = server.client().await;
    slow.hello().await.unwrap();
    let mut other = server.client().await;
    other.hello().await.unwrap();
    let session = server.registry.sessions().into_iter().min_by_key(|s| s.id()).unwrap();

    // Zone-like traffic, mostly droppable: its small reliable frames would take minutes to fill
    // the 256 KiB queue, but once they wait unread for send_timeout the client is closed.
    let start = Instant::now();
    let feeder = feed(session.clone(), start + Duration::from_secs(120), true);
    while session.closing_reason().is_none() && start.elapsed() < Duration::from_secs(120) {
        slow.send(&MoveReq::default()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let closed_after = start.elapsed();
    assert_eq!(session.closing_reason(), Some(ErrorCode::SlowConsumer));
    assert!(closed_after < Duration::from_secs(60), "closed only after {closed_after:?}");
    assert!(session.queued_bytes() < 4096, "the backlog is dropped at once");

    // Reading now, within close_timeout: reliable frames in order with no gap, then the reason.
    let mut expected_seq = 1;
    let reason = loop {
        let f = slow.recv().await.unwrap();
        if f.header.id == DisconnectNtf::ID {
            break f.decode_body::<DisconnectNtf>().unwrap().reason();
        }
        if !f.header.flags.contains(Flags::DROPPABLE) {
            assert_eq!(f.header.seq.0, expected_seq);
            expected_seq += 1;
        }
    };
    assert_eq!(reason, ErrorCode::SlowConsumer);
    assert!(matches!(slow.recv().await, Err(mmo_testkit::ClientError::Closed)));
    feeder.await.unwrap();
    let _: PingResp = other.request(&PingReq::default()).await.unwrap();
}
