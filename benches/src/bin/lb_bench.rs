//! Leaderboard figures (issue 14: score updates >= 0.7x redis-benchmark ZADD; rank query p99
//! <= 5 ms on a 1M-member board), each next to a baseline measured in the same run against the
//! same Redis (`MMO_REDIS_URL`, default `redis://127.0.0.1:6379`), under a unique key prefix
//! (`mmobench:<hex>`) whose keys are all deleted at the end.
//!
//! - `submit`: score updates/s through the Redis part of the server's submit path: the submit
//!   script (`mmo_leaderboard::ranking::Submit`: the player's token bucket, best-score compare,
//!   the ZSET and its player hash, the distinct-score set for dense ranks, and the entry's three
//!   ranks read back) on a best-score board with a rate limit, `--clients` connections each
//!   pipelining `--pipeline` submits of random scores by `--players` random players.
//! - Baselines: `redis-benchmark -c <clients> -P <pipeline> -r <players> ZADD <key>
//!   __rand_int__ element:__rand_int__` (the `-t zadd` test, on a key of the prefix), and a raw
//!   ZADD loop in this process with the same connections and pipelining (so the client's cost is
//!   the same on both sides). Ratios submit/ZADD for both. And, for scale, a script that does
//!   nothing but the ZADD (EVALSHA's own cost, the floor of any atomic submit).
//! - `around`: a board of `--members` entries is loaded (the submit script in restore mode,
//!   pipelined), then `--queries` LeaderboardAroundReq-equivalent reads (`ranking::around`, 10
//!   above and 10 below, with ranks) of random members from `--query-tasks` tasks: p50/p99/max
//!   latency; and the same for a top-100 page (`ranking::page`). Baseline: raw `ZRANK` +
//!   `ZRANGE` of the same windows, the least a rank query can do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusConfig};
use mmo_leaderboard::config::{BoardConfig, Ranking};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::ranking::{self, Submit};
use rand::Rng;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Redis.
    #[arg(long, env = "MMO_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    url: String,
    /// Connections (redis-benchmark -c), each pipelining.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// Pipeline depth (redis-benchmark -P).
    #[arg(long, default_value_t = 16)]
    pipeline: usize,
    /// Score updates per throughput run (and ZADDs per baseline).
    #[arg(long, default_value_t = 1_000_000)]
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
    /// Write the figures here as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Deletes every key under the prefix, whatever way the run ends.
struct Cleanup {
    url: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) else { return };
        let keys: Vec<String> = match redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query(&mut conn) {
            Ok(k) => k,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("UNLINK").arg(&keys).query(&mut conn);
        }
    }
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

/// `redis-benchmark ... ZADD <key> __rand_int__ element:__rand_int__`: requests/s.
async fn redis_benchmark_zadd(args: &Args, key: &str) -> anyhow::Result<f64> {
    let argv: Vec<String> = [
        "-c",
        &args.clients.to_string(),
        "-n",
        &args.updates.to_string(),
        "-P",
        &args.pipeline.to_string(),
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
    mmo_benches::redis_benchmark_rps(&args.url, false, &argv, "ZADD", Duration::from_secs(120)).await
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let prefix = format!("mmobench:{:016x}", rand::random::<u64>());
    let _cleanup = Cleanup { url: args.url.clone(), prefix: prefix.clone() };
    let shutdown = Shutdown::new();
    let cfg = BusConfig { url: args.url.clone(), prefix: prefix.clone(), ..BusConfig::default() };
    let bus = Bus::connect(cfg, "lb-bench", &shutdown).await?;
    ranking::load(&bus).await?;
    let cfg = Arc::new(board());

    // Throughput: the submit script vs ZADD.
    let keys = Arc::new(BoardKeys::new(&bus, "tput", 0));
    let (k, c, players) = (keys.clone(), cfg.clone(), args.players);
    let clock = Arc::new(AtomicU64::new(mmo_core::clock::now_ms()));
    let submit = pipelined(&args.url, args.clients, args.pipeline, args.updates, move |pipe, rng| {
        let s = Submit {
            keys: &k,
            cfg: &c,
            player: rng.random_range(1..=players),
            score: rng.random_range(0..1_000_000_000),
            now_ms: clock.fetch_add(1, Ordering::Relaxed),
            restore: false,
        };
        pipe.invoke_script(&s.invocation()).ignore();
    })
    .await?;
    let zkey = format!("{prefix}:zadd");
    let zk = zkey.clone();
    let raw = pipelined(&args.url, args.clients, args.pipeline, args.updates, move |pipe, rng| {
        let p: u64 = rng.random_range(1..=players);
        pipe.cmd("ZADD")
            .arg(&zk)
            .arg(rng.random_range(0..1_000_000_000u64))
            .arg(format!("element:{p}"))
            .ignore();
    })
    .await?;
    // The floor of any atomic script: EVALSHA of a script that only does the ZADD.
    let floor_script = Arc::new(redis::Script::new("return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])"));
    {
        let mut conn = bus.conn().await?;
        let _: String = floor_script.prepare_invoke().load_async(&mut *conn).await?;
    }
    let (fk, fs) = (format!("{prefix}:luazadd"), floor_script.clone());
    let floor = pipelined(&args.url, args.clients, args.pipeline, args.updates, move |pipe, rng| {
        let p: u64 = rng.random_range(1..=players);
        let mut inv = fs.prepare_invoke();
        inv.key(&fk).arg(rng.random_range(0..1_000_000_000u64)).arg(format!("element:{p}"));
        pipe.invoke_script(&inv).ignore();
    })
    .await?;
    let rb = redis_benchmark_zadd(&args, &format!("{prefix}:rbzadd")).await;
    println!(
        "submit script: {submit:.0} updates/s; raw ZADD (same clients, pipelining): {raw:.0}/s, ratio {:.2}",
        submit / raw
    );
    println!(
        "a script doing only the ZADD (EVALSHA floor): {floor:.0}/s; submit / floor {:.2}",
        submit / floor
    );
    match &rb {
        Ok(z) => println!(
            "redis-benchmark ZADD -c {} -P {}: {z:.0}/s, ratio {:.2} (target >= 0.7)",
            args.clients,
            args.pipeline,
            submit / z
        ),
        Err(e) => println!("redis-benchmark ZADD: not run ({e})"),
    }

    // Rank queries on a large board.
    let big = Arc::new(BoardKeys::new(&bus, "big", 0));
    let load_started = Instant::now();
    let (k, c) = (big.clone(), cfg.clone());
    let next = Arc::new(AtomicU64::new(1));
    let loaded = pipelined(&args.url, 8, 256, args.members, move |pipe, rng| {
        let player = next.fetch_add(1, Ordering::Relaxed);
        let s = Submit {
            keys: &k,
            cfg: &c,
            player,
            // Some ties: a million members over 200k distinct scores.
            score: rng.random_range(0..200_000),
            now_ms: 1_700_000_000_000 + rng.random_range(0..86_400_000),
            restore: true,
        };
        pipe.invoke_script(&s.invocation()).ignore();
    })
    .await?;
    println!(
        "loaded {} members in {:.1} s ({loaded:.0}/s, restore script, 8 connections x 256 pipelined)",
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
            let m: String = redis::cmd("HGET").arg(&k.h).arg(p).query_async(&mut *conn).await?;
            let pos: i64 = redis::cmd("ZRANK").arg(&k.z).arg(&m).query_async(&mut *conn).await?;
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
    if let Some(path) = &args.json {
        let out = json!({
            "submit_per_s": submit,
            "raw_zadd_per_s": raw,
            "redis_benchmark_zadd_per_s": rb.as_ref().ok(),
            "ratio_vs_redis_benchmark": rb.as_ref().ok().map(|z| submit / z),
            "ratio_vs_raw_zadd": submit / raw,
            "lua_zadd_floor_per_s": floor,
            "members": args.members,
            "around_p50_ms": ms(&around, 0.5),
            "around_p99_ms": ms(&around, 0.99),
            "top_p99_ms": ms(&top, 0.99),
            "raw_rank_p99_ms": ms(&base, 0.99),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&out)?)?;
    }
    shutdown.trigger();
    bus.close();
    Ok(())
}
