//! Event-log writer throughput (issue 14: "event rows/s written"): game events per second that
//! the event-log writer moves from the `events` stream into MySQL (`game_events`), next to two
//! baselines measured in the same run on the same server, table and events:
//!
//! - `ceiling`: the writer's own multi-row `INSERT IGNORE` statements (`batch_rows` rows each),
//!   executed back to back on one connection without the stream: what MySQL does with these
//!   statements alone (the writer itself keeps `writers`, default 4, batches in flight, so it
//!   can pass this ceiling; the ratio says what the stream, batching and acks cost or gain);
//! - `naive`: one autocommit single-row `INSERT IGNORE` per event, on one held connection, the
//!   way a writer without batching would store them (`--naive-rows`, default 5,000: it is slow).
//!
//! The writer's run: `--events` events (logins, level-ups, match closes, with typed details) are
//! put on the stream first (a backlog), then a writer starts on a node of its own; the time is
//! from its start until every event is a row (counted every 50 ms). It reads through its
//! consumer group, batches, commits and acknowledges as in production (`[eventlog]` defaults,
//! `--batch-rows`). Redis at `MMO_REDIS_URL` (a fresh key prefix, deleted after), MariaDB at
//! `MMO_MYSQL_URL` (a fresh database, dropped after). The machines are noisy: read the ratios.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Parser;
use mmo_core::Shutdown;
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_eventlog::{EventlogConfig, rows};
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{GameEvent, LevelUp, Login, MatchClosed, PlayerCount};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mysql_async::prelude::Queryable;
use prost::Message as _;
use serde_json::json;

#[derive(Parser, Debug)]
#[command(
    name = "event_rows",
    about = "Event-log writer rows/s vs the bare multi-row INSERT and single-row INSERTs"
)]
struct Args {
    /// Events put on the stream and written by the writer (and by the ceiling).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Events written one statement each by the naive baseline.
    #[arg(long, default_value_t = 5_000)]
    naive_rows: u64,
    /// Rows per statement (the writer's `batch_rows`, and the ceiling's).
    #[arg(long, default_value_t = 500)]
    batch_rows: u32,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn make_events(bus: &mmo_core::bus::Bus, n: u64) -> Vec<GameEvent> {
    (0..n)
        .map(|i| {
            let player = PlayerId(i % 10_000 + 1);
            let detail = match i % 3 {
                0 => Detail::Login(Login { method: "device".into(), session: i }),
                1 => Detail::LevelUp(LevelUp { level: (i % 60) as u32, instance: "field".into() }),
                _ => Detail::MatchClosed(MatchClosed {
                    match_id: format!("m{i}"),
                    instance: format!("arena.{i}"),
                    map: "arena".into(),
                    players: vec![player.0, player.0 + 1],
                    duration_ms: 60_000,
                    kills: vec![PlayerCount { player: player.0, count: 3 }],
                    deaths: vec![PlayerCount { player: player.0 + 1, count: 3 }],
                }),
            };
            let kind = match &detail {
                Detail::Login(_) => "login",
                Detail::LevelUp(_) => "level_up",
                _ => "match_closed",
            };
            events::typed(bus, kind, player, detail)
        })
        .collect()
}

async fn count(db: &TestDb) -> anyhow::Result<u64> {
    let n: Option<u64> = db.store().exec_first("SELECT COUNT(*) FROM game_events", ()).await?;
    Ok(n.unwrap_or(0))
}

async fn truncate(db: &TestDb) -> anyhow::Result<()> {
    db.store().query_drop("TRUNCATE TABLE game_events").await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let redis = TestRedis::new();
    let db = TestDb::with_config(|c| c.query_timeout = Duration::from_secs(60)).await;
    db.store().migrate(&mmo_eventlog::migrations()).await?;
    let shutdown = Shutdown::new();
    let emitter = redis.bus("bench-emitter", &shutdown).await;
    let evs = make_events(&emitter, args.events);
    let avg_body = evs.iter().map(|e| e.encoded_len()).sum::<usize>() as f64 / evs.len().max(1) as f64;
    println!(
        "{} events, {avg_body:.0} bytes each on average, {} rows per statement",
        evs.len(),
        args.batch_rows
    );

    // Ceiling: the writer's statements alone.
    let started = Instant::now();
    for chunk in evs.chunks(args.batch_rows as usize) {
        rows::insert(db.store(), chunk).await?;
    }
    let ceiling = evs.len() as f64 / started.elapsed().as_secs_f64();
    if count(&db).await? != args.events {
        bail!("the ceiling did not write every event");
    }
    truncate(&db).await?;

    // Naive: one autocommit INSERT per event.
    let naive_n = args.naive_rows.min(args.events) as usize;
    let mut conn = db.store().conn().await?;
    let started = Instant::now();
    for e in &evs[..naive_n] {
        conn.exec_drop(
            "INSERT IGNORE INTO game_events (id, kind, player, at_ms, node, body) VALUES (?, ?, ?, ?, ?, ?)",
            (&e.id, &e.kind, e.player, e.at_ms, &e.node, e.encode_to_vec()),
        )
        .await?;
    }
    let naive = naive_n as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    truncate(&db).await?;

    // The writer, from a backlog on the stream.
    let cfg = EventlogConfig { batch_rows: args.batch_rows, ..EventlogConfig::default() };
    mmo_eventlog::writer::consumer(&emitter, &cfg).ensure_group().await?;
    for e in &evs {
        events::send(&emitter, e);
    }
    if !emitter.flush(Duration::from_secs(60)).await {
        bail!("the events did not reach the stream");
    }
    let writer_down = Shutdown::new();
    let writer_bus = redis.bus("bench-writer", &writer_down).await;
    let started = Instant::now();
    mmo_eventlog::writer::start(&writer_bus, db.store().clone(), &cfg, &writer_down).await?;
    let deadline = started + Duration::from_secs(600);
    while count(&db).await? < args.events {
        if Instant::now() > deadline {
            bail!("the writer did not store every event in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let writer = args.events as f64 / started.elapsed().as_secs_f64();
    writer_down.trigger();
    writer_down.drain(Duration::from_secs(5)).await;

    println!("writer (stream -> MySQL):   {writer:>10.0} rows/s");
    println!(
        "ceiling (multi-row INSERT): {ceiling:>10.0} rows/s   writer/ceiling = {:.2}x",
        writer / ceiling
    );
    println!("naive (single-row INSERT):  {naive:>10.0} rows/s   writer/naive   = {:.1}x", writer / naive);
    if let Some(path) = args.json {
        let v = json!({
            "events": args.events,
            "batch_rows": args.batch_rows,
            "writer_rows_per_sec": writer,
            "ceiling_rows_per_sec": ceiling,
            "naive_rows_per_sec": naive,
            "writer_vs_ceiling": writer / ceiling,
            "writer_vs_naive": writer / naive,
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
    }
    shutdown.trigger();
    emitter.close();
    writer_bus.close();
    db.cleanup().await;
    drop(redis);
    Ok(())
}
