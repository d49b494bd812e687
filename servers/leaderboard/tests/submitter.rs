//! The server's batched submits against real Redis and MariaDB: many submits at once, on two
//! boards, each get their own answer; the boards equal a brute-force best per player; after the
//! write-behind's flush `lb_scores` holds exactly the boards' entries; and when the write-behind
//! is full the rows come back to be written by the caller, so none is lost.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::store::WriteBehindConfig;
use mmo_leaderboard::config::{BoardConfig, Direction, LeaderboardConfig};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::ranking::{self, Submitted};
use mmo_leaderboard::submitter::{Submitter, Writer};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

fn config(max_dirty: usize) -> LeaderboardConfig {
    let board =
        |direction| BoardConfig { direction, submit_interval: Duration::ZERO, ..BoardConfig::default() };
    LeaderboardConfig {
        boards: BTreeMap::from([
            ("hi".into(), board(Direction::Descending)),
            ("lo".into(), board(Direction::Ascending)),
        ]),
        submit_batch: 64,
        score_writes: WriteBehindConfig { max_dirty, ..WriteBehindConfig::default() },
        ..LeaderboardConfig::default()
    }
}

/// 400 submits from 400 tasks at once: (board, player, unique score, at).
fn submits() -> Vec<(&'static str, u64, i64, u64)> {
    (0..400u64)
        .map(|i| (if i % 3 == 0 { "lo" } else { "hi" }, 1 + i % 37, (i * 7919 % 100_003) as i64, 1_000 + i))
        .collect()
}

async fn check(max_dirty: usize) {
    let redis = TestRedis::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_leaderboard::migrations()).await.unwrap();
    let shutdown = Shutdown::new();
    let bus = redis.bus("lb-batch", &shutdown).await;
    ranking::load(&bus).await.unwrap();
    let cfg = Arc::new(config(max_dirty));
    let writer = Writer::new(cfg.score_writes.clone()).unwrap();
    let submitter = Submitter::start(bus.clone(), cfg.clone(), writer.clone(), &shutdown);
    let mut tasks = Vec::new();
    for (board, player, score, at) in submits() {
        let (s, w, store) = (submitter.clone(), writer.clone(), db.store().clone());
        tasks.push(tokio::spawn(async move {
            // Half the submits skip the rank read-back: they go in their own script call.
            let rank = player % 2 == 0;
            let out = s.submit(board, 0, player, score, at, rank).await.unwrap();
            let handed_back = out.unsaved.is_some();
            if let Some(row) = out.unsaved {
                w.write_now(&store, vec![row]).await.unwrap();
            }
            (out.submitted, handed_back, rank)
        }));
    }
    let mut handed_back = 0;
    for t in tasks {
        let (submitted, back, rank) = t.await.unwrap();
        let Submitted::Done { entry, .. } = &submitted else { panic!("refused: {submitted:?}") };
        assert_eq!(entry.rank > 0, rank, "{entry:?}");
        handed_back += usize::from(back);
    }
    // 74 entries in all: a write-behind of 3 keys hands most rows back; a roomy one none.
    assert_eq!(handed_back > 0, max_dirty < 74, "{handed_back} rows handed back");
    // Brute force: the best score per player and board (scores are unique, so arrival order
    // does not matter).
    let mut want: HashMap<(&str, u64), (i64, u64)> = HashMap::new();
    for (board, player, score, at) in submits() {
        let better = |old: i64| if board == "hi" { score > old } else { score < old };
        match want.get(&(board, player)) {
            Some(&(old, _)) if !better(old) => {}
            _ => {
                want.insert((board, player), (score, at));
            }
        }
    }
    writer.flush(db.store()).await.unwrap();
    for board in ["hi", "lo"] {
        let keys = BoardKeys::new(&bus, board, 0);
        let (total, entries) = ranking::page(&bus, &keys, &cfg.boards[board], 0, 100).await.unwrap();
        let mut got: Vec<(u64, i64, u64)> =
            entries.iter().map(|e| (e.player, e.score, e.achieved_ms)).collect();
        got.sort_unstable();
        let mut expect: Vec<(u64, i64, u64)> =
            want.iter().filter(|((b, _), _)| *b == board).map(|(&(_, p), &(s, at))| (p, s, at)).collect();
        expect.sort_unstable();
        assert_eq!(total as usize, expect.len());
        assert_eq!(got, expect, "board {board}");
        let stored: Vec<(u64, i64, u64)> = db
            .store()
            .exec(
                "SELECT player, score, achieved_ms FROM lb_scores WHERE board = ? AND season = 0 ORDER BY player",
                (board,),
            )
            .await
            .unwrap();
        assert_eq!(stored, expect, "lb_scores of {board}");
    }
    shutdown.trigger();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_are_batched_in_order_and_written_behind() {
    check(100_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_write_behind_hands_rows_back_and_none_is_lost() {
    check(3).await;
}
