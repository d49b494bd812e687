//! Bus throughput and latency (BENCH.md S6: publish >= 0.7x redis-benchmark XADD at equal
//! pipelining; consume >= 0.7x XREADGROUP; p99 <= 2 ms at 50k msgs/s), each figure next to a
//! baseline measured in the same run against the same Redis (`MMO_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), under a unique key prefix (`mmobench:<hex>`) whose keys are all
//! deleted at the end.
//!
//! Throughput, `--repeat` times (medians reported):
//!
//! - `publish`: `--senders` tasks push envelopes (`--body-bytes` bodies) through `bus.send` as
//!   fast as the bus takes them (sleeping 1 ms when it answers Full) for `--publish-secs`, then
//!   `bus.flush`; envelopes/s = envelopes written / (time to the end of the flush). The flusher
//!   packs many envelopes per stream entry (group commit, up to `batch_max`), so entries/s is
//!   reported too. Baselines: `redis-benchmark -c <clients> XADD <key> * b <body>`, unpipelined
//!   and pipelined `--pipeline` deep. A message delivered is one envelope for us and one entry for
//!   XADD: that is the comparison (the target compares with the pipelined XADD).
//! - `consume (batched)`: one `GroupConsumer` (handler counting envelopes, acknowledging) reads
//!   the stream the publish step wrote, i.e. entries batched as the flusher batches under load.
//! - `consume (1 envelope/entry)`: the same over a stream pre-filled with one envelope per entry
//!   (the shape light load produces).
//! - Baseline for both: raw `XREADGROUP COUNT 100` with the `redis` crate, 16 pipelined per round
//!   trip, on one connection, over the same one-envelope-per-entry stream (no decoding, no XACK):
//!   entries/s.
//!
//! Latency, once: an open-loop publisher (a thread sending on a fixed schedule of `--rate`
//! envelopes/s for `--latency-secs`, after 0.5 s of warm-up that is not recorded) in this
//! process, a consumer in a child process; each request envelope carries its scheduled send time
//! (`player`, Unix ns; `seq` is its index) and the consumer records receive time minus scheduled
//! time in an HdrHistogram, so a late sender or a slow flush counts against us. A second
//! histogram measures from the actual send (`client_ip` carries it; the bus does not read it),
//! which tells a late load generator (a busy core) from a slow bus. Baseline: the same schedule,
//! raw `XADD` of one entry per message (all that is due pipelined) and a raw
//! `XREADGROUP COUNT 1000 BLOCK` + `XACK` loop in the child.
//!
//! `--read-count` and `--batch-max` override the bus's defaults, to see how much they matter.
//!
//! Pinning (`--pin auto`: when `taskset` exists and there are two cores): this process and
//! redis-benchmark run on core 1, the latency consumer on core 0. Redis itself runs unpinned.

use std::ops::Range;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use mmo_benches::Pin;
use mmo_core::Shutdown;
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::{Batch, Bus, BusConfig, BusError, Envelope};
use mmo_proto::bus::{Kind, Request};
use prost::Message as _;
use redis::Value;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// BENCH.md S6.
const TARGET_RATIO: f64 = 0.7;
const TARGET_P99_US: f64 = 2_000.0;
/// Warm-up of every publish measurement (not counted).
const WARMUP: Duration = Duration::from_millis(500);
/// Raw consume baseline: entries per XREADGROUP and XREADGROUPs per round trip.
const RAW_READ_COUNT: usize = 100;
const RAW_READ_PIPELINE: usize = 16;

#[derive(Parser, Debug)]
#[command(name = "bus_bench", about = "Bus publish/consume throughput and latency vs raw Redis baselines")]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Redis to measure against.
    #[arg(long, env = "MMO_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Tasks pushing envelopes through `bus.send` in the publish step.
    #[arg(long, default_value_t = 4)]
    senders: usize,
    /// Seconds of the publish step (after a 0.5 s warm-up).
    #[arg(long, default_value_t = 3.0)]
    publish_secs: f64,
    /// One-envelope entries pre-filled for the raw consume baseline and `consume (1 envelope/entry)`.
    #[arg(long, default_value_t = 300_000)]
    consume_entries: u64,
    /// Body bytes of every envelope (and of the value of every baseline entry).
    #[arg(long, default_value_t = 32)]
    body_bytes: usize,
    /// redis-benchmark connections (-c).
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// redis-benchmark pipeline depth (-P) of the pipelined XADD baseline.
    #[arg(long, default_value_t = 16)]
    pipeline: usize,
    /// redis-benchmark requests (-n) unpipelined; the pipelined run makes 3x as many.
    #[arg(long, default_value_t = 200_000)]
    xadd_requests: u64,
    /// Open-loop rate of the latency step, envelopes/s.
    #[arg(long, default_value_t = 50_000)]
    rate: u64,
    /// Seconds of the latency step (after a 0.5 s warm-up), for the bus and again for the baseline.
    #[arg(long, default_value_t = 5.0)]
    latency_secs: f64,
    /// Times to run the throughput steps; medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// The bus's `read_count` (entries per XREADGROUP of a `GroupConsumer`); default: `BusConfig`'s.
    #[arg(long)]
    read_count: Option<usize>,
    /// The bus's `batch_max` (envelopes per stream entry at most); default: `BusConfig`'s.
    #[arg(long)]
    batch_max: Option<usize>,
    /// Tokio worker threads of this process and of the latency consumer.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long, value_enum, default_value_t = Pin::Auto)]
    pin: Pin,
    /// Skip the latency step.
    #[arg(long)]
    no_latency: bool,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The latency step's consumer (run by the harness in a child process).
    #[command(hide = true)]
    LatencyConsumer(ConsumerArgs),
}

#[derive(ClapArgs, Debug, Clone)]
struct ConsumerArgs {
    #[arg(long, value_enum)]
    mode: Mode,
    #[arg(long)]
    url: String,
    #[arg(long)]
    prefix: String,
    #[arg(long)]
    stream: String,
    /// Messages to receive before reporting.
    #[arg(long)]
    expect: u64,
    /// Messages with an index below this are warm-up: received, not recorded.
    #[arg(long)]
    skip: u64,
    #[arg(long)]
    timeout_secs: f64,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[arg(long)]
    read_count: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// `GroupConsumer` on a `Bus`.
    Bus,
    /// Raw XREADGROUP + XACK.
    Raw,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Bus => "bus",
            Mode::Raw => "raw",
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Cmd::LatencyConsumer(c)) = args.cmd {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(c.workers.max(1))
            .enable_all()
            .build()?;
        return rt.block_on(latency_consumer(c));
    }
    let pin = mmo_benches::pin_self_to_core_1(args.pin)?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let prefix = format!("mmobench:{:x}{:08x}", std::process::id(), nanos & 0xffff_ffff);
    let cleanup = mmo_benches::RedisCleanup { url: args.url.clone(), prefix: prefix.clone() };
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()?;
    let result = rt.block_on(harness(&args, &prefix, pin));
    drop(rt);
    drop(cleanup);
    eprintln!("bus_bench: {:.1}s in all", started.elapsed().as_secs_f64());
    result
}

/// One repeat's throughput figures (per second).
#[derive(Default, Debug, Clone)]
struct Sample {
    xadd_p1: Option<f64>,
    xadd_pn: Option<f64>,
    publish_envelopes: f64,
    publish_entries: f64,
    publish_env_per_entry: f64,
    consume_batched_envelopes: f64,
    consume_batched_entries: f64,
    consume_batched_env_per_entry: f64,
    raw_xreadgroup_entries: f64,
    consume_single_envelopes: f64,
}

impl Sample {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "xadd_unpipelined_per_sec": self.xadd_p1,
            "xadd_pipelined_per_sec": self.xadd_pn,
            "publish_envelopes_per_sec": self.publish_envelopes,
            "publish_entries_per_sec": self.publish_entries,
            "publish_envelopes_per_entry": self.publish_env_per_entry,
            "consume_batched_envelopes_per_sec": self.consume_batched_envelopes,
            "consume_batched_entries_per_sec": self.consume_batched_entries,
            "consume_batched_envelopes_per_entry": self.consume_batched_env_per_entry,
            "raw_xreadgroup_entries_per_sec": self.raw_xreadgroup_entries,
            "consume_single_envelopes_per_sec": self.consume_single_envelopes,
        })
    }
}

/// `BusConfig`'s defaults (production settings) on `url` and `prefix`.
fn bus_config(url: &str, prefix: &str, read_count: Option<usize>, batch_max: Option<usize>) -> BusConfig {
    let d = BusConfig::default();
    BusConfig {
        url: url.to_string(),
        prefix: prefix.to_string(),
        read_count: read_count.unwrap_or(d.read_count),
        batch_max: batch_max.unwrap_or(d.batch_max),
        ..d
    }
}

async fn harness(args: &Args, prefix: &str, pin: bool) -> anyhow::Result<()> {
    let cfg = bus_config(&args.url, prefix, args.read_count, args.batch_max);
    let client = redis::Client::open(args.url.as_str()).context("MMO_REDIS_URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to {} (is Redis running? scripts/services.sh)", args.url))?;
    let shutdown = Shutdown::new();
    let bus = Bus::connect(cfg.clone(), "bench", &shutdown).await.context("Bus::connect")?;
    let body = Bytes::from((0..args.body_bytes).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>());
    let benchmark = redis_benchmark_available().await;

    println!(
        "bus_bench: {} | prefix {prefix} | {} senders, {} B bodies, batch_max {}, read_count {} | \
         {} repeat(s) | pinned: {}",
        args.url,
        args.senders,
        args.body_bytes,
        cfg.batch_max,
        cfg.read_count,
        args.repeat.max(1),
        if pin {
            "this process + redis-benchmark on core 1, latency consumer on core 0, Redis unpinned"
        } else {
            "no"
        }
    );
    if !benchmark {
        println!("redis-benchmark not found on PATH (package redis-tools): XADD baselines skipped");
    }

    let mut samples = Vec::new();
    for rep in 0..args.repeat.max(1) {
        let mut s = Sample::default();
        if benchmark {
            let key = format!("{prefix}:rb:xadd");
            s.xadd_p1 = Some(xadd_baseline(args, &key, 1, args.xadd_requests, pin).await?);
            unlink(&mut conn, &key).await?;
            s.xadd_pn = Some(xadd_baseline(args, &key, args.pipeline, args.xadd_requests * 3, pin).await?);
            unlink(&mut conn, &key).await?;
        }

        let stream = bus.keys().service(&format!("pub{rep}"));
        let warm = publish(&bus, &stream, args.senders, WARMUP, &body).await?;
        let entries_before: u64 = redis::cmd("XLEN").arg(&*stream).query_async(&mut conn).await?;
        let timed =
            publish(&bus, &stream, args.senders, Duration::from_secs_f64(args.publish_secs), &body).await?;
        let entries_after: u64 = redis::cmd("XLEN").arg(&*stream).query_async(&mut conn).await?;
        let entries = entries_after - entries_before;
        s.publish_envelopes = timed.envelopes as f64 / timed.secs;
        s.publish_entries = entries as f64 / timed.secs;
        s.publish_env_per_entry = timed.envelopes as f64 / entries.max(1) as f64;

        let total = warm.envelopes + timed.envelopes;
        let c = consume(&bus, &stream, "bench", total).await?;
        s.consume_batched_envelopes = c.envelopes as f64 / c.secs;
        s.consume_batched_entries = c.entries as f64 / c.secs;
        s.consume_batched_env_per_entry = c.envelopes as f64 / c.entries.max(1) as f64;
        unlink(&mut conn, &stream).await?;

        let single = bus.keys().service(&format!("single{rep}"));
        prefill_single(&mut conn, &single, args.consume_entries, &body).await?;
        // Both groups from the start; the raw one reads first, then ours reads the same entries.
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&*single)
            .arg("raw")
            .arg("0")
            .query_async(&mut conn)
            .await?;
        s.raw_xreadgroup_entries = raw_consume(&mut conn, &single, args.consume_entries).await?;
        let c = consume(&bus, &single, "bench", args.consume_entries).await?;
        s.consume_single_envelopes = c.envelopes as f64 / c.secs;
        unlink(&mut conn, &single).await?;

        eprintln!(
            "  repeat {}: XADD P1 {} P{} {} | publish {:.0} env/s ({:.0} entries/s, {:.0} env/entry) | \
             consume batched {:.0} env/s | raw XREADGROUP {:.0} entries/s | consume 1/entry {:.0} env/s",
            rep + 1,
            s.xadd_p1.map_or("-".into(), |v| format!("{v:.0}")),
            args.pipeline,
            s.xadd_pn.map_or("-".into(), |v| format!("{v:.0}")),
            s.publish_envelopes,
            s.publish_entries,
            s.publish_env_per_entry,
            s.consume_batched_envelopes,
            s.raw_xreadgroup_entries,
            s.consume_single_envelopes,
        );
        samples.push(s);
    }

    let latency = if args.no_latency {
        None
    } else {
        let bus_lat = latency(args, &bus, prefix, Mode::Bus, pin, &body).await.context("latency (bus)")?;
        let raw_lat = latency(args, &bus, prefix, Mode::Raw, pin, &body).await.context("latency (raw)")?;
        Some((bus_lat, raw_lat))
    };

    let drained = shutdown.drain(Duration::from_secs(5)).await;
    if !drained {
        eprintln!("warning: the bus flusher did not stop within 5 s");
    }
    report(args, pin, &samples, latency.as_ref())
}

async fn unlink(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> anyhow::Result<()> {
    let _: u64 = redis::cmd("UNLINK").arg(key).query_async(conn).await?;
    Ok(())
}

// ---- baselines -------------------------------------------------------------------------------

async fn redis_benchmark_available() -> bool {
    Command::new("redis-benchmark")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// `redis-benchmark -c <clients> -n <n> -P <depth> --csv XADD <key> * b <body>`: requests/s.
async fn xadd_baseline(args: &Args, key: &str, depth: usize, n: u64, pin: bool) -> anyhow::Result<f64> {
    let body: String = (0..args.body_bytes).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let argv: Vec<String> = [
        "-c",
        &args.clients.to_string(),
        "-n",
        &n.to_string(),
        "-P",
        &depth.to_string(),
        "XADD",
        key,
        "*",
        "b",
        &body,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    mmo_benches::redis_benchmark_rps(&args.url, pin, &argv, "XADD", Duration::from_secs(60)).await
}

/// `n` entries, each one encoded `Batch` of one envelope in field `b` (what the bus writes under
/// light load), XADDed 1,000 per pipeline.
async fn prefill_single(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    n: u64,
    body: &Bytes,
) -> anyhow::Result<()> {
    let mut i = 0;
    while i < n {
        let mut pipe = redis::pipe();
        for _ in 0..1_000.min(n - i) {
            let batch = Batch { from: "bench".into(), envelopes: vec![envelope(i, 0, body).into()] };
            pipe.cmd("XADD").arg(stream).arg("*").arg("b").arg(batch.encode_to_vec()).ignore();
            i += 1;
        }
        let _: () = pipe.query_async(conn).await?;
    }
    Ok(())
}

/// Raw consume: `XREADGROUP COUNT 100`, 16 per pipeline, until `n` entries are read: entries/s.
async fn raw_consume(
    conn: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    n: u64,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut read = 0u64;
    while read < n {
        let mut pipe = redis::pipe();
        for _ in 0..RAW_READ_PIPELINE {
            pipe.cmd("XREADGROUP")
                .arg("GROUP")
                .arg("raw")
                .arg("c")
                .arg("COUNT")
                .arg(RAW_READ_COUNT)
                .arg("STREAMS")
                .arg(stream)
                .arg(">");
        }
        let replies: Vec<Value> = pipe.query_async(conn).await?;
        let got: usize = replies.into_iter().map(|r| stream_entries(r).len()).sum();
        if got == 0 {
            bail!("raw XREADGROUP: stream ran dry after {read} of {n} entries");
        }
        read += got as u64;
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

// ---- our bus ---------------------------------------------------------------------------------

/// A request envelope carrying `body`. The bus never reads the fields, so the latency run uses
/// two of them for its clocks: `player` holds the scheduled send time (ns) and `client_ip` the
/// actual one (8 bytes, little-endian).
fn envelope(index: u64, scheduled: u64, body: &Bytes) -> Request {
    Request {
        session: index % 1_000 + 1,
        player: scheduled,
        msg_id: 1,
        seq: index as u32,
        body: body.clone(),
        ..Request::default()
    }
}

/// The request in `env`, for the latency consumer.
fn request(env: &Envelope) -> Option<&Request> {
    match &env.kind {
        Some(Kind::Request(r)) => Some(r),
        _ => None,
    }
}

struct Published {
    envelopes: u64,
    secs: f64,
}

/// `senders` tasks push through `bus.send` for `dur`, then everything is flushed: envelopes
/// written and the time from the first send to the end of the flush.
async fn publish(
    bus: &Bus,
    stream: &Arc<str>,
    senders: usize,
    dur: Duration,
    body: &Bytes,
) -> anyhow::Result<Published> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..senders.max(1) as u64)
        .map(|t| {
            let (bus, stream, stop, body) = (bus.clone(), stream.clone(), stop.clone(), body.clone());
            tokio::spawn(async move {
                let mut sent = 0u64;
                let mut index = t << 32;
                while !stop.load(Ordering::Relaxed) {
                    let mut full = false;
                    for _ in 0..256 {
                        match bus.send(&stream, envelope(index, 0, &body).into()) {
                            Ok(()) => sent += 1,
                            Err(BusError::Full(_)) => {
                                full = true;
                                break;
                            }
                            Err(e) => return Err(anyhow::Error::from(e)),
                        }
                        index += 1;
                    }
                    if full {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
                Ok(sent)
            })
        })
        .collect();
    tokio::time::sleep(dur).await;
    stop.store(true, Ordering::Relaxed);
    let mut envelopes = 0;
    for t in tasks {
        envelopes += t.await??;
    }
    if !bus.flush(Duration::from_secs(30)).await {
        bail!("bus.flush did not finish within 30 s");
    }
    Ok(Published { envelopes, secs: started.elapsed().as_secs_f64() })
}

struct Consumed {
    envelopes: u64,
    entries: u64,
    secs: f64,
}

/// One `GroupConsumer` (group `group`, from the start of the stream), its handler counting and
/// acknowledging, until `expect` envelopes are handled.
async fn consume(bus: &Bus, stream: &Arc<str>, group: &str, expect: u64) -> anyhow::Result<Consumed> {
    let consumer = GroupConsumer::new(bus.clone(), stream.clone(), group);
    consumer.ensure_group().await?;
    let envelopes = Arc::new(AtomicU64::new(0));
    let entries = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let handler: EntryHandler = {
        let (envelopes, entries, done) = (envelopes.clone(), entries.clone(), done.clone());
        Arc::new(move |batch: Batch| {
            let n = batch.envelopes.len() as u64;
            entries.fetch_add(1, Ordering::Relaxed);
            if envelopes.fetch_add(n, Ordering::Relaxed) + n >= expect {
                done.notify_one();
            }
            Box::pin(async { Handled::Ack })
        })
    };
    let token = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(consumer.run(handler, token.clone()));
    let finished = tokio::time::timeout(Duration::from_secs(60), done.notified()).await;
    let secs = started.elapsed().as_secs_f64();
    token.cancel();
    let _ = task.await;
    if finished.is_err() {
        bail!("consume: {} of {expect} envelopes in 60 s", envelopes.load(Ordering::Relaxed));
    }
    Ok(Consumed {
        envelopes: envelopes.load(Ordering::Relaxed),
        entries: entries.load(Ordering::Relaxed),
        secs,
    })
}

// ---- latency ---------------------------------------------------------------------------------

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[derive(Debug, Clone, Copy, Default)]
struct OpenLoop {
    /// How far behind its schedule the sender was at worst, us.
    max_behind_us: f64,
    secs: f64,
}

/// Calls `send(range, start_unix_ns, period_ns)` with the messages due, on a fixed schedule of
/// `rate` per second, `total` in all: message i is due at start + i * period.
fn open_loop(
    rate: u64,
    total: u64,
    mut send: impl FnMut(Range<u64>, u64, f64) -> anyhow::Result<()>,
) -> anyhow::Result<OpenLoop> {
    let period = 1e9 / rate.max(1) as f64;
    let start = Instant::now();
    let start_ns = unix_ns();
    let mut sent = 0u64;
    let mut max_behind: f64 = 0.0;
    while sent < total {
        let elapsed = start.elapsed().as_nanos() as f64;
        let due = ((elapsed / period) as u64 + 1).min(total);
        if due > sent {
            max_behind = max_behind.max(elapsed - sent as f64 * period);
            send(sent..due, start_ns, period)?;
            sent = due;
        } else {
            let next = start + Duration::from_nanos((sent as f64 * period) as u64);
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
        }
    }
    Ok(OpenLoop { max_behind_us: max_behind / 1e3, secs: start.elapsed().as_secs_f64() })
}

#[derive(Debug, Clone, Default)]
struct Latency {
    mode: &'static str,
    sent: u64,
    received: u64,
    recorded: u64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    mean_us: f64,
    /// The same measured from the actual send (without the sender's own lateness).
    from_send_p50_us: f64,
    from_send_p99_us: f64,
    from_send_max_us: f64,
    sender_max_behind_us: f64,
}

impl Latency {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "mode": self.mode,
            "sent": self.sent,
            "received": self.received,
            "recorded": self.recorded,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "p999_us": self.p999_us,
            "max_us": self.max_us,
            "mean_us": self.mean_us,
            "from_send_p50_us": self.from_send_p50_us,
            "from_send_p99_us": self.from_send_p99_us,
            "from_send_max_us": self.from_send_max_us,
            "sender_max_behind_us": self.sender_max_behind_us,
        })
    }
}

/// Starts the consumer child, publishes on the open-loop schedule, collects its histogram.
async fn latency(
    args: &Args,
    bus: &Bus,
    prefix: &str,
    mode: Mode,
    pin: bool,
    body: &Bytes,
) -> anyhow::Result<Latency> {
    let stream: Arc<str> = match mode {
        Mode::Bus => bus.keys().service("lat"),
        Mode::Raw => format!("{prefix}:rawlat").into(),
    };
    let skip = (args.rate as f64 * WARMUP.as_secs_f64()) as u64;
    let total = skip + (args.rate as f64 * args.latency_secs) as u64;
    let timeout = WARMUP.as_secs_f64() + args.latency_secs + 15.0;
    let exe = std::env::current_exe()?;
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.arg("latency-consumer")
        .args(["--mode", mode.name(), "--url", &args.url, "--prefix", prefix, "--stream", &stream])
        .args(["--expect", &total.to_string(), "--skip", &skip.to_string()])
        .args(["--timeout-secs", &timeout.to_string(), "--workers", &args.workers.to_string()])
        .args(args.read_count.map(|n| format!("--read-count={n}")))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().context("starting the latency consumer")?;
    let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let ready = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
        .await
        .context("latency consumer not ready in 15 s")??;
    if ready.as_deref() != Some("ready") {
        bail!("latency consumer said {ready:?} instead of ready");
    }

    let rate = args.rate;
    let sched = match mode {
        Mode::Bus => {
            let (sender, stream, body) = (bus.clone(), stream.clone(), body.clone());
            let sched = tokio::task::spawn_blocking(move || {
                open_loop(rate, total, |range, start_ns, period| {
                    let now = unix_ns();
                    for i in range {
                        let key = start_ns + (i as f64 * period) as u64;
                        let sent = Bytes::copy_from_slice(&now.to_le_bytes());
                        sender
                            .send(&stream, Request { client_ip: sent, ..envelope(i, key, &body) }.into())?;
                    }
                    Ok(())
                })
            })
            .await??;
            if !bus.flush(Duration::from_secs(10)).await {
                bail!("bus.flush did not finish within 10 s");
            }
            sched
        }
        Mode::Raw => {
            let client = redis::Client::open(args.url.as_str())?;
            let (stream, body) = (stream.clone(), body.clone());
            tokio::task::spawn_blocking(move || {
                let mut conn = client.get_connection_with_timeout(Duration::from_secs(5))?;
                open_loop(rate, total, |range, start_ns, period| {
                    let now = unix_ns();
                    let mut pipe = redis::pipe();
                    for i in range {
                        let key = start_ns + (i as f64 * period) as u64;
                        pipe.cmd("XADD")
                            .arg(&*stream)
                            .arg("*")
                            .arg("t")
                            .arg(key)
                            .arg("i")
                            .arg(i)
                            .arg("s")
                            .arg(now)
                            .arg("b")
                            .arg(body.as_ref())
                            .ignore();
                    }
                    let _: () = pipe.query(&mut conn)?;
                    Ok(())
                })
            })
            .await??
        }
    };

    let line = tokio::time::timeout(Duration::from_secs_f64(timeout + 5.0), lines.next_line())
        .await
        .context("latency consumer did not report")??
        .context("latency consumer exited without a report")?;
    let _ = child.wait().await;
    let v: serde_json::Value =
        serde_json::from_str(&line).with_context(|| format!("consumer report {line:?}"))?;
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let lat = Latency {
        mode: mode.name(),
        sent: total,
        received: v["received"].as_u64().unwrap_or(0),
        recorded: v["recorded"].as_u64().unwrap_or(0),
        p50_us: f("p50_us"),
        p99_us: f("p99_us"),
        p999_us: f("p999_us"),
        max_us: f("max_us"),
        mean_us: f("mean_us"),
        from_send_p50_us: f("from_send_p50_us"),
        from_send_p99_us: f("from_send_p99_us"),
        from_send_max_us: f("from_send_max_us"),
        sender_max_behind_us: sched.max_behind_us,
    };
    eprintln!(
        "  latency {}: {} sent in {:.2}s, {} received; p50 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, max {:.0} us \
         (sender at most {:.0} us behind schedule; from actual send: p50 {:.0} us, p99 {:.0} us, max {:.0} us)",
        lat.mode,
        lat.sent,
        sched.secs,
        lat.received,
        lat.p50_us,
        lat.p99_us,
        lat.p999_us,
        lat.max_us,
        lat.sender_max_behind_us,
        lat.from_send_p50_us,
        lat.from_send_p99_us,
        lat.from_send_max_us,
    );
    Ok(lat)
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("histogram bounds")
}

/// The child: receives, records receive time minus scheduled time, prints one JSON line.
async fn latency_consumer(c: ConsumerArgs) -> anyhow::Result<()> {
    // Receive time minus scheduled send time (primary), and minus actual send time.
    let hist = Arc::new(Mutex::new((new_histogram(), new_histogram())));
    let received = Arc::new(AtomicU64::new(0));
    let deadline = Duration::from_secs_f64(c.timeout_secs);
    match c.mode {
        Mode::Bus => {
            let shutdown = Shutdown::new();
            let cfg = bus_config(&c.url, &c.prefix, c.read_count, None);
            let bus = Bus::connect(cfg, "bench-lat", &shutdown).await?;
            let consumer = GroupConsumer::new(bus, c.stream.clone().into(), "lat");
            consumer.ensure_group().await?;
            let done = Arc::new(tokio::sync::Notify::new());
            let handler: EntryHandler = {
                let (hist, received, done) = (hist.clone(), received.clone(), done.clone());
                let (expect, skip) = (c.expect, c.skip);
                Arc::new(move |batch: Batch| {
                    let now = unix_ns();
                    let mut h = hist.lock().expect("histogram lock");
                    for req in batch.envelopes.iter().filter_map(request) {
                        if u64::from(req.seq) >= skip {
                            let sent =
                                <[u8; 8]>::try_from(req.client_ip.as_ref()).map_or(0, u64::from_le_bytes);
                            h.0.saturating_record(now.saturating_sub(req.player));
                            h.1.saturating_record(now.saturating_sub(sent));
                        }
                    }
                    drop(h);
                    let n = batch.envelopes.len() as u64;
                    if received.fetch_add(n, Ordering::Relaxed) + n >= expect {
                        done.notify_one();
                    }
                    Box::pin(async { Handled::Ack })
                })
            };
            let token = CancellationToken::new();
            let task = tokio::spawn(consumer.run(handler, token.clone()));
            println!("ready");
            let _ = tokio::time::timeout(deadline, done.notified()).await;
            token.cancel();
            let _ = task.await;
            shutdown.drain(Duration::from_secs(2)).await;
        }
        Mode::Raw => {
            let client = redis::Client::open(c.url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            let _: () = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&c.stream)
                .arg("lat")
                .arg("$")
                .arg("MKSTREAM")
                .query_async(&mut conn)
                .await?;
            println!("ready");
            let started = Instant::now();
            while received.load(Ordering::Relaxed) < c.expect && started.elapsed() < deadline {
                let reply: Value = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg("lat")
                    .arg("c")
                    .arg("COUNT")
                    .arg(1_000)
                    .arg("BLOCK")
                    .arg(200)
                    .arg("STREAMS")
                    .arg(&c.stream)
                    .arg(">")
                    .query_async(&mut conn)
                    .await?;
                let now = unix_ns();
                let entries = stream_entries(reply);
                if entries.is_empty() {
                    continue;
                }
                let mut ids = Vec::with_capacity(entries.len());
                {
                    let mut h = hist.lock().expect("histogram lock");
                    for (id, fields) in entries {
                        let (mut t, mut i, mut sent) = (None, None, None);
                        for kv in fields.chunks(2) {
                            let [k, v] = kv else { continue };
                            match value_bytes(k) {
                                Some(b"t") => t = value_u64(v),
                                Some(b"i") => i = value_u64(v),
                                Some(b"s") => sent = value_u64(v),
                                _ => {}
                            }
                        }
                        if let (Some(t), Some(i), Some(sent)) = (t, i, sent)
                            && i >= c.skip
                        {
                            h.0.saturating_record(now.saturating_sub(t));
                            h.1.saturating_record(now.saturating_sub(sent));
                        }
                        ids.push(id);
                    }
                }
                received.fetch_add(ids.len() as u64, Ordering::Relaxed);
                let _: u64 =
                    redis::cmd("XACK").arg(&c.stream).arg("lat").arg(&ids).query_async(&mut conn).await?;
            }
        }
    }
    let guard = hist.lock().expect("histogram lock");
    let (h, from_send) = &*guard;
    let us = |ns: u64| ns as f64 / 1e3;
    println!(
        "{}",
        json!({
            "received": received.load(Ordering::Relaxed),
            "recorded": h.len(),
            "p50_us": us(h.value_at_quantile(0.50)),
            "p99_us": us(h.value_at_quantile(0.99)),
            "p999_us": us(h.value_at_quantile(0.999)),
            "max_us": us(h.max()),
            "mean_us": h.mean() / 1e3,
            "from_send_p50_us": us(from_send.value_at_quantile(0.50)),
            "from_send_p99_us": us(from_send.value_at_quantile(0.99)),
            "from_send_max_us": us(from_send.max()),
        })
    );
    Ok(())
}

// ---- reply parsing ---------------------------------------------------------------------------

/// XREADGROUP reply `[[stream, [[id, [field, value, ...]], ...]]]` (RESP2) or a map (RESP3), or
/// nil: the entries as (id, flat field/value list).
fn stream_entries(v: Value) -> Vec<(Vec<u8>, Vec<Value>)> {
    let per_stream: Vec<Value> = match v {
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => kv.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().map(|(_, e)| e).collect(),
        _ => Vec::new(),
    };
    per_stream
        .into_iter()
        .flat_map(|entries| match entries {
            Value::Array(items) => items,
            _ => Vec::new(),
        })
        .filter_map(|item| {
            let Value::Array(mut parts) = item else { return None };
            if parts.len() != 2 {
                return None;
            }
            let fields = match parts.pop()? {
                Value::Array(f) => f,
                _ => Vec::new(),
            };
            let id = match parts.pop()? {
                Value::BulkString(b) => b,
                Value::SimpleString(s) => s.into_bytes(),
                _ => return None,
            };
            Some((id, fields))
        })
        .collect()
}

fn value_bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Int(i) => u64::try_from(*i).ok(),
        other => std::str::from_utf8(value_bytes(other)?).ok()?.parse().ok(),
    }
}

// ---- report ----------------------------------------------------------------------------------

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn rate(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 1e6 {
        format!("{:.2}M/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k/s", v / 1e3)
    } else {
        format!("{v:.0}/s")
    }
}

struct Row {
    scenario: String,
    ours: f64,
    ours_text: String,
    baseline_name: String,
    baseline: f64,
    baseline_text: String,
    /// ours / baseline.
    ratio: f64,
    target: String,
    met: Option<bool>,
}

impl Row {
    fn to_json(&self) -> serde_json::Value {
        let num = |x: f64| if x.is_finite() { json!(x) } else { serde_json::Value::Null };
        json!({
            "scenario": self.scenario,
            "ours": num(self.ours),
            "baseline_name": self.baseline_name,
            "baseline": num(self.baseline),
            "ratio": num(self.ratio),
            "target": self.target,
            "met": self.met,
        })
    }
}

fn throughput_row(scenario: &str, ours: f64, baseline_name: &str, baseline: f64, target: bool) -> Row {
    let ratio = ours / baseline;
    Row {
        scenario: scenario.into(),
        ours,
        ours_text: rate(ours),
        baseline_name: baseline_name.into(),
        baseline,
        baseline_text: format!("{} {}", baseline_name, rate(baseline)),
        ratio,
        target: if target { format!(">= {TARGET_RATIO:.1}x") } else { "(info)".into() },
        met: (target && ratio.is_finite()).then_some(ratio >= TARGET_RATIO),
    }
}

fn report(
    args: &Args,
    pin: bool,
    samples: &[Sample],
    latency: Option<&(Latency, Latency)>,
) -> anyhow::Result<()> {
    let med = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    let xadd_p1 = med(&|s| s.xadd_p1.unwrap_or(f64::NAN));
    let xadd_pn = med(&|s| s.xadd_pn.unwrap_or(f64::NAN));
    let raw_read = med(&|s| s.raw_xreadgroup_entries);
    let publish = med(&|s| s.publish_envelopes);
    let publish_entries = med(&|s| s.publish_entries);
    let publish_epe = med(&|s| s.publish_env_per_entry);
    let batched = med(&|s| s.consume_batched_envelopes);
    let batched_entries = med(&|s| s.consume_batched_entries);
    let batched_epe = med(&|s| s.consume_batched_env_per_entry);
    let single = med(&|s| s.consume_single_envelopes);
    let c = args.clients;
    let p = args.pipeline;
    let read_name = format!("XREADGROUP COUNT {RAW_READ_COUNT} x{RAW_READ_PIPELINE}");

    let mut rows = vec![
        throughput_row(
            &format!("publish: bus.send, {} senders (envelopes/s)", args.senders),
            publish,
            &format!("XADD -c{c} -P{p}"),
            xadd_pn,
            true,
        ),
        throughput_row(
            "publish, vs unpipelined XADD (envelopes/s)",
            publish,
            &format!("XADD -c{c} -P1"),
            xadd_p1,
            false,
        ),
        throughput_row(
            &format!("publish: stream entries/s ({publish_epe:.0} env/entry)"),
            publish_entries,
            &format!("XADD -c{c} -P{p}"),
            xadd_pn,
            false,
        ),
        throughput_row("consume: GroupConsumer, batched (envelopes/s)", batched, &read_name, raw_read, true),
        throughput_row(
            &format!("consume, batched: entries/s ({batched_epe:.0} env/entry)"),
            batched_entries,
            &read_name,
            raw_read,
            false,
        ),
        throughput_row(
            "consume: GroupConsumer, 1 env/entry (envelopes/s)",
            single,
            &read_name,
            raw_read,
            true,
        ),
    ];
    if let Some((ours, raw)) = latency {
        let rate_k = args.rate as f64 / 1e3;
        for (name, o, b, target) in [
            ("p50", ours.p50_us, raw.p50_us, None),
            ("p99", ours.p99_us, raw.p99_us, Some(TARGET_P99_US)),
            ("p99.9", ours.p999_us, raw.p999_us, None),
            ("max", ours.max_us, raw.max_us, None),
            ("p99 from actual send", ours.from_send_p99_us, raw.from_send_p99_us, None),
        ] {
            rows.push(Row {
                scenario: format!("latency {name} @ {rate_k:.0}k env/s open loop"),
                ours: o,
                ours_text: format!("{:.0} us", o),
                baseline_name: "raw XADD -> XREADGROUP BLOCK + XACK".into(),
                baseline: b,
                baseline_text: format!("raw XADD->XREADGROUP {:.0} us", b),
                ratio: o / b,
                target: target.map_or("(info)".into(), |t| format!("<= {:.0} ms", t / 1e3)),
                met: target.map(|t| o <= t && ours.received >= ours.sent),
            });
        }
    }

    println!();
    println!("{:<54} {:>11}  {:<34} {:>7}  target", "scenario", "ours", "baseline (same run)", "ratio");
    for r in &rows {
        let verdict = match r.met {
            Some(true) => " met",
            Some(false) => " NOT met",
            None => "",
        };
        let ratio = if r.ratio.is_finite() { format!("{:.2}x", r.ratio) } else { "-".into() };
        println!(
            "{:<54} {:>11}  {:<34} {:>7}  {}{}",
            r.scenario, r.ours_text, r.baseline_text, ratio, r.target, verdict
        );
    }
    if let Some((ours, raw)) = latency {
        println!(
            "latency: bus {} of {} received (sender at most {:.0} us behind schedule); raw {} of {} \
             (at most {:.0} us behind); latency ratio = ours / raw, lower is better",
            ours.received,
            ours.sent,
            ours.sender_max_behind_us,
            raw.received,
            raw.sent,
            raw.sender_max_behind_us
        );
    }

    if let Some(path) = &args.json {
        let doc = json!({
            "redis_url": args.url,
            "pinned": pin,
            "repeat": samples.len(),
            "senders": args.senders,
            "body_bytes": args.body_bytes,
            "publish_secs": args.publish_secs,
            "consume_entries": args.consume_entries,
            "redis_benchmark_clients": args.clients,
            "redis_benchmark_pipeline": args.pipeline,
            "latency_rate": args.rate,
            "latency_secs": args.latency_secs,
            "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            "samples": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
            "latency": latency.map(|(o, r)| json!({"bus": o.to_json(), "raw": r.to_json()})),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
