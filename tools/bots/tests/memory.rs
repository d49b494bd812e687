//! Server memory under crowded zone traffic with resume on: it must follow what sessions are
//! allowed to keep (queues, replay buffers, bounded by configuration), not the bytes sent.
//!
//! A fault probe saw `mmo all` grow from 32 MiB to 525 MiB in 90 s with 200 players walking in
//! a crowd, tracking the bytes sent, released only when the sessions ended: every frame kept
//! for replay pinned the whole bus entry its body was a slice of. Here `mmo all` runs in this
//! process with the defaults (resume window and buffer on), bots walk in one crowd, and the
//! live heap of the process (server and bots: the bots hold nothing that grows) is sampled
//! with the bytes the gateway sends. Between a point after warm-up and one near the end, the
//! heap may grow by a small fraction of the bytes sent; before the fix it grew by all of them
//! (150 bots, 12 s window: 0.4 MiB for 4.8 MiB sent, against about 1.0x before).
//!
//! Needs Redis and MySQL/MariaDB (`scripts/services.sh`), like the other cluster tests.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;

use std::alloc::System;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cluster::Cluster;
use mmo_bots::{Options, Scenario};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed yet (growth by `realloc` counts as allocated, shrinking as freed).
fn live_heap() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

const BOTS: usize = 150;
const WALK: Duration = Duration::from_secs(16);

/// The gateway's bytes sent so far, from this process's metrics page.
fn bytes_out(port: u16) -> u64 {
    let page = mmo_testkit::scrape_metrics(port);
    page.lines()
        .find_map(|l| l.strip_prefix(mmo_core::metrics::BYTES_OUT).and_then(|v| v.trim().parse::<f64>().ok()))
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_memory_stays_flat_while_a_crowd_walks_with_resume_on() {
    let port = mmo_testkit::free_port();
    mmo_core::metrics::install_prometheus(SocketAddr::from(([127, 0, 0, 1], port)), &[]).unwrap();
    let cluster = Cluster::start("memory", |cfg| {
        // The defaults under test: a resume window and a replay buffer per session.
        assert!(!cfg.listener.resume_window.is_zero() && cfg.listener.resume_buffer.as_u64() > 0);
    })
    .await;
    let opts = Options {
        addr: cluster.addr,
        bots: BOTS,
        scenario: Scenario::Zone,
        run_tag: "random".into(),
        duration: WALK,
        move_hz: Some(5.0),
        ..Options::default()
    };
    let run = tokio::spawn(mmo_bots::run(opts));
    let start = Instant::now();
    let mut samples = Vec::new(); // (seconds, live heap, bytes sent)
    while !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let sent = tokio::task::spawn_blocking(move || bytes_out(port)).await.unwrap();
        samples.push((start.elapsed().as_secs_f64(), live_heap(), sent));
    }
    let report = run.await.unwrap().unwrap();
    cluster.stop().await;
    let zone = report.zone.as_ref().expect("a zone report");
    assert_eq!(zone.entered, BOTS as u64, "{report}");

    // From the first sample past a fifth of the bytes (logins done, the crowd formed) to the
    // first past 95% (still walking).
    let total = samples.last().unwrap().2;
    let at = |share: f64| *samples.iter().find(|s| s.2 as f64 >= share * total as f64).unwrap();
    let (a, b) = (at(0.2), at(0.95));
    let (grown, sent) = (b.1 - a.1, b.2 - a.2);
    for s in &samples {
        eprintln!(
            "{:5.1} s  heap {:6.2} MiB  sent {:6.2} MiB",
            s.0,
            s.1 as f64 / 1048576.0,
            s.2 as f64 / 1048576.0
        );
    }
    eprintln!(
        "live heap {:.1} MiB at {:.1} s -> {:.1} MiB at {:.1} s, while {:.1} MiB were sent ({:.2}x)",
        a.1 as f64 / 1048576.0,
        a.0,
        b.1 as f64 / 1048576.0,
        b.0,
        sent as f64 / 1048576.0,
        grown as f64 / sent as f64
    );
    assert!(sent >= 4 << 20, "too little traffic to tell ({sent} bytes): {report}");
    assert!(b.0 - a.0 >= WALK.as_secs_f64() / 2.0, "the window is too short: {a:?} -> {b:?}");
    // What may grow: the sessions' replay buffers filling up to `resume_buffer` (at the rate of
    // their reliable frames, a small share of zone traffic) and the bots' tallies. Before the
    // fix the heap grew by as much as was sent (1.0x).
    assert!(
        grown <= sent as i64 / 4,
        "memory grew by {grown} bytes while {sent} were sent: it tracks the traffic"
    );
}
