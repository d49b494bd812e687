//! A client that stops reading: droppable pushes coalesce (latest wins) and the connection
//! stays open; only reliable frames backing up past the limit close it (SLOW_CONSUMER). Others
//! are unaffected.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use bytesize::ByteSize;
use mmo_core::ListenerConfig;
use mmo_core::session::Delivery;
use mmo_proto::{EchoResp, ErrorCode, PingReq, PingResp};
use mmo_wire::{Flags, MsgType};

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
