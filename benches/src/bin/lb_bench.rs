//! Leaderboard figures (issue 14: score updates >= 0.7x redis-benchmark ZADD; rank query p99
//! <= 5 ms on a 1M-member board), each next to a baseline measured in the same run against the
//! same Redis (`MMO_REDIS_URL`, default `redis://127.0.0.1:6379`), under a unique key prefix
//! (`mmobench:<hex>`) whose keys are all deleted at the end, and a fresh MySQL database
//! (`MMO_MYSQL_URL`) for `lb_scores`, dropped at the end.
//!
//! - `submit`: score updates/s through the server's submit path, `mmo_leaderboard::submitter`:
//!   submits queued by `--clients` tasks (default 200), each with one submit in flight at a
//!   time (as that many game clients send them), batched into submit-script calls (the
//!   player's rate bucket, best-score compare, the ZSET and its player hash) on a best-score
//!   board with the default rate limit, and every improved entry handed to the write-behind
//!   that writes `lb_scores` in batches while the run goes on. Random scores by `--players`
//!   random players; only submits that were applied count (rate-limited ones are reported
//!   apart). Twice: as a ScoreSubmitReq asks by default (the entry's rank read back: an update
//!   and a rank query), and with `skip_rank` (the update alone, as a ZADD is). Next to them, the
//!   same tasks with one script call per submit (no batching).
//! - Baselines: `redis-benchmark -c <clients> -r <players> ZADD <key> __rand_int__
//!   element:__rand_int__`, one request at a time per client, with as many clients (BENCH.md's
//!   ZADD figure: the target is judged on it) and with redis-benchmark's default 50; and the
//!   same `-P <pipeline>` deep (each client's requests pipelined: the most Redis does with plain
//!   ZADDs). Why 200 clients by default: the submit path batches, so its throughput needs
//!   enough submits in flight to keep Redis busy, as a server with many players has (with 50,
//!   one submit in flight each, Redis idles ~20% of the time between round trips), while plain
//!   ZADDs keep Redis saturated from 50 clients on.
//! - `around`: a board of `--members` entries is loaded (the submit script in restore mode,
//!   batched), then `--queries` LeaderboardAroundReq-equivalent reads (`ranking::around`, 10
//!   above and 10 below, with ranks) of random members from `--query-tasks` tasks: p50/p99/max
//!   latency; and the same for a top-100 page (`ranking::page`). Baseline: raw `ZRANK` +
//!   `ZRANGE` of the same windows, the least a rank query can do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mmo_benches::Pin;
use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusConfig};
use mmo_leaderboard::config::{BoardConfig, LeaderboardConfig, Ranking};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::ranking::{self, Submit, Submitted};
use mmo_leaderboard::submitter::{Submitter, Writer};
use mmo_testkit::mysql::TestDb;
use rand::Rng;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Redis.
    #[arg(long, env = "MMO_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Submitting tasks, one submit in flight each (and redis-benchmark -c).
    #[arg(long, default_value_t = 200)]
    clients: usize,
    /// Pipeline depth of the pipelined ZADD baseline (redis-benchmark -P).
    #[arg(long, default_value_t = 16)]
    pipeline: usize,
    /// Submits per throughput run (and ZADDs per baseline).
    #[arg(long, default_value_t = 500_000)]
    updates: u64,
    /// Distinct players (redis-benchmark -r) of the throughput runs.
    #[arg(long, default_value_t = 100_000)]
    players: u64,
    /// Members of the board the rank queries run on.
    #[arg(long, default_value_t = 1_000_000)]
    members: u64,
    /// Rank queries measured (each kind).
    #[arg(long, default_value_t = 20_000)]
    queries: u64,
    /// Concurrent query tasks.
    #[arg(long, default_value_t = 4)]
    query_tasks: u64,
    /// `[leaderboard] submit_in_flight` of the server path (default: the config's default).
    #[arg(long)]
    in_flight: Option<u32>,
    /// Tokio worker threads of this process.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Pin this process and redis-benchmark to core 1 (`auto`: when `taskset` exists and there
    /// are two cores), so the load generators compete for the same core and leave Redis the
    /// other.
    #[arg(long, value_enum, default_value_t = Pin::Auto)]
    pin: Pin,
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn board() -> BoardConfig {
    // A best-score board with the default rate limit (1/s, burst 5): the bucket is checked on
    // every submit, as in the server.
    BoardConfig { max_score: 1_000_000_000, ranking: Ranking::Competition, ..BoardConfig::default() }
}

/// Runs `total` operations from `clients` connections, `depth` per pipeline; `fill` adds one
/// operation to a pipeline. Returns operations/s.
async fn pipelined<F>(url: &str, clients: usize, depth: usize, total: u64, fill: F) -> anyhow::Result<f64>
where
    F: Fn(&mut redis::Pipeline, &mut rand::rngs::ThreadRng) + Send + Sync + 'static,
{
    let client = redis::Client::open(url)?;
    let fill = Arc::new(fill);
    let left = Arc::new(AtomicU64::new(total));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(client.get_multiplexed_async_connection().await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (fill, left) = (fill.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = left.fetch_sub(depth as u64, Ordering::Relaxed);
                if n == 0 || n > total {
                    break;
                }
                let mut pipe = redis::pipe();
                {
                    let mut rng = rand::rng();
                    for _ in 0..(depth as u64).min(n) {
                        fill(&mut pipe, &mut rng);
                    }
                }
                let () = pipe.query_async(&mut conn).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// `redis-benchmark ... ZADD <key> __rand_int__ element:__rand_int__`, `pipeline` deep:
/// requests/s.
async fn redis_benchmark_zadd(
    args: &Args,
    pinned: bool,
    key: &str,
    clients: usize,
    pipeline: usize,
) -> anyhow::Result<f64> {
    let argv: Vec<String> = [
        "-c",
        &clients.to_string(),
        "-n",
        &args.updates.to_string(),
        "-P",
        &pipeline.to_string(),
        "-r",
        &args.players.to_string(),
        "ZADD",
        key,
        "__rand_int__",
        "element:__rand_int__",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    mmo_benches::redis_benchmark_rps(&args.url, pinned, &argv, "ZADD", Duration::from_secs(120)).await
}

/// Applied and rate-limited submits of `total` random ones from `clients` tasks, each with one
/// in flight, through `submit`; returns (applied/s, applied, limited).
async fn closed_loop<F, Fut>(
    clients: usize,
    total: u64,
    players: u64,
    submit: F,
) -> anyhow::Result<(f64, u64, u64)>
where
    F: Fn(u64, i64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<Submitted>> + Send,
{
    let submit = Arc::new(submit);
    let left = Arc::new(AtomicU64::new(total));
    let clock = Arc::new(AtomicU64::new(mmo_core::clock::now_ms()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (submit, left, clock) = (submit.clone(), left.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let (mut applied, mut limited) = (0u64, 0u64);
            while left.fetch_sub(1, Ordering::Relaxed).wrapping_sub(1) < total {
                let (player, score) = {
                    let mut rng = rand::rng();
                    (rng.random_range(1..=players), rng.random_range(0..1_000_000_000))
                };
                match submit(player, score, clock.fetch_add(1, Ordering::Relaxed)).await? {
                    Submitted::Done { .. } => applied += 1,
                    Submitted::Limited(_) => limited += 1,
                }
            }
            anyhow::Ok((applied, limited))
        }));
    }
    let (mut applied, mut limited) = (0, 0);
    for t in tasks {
        let (a, l) = t.await??;
        applied += a;
        limited += l;
    }
    Ok((applied as f64 / started.elapsed().as_secs_f64(), applied, limited))
}

/// Latencies of `queries` calls of `q` (a random member each) from `tasks` tasks, in µs.
async fn latencies<F, Fut>(queries: u64, tasks: u64, members: u64, q: F) -> anyhow::Result<Histogram<u64>>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let q = Arc::new(q);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            for _ in 0..queries / tasks {
                let player = rand::rng().random_range(1..=members);
                let t = Instant::now();
                q(player).await?;
                h.record(t.elapsed().as_micros() as u64)?;
            }
            anyhow::Ok(h)
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for h in handles {
        all.add(h.await??)?;
    }
    Ok(all)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pinned = mmo_benches::pin_self_to_core_1(args.pin)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.max(1))
        .enable_all()
        .build()?;
    rt.block_on(harness(args, pinned))
}

async fn harness(args: Args, pinned: bool) -> anyhow::Result<()> {
    println!(
        "pinned: {}",
        if pinned { "this process and redis-benchmark on core 1, Redis and MariaDB unpinned" } else { "no" }
    );
    let prefix = format!("mmobench:{:016x}", rand::random::<u64>());
    let _cleanup = mmo_benches::RedisCleanup { url: args.url.clone(), prefix: prefix.clone() };
    let shutdown = Shutdown::new();
    let cfg = BusConfig { url: args.url.clone(), prefix: prefix.clone(), ..BusConfig::default() };
    let bus = Bus::connect(cfg, "lb-bench", &shutdown).await?;
    ranking::load(&bus).await?;
    let cfg = Arc::new(board());

    // Throughput: the server's batched submits, one script call per submit, ZADD.
    let db = TestDb::new().await;
    db.store().migrate(&mmo_leaderboard::migrations()).await?;
    let defaults = LeaderboardConfig::default();
    let lb_cfg = Arc::new(LeaderboardConfig {
        boards: BTreeMap::from([("tput".to_string(), board())]),
        submit_in_flight: args.in_flight.unwrap_or(defaults.submit_in_flight),
        ..defaults
    });
    let writer = Writer::new(lb_cfg.score_writes.clone())?;
    let flusher = writer.spawn_flusher(db.store().clone(), &shutdown);
    let submitter = Submitter::start(bus.clone(), lb_cfg.clone(), writer.clone(), &shutdown);
    // Season 0: submits as clients send them by default (the rank read back); season 1: with
    // skip_rank (the update alone, as a ZADD is).
    let mut server = Vec::new();
    for (season, rank) in [(0, true), (1, false)] {
        let (submitter, w, store) = (submitter.clone(), writer.clone(), db.store().clone());
        let run = closed_loop(args.clients, args.updates, args.players, move |p, score, now| {
            let (submitter, w, store) = (submitter.clone(), w.clone(), store.clone());
            async move {
                let out = submitter.submit("tput", season, p, score, now, rank).await?;
                if let Some(row) = out.unsaved {
                    w.write_now(&store, vec![row]).await?;
                }
                Ok(out.submitted)
            }
        })
        .await?;
        let waiting = writer.len();
        let flush_started = Instant::now();
        writer.flush(db.store()).await?;
        let flush_secs = flush_started.elapsed().as_secs_f64();
        let stored: Option<u64> =
            db.store().exec_first("SELECT COUNT(*) FROM lb_scores WHERE season = ?", (season,)).await?;
        server.push((run, waiting, flush_secs, stored.unwrap_or(0)));
    }
    let keys = Arc::new(BoardKeys::new(&bus, "single", 0));
    let (b, k, c) = (bus.clone(), keys.clone(), cfg.clone());
    let (single, _, _) =
        closed_loop(args.clients, args.updates, args.players, move |player, score, now_ms| {
            let (b, k, c) = (b.clone(), k.clone(), c.clone());
            async move {
                let s = Submit { keys: &k, cfg: &c, player, score, now_ms, restore: false };
                Ok(ranking::submit(&b, &s).await?)
            }
        })
        .await?;
    let rb = redis_benchmark_zadd(&args, pinned, &format!("{prefix}:rbzadd"), args.clients, 1).await;
    let rb50 = redis_benchmark_zadd(&args, pinned, &format!("{prefix}:rbzadd50"), 50, 1).await;
    let rbp =
        redis_benchmark_zadd(&args, pinned, &format!("{prefix}:rbzaddp"), args.clients, args.pipeline).await;
    for (((rate, applied, limited), waiting, flush_secs, stored), what) in
        server.iter().zip(["rank read back, the default", "skip_rank"])
    {
        println!(
            "submit, server path ({what}; batched script calls, write-behind to MySQL), {} clients: {rate:.0} \
             updates/s ({applied} applied, {limited} rate-limited); {stored} rows in lb_scores after the final \
             flush ({waiting} were waiting for it, {flush_secs:.2} s)",
            args.clients,
        );
    }
    let (ranked, skipped) = (server[0].0.0, server[1].0.0);
    println!(
        "one script call per submit (rank read back), same clients: {single:.0} updates/s; batched / single {:.2}",
        ranked / single
    );
    for (z, how) in [
        (&rb, format!("-c {} (one request at a time per client)", args.clients)),
        (&rb50, "-c 50 (redis-benchmark's default)".to_string()),
        (&rbp, format!("-c {} -P {} (pipelined)", args.clients, args.pipeline)),
    ] {
        match z {
            Ok(z) => println!(
                "redis-benchmark ZADD {how}: {z:.0}/s; ratio: skip_rank {:.2}, rank read back {:.2}",
                skipped / z,
                ranked / z
            ),
            Err(e) => println!("redis-benchmark ZADD {how}: not run ({e})"),
        }
    }
    if let Ok(z) = &rb {
        println!(
            "score updates (skip_rank) / ZADD at {} clients: {:.2} (target >= 0.7)",
            args.clients,
            skipped / z
        );
    }

    // Rank queries on a large board.
    let big = Arc::new(BoardKeys::new(&bus, "big", 0));
    let load_started = Instant::now();
    let (k, c) = (big.clone(), cfg.clone());
    let next = Arc::new(AtomicU64::new(1));
    let members = args.members;
    let loaded = pipelined(&args.url, 8, 4, members.div_ceil(256), move |pipe, rng| {
        let first = next.fetch_add(256, Ordering::Relaxed);
        let submits: Vec<(u64, i64, u64)> = (first..(first + 256).min(members + 1))
            .map(|player| {
                // Some ties: a million members over 200k distinct scores.
                (player, rng.random_range(0..200_000), 1_700_000_000_000 + rng.random_range(0..86_400_000))
            })
            .collect();
        pipe.invoke_script(&ranking::invocation(&k, &c, true, false, &submits)).ignore();
    })
    .await?
        * (members as f64 / members.div_ceil(256) as f64);
    println!(
        "loaded {} members in {:.1} s ({loaded:.0}/s, restore script, 256 per call, 8 connections x 4 pipelined)",
        args.members,
        load_started.elapsed().as_secs_f64()
    );
    let (b, k, c) = (bus.clone(), big.clone(), cfg.clone());
    let around = latencies(args.queries, args.query_tasks, args.members, move |p| {
        let (b, k, c) = (b.clone(), k.clone(), c.clone());
        async move {
            let (_, e) = ranking::around(&b, &k, &c, p, 10, 10).await?;
            anyhow::ensure!(e.iter().any(|e| e.player == p), "player {p} not in its window");
            Ok(())
        }
    })
    .await?;
    let (b, k, c) = (bus.clone(), big.clone(), cfg.clone());
    let top = latencies(args.queries, args.query_tasks, args.members, move |p| {
        let (b, k, c) = (b.clone(), k.clone(), c.clone());
        async move {
            ranking::page(&b, &k, &c, (p % 1000) as u32 * 100, 100).await?;
            Ok(())
        }
    })
    .await?;
    let (b, k) = (bus.clone(), big.clone());
    let base = latencies(args.queries, args.query_tasks, args.members, move |p| {
        let (b, k) = (b.clone(), k.clone());
        async move {
            let mut conn = b.conn().await?;
            let v: String = redis::cmd("HGET").arg(&k.h).arg(p).query_async(&mut *conn).await?;
            let m = v.get(..33).unwrap_or(&v);
            let pos: i64 = redis::cmd("ZRANK").arg(&k.z).arg(m).query_async(&mut *conn).await?;
            let _: Vec<String> = redis::cmd("ZRANGE")
                .arg(&k.z)
                .arg((pos - 10).max(0))
                .arg(pos + 10)
                .arg("WITHSCORES")
                .query_async(&mut *conn)
                .await?;
            Ok(())
        }
    })
    .await?;
    for (name, h) in
        [("around me (10+10, ranks)", &around), ("top page (100)", &top), ("raw HGET+ZRANK+ZRANGE", &base)]
    {
        println!(
            "{name} on {} members, {} tasks: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            args.members,
            args.query_tasks,
            ms(h, 0.5),
            ms(h, 0.99),
            h.max() as f64 / 1000.0
        );
    }
    println!("around-me p99 {:.2} ms (target <= 5 ms)", ms(&around, 0.99));
    let ratios = |z: &anyhow::Result<f64>| z.as_ref().ok().map(|z| (ranked / z, skipped / z));
    if let Some(path) = &args.json {
        let out = json!({
            "submit_per_s": ranked,
            "submit_applied": server[0].0.1,
            "submit_rate_limited": server[0].0.2,
            "submit_skip_rank_per_s": skipped,
            "submit_skip_rank_applied": server[1].0.1,
            "single_call_per_submit_per_s": single,
            "redis_benchmark_zadd_per_s": rb.as_ref().ok(),
            "ratio_skip_rank_vs_redis_benchmark": ratios(&rb).map(|r| r.1),
            "ratio_vs_redis_benchmark": ratios(&rb).map(|r| r.0),
            "redis_benchmark_zadd_c50_per_s": rb50.as_ref().ok(),
            "redis_benchmark_zadd_pipelined_per_s": rbp.as_ref().ok(),
            "ratio_skip_rank_vs_redis_benchmark_pipelined": ratios(&rbp).map(|r| r.1),
            "lb_scores_rows": server.iter().map(|s| s.3).collect::<Vec<_>>(),
            "members": args.members,
            "around_p50_ms": ms(&around, 0.5),
            "around_p99_ms": ms(&around, 0.99),
            "top_p99_ms": ms(&top, 0.99),
            "raw_rank_p99_ms": ms(&base, 0.99),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)?;
    }
    shutdown.trigger();
    let _ = flusher.await;
    bus.close();
    db.cleanup().await;
    Ok(())
}
