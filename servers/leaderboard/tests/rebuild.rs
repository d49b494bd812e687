//! The first use of a board-season (a new season, or a board Redis lost) by many requests of
//! one instance at once: one of them checks and rebuilds, the others wait for it instead of
//! being refused with "rebuilding", and every one then reads the whole board.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::BTreeMap;
use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_leaderboard::config::{BoardConfig, LeaderboardConfig};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::ranking;
use mmo_leaderboard::rebuild::{self, Checked, Ready};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_wait_for_one_rebuild_instead_of_being_refused() {
    let redis = TestRedis::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_leaderboard::migrations()).await.unwrap();
    let shutdown = Shutdown::new();
    let bus = redis.bus("lb-rebuild", &shutdown).await;
    ranking::load(&bus).await.unwrap();
    // Season 3 of `points` is in MySQL only (Redis lost it): 500 entries, 7 per page merged.
    for player in 1..=500u64 {
        db.store()
            .exec_drop(
                "INSERT INTO lb_scores (board, season, player, score, achieved_ms, version) \
                 VALUES ('points', 3, ?, ?, ?, NULL)",
                (player, (player * 37 % 1000) as i64, 1_000 + player),
            )
            .await
            .unwrap();
    }
    let cfg = Arc::new(LeaderboardConfig {
        boards: BTreeMap::from([("points".into(), BoardConfig::default())]),
        rebuild_batch: 7,
        ..LeaderboardConfig::default()
    });
    let checked = Arc::new(Checked::default());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (bus, store, cfg, checked) = (bus.clone(), db.store().clone(), cfg.clone(), checked.clone());
        tasks.push(tokio::spawn(async move {
            let ready = rebuild::ensure(&bus, &store, &cfg, &checked, "points", 3).await.unwrap();
            // Whoever was let through finds the whole board.
            let keys = BoardKeys::new(&bus, "points", 3);
            let (total, _) = ranking::page(&bus, &keys, &cfg.boards["points"], 0, 1).await.unwrap();
            (ready, total)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (Ready::Yes, 500));
    }
    shutdown.trigger();
    db.cleanup().await;
}
