//! Server memory under crowded zone traffic with resume on: it must follow what sessions are
//! allowed to keep (queues, replay buffers, bounded by configuration), not the bytes sent.
//!
//! A fault probe saw `mmo all` grow from 32 MiB to 525 MiB in 90 s with 200 players walking in
//! a crowd, tracking the bytes sent, released only when the sessions ended: every frame kept
//! for replay pinned the whole bus entry its body was a slice of. Here `mmo all` runs in this
//! process with the defaults (resume window and buffer on), bots walk in one crowd, and the
//! live heap of the process (server and bots: the bots hold nothing that grows) is sampled
//! with the bytes the gateway sends. Over the walk's second half (logins and their one-off
//! allocations done, the replay buffers mostly filled), the heap may grow by a small
//! fraction of the bytes sent, judged by the least-squares slope of heap over bytes sent, not
//! by two samples a single allocation step can move; before the fix it grew by all of them
//! (150 bots, 20 s walk: about 0.0x, against about 1.0x before).
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
const WALK: Duration = Duration::from_secs(20);

/// The gateway's bytes sent so far and the players in the zone's instances (printed with the
/// samples: a run whose crowd never formed shows it), from this process's metrics page.
fn scrape(port: u16) -> (u64, u64) {
    let page = mmo_testkit::scrape_metrics(port);
    let value = |l: &str| l.rsplit(' ').next().and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0);
    let sum = |name: &str| {
        page.lines()
            .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '{'])))
            .map(value)
            .sum::<f64>() as u64
    };
    (sum(mmo_core::metrics::BYTES_OUT), sum(mmo_zone::metrics::PLAYERS))
}

/// Least-squares slope of the heap over the bytes sent.
fn slope(samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    let mx = samples.iter().map(|s| s.sent as f64).sum::<f64>() / n;
    let my = samples.iter().map(|s| s.heap as f64).sum::<f64>() / n;
    let sxy: f64 = samples.iter().map(|s| (s.sent as f64 - mx) * (s.heap as f64 - my)).sum();
    let sxx: f64 = samples.iter().map(|s| (s.sent as f64 - mx).powi(2)).sum();
    sxy / sxx
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    secs: f64,
    heap: i64,
    sent: u64,
    players: u64,
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
    let mut samples = Vec::new();
    while !run.is_finished() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (sent, players) = tokio::task::spawn_blocking(move || scrape(port)).await.unwrap();
        samples.push(Sample { secs: start.elapsed().as_secs_f64(), heap: live_heap(), sent, players });
    }
    let report = run.await.unwrap().unwrap();
    cluster.stop().await;
    let zone = report.zone.as_ref().expect("a zone report");
    assert_eq!(zone.entered, BOTS as u64, "{report}");
    for s in &samples {
        eprintln!(
            "{:5.1} s  players {:3}  heap {:6.2} MiB  sent {:6.2} MiB",
            s.secs,
            s.players,
            s.heap as f64 / 1048576.0,
            s.sent as f64 / 1048576.0
        );
    }

    // The walk's second half: from 40% of the bytes (logins done, the crowd formed, the replay
    // buffers mostly filled) to a second before the walk's end (then sessions close and their
    // memory is freed).
    let total = samples.last().unwrap().sent as f64;
    let end = WALK.as_secs_f64() - 1.0;
    let window: Vec<Sample> =
        samples.iter().filter(|s| s.sent as f64 >= 0.4 * total && s.secs <= end).copied().collect();
    let (a, b) = (window[0], window[window.len() - 1]);
    let sent = b.sent - a.sent;
    let growth = slope(&window);
    eprintln!(
        "live heap {:.2} MiB at {:.1} s -> {:.2} MiB at {:.1} s, while {:.2} MiB were sent: slope {growth:.3}",
        a.heap as f64 / 1048576.0,
        a.secs,
        b.heap as f64 / 1048576.0,
        b.secs,
        sent as f64 / 1048576.0,
    );
    assert!(sent >= 2 << 20, "too little traffic to tell ({sent} bytes): {report}");
    assert!(window.len() >= 8, "the window is too short: {a:?} -> {b:?}");
    // What may grow: the sessions' replay buffers filling up to `resume_buffer` (at the rate of
    // their reliable frames, a small share of zone traffic) and the bots' tallies. Before the
    // fix the heap grew by as much as was sent (1.0x).
    assert!(growth <= 0.25, "memory grew by {growth:.2} bytes per byte sent: it tracks the traffic");
}
