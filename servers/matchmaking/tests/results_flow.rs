//! A match played to its end through the gateway: the zone's report becomes the result, history
//! and ratings once, however often it is delivered; ratings steer who is matched with whom.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, cluster, cluster_with, test_config};
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_proto::{
    EnterWorldReq, EnterWorldResp, LeaveInstanceReq, LeaveInstanceResp, MatchAcceptReq, MatchAcceptResp,
    MatchHistoryReq, MatchHistoryResp, MatchProposalNtf, MatchStartNtf, QueueJoinReq, QueueJoinResp,
};
use mysql_async::prelude::Queryable;

fn join(mode: &str) -> QueueJoinReq {
    QueueJoinReq { mode: mode.into(), ..Default::default() }
}

async fn matched(a: &mut Client, b: &mut Client) -> MatchStartNtf {
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    for c in [&mut *a, &mut *b] {
        let p: MatchProposalNtf = c.push().await;
        let _: MatchAcceptResp = c.ok(&MatchAcceptReq { proposal: p.proposal, accept: true }).await;
    }
    let s: MatchStartNtf = a.push().await;
    let _: MatchStartNtf = b.push().await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_match_writes_history_and_ratings_once_even_when_reported_twice() {
    let cl = cluster().await;
    let mut a = cl.guest("res-a").await;
    let mut b = cl.guest("res-b").await;
    let start = matched(&mut a, &mut b).await;
    // Both enter the world, which places them in the match instance, then leave it: the match
    // closes.
    for c in [&mut a, &mut b] {
        let e: EnterWorldResp = c.ok(&EnterWorldReq {}).await;
        assert_eq!(e.zone.unwrap().match_id, start.match_id);
        let _: LeaveInstanceResp = c.ok(&LeaveInstanceReq {}).await;
    }
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        let mut conn = cl.db.store().conn().await.unwrap();
        let n: Option<u64> = conn.query_first("SELECT COUNT(*) FROM mm_matches").await.unwrap();
        if n == Some(1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no result recorded for the closed match");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let history: MatchHistoryResp = a.ok(&MatchHistoryReq { limit: 5 }).await;
    let m = &history.matches[0];
    assert_eq!((m.match_id.as_str(), m.mode.as_str(), m.teams.len()), (start.match_id.as_str(), "duel", 2));
    // No kills: a draw, and equal ratings stay equal.
    assert_eq!(m.rank, 0);
    assert!((m.rating_after - 1500.0).abs() < 1e-6, "{m:?}");
    // The zone's report delivered again (an at-least-once redelivery): nothing more is written.
    let closed =
        cl.events().await.into_iter().find(|e| e.kind == "match_closed").expect("match_closed event");
    events::emit_typed(&cl.bus, "match_closed", PlayerId(0), closed.detail.expect("a typed match_closed"));
    // And a game server's own report after it: refused, the result exists.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!cl.mm.report(&start.match_id, &[1, 0]).await.unwrap());
    let mut conn = cl.db.store().conn().await.unwrap();
    let matches: Option<u64> = conn.query_first("SELECT COUNT(*) FROM mm_matches").await.unwrap();
    let rows: Option<u64> = conn.query_first("SELECT COUNT(*) FROM mm_match_players").await.unwrap();
    let games: Vec<u64> = conn.query("SELECT games FROM mm_ratings ORDER BY player_id").await.unwrap();
    assert_eq!((matches, rows, games), (Some(1), Some(2), vec![1, 1]));
    let results = cl.events().await.into_iter().filter(|e| e.kind == "match_result").count();
    assert_eq!(results, 1);
    drop(conn);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_servers_report_decides_the_winner_and_moves_ratings() {
    let cl = cluster().await;
    let mut a = cl.guest("win-a").await;
    let mut b = cl.guest("win-b").await;
    let start = matched(&mut a, &mut b).await;
    let mut scores = vec![0, 0];
    scores[start.team as usize] = 3;
    assert!(cl.mm.report(&start.match_id, &scores).await.unwrap());
    let ha: MatchHistoryResp = a.ok(&MatchHistoryReq { limit: 0 }).await;
    let hb: MatchHistoryResp = b.ok(&MatchHistoryReq { limit: 0 }).await;
    let (wa, lb) = (&ha.matches[0], &hb.matches[0]);
    assert_eq!((wa.rank, wa.score, lb.rank, lb.score), (0, 3, 1, 0));
    assert!(wa.rating_after > 1500.0 && lb.rating_after < 1500.0, "{wa:?} {lb:?}");
    cl.finish().await;
}

/// The ratings a join reads are cached in Redis (the first joins cached the new players'
/// 1500): a result's new ratings must reach the next join (written through when recorded).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rating_changed_by_a_result_is_seen_by_the_next_join() {
    let cl = cluster().await;
    let mut a = cl.guest("rtc-a").await;
    let mut b = cl.guest("rtc-b").await;
    let start = matched(&mut a, &mut b).await;
    let mut scores = vec![0, 0];
    scores[start.team as usize] = 3;
    assert!(cl.mm.report(&start.match_id, &scores).await.unwrap());
    let now = mmo_matchmaking::ratings::get(cl.db.store(), "duel", &[a.id, b.id]).await.unwrap();
    assert!(now[&a.id].rating > 1500.0 && now[&b.id].rating < 1500.0, "{now:?}");
    for c in [&mut a, &mut b] {
        let _: QueueJoinResp = c.ok(&join("duel")).await;
        let row = mmo_matchmaking::tickets::of_player(&cl.bus, c.id).await.unwrap().expect("a ticket");
        let m = &row.body.members[0];
        assert_eq!((m.rating, m.deviation), (now[&c.id].rating, now[&c.id].deviation), "player {}", c.id);
    }
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_ratings_are_matched_only_once_the_window_has_widened() {
    let mut cfg = test_config();
    for m in cfg.modes.0.values_mut() {
        m.widen_per_sec = 200.0;
    }
    let cl = cluster_with(cfg, Duration::ZERO).await;
    let mut a = cl.guest("far-a").await;
    let mut b = cl.guest("far-b").await;
    cl.set_rating(a.id, "duel", 1500.0).await;
    cl.set_rating(b.id, "duel", 1900.0).await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    // 400 apart; the window is 100 + 200 per second waited: not before 1.5 s.
    let early: Option<MatchProposalNtf> = a.push_within(Duration::from_millis(1000)).await;
    assert!(early.is_none(), "matched before the window reached 400: {early:?}");
    let p: MatchProposalNtf = a.push().await;
    assert_eq!(p.players, 2);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_winners_get_the_modes_rewards_through_the_ledger_once_per_match() {
    let mut cfg = test_config();
    cfg.modes.0.get_mut("duel").unwrap().rewards = [("gold".to_string(), 25)].into_iter().collect();
    let cl = cluster_with(cfg, Duration::ZERO).await;
    let mut a = cl.guest("rew-a").await;
    let mut b = cl.guest("rew-b").await;
    let start = matched(&mut a, &mut b).await;
    let mut scores = vec![0, 0];
    scores[start.team as usize] = 3;
    assert!(cl.mm.report(&start.match_id, &scores).await.unwrap());
    // Reported again, with the other team winning: the result stands, and so do its rewards.
    scores.reverse();
    assert!(!cl.mm.report(&start.match_id, &scores).await.unwrap());
    let store = cl.db.store();
    assert_eq!(mmo_shop::wallet::balances(store, a.id).await.unwrap(), [("gold".to_string(), 25)]);
    assert!(mmo_shop::wallet::balances(store, b.id).await.unwrap().is_empty(), "the loser gets nothing");
    let ledger = mmo_shop::wallet::ledger(store, a.id, 0, 10).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!((ledger[0].amount, ledger[0].reason.as_str()), (25, "match_reward"));
    let keys: Vec<String> =
        store.exec("SELECT grant_key FROM grants WHERE player = ?", (a.id,)).await.unwrap();
    assert_eq!(keys, [format!("match:{}", start.match_id)]);
    cl.finish().await;
}
