//! Durable purchases per second (BENCH.md S9: >= 2k/s) through the shop server's path,
//! `mmo_shop::purchase::Gate::purchase` (at most `--concurrency` transactions at once, the
//! `[shop] purchase_concurrency` default unless set; the rest wait their turn), each one transaction under its idempotency key (wallet rows locked, funds checked, debit
//! with its ledger row, inventory, purchase row with the request hash and the encoded reply,
//! the outbox event), committed with MariaDB's `innodb_flush_log_at_trx_commit` as the server
//! has it (printed; 1 is durable). Next to a baseline measured in the same run on the same pool
//! and concurrency: as many bare single-row INSERT + COMMIT transactions through
//! `Store::in_tx` (the cost of a durable commit alone); the ratio says what the purchase's
//! work costs on top. Then the same purchases sent again with the same keys (replays: the
//! stored answers, nothing charged), per second.
//!
//! `--players` players (funded with enough gold), `--tasks` purchases asked at once (as many
//! clients; at most `--concurrency` of them in MySQL at a time),
//! `--purchases` in all; a fresh database (`mmo_test_<hex>` on `MMO_MYSQL_URL`) and Redis key
//! prefix, both dropped at the end. The machines are noisy: read the ratio.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use mmo_core::Shutdown;
use mmo_core::bus::Bus;
use mmo_core::store::Store;
use mmo_shop::purchase::{self, Request};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mysql_async::prelude::Queryable;
use serde_json::json;

/// BENCH.md S9's target for purchases.
const TARGET_PER_SEC: f64 = 2_000.0;

#[derive(Parser, Debug)]
#[command(name = "shop_purchases", about = "Durable purchases/s vs bare INSERT+COMMIT transactions")]
struct Args {
    #[arg(long, default_value_t = 20_000)]
    purchases: u64,
    #[arg(long, default_value_t = 1_000)]
    players: u64,
    #[arg(long, default_value_t = 64)]
    tasks: u64,
    /// `[shop] purchase_concurrency` (default: the server's default).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn concurrency(a: &Args) -> u32 {
    a.concurrency.unwrap_or(mmo_shop::config::ShopConfig::default().purchase_concurrency)
}

/// Runs `n` jobs, `tasks` at once; jobs per second.
async fn run<F, Fut>(n: u64, tasks: u64, job: F) -> anyhow::Result<f64>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (next, job) = (next.clone(), job.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(());
                }
                job(i).await?;
            }
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn purchases(store: &Store, bus: &Bus, a: &Args, replay: bool) -> anyhow::Result<f64> {
    let (store, bus, players) = (store.clone(), bus.clone(), a.players);
    let gate = Arc::new(purchase::Gate::new(concurrency(a)));
    run(a.purchases, a.tasks, move |i| {
        let (store, bus, gate) = (store.clone(), bus.clone(), gate.clone());
        async move {
            let r = Request {
                player: 1 + i % players,
                key: format!("b-{i}"),
                item_id: 1,
                quantity: 1,
                expected_version: 0,
            };
            let resp = gate.purchase(&store, &bus, 100, &r).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if resp.replayed != replay {
                bail!("purchase {i}: replayed {} (expected {replay})", resp.replayed);
            }
            Ok(())
        }
    })
    .await
}

async fn baseline(store: &Store, a: &Args) -> anyhow::Result<f64> {
    let store = store.clone();
    run(a.purchases, a.tasks, move |i| {
        let store = store.clone();
        async move {
            store
                .in_tx(move |tx| {
                    Box::pin(async move {
                        tx.exec_drop("INSERT INTO bench_commits (id, player) VALUES (?, ?)", (i, i % 1000))
                            .await
                    })
                })
                .await?;
            Ok(())
        }
    })
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let pool = a.tasks as usize + 4;
    let db = TestDb::with_config(|c| {
        c.pool_max = pool;
        c.query_timeout = Duration::from_secs(60);
    })
    .await;
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = redis.bus("bench", &shutdown).await;
    let out = measure(db.store(), &bus, &a).await;
    shutdown.trigger();
    bus.close();
    db.cleanup().await;
    let (bare, bought, replayed, flush) = out?;
    let ratio = bought / bare;
    println!("innodb_flush_log_at_trx_commit = {flush} (1: every commit is flushed to disk)");
    println!(
        "purchases:        {bought:>9.0}/s   ({} purchases, {} players, {} asked at once, {} at once in MySQL; \
         target >= {TARGET_PER_SEC:.0}/s: {})",
        a.purchases,
        a.players,
        a.tasks,
        concurrency(&a),
        if bought >= TARGET_PER_SEC { "met" } else { "NOT met" }
    );
    println!("baseline (INSERT+COMMIT): {bare:>9.0}/s   purchases/baseline = {ratio:.2}");
    println!("replays (same keys):      {replayed:>9.0}/s");
    if let Some(path) = &a.json {
        let v = json!({ "purchases_per_sec": bought, "baseline_commits_per_sec": bare, "ratio": ratio,
            "replays_per_sec": replayed, "flush_log_at_trx_commit": flush, "purchases": a.purchases,
            "players": a.players, "tasks": a.tasks, "concurrency": concurrency(&a) });
        std::fs::write(path, v.to_string()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

async fn measure(store: &Store, bus: &Bus, a: &Args) -> anyhow::Result<(f64, f64, f64, String)> {
    for m in [mmo_shop::migrations(), mmo_eventlog::migrations()] {
        store.migrate(&m).await?;
    }
    let catalog = "[[item]]\nid = 1\nname = \"Potion\"\nprices = { gold = 1 }\n";
    mmo_shop::admin::load_catalog(store, catalog).await?;
    store
        .query_drop(
            "CREATE TABLE bench_commits (id BIGINT UNSIGNED PRIMARY KEY, player BIGINT UNSIGNED NOT NULL)",
        )
        .await?;
    for p in 1..=a.players {
        store
            .exec_drop("INSERT INTO wallets (player, currency, balance) VALUES (?, 'gold', 1000000000)", (p,))
            .await?;
    }
    let flush: Option<String> =
        store.exec_first("SELECT CAST(@@innodb_flush_log_at_trx_commit AS CHAR)", ()).await?;
    let bare = baseline(store, a).await?;
    let bought = purchases(store, bus, a, false).await?;
    let replayed = purchases(store, bus, a, true).await?;
    let rows: Option<u64> = store.exec_first("SELECT COUNT(*) FROM purchases", ()).await?;
    if rows != Some(a.purchases) {
        bail!("{rows:?} purchase rows, expected {}", a.purchases);
    }
    Ok((bare, bought, replayed, flush.unwrap_or_default()))
}
