//! Write-behind against a real MariaDB: the newest value of every key arrives, a failed flush
//! loses nothing and never lets an older value beat a newer one, and the flusher writes early
//! when the set fills and once more on shutdown.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::HashMap;
use std::time::{Duration, Instant};

use mmo_core::Shutdown;
use mmo_core::store::{Store, StoreError, Upsert, WriteBehind, WriteBehindConfig};
use mmo_testkit::mysql::TestDb;
use mysql_async::Value;
use mysql_async::prelude::Queryable;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Progress {
    id: u64,
    level: i32,
    xp: i64,
    x: f32,
}

impl Upsert for Progress {
    const TABLE: &'static str = "progress";
    const COLUMNS: &'static [&'static str] = &["id", "level", "xp", "x"];
    const KEY_COLUMNS: &'static [&'static str] = &["id"];
    fn write_params(&self, out: &mut Vec<Value>) {
        out.extend([self.id.into(), self.level.into(), self.xp.into(), self.x.into()]);
    }
}

const CREATE: &str = "CREATE TABLE progress (id BIGINT UNSIGNED PRIMARY KEY, level INT NOT NULL, \
                      xp BIGINT NOT NULL, x FLOAT NOT NULL) ENGINE = InnoDB";

fn progress(id: u64, round: i32) -> Progress {
    Progress { id, level: round, xp: id as i64 * 1000 + i64::from(round), x: round as f32 + 0.5 }
}

async fn table(store: &Store) -> HashMap<u64, Progress> {
    let rows: Vec<(u64, i32, i64, f32)> =
        store.exec("SELECT id, level, xp, x FROM progress", ()).await.unwrap();
    rows.into_iter().map(|(id, level, xp, x)| (id, Progress { id, level, xp, x })).collect()
}

#[tokio::test]
async fn the_newest_value_of_every_key_arrives() {
    let db = TestDb::new().await;
    let store = db.store();
    store.query_drop(CREATE).await.unwrap();
    // Rows already in the table are updated in place, not duplicated.
    store.exec_drop("INSERT INTO progress VALUES (5, 0, 0, 0), (9999, 0, 0, 0)", ()).await.unwrap();

    let wb = WriteBehind::<u64, Progress>::new(WriteBehindConfig::default()).unwrap();
    let mut expected = HashMap::new();
    for round in 1..=3 {
        for id in 0..10_000u64 {
            // Every key is marked in round 1; a third of them again in later rounds.
            if round == 1 || id % 3 == 0 {
                let p = progress(id, round);
                wb.mark(id, p).unwrap();
                expected.insert(id, p);
            }
        }
    }
    assert_eq!(wb.len(), 10_000, "one entry per key, however often it was marked");
    assert_eq!(wb.flush(store).await.unwrap(), 10_000);
    assert!(wb.is_empty());
    assert_eq!(wb.flush(store).await.unwrap(), 0, "nothing left to write");

    let rows = table(store).await;
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows, expected);
    db.cleanup().await;
}

#[tokio::test]
async fn a_failed_flush_loses_nothing_and_newer_marks_win() {
    let db = TestDb::new().await;
    let store = db.store();
    store.query_drop(CREATE).await.unwrap();
    let cfg = WriteBehindConfig { batch_rows: 100, ..WriteBehindConfig::default() };
    let wb = WriteBehind::<u64, Progress>::new(cfg).unwrap();
    for id in 0..1_000 {
        wb.mark(id, progress(id, 1)).unwrap();
    }

    // The table disappears under the flush: every batch fails, every row goes back.
    store.query_drop("DROP TABLE progress").await.unwrap();
    let err = wb.flush(store).await.unwrap_err();
    assert_eq!(err.server_code(), Some(1146), "{err}");
    assert_eq!(wb.len(), 1_000, "nothing was lost");

    // Meanwhile the game moves on: newer values for some keys, and new keys.
    for id in 0..100 {
        wb.mark(id, progress(id, 2)).unwrap();
    }
    for id in 1_000..1_050 {
        wb.mark(id, progress(id, 2)).unwrap();
    }

    store.query_drop(CREATE).await.unwrap();
    assert_eq!(wb.flush(store).await.unwrap(), 1_050);
    let rows = table(store).await;
    assert_eq!(rows.len(), 1_050);
    for id in 0..1_050 {
        let round = if (100..1_000).contains(&id) { 1 } else { 2 };
        assert_eq!(rows[&id], progress(id, round), "id {id}");
    }
    db.cleanup().await;
}

#[tokio::test]
async fn a_failed_flush_does_not_overwrite_a_newer_mark() {
    // Rows put back after a failure must not replace values marked while the flush ran: a
    // newer value is marked for every key while a doomed flush is in flight, and the next
    // flush must write the newer values.
    let db = TestDb::new().await;
    let store = db.store().clone();
    let wb = WriteBehind::<u64, Progress>::new(WriteBehindConfig::default()).unwrap();
    for id in 0..200 {
        wb.mark(id, progress(id, 1)).unwrap();
    }
    // There is no table yet, so the flush will fail. To mark while it is in flight, every
    // pooled connection is held: the flush takes the set, then waits for a connection.
    let held = hold_connections(&store, db.config().pool_max).await;
    let flush = {
        let (wb, store) = (wb.clone(), store.clone());
        tokio::spawn(async move { wb.flush(&store).await })
    };
    // The flush has taken the set (it is empty now) and waits for a connection.
    let until = Instant::now() + Duration::from_secs(5);
    while !wb.is_empty() && Instant::now() < until {
        tokio::task::yield_now().await;
    }
    assert!(wb.is_empty(), "the flush took the set");
    for id in 0..200 {
        wb.mark(id, progress(id, 2)).unwrap();
    }
    drop(held);
    let err = flush.await.unwrap().unwrap_err();
    assert!(matches!(err, StoreError::Mysql(_)), "{err}");
    assert_eq!(wb.len(), 200);

    store.query_drop(CREATE).await.unwrap();
    assert_eq!(wb.flush(&store).await.unwrap(), 200);
    let rows = table(&store).await;
    assert!((0..200).all(|id| rows[&id] == progress(id, 2)), "an older value was written over a newer one");
    db.cleanup().await;
}

#[tokio::test]
async fn a_flush_dropped_part_way_puts_its_rows_back() {
    let db = TestDb::new().await;
    let store = db.store().clone();
    store.query_drop(CREATE).await.unwrap();
    let wb = WriteBehind::<u64, Progress>::new(WriteBehindConfig::default()).unwrap();
    for id in 0..300 {
        wb.mark(id, progress(id, 1)).unwrap();
    }
    // The flush takes the set, then waits for a connection; it is aborted while it waits.
    let held = hold_connections(&store, db.config().pool_max).await;
    let flush = {
        let (wb, store) = (wb.clone(), store.clone());
        tokio::spawn(async move { wb.flush(&store).await })
    };
    while !wb.is_empty() {
        tokio::task::yield_now().await;
    }
    wb.mark(7, progress(7, 2)).unwrap();
    flush.abort();
    assert!(flush.await.unwrap_err().is_cancelled());
    assert_eq!(wb.len(), 300, "the aborted flush put its rows back");

    drop(held);
    assert_eq!(wb.flush(&store).await.unwrap(), 300);
    let rows = table(&store).await;
    assert!((0..300).all(|id| rows[&id] == progress(id, if id == 7 { 2 } else { 1 })));
    db.cleanup().await;
}

// Real time on purpose: a deadline on a statement blocked in the server, which paused time
// cannot drive.
#[tokio::test]
async fn a_flush_stuck_behind_a_lock_times_out_and_loses_nothing() {
    let db = TestDb::with_config(|c| c.query_timeout = Duration::from_millis(300)).await;
    let store = db.store();
    store.query_drop(CREATE).await.unwrap();
    store.exec_drop("INSERT INTO progress VALUES (1, 0, 0, 0)", ()).await.unwrap();

    // Another transaction holds row 1: the flush's upsert waits for it until its deadline.
    let mut blocker = store.conn().await.unwrap();
    let mut tx = blocker.start_transaction(mysql_async::TxOpts::default()).await.unwrap();
    tx.query_drop("SELECT * FROM progress WHERE id = 1 FOR UPDATE").await.unwrap();

    let wb = WriteBehind::<u64, Progress>::new(WriteBehindConfig::default()).unwrap();
    wb.mark(1, progress(1, 1)).unwrap();
    wb.mark(2, progress(2, 1)).unwrap();
    let err = wb.flush(store).await.unwrap_err();
    assert!(matches!(err, StoreError::Timeout(_)), "{err}");
    assert_eq!(wb.len(), 2, "the rows are waiting again");
    // The timed-out statement was killed on the server, not left to commit later. KILL QUERY
    // is asynchronous on the server: the statement may show for a moment while it unwinds.
    let mut running = None;
    for _ in 0..50 {
        running = store
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'INSERT INTO `progress`%'",
                (db.name(),),
            )
            .await
            .unwrap();
        if running == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(running, Some(0), "the timed-out upsert still runs on the server");

    wb.mark(1, progress(1, 2)).unwrap();
    tx.rollback().await.unwrap();
    drop(blocker);
    assert_eq!(wb.flush(store).await.unwrap(), 2);
    let rows = table(store).await;
    assert_eq!(rows[&1], progress(1, 2));
    assert_eq!(rows[&2], progress(2, 1));
    db.cleanup().await;
}

/// Takes `n` connections from the pool and keeps them until dropped.
async fn hold_connections(store: &Store, n: usize) -> Vec<mysql_async::Conn> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(store.conn().await.unwrap());
    }
    conns
}

#[tokio::test]
async fn the_flusher_writes_early_when_the_set_fills_and_once_more_on_shutdown() {
    let db = TestDb::new().await;
    let store = db.store().clone();
    store.query_drop(CREATE).await.unwrap();
    // An interval no test waits for: any write below is the early wake-up or the final flush.
    let cfg = WriteBehindConfig { interval: Duration::from_secs(3600), max_dirty: 10, ..Default::default() };
    let wb = WriteBehind::<u64, Progress>::new(cfg).unwrap();
    let shutdown = Shutdown::new();
    wb.spawn_flusher(store.clone(), &shutdown);

    // Half of max_dirty wakes the flusher.
    for id in 0..5 {
        wb.mark(id, progress(id, 1)).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(5);
    while table(&store).await.len() < 5 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(table(&store).await.len(), 5, "the flusher was woken early");

    // Below half: nothing is written until shutdown, which flushes once more.
    for id in 5..8 {
        wb.mark(id, progress(id, 1)).unwrap();
    }
    wb.mark(0, progress(0, 2)).unwrap();
    assert!(shutdown.drain(Duration::from_secs(5)).await, "the flusher ended within the grace period");
    let rows = table(&store).await;
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[&0], progress(0, 2));
    assert!(wb.is_empty());
    db.cleanup().await;
}

/// A row written under an ownership token (a zone instance's claim on a player).
#[derive(Clone, Debug, PartialEq)]
struct Owned {
    id: u64,
    level: i32,
    owner: String,
}

impl Upsert for Owned {
    const TABLE: &'static str = "owned";
    const COLUMNS: &'static [&'static str] = &["id", "level", "owner"];
    const KEY_COLUMNS: &'static [&'static str] = &["id"];
    const FENCE: Option<&'static str> = Some("owner");
    fn write_params(&self, out: &mut Vec<Value>) {
        out.extend([self.id.into(), self.level.into(), self.owner.clone().into()]);
    }
}

#[tokio::test]
async fn a_fenced_row_is_written_only_by_its_owner() {
    let db = TestDb::new().await;
    let store = db.store();
    store
        .query_drop(
            "CREATE TABLE owned (id BIGINT UNSIGNED PRIMARY KEY, level INT NOT NULL, \
             owner VARCHAR(64) NOT NULL) ENGINE = InnoDB",
        )
        .await
        .unwrap();
    store.exec_drop("INSERT INTO owned VALUES (1, 1, 'a/1'), (2, 1, 'a/1')", ()).await.unwrap();
    let wb = WriteBehind::<u64, Owned>::new(WriteBehindConfig::default()).unwrap();
    wb.mark(1, Owned { id: 1, level: 5, owner: "a/1".into() }).unwrap();
    wb.mark(2, Owned { id: 2, level: 5, owner: "a/1".into() }).unwrap();
    // Row 2 moved to another owner before the flush (a hand-off): the old owner's row loses.
    store.exec_drop("UPDATE owned SET level = 7, owner = 'b/1' WHERE id = 2", ()).await.unwrap();
    // A new row is inserted with its writer as owner.
    wb.mark(3, Owned { id: 3, level: 2, owner: "a/1".into() }).unwrap();
    assert_eq!(wb.flush(store).await.unwrap(), 3);
    let rows: Vec<(u64, i32, String)> =
        store.exec("SELECT id, level, owner FROM owned ORDER BY id", ()).await.unwrap();
    assert_eq!(
        rows,
        [(1, 5, "a/1".to_string()), (2, 7, "b/1".to_string()), (3, 2, "a/1".to_string())],
        "the owner's row updated, the other owner's kept, the new one inserted"
    );
    db.cleanup().await;
}

struct Best {
    id: u64,
    score: i64,
    version: Option<i64>,
}

impl Upsert for Best {
    const TABLE: &'static str = "best";
    const COLUMNS: &'static [&'static str] = &["id", "score", "version"];
    const KEY_COLUMNS: &'static [&'static str] = &["id"];
    const VERSION: Option<&'static str> = Some("version");
    fn write_params(&self, out: &mut Vec<Value>) {
        out.extend([self.id.into(), self.score.into(), self.version.into()]);
    }
}

#[tokio::test]
async fn a_versioned_row_never_goes_back_whoever_writes_last() {
    let db = TestDb::new().await;
    let store = db.store();
    store
        .query_drop(
            "CREATE TABLE best (id BIGINT UNSIGNED PRIMARY KEY, score BIGINT NOT NULL, version BIGINT NULL) \
             ENGINE = InnoDB",
        )
        .await
        .unwrap();
    // Row 3 predates the version column: any write replaces it.
    store.exec_drop("INSERT INTO best VALUES (3, 1, NULL)", ()).await.unwrap();
    let wb = WriteBehind::<u64, Best>::new(WriteBehindConfig::default()).unwrap();
    // Another process wrote newer states of 1 directly; this one's flush carries older ones.
    wb.write_now(
        store,
        vec![Best { id: 1, score: 50, version: Some(50) }, Best { id: 2, score: 9, version: Some(9) }],
    )
    .await
    .unwrap();
    wb.mark(1, Best { id: 1, score: 40, version: Some(40) }).unwrap();
    wb.mark(2, Best { id: 2, score: 9, version: Some(9) }).unwrap();
    wb.mark(3, Best { id: 3, score: 7, version: Some(7) }).unwrap();
    wb.mark(4, Best { id: 4, score: 1, version: Some(1) }).unwrap();
    assert_eq!(wb.flush(store).await.unwrap(), 4);
    // And a direct write after the flush: newer wins, older is ignored.
    wb.write_now(
        store,
        vec![Best { id: 4, score: 8, version: Some(8) }, Best { id: 3, score: 2, version: Some(2) }],
    )
    .await
    .unwrap();
    let rows: Vec<(u64, i64, Option<i64>)> =
        store.exec("SELECT id, score, version FROM best ORDER BY id", ()).await.unwrap();
    assert_eq!(
        rows,
        [(1, 50, Some(50)), (2, 9, Some(9)), (3, 7, Some(7)), (4, 8, Some(8))],
        "the older flush lost to the newer direct write, an equal version rewrote the same, a NULL \
         version was replaced, and the later newer write won"
    );
    db.cleanup().await;
}
