//! Matchmaking ticket ingest (BENCH.md S8: >= 10k tickets/s), each figure next to a baseline
//! measured in the same run against the same Redis (`MMO_REDIS_URL`, default
//! `redis://127.0.0.1:6379`) and MariaDB (a fresh database, dropped at the end), under a unique
//! key prefix whose keys are all deleted at the end.
//!
//! - `script`: `tickets::enqueue`, the ticket's state machine entry: one Lua script per ticket
//!   that checks every player has no open ticket and no cooldown, then writes the ticket, its
//!   queue entry and the players' pointers atomically.
//! - `naive`: the same checks and writes as the textbook optimistic transaction: per ticket,
//!   WATCH the players' keys, read them and the cooldowns, then MULTI/EXEC the writes (retrying
//!   when EXEC is aborted), on a connection of its own per task.
//! - `server`: the whole server-side path, `State::enqueue` (the mode's rules, the players'
//!   latencies, ratings and blocks, then the script), as a game server queueing players itself
//!   or a QueueJoinReq handler does. Every player is new, so every join misses the Redis cache
//!   of ratings and blocks and reads MySQL (coalesced with the joins running at the same time,
//!   see `mmo_matchmaking::reads`): the cold case.
//! - `server requeueing`: the same players leave (untimed) and queue again through the same
//!   path, their ratings and blocks now cached: a player requeueing after a match.
//!
//! Each runs `--tasks` concurrent tasks over `--tickets` solo tickets of distinct players, and
//! reports tickets/s; `--repeat` times, medians reported.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusConfig};
use mmo_matchmaking::tickets::{self, MemberBody, TicketBody};
use mmo_matchmaking::{Enqueue, MatchmakingConfig, State, keys, rules::LiveRules};
use prost::Message as _;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// Tickets per run.
    #[arg(long, default_value_t = 20_000)]
    tickets: u64,
    /// Concurrent tasks enqueueing.
    #[arg(long, default_value_t = 64)]
    tasks: u64,
    /// Runs of each; medians reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Also time the server path's two MySQL reads alone, uncached and one query per ticket
    /// (ratings, blocks), to see what the cache and the coalescing save.
    #[arg(long)]
    parts: bool,
    /// Write the figures here as JSON too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

fn body(player: u64) -> TicketBody {
    TicketBody {
        mode: "duel".into(),
        members: vec![MemberBody { player, rating: 1500.0, deviation: 350.0, ..Default::default() }],
        party: 0,
        created_ms: mmo_core::clock::now_ms(),
        blocked: Vec::new(),
        rating: 1500.0,
        backfill: None,
    }
}

/// The server path: a solo ticket for `player`, as a QueueJoinReq would make it.
async fn server_join(st: Arc<mmo_matchmaking::State>, player: u64) -> anyhow::Result<()> {
    st.enqueue(&Enqueue { mode: "duel".into(), players: vec![player], ..Default::default() })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Runs `f(player)` for `n` players over `tasks` tasks; tickets/s.
async fn drive<F, Fut>(n: u64, tasks: u64, first: u64, f: F) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let f = Arc::new(f);
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (next, f) = (next.clone(), f.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                f(first + i).await?;
            }
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// The naive enqueue: WATCH, read, MULTI/EXEC, on a dedicated connection.
async fn naive(client: &redis::Client, bus: &Bus, player: u64) -> anyhow::Result<()> {
    let mut conn = client.get_multiplexed_async_connection().await?;
    let b = body(player);
    let pt = keys::player_ticket(bus, player);
    let cd = keys::cooldown(bus, "duel", player);
    loop {
        redis::cmd("WATCH").arg(&pt).arg(&cd).query_async::<()>(&mut conn).await?;
        let (open, left): (Option<u64>, i64) =
            redis::pipe().cmd("GET").arg(&pt).cmd("PTTL").arg(&cd).query_async(&mut conn).await?;
        if open.is_some() || left > 0 {
            redis::cmd("UNWATCH").query_async::<()>(&mut conn).await?;
            anyhow::bail!("player {player} refused");
        }
        let id: u64 =
            redis::cmd("INCR").arg(keys::counter(bus, "ticket-naive")).query_async(&mut conn).await?;
        let done: Option<()> = redis::pipe()
            .atomic()
            .cmd("HSET")
            .arg(keys::ticket(bus, id + 1_000_000_000))
            .arg(&["s", "1", "v", "1", "mode", "duel"])
            .arg("b")
            .arg(b.encode_to_vec())
            .arg("c")
            .arg(b.created_ms)
            .ignore()
            .cmd("ZADD")
            .arg(keys::queue(bus, "duel-naive"))
            .arg(b.created_ms)
            .arg(id)
            .ignore()
            .cmd("SET")
            .arg(&pt)
            .arg(id)
            .ignore()
            .query_async(&mut conn)
            .await?;
        if done.is_some() {
            return Ok(());
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = std::env::var("MMO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("mmobench:{:016x}", rand_u64());
    let shutdown = Shutdown::new();
    let cfg = BusConfig { url: url.clone(), prefix: prefix.clone(), ..BusConfig::default() };
    let bus = Bus::connect(cfg, "mm-ingest".to_string(), &shutdown).await?;
    let client = redis::Client::open(url.as_str())?;
    let db = mmo_testkit::mysql::TestDb::new().await;
    for m in [
        mmo_account::migrations(),
        mmo_eventlog::migrations(),
        mmo_shop::migrations(),
        mmo_matchmaking::migrations(),
    ] {
        db.store().migrate(&m).await?;
    }
    let mm = MatchmakingConfig::default();
    let state = Arc::new(State {
        bus: bus.clone(),
        store: db.store().clone(),
        rules: Arc::new(LiveRules::new(mm.modes.clone())),
        cfg: mm,
        reads: Default::default(),
    });
    let (n, tasks) = (args.tickets, args.tasks);
    let (mut script, mut naive_r, mut server, mut warm) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..args.repeat as u64 {
        // Distinct players per run and per variant: every enqueue is accepted.
        let base = run * 10 * n;
        let b = bus.clone();
        script.push(
            drive(n, tasks, base + 1, move |p| {
                let b = b.clone();
                async move {
                    tickets::enqueue(&b, &body(p)).await?.map_err(|r| anyhow::anyhow!("refused: {r:?}"))?;
                    Ok(())
                }
            })
            .await?,
        );
        let (b, c) = (bus.clone(), client.clone());
        naive_r.push(
            drive(n, tasks, base + 1 + 3 * n, move |p| {
                let (b, c) = (b.clone(), c.clone());
                async move { naive(&c, &b, p).await }
            })
            .await?,
        );
        let st = state.clone();
        server.push(drive(n, tasks, base + 1 + 6 * n, move |p| server_join(st.clone(), p)).await?);
        // The same players leave (untimed) and queue again: their ratings and blocks are now
        // cached, as for a player requeueing after a match.
        let st = state.clone();
        drive(n, tasks, base + 1 + 6 * n, move |p| {
            let st = st.clone();
            async move { mmo_matchmaking::queueing::leave(&st, p).await.map_err(|e| anyhow::anyhow!("{e}")) }
        })
        .await?;
        let st = state.clone();
        warm.push(drive(n, tasks, base + 1 + 6 * n, move |p| server_join(st.clone(), p)).await?);
        println!(
            "run {}: script {:.0}/s, naive WATCH/MULTI {:.0}/s, server path (new players: ratings and blocks from MySQL + script) {:.0}/s, server path requeueing (cached) {:.0}/s",
            run + 1,
            script.last().unwrap_or(&0.0),
            naive_r.last().unwrap_or(&0.0),
            server.last().unwrap_or(&0.0),
            warm.last().unwrap_or(&0.0)
        );
    }
    if args.parts {
        let st = state.clone();
        let r = drive(n, tasks, 1, move |p| {
            let st = st.clone();
            async move {
                mmo_matchmaking::ratings::get(&st.store, "duel", &[p]).await?;
                Ok(())
            }
        })
        .await?;
        let st = state.clone();
        let b = drive(n, tasks, 1, move |p| {
            let st = st.clone();
            async move {
                mmo_account::friends::blocks(&st.store, &[mmo_core::session::PlayerId(p)]).await?;
                Ok(())
            }
        })
        .await?;
        println!("parts: ratings read {r:.0}/s, blocks read {b:.0}/s");
    }
    let (s, nv, sv, wv) = (median(script), median(naive_r), median(server), median(warm));
    println!(
        "mm_ingest (median of {}, {n} tickets, {tasks} tasks): script {s:.0} tickets/s [{:.2}x naive], naive {nv:.0}/s, server path {sv:.0}/s [{:.2}x naive], server path requeueing {wv:.0}/s [{:.2}x naive] (S8 target >= 10k/s)",
        args.repeat,
        s / nv,
        sv / nv,
        wv / nv
    );
    if let Some(path) = args.json {
        std::fs::write(
            path,
            json!({"script": s, "naive": nv, "server": sv, "server_requeue": wv, "tickets": n, "tasks": tasks}).to_string(),
        )?;
    }
    // Clean up: every key under the prefix, and the database.
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await?;
    for chunk in keys.chunks(1000) {
        redis::cmd("DEL").arg(chunk).query_async::<()>(&mut conn).await?;
    }
    db.cleanup().await;
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
