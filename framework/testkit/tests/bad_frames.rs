//! Hostile length prefixes close the connection without allocating anything big, and random
//! garbage never panics the server or leaks a session.

#![allow(clippy::unwrap_used)]
// tests unwrap: a failure is the assertion

// The allocation probe below needs a `GlobalAlloc` impl, which is `unsafe` by signature.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mmo_core::ListenerConfig;
use mmo_proto::{ErrorCode, PingReq, PingResp};
use rand::{Rng, SeedableRng};

/// Records the largest single allocation. Sound: it forwards every call unchanged to `System`.
struct MaxAlloc;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for MaxAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout, forwarded to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: MaxAlloc = MaxAlloc;

#[tokio::test]
async fn bad_length_prefixes_close_the_connection_and_allocate_nothing_big() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let max = 64 * 1024u32;
    for prefix in [0u32, 6, max + 1, 1 << 31, u32::MAX] {
        let mut c = server.client().await;
        c.hello().await.unwrap();
        LARGEST.store(0, Ordering::SeqCst);
        let mut bytes = prefix.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 3, 0, 0, 0, 0, 1]);
        c.send_raw(&bytes).await.unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(1), c.expect_disconnect()).await;
        assert_eq!(reason.expect("closed within 1 s").unwrap(), ErrorCode::BadFrame, "prefix {prefix}");
        let largest = LARGEST.load(Ordering::SeqCst);
        assert!(largest < 256 * 1024, "prefix {prefix}: an allocation of {largest} bytes");
    }
    // A truncated header followed by silence is a frame that never completes: the idle deadline
    // (covered in deadlines.rs) closes it; here we check the server still serves others.
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_panics_and_leaves_no_session_behind() {
    let panics = std::sync::Arc::new(AtomicUsize::new(0));
    let p = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        p.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let (server, _) = common::start(ListenerConfig { max_strikes: 1000, ..Default::default() }).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut tasks = Vec::new();
    for i in 0..400 {
        let addr = server.addr;
        // Half the connections send raw noise; half send well-framed frames with random ids,
        // flags and bodies after a valid Hello.
        let noise: Vec<u8> = (0..rng.random_range(1..2048)).map(|_| rng.random()).collect();
        let frames: Vec<(u16, Vec<u8>)> = (0..25)
            .map(|_| {
                let id = if rng.random_bool(0.5) { rng.random_range(1..8) } else { rng.random() };
                (id, (0..rng.random_range(0..300)).map(|_| rng.random()).collect())
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut c = mmo_testkit::TestClient::connect(addr).await.unwrap();
            if i % 2 == 0 {
                let _ = c.send_raw(&noise).await;
            } else {
                let _ = c.hello().await;
                for (seq, (id, body)) in frames.iter().enumerate() {
                    let _ = c.send_frame(*id, seq as u32, body).await;
                }
                let _ = c.request::<_, PingResp>(&PingReq::default()).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Every client has dropped its socket: every session must go away.
    assert!(
        common::eventually(|| server.registry.is_empty()).await,
        "{} sessions left",
        server.registry.len()
    );
    assert!(common::eventually(|| server.shutdown.tasks() == 0).await, "connection tasks left");
    assert_eq!(panics.load(Ordering::SeqCst), 0, "a panic happened");
    let mut c = server.client().await;
    c.hello().await.unwrap();
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
}
