//! What outlives Redis and seasons: a board rebuilt from MySQL after its keys are gone (on its
//! next use, and by the admin's rebuild) is the same board; a season's rollover ranks it once and
//! grants its rewards through the shop once per player, however often it runs.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::{Cluster, cluster, test_config};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::shop::ShopRewards;
use mmo_leaderboard::{ranking, rebuild, rollover, season};
use mmo_proto::{LeaderboardTopReq, LeaderboardTopResp, ScoreSubmitReq, ScoreSubmitResp};
use mmo_testkit::Player;

async fn submit(p: &mut Player, board: &str, score: i64) -> ScoreSubmitResp {
    p.ok(&ScoreSubmitReq { board: board.into(), score, skip_rank: false }).await
}

async fn top(p: &mut Player, board: &str) -> LeaderboardTopResp {
    p.ok(&LeaderboardTopReq { board: board.into(), offset: 0, limit: 100 }).await
}

/// Deletes every leaderboard key of this test's prefix: Redis "losing" the boards, after the
/// scores' write-behind wrote them (its `interval` is the most a loss of Redis can take back).
/// Never FLUSHALL: the Redis is shared with tests running at the same time under other prefixes.
async fn lose_boards(cl: &Cluster) {
    cl.lb.writer.flush(cl.db.store()).await.unwrap();
    let mut conn = cl.bus.conn().await.unwrap();
    let pattern = format!("{}:leaderboard:*", cl.bus.keys().prefix());
    let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(&mut *conn).await.unwrap();
    assert!(!keys.is_empty());
    let () = redis::cmd("DEL").arg(&keys).query_async(&mut *conn).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_redis_lost_is_rebuilt_the_same() {
    let cl = cluster().await;
    let mut players = Vec::new();
    for i in 0..6 {
        players.push(cl.guest(&format!("lbr-{i}")).await);
    }
    for (i, p) in players.iter_mut().enumerate() {
        // Ties (i / 2) and improvements, on a best and a cumulative board.
        submit(p, "points", 100 + (i as i64 / 2) * 10).await;
        submit(p, "points", 90).await;
        submit(p, "weekly", 5).await;
        submit(p, "weekly", i as i64).await;
    }
    let before_points = top(&mut players[0], "points").await;
    let before_weekly = top(&mut players[0], "weekly").await;
    assert_eq!(before_points.total, 6);
    lose_boards(&cl).await;
    // The next use finds the marker gone and rebuilds from MySQL.
    assert_eq!(top(&mut players[1], "points").await, before_points);
    assert_eq!(top(&mut players[1], "weekly").await, before_weekly);
    // The admin's rebuild, on a lost board and on a present one, gives the same board too.
    lose_boards(&cl).await;
    let cfg = test_config();
    let s = season::at(&cfg.boards["weekly"], mmo_core::clock::now_ms() as i64).season;
    for _ in 0..2 {
        let rows = rebuild::rebuild(&cl.bus, cl.db.store(), &cfg, "weekly", s).await.unwrap();
        assert_eq!(rows, 6);
        let keys = BoardKeys::new(&cl.bus, "weekly", s);
        let (total, entries) = ranking::page(&cl.bus, &keys, &cfg.boards["weekly"], 0, 100).await.unwrap();
        assert_eq!(total, 6);
        let got: Vec<(u64, i64, u32, u64)> =
            entries.iter().map(|e| (e.player, e.score, e.rank, e.achieved_ms)).collect();
        let want: Vec<(u64, i64, u32, u64)> =
            before_weekly.entries.iter().map(|e| (e.player, e.score, e.rank, e.achieved_ms)).collect();
        assert_eq!(got, want);
    }
    // Submits after the loss build on the rebuilt entries (cumulative: the sum goes on).
    let r = submit(&mut players[5], "weekly", 1).await;
    assert_eq!(r.entry.unwrap().score, 11);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_season_rolls_over_once_with_its_rewards() {
    let cl = cluster().await;
    let cfg = test_config();
    let mut a = cl.guest("lbs-a").await;
    let mut b = cl.guest("lbs-b").await;
    let mut c = cl.guest("lbs-c").await;
    let mut d = cl.guest("lbs-d").await;
    submit(&mut a, "weekly", 50).await;
    submit(&mut a, "weekly", 30).await;
    submit(&mut b, "weekly", 60).await;
    submit(&mut c, "weekly", 60).await;
    submit(&mut d, "weekly", 5).await;
    let now = mmo_core::clock::now_ms() as i64;
    let s = season::at(&cfg.boards["weekly"], now).season;
    let later = now + 3_600_000;
    let rewards = ShopRewards { store: cl.db.store().clone(), bus: cl.bus.clone() };
    let store = cl.db.store();
    // Not ended yet: nothing to do.
    assert!(rollover::board(&cl.bus, store, &cfg, Some(&rewards), "weekly", now).await.unwrap().is_empty());
    let reports = rollover::board(&cl.bus, store, &cfg, Some(&rewards), "weekly", later).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0].season, reports[0].players, reports[0].granted, reports[0].done), (s, 4, 3, true));
    // Final ranks (competition: b and c tie second; d fourth, unrewarded).
    let ranks: Vec<(u64, i64, u32)> = store
        .exec("SELECT player, score, `rank` FROM lb_results WHERE board = 'weekly' AND season = ? ORDER BY `rank`, player", (s,))
        .await
        .unwrap();
    let (first, second) = if b.id < c.id { (b.id, c.id) } else { (c.id, b.id) };
    assert_eq!(ranks, vec![(a.id, 80, 1), (first, 60, 2), (second, 60, 2), (d.id, 5, 4)]);
    // Again: the season is done, nothing more. And forced again (its marks cleared, as after a
    // crash between the grants and the marks): the shop's keys still grant nothing more.
    assert!(rollover::board(&cl.bus, store, &cfg, Some(&rewards), "weekly", later).await.unwrap().is_empty());
    store.exec_drop("UPDATE lb_seasons SET done = 0", ()).await.unwrap();
    store.exec_drop("UPDATE lb_results SET granted = 0", ()).await.unwrap();
    let again = rollover::board(&cl.bus, store, &cfg, Some(&rewards), "weekly", later).await.unwrap();
    assert_eq!((again[0].players, again[0].granted, again[0].done), (4, 0, true));
    // The wallets, the ledger and the inventory: once each.
    let gold = |p: u64| async move {
        let rows: Vec<(i64, i64)> = store
            .exec(
                "SELECT (SELECT COALESCE(SUM(balance), 0) FROM wallets WHERE player = ? AND currency = 'gold'), \
                 (SELECT COUNT(*) FROM wallet_ledger WHERE player = ? AND reason = 'season_reward')",
                (p, p),
            )
            .await
            .unwrap();
        rows[0]
    };
    assert_eq!(gold(a.id).await, (100, 1));
    assert_eq!(gold(b.id).await, (10, 1));
    assert_eq!(gold(c.id).await, (10, 1));
    assert_eq!(gold(d.id).await, (0, 0));
    let items: Option<i64> = store
        .exec_first("SELECT count FROM inventory WHERE player = ? AND item_id = 5", (a.id,))
        .await
        .unwrap();
    assert_eq!(items, Some(1));
    let keys: Vec<String> = store.exec("SELECT grant_key FROM grants ORDER BY player", ()).await.unwrap();
    assert_eq!(keys, vec![format!("season:weekly:{s}"); 3]);
    // The season's board is archived: still readable, expiring.
    let k = BoardKeys::new(&cl.bus, "weekly", s);
    let mut conn = cl.bus.conn().await.unwrap();
    let ttl: i64 = redis::cmd("PTTL").arg(&k.z).query_async(&mut *conn).await.unwrap();
    assert!(ttl > 0 && ttl <= cfg.archive_ttl.as_millis() as i64, "{ttl}");
    drop(conn);
    cl.finish().await;
}
