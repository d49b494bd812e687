//! Write-behind throughput (BENCH.md S9: write-behind >= 50k rows/s): rows per second that
//! `WriteBehind::flush` writes into MySQL/MariaDB, next to two baselines measured in the same
//! run on the same server and table shape:
//!
//! - `naive`: one autocommit single-row upsert per change, on one held connection, the way
//!   code without write-behind would save progress (`--naive-rows`, default 5,000: it is slow);
//! - `ceiling`: hand-written multi-row upserts of the same batch size, executed back to back on
//!   one held connection with the parameters prepared in advance: what the server and driver
//!   can do with these statements, without the dirty set, the pool, deadlines or retries.
//!
//! Rows are player progress (`id BIGINT PK, level INT, xp BIGINT, x FLOAT, y FLOAT, hp INT`).
//! Each measurement runs twice: `insert` into an empty table and `update` of a table already
//! holding every id (the steady state of a game, where players already have rows). Each runs
//! in a fresh database (`mmo_test_<hex>` on `MMO_MYSQL_URL`, default
//! `mysql://root@127.0.0.1:3306`), dropped at the end. `--repeat` runs everything several times
//! in alternating order and reports medians. The machines are noisy: read the ratios.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use mmo_core::store::{Store, Upsert, WriteBehind, WriteBehindConfig};
use mmo_testkit::mysql::TestDb;
use mysql_async::Value;
use mysql_async::prelude::Queryable;
use serde_json::json;

/// BENCH.md S9's target for write-behind.
const TARGET_ROWS_PER_SEC: f64 = 50_000.0;
/// The baselines write to tables of the same shape as `progress`.
const TABLES: [&str; 3] = ["progress", "progress_naive", "progress_ceiling"];

#[derive(Parser, Debug)]
#[command(
    name = "write_behind",
    about = "Write-behind flush rows/s vs single-row upserts and hand-written batches"
)]
struct Args {
    /// Rows flushed by write-behind and by the hand-written batches.
    #[arg(long, default_value_t = 200_000)]
    rows: u64,
    /// Rows written one statement each by the naive baseline.
    #[arg(long, default_value_t = 5_000)]
    naive_rows: u64,
    /// Rows per multi-row statement (write-behind's `batch_rows`, and the ceiling's).
    #[arg(long, default_value_t = 500)]
    batch_rows: usize,
    /// Times to run every measurement; medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug)]
struct Progress {
    id: u64,
    level: i32,
    xp: i64,
    x: f32,
    y: f32,
    hp: i32,
}

impl Upsert for Progress {
    const TABLE: &'static str = "progress";
    const COLUMNS: &'static [&'static str] = &["id", "level", "xp", "x", "y", "hp"];
    const KEY_COLUMNS: &'static [&'static str] = &["id"];
    fn write_params(&self, out: &mut Vec<Value>) {
        out.extend([
            self.id.into(),
            self.level.into(),
            self.xp.into(),
            self.x.into(),
            self.y.into(),
            self.hp.into(),
        ]);
    }
}

fn progress(id: u64, round: u32) -> Progress {
    let r = round as i32;
    Progress {
        id,
        level: 1 + r,
        xp: (id as i64) * 7 + i64::from(r) * 1_000,
        x: (id % 1000) as f32 + r as f32,
        y: (id / 1000) as f32 - r as f32,
        hp: 100 - r,
    }
}

/// `INSERT ... VALUES (?,...),... ON DUPLICATE KEY UPDATE` for `rows` rows, written out by hand.
fn batch_sql(table: &str, rows: usize) -> String {
    let values = vec!["(?,?,?,?,?,?)"; rows].join(",");
    format!(
        "INSERT INTO {table} (id,level,xp,x,y,hp) VALUES {values} ON DUPLICATE KEY UPDATE \
         level=VALUES(level),xp=VALUES(xp),x=VALUES(x),y=VALUES(y),hp=VALUES(hp)"
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Into an empty table.
    Insert,
    /// Every id already has a row; all values change.
    Update,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Insert => "insert",
            Phase::Update => "update",
        }
    }
}

/// Medians collected over the repeats, in rows (or marks) per second.
#[derive(Default)]
struct Samples {
    naive: Vec<f64>,
    ceiling_insert: Vec<f64>,
    ceiling_update: Vec<f64>,
    wb_insert: Vec<f64>,
    wb_update: Vec<f64>,
    marks: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn per_sec(rows: u64, took: Duration) -> f64 {
    rows as f64 / took.as_secs_f64().max(f64::EPSILON)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.rows == 0 || args.naive_rows == 0 || args.batch_rows == 0 || args.repeat == 0 {
        bail!("--rows, --naive-rows, --batch-rows and --repeat must be at least 1");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(harness(args))
}

async fn harness(args: Args) -> anyhow::Result<()> {
    // Big statements on a busy 2-core machine: a generous deadline, so noise is not an error.
    let db = TestDb::with_config(|c| c.query_timeout = Duration::from_secs(60)).await;
    let outcome = run(&args, db.store()).await;
    db.cleanup().await;
    let samples = outcome?;
    report(&args, &samples)
}

async fn run(args: &Args, store: &Store) -> anyhow::Result<Samples> {
    for t in TABLES {
        store
            .query_drop(&format!(
                "CREATE TABLE {t} (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, level INT NOT NULL, \
                 xp BIGINT NOT NULL, x FLOAT NOT NULL, y FLOAT NOT NULL, hp INT NOT NULL) ENGINE = InnoDB"
            ))
            .await?;
    }
    let server: Option<String> = store.exec_first("SELECT VERSION()", ()).await?;
    println!(
        "write_behind: {} rows per flush, batches of {}, naive baseline {} rows, {} repeat(s), server {}",
        args.rows,
        args.batch_rows,
        args.naive_rows,
        args.repeat,
        server.unwrap_or_default()
    );
    let mut s = Samples::default();
    for rep in 0..args.repeat {
        // Alternate the order so that a drift of the machine does not always favour one side.
        let wb_first = rep % 2 == 1;
        if wb_first {
            write_behind(args, store, &mut s).await?;
        }
        s.naive.push(naive(args, store).await?);
        for phase in [Phase::Insert, Phase::Update] {
            let r = ceiling(args, store, phase).await?;
            match phase {
                Phase::Insert => s.ceiling_insert.push(r),
                Phase::Update => s.ceiling_update.push(r),
            }
        }
        if !wb_first {
            write_behind(args, store, &mut s).await?;
        }
        eprintln!(
            "  repeat {}: naive {:.0}, ceiling {:.0}/{:.0}, write-behind {:.0}/{:.0} rows/s (insert/update)",
            rep + 1,
            s.naive[rep],
            s.ceiling_insert[rep],
            s.ceiling_update[rep],
            s.wb_insert[rep],
            s.wb_update[rep]
        );
    }
    Ok(s)
}

/// One autocommit statement per row.
async fn naive(args: &Args, store: &Store) -> anyhow::Result<f64> {
    store.query_drop("TRUNCATE TABLE progress_naive").await?;
    let mut conn = store.conn().await?;
    let sql = batch_sql("progress_naive", 1);
    let started = Instant::now();
    for id in 0..args.naive_rows {
        let p = progress(id, 0);
        conn.exec_drop(sql.as_str(), (p.id, p.level, p.xp, p.x, p.y, p.hp)).await?;
    }
    let took = started.elapsed();
    check_rows(store, "progress_naive", args.naive_rows).await?;
    Ok(per_sec(args.naive_rows, took))
}

/// Hand-written multi-row upserts, parameters built before the clock starts.
async fn ceiling(args: &Args, store: &Store, phase: Phase) -> anyhow::Result<f64> {
    if phase == Phase::Insert {
        store.query_drop("TRUNCATE TABLE progress_ceiling").await?;
    }
    let round = if phase == Phase::Insert { 1 } else { 2 };
    let rows: Vec<Progress> = (0..args.rows).map(|id| progress(id, round)).collect();
    let batches: Vec<(String, Vec<Value>)> = rows
        .chunks(args.batch_rows)
        .map(|chunk| {
            let mut params = Vec::with_capacity(chunk.len() * 6);
            chunk.iter().for_each(|p| p.write_params(&mut params));
            (batch_sql("progress_ceiling", chunk.len()), params)
        })
        .collect();
    let mut conn = store.conn().await?;
    let started = Instant::now();
    for (sql, params) in batches {
        conn.exec_drop(sql.as_str(), params).await?;
    }
    let took = started.elapsed();
    check_rows(store, "progress_ceiling", args.rows).await?;
    Ok(per_sec(args.rows, took))
}

/// Marks every row (counted separately), then times one flush; insert, then update.
async fn write_behind(args: &Args, store: &Store, s: &mut Samples) -> anyhow::Result<()> {
    store.query_drop("TRUNCATE TABLE progress").await?;
    let cfg = WriteBehindConfig {
        batch_rows: args.batch_rows,
        max_dirty: usize::try_from(args.rows)?,
        ..WriteBehindConfig::default()
    };
    let wb = WriteBehind::<u64, Progress>::new(cfg)?;
    for phase in [Phase::Insert, Phase::Update] {
        let round = if phase == Phase::Insert { 1 } else { 2 };
        let started = Instant::now();
        for id in 0..args.rows {
            wb.mark(id, progress(id, round))?;
        }
        let marking = started.elapsed();
        let started = Instant::now();
        let written = wb.flush(store).await.with_context(|| format!("flush ({})", phase.name()))?;
        let took = started.elapsed();
        if written as u64 != args.rows {
            bail!("flush wrote {written} rows, expected {}", args.rows);
        }
        check_rows(store, "progress", args.rows).await?;
        let rate = per_sec(args.rows, took);
        match phase {
            Phase::Insert => s.wb_insert.push(rate),
            Phase::Update => s.wb_update.push(rate),
        }
        if phase == Phase::Insert {
            s.marks.push(per_sec(args.rows, marking));
        }
    }
    // The last values must be the ones in the table.
    let last = progress(args.rows - 1, 2);
    let hp: Option<i32> = store.exec_first("SELECT hp FROM progress WHERE id = ?", (last.id,)).await?;
    if hp != Some(last.hp) {
        bail!("row {} holds hp {hp:?}, expected {}", last.id, last.hp);
    }
    Ok(())
}

async fn check_rows(store: &Store, table: &str, expected: u64) -> anyhow::Result<()> {
    let n: Option<u64> = store.exec_first(&format!("SELECT COUNT(*) FROM {table}"), ()).await?;
    if n != Some(expected) {
        bail!("{table} holds {n:?} rows, expected {expected}");
    }
    Ok(())
}

fn report(args: &Args, s: &Samples) -> anyhow::Result<()> {
    let naive = median(&s.naive);
    let c_ins = median(&s.ceiling_insert);
    let c_upd = median(&s.ceiling_update);
    let w_ins = median(&s.wb_insert);
    let w_upd = median(&s.wb_update);
    let marks = median(&s.marks);
    let worst = w_ins.min(w_upd);
    let pass = worst >= TARGET_ROWS_PER_SEC;

    println!();
    println!("{:<36} {:>9} {:>12} {:>10} {:>11}", "case", "rows", "rows/s", "vs naive", "vs ceiling");
    let line = |name: &str, rows: u64, rate: f64, ceiling: Option<f64>| {
        let vs_ceiling = ceiling.map_or("-".to_string(), |c| format!("{:.2}x", rate / c));
        println!("{name:<36} {rows:>9} {rate:>12.0} {:>9.1}x {vs_ceiling:>11}", rate / naive);
    };
    line("naive: 1-row autocommit upserts", args.naive_rows, naive, None);
    line("ceiling: hand-written batches, insert", args.rows, c_ins, None);
    line("ceiling: hand-written batches, update", args.rows, c_upd, None);
    line("write-behind flush, insert", args.rows, w_ins, Some(c_ins));
    line("write-behind flush, update", args.rows, w_upd, Some(c_upd));
    println!("write-behind mark: {marks:.0} marks/s (in memory, not in the flush figures)");
    println!(
        "S9 target: write-behind >= {TARGET_ROWS_PER_SEC:.0} rows/s: {} (slower phase {worst:.0} rows/s)",
        if pass { "PASS" } else { "FAIL" }
    );

    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "write_behind",
            "rows": args.rows,
            "naive_rows": args.naive_rows,
            "batch_rows": args.batch_rows,
            "repeat": args.repeat,
            "rows_per_sec": {
                "naive": naive,
                "ceiling_insert": c_ins,
                "ceiling_update": c_upd,
                "write_behind_insert": w_ins,
                "write_behind_update": w_upd,
            },
            "marks_per_sec": marks,
            "ratios": {
                "write_behind_insert_vs_naive": w_ins / naive,
                "write_behind_update_vs_naive": w_upd / naive,
                "write_behind_insert_vs_ceiling": w_ins / c_ins,
                "write_behind_update_vs_ceiling": w_upd / c_upd,
            },
            "samples": {
                "naive": s.naive,
                "ceiling_insert": s.ceiling_insert,
                "ceiling_update": s.ceiling_update,
                "write_behind_insert": s.wb_insert,
                "write_behind_update": s.wb_update,
            },
            "target_rows_per_sec": TARGET_ROWS_PER_SEC,
            "pass": pass,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
