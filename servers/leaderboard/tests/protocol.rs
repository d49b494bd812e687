//! The leaderboard through a gateway: submits in both directions and the ranks they give, top
//! and around me (always including me), info with reset times, friends-only ranking and the
//! passed push, and every refusal code (unknown board, out of range, rate, the validator).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{befriend, cluster};
use mmo_proto::{
    ErrorCode, LeaderboardAroundReq, LeaderboardAroundResp, LeaderboardDirection, LeaderboardFriendsReq,
    LeaderboardFriendsResp, LeaderboardInfoReq, LeaderboardInfoResp, LeaderboardPassedNtf, LeaderboardTopReq,
    LeaderboardTopResp, RankingStyle, ScoreSubmitReq, ScoreSubmitResp,
};
use mmo_testkit::Player;

async fn submit(p: &mut Player, board: &str, score: i64) -> ScoreSubmitResp {
    p.ok(&ScoreSubmitReq { board: board.into(), score, skip_rank: false }).await
}

fn ranks(entries: &[mmo_proto::LeaderboardEntry]) -> Vec<(u64, i64, u32)> {
    entries.iter().map(|e| (e.player, e.score, e.rank)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submits_top_around_and_info() {
    let cl = cluster().await;
    let mut a = cl.guest("lb-a").await;
    let mut b = cl.guest("lb-b").await;
    let mut c = cl.guest("lb-c").await;
    // Best score: a worse one changes nothing, a better one replaces it.
    let r = submit(&mut a, "points", 500).await;
    assert!(r.improved);
    assert_eq!(r.entry.as_ref().unwrap().rank, 1);
    assert_eq!(r.entry.as_ref().unwrap().name, cl.name(a.id).await);
    let r = submit(&mut a, "points", 400).await;
    assert!(!r.improved);
    assert_eq!(r.entry.unwrap().score, 500);
    // b ties a later: a ranks first (earlier), both rank 1 (competition); c third.
    submit(&mut b, "points", 500).await;
    let r = submit(&mut c, "points", 300).await;
    assert_eq!(r.entry.unwrap().rank, 3);
    // skip_rank: the same entry, without its rank.
    let r: ScoreSubmitResp =
        c.ok(&ScoreSubmitReq { board: "points".into(), score: 200, skip_rank: true }).await;
    let e = r.entry.unwrap();
    assert_eq!((r.improved, e.player, e.score, e.rank), (false, c.id, 300, 0));
    let top: LeaderboardTopResp =
        a.ok(&LeaderboardTopReq { board: "points".into(), offset: 0, limit: 10 }).await;
    assert_eq!(top.total, 3);
    assert_eq!(ranks(&top.entries), vec![(a.id, 500, 1), (b.id, 500, 1), (c.id, 300, 3)]);
    assert!(top.entries[0].achieved_ms <= top.entries[1].achieved_ms);
    // A page past the first.
    let page: LeaderboardTopResp =
        a.ok(&LeaderboardTopReq { board: "points".into(), offset: 2, limit: 5 }).await;
    assert_eq!(ranks(&page.entries), vec![(c.id, 300, 3)]);
    // Around c: one above, none below; c is in it.
    let around: LeaderboardAroundResp =
        c.ok(&LeaderboardAroundReq { board: "points".into(), before: 1, after: 5 }).await;
    assert_eq!(ranks(&around.entries), vec![(b.id, 500, 1), (c.id, 300, 3)]);
    // A player without a score gets no entries.
    let mut d = cl.guest("lb-d").await;
    let none: LeaderboardAroundResp =
        d.ok(&LeaderboardAroundReq { board: "points".into(), before: 1, after: 1 }).await;
    assert!(none.entries.is_empty());
    assert_eq!(none.total, 3);
    // Ascending and dense: lower first, ties share a rank, the next does not skip.
    submit(&mut a, "race", 9000).await;
    submit(&mut b, "race", 9000).await;
    submit(&mut c, "race", 12000).await;
    let top: LeaderboardTopResp =
        d.ok(&LeaderboardTopReq { board: "race".into(), offset: 0, limit: 0 }).await;
    assert_eq!(ranks(&top.entries), vec![(a.id, 9000, 1), (b.id, 9000, 1), (c.id, 12000, 2)]);
    // Info: the seasonal board's reset times bracket now.
    let info: LeaderboardInfoResp = d.ok(&LeaderboardInfoReq { boards: vec![] }).await;
    assert_eq!(info.boards.len(), 4);
    let weekly = info.boards.iter().find(|b| b.board == "weekly").unwrap();
    let now = mmo_core::clock::now_ms();
    assert!(weekly.previous_reset_ms <= now && now < weekly.next_reset_ms);
    assert_eq!(weekly.next_reset_ms - weekly.previous_reset_ms, 3_600_000);
    assert_eq!(weekly.rewards.len(), 2);
    let race = d.ok::<_, LeaderboardInfoResp>(&LeaderboardInfoReq { boards: vec!["race".into()] }).await;
    assert_eq!(race.boards[0].direction(), LeaderboardDirection::Ascending);
    assert_eq!(race.boards[0].ranking(), RankingStyle::Dense);
    assert_eq!((race.boards[0].previous_reset_ms, race.boards[0].next_reset_ms), (0, 0));
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_its_code() {
    let cl = cluster().await;
    let mut a = cl.guest("lb-bad").await;
    let ask = |board: &str, score| ScoreSubmitReq { board: board.into(), score, skip_rank: false };
    a.refused::<_, ScoreSubmitResp>(&ask("nope", 1), ErrorCode::LeaderboardNotFound).await;
    a.refused::<_, LeaderboardTopResp>(
        &LeaderboardTopReq { board: "nope".into(), offset: 0, limit: 1 },
        ErrorCode::LeaderboardNotFound,
    )
    .await;
    a.refused::<_, LeaderboardInfoResp>(
        &LeaderboardInfoReq { boards: vec!["x".into()] },
        ErrorCode::LeaderboardNotFound,
    )
    .await;
    let e = a.refused::<_, ScoreSubmitResp>(&ask("points", 1001), ErrorCode::ScoreOutOfRange).await;
    assert!(e.detail.contains("0..=1000"), "{}", e.detail);
    a.refused::<_, ScoreSubmitResp>(&ask("points", -1), ErrorCode::ScoreOutOfRange).await;
    a.refused::<_, ScoreSubmitResp>(&ask("race", 0), ErrorCode::ScoreOutOfRange).await;
    let e = a.refused::<_, ScoreSubmitResp>(&ask("points", 666), ErrorCode::ScoreRejected).await;
    assert_eq!(e.detail, "suspicious");
    // Two at once, then one per 10 s.
    submit(&mut a, "limited", 1).await;
    submit(&mut a, "limited", 2).await;
    let e = a.refused::<_, ScoreSubmitResp>(&ask("limited", 3), ErrorCode::ScoreRateLimited).await;
    assert!(e.retry_after_ms > 9000 && e.retry_after_ms <= 10_000, "{}", e.retry_after_ms);
    // Refused submits changed nothing.
    let top: LeaderboardTopResp =
        a.ok(&LeaderboardTopReq { board: "points".into(), offset: 0, limit: 5 }).await;
    assert!(top.entries.is_empty());
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_ranking_and_the_passed_push() {
    let cl = cluster().await;
    let mut a = cl.guest("lbf-a").await;
    let mut b = cl.guest("lbf-b").await;
    let mut c = cl.guest("lbf-c").await;
    let mut stranger = cl.guest("lbf-s").await;
    befriend(&mut a, &mut b).await;
    befriend(&mut a, &mut c).await;
    submit(&mut stranger, "points", 999).await;
    submit(&mut a, "points", 300).await;
    submit(&mut b, "points", 200).await;
    submit(&mut c, "points", 200).await;
    // a's friends and a, ranked among themselves; the stranger (rank 1 overall) is not there.
    let f: LeaderboardFriendsResp = a.ok(&LeaderboardFriendsReq { board: "points".into() }).await;
    assert_eq!(ranks(&f.entries), vec![(a.id, 300, 1), (b.id, 200, 2), (c.id, 200, 2)]);
    // b sees a (its friend) and itself, not c (not b's friend).
    let f: LeaderboardFriendsResp = b.ok(&LeaderboardFriendsReq { board: "points".into() }).await;
    assert_eq!(ranks(&f.entries), vec![(a.id, 300, 1), (b.id, 200, 2)]);
    // b passes a: a is told, with both entries' overall ranks; c (passed by nobody) is not.
    submit(&mut b, "points", 400).await;
    let n: LeaderboardPassedNtf = a.push().await;
    assert_eq!(n.board, "points");
    let (friend, you) = (n.friend.unwrap(), n.you.unwrap());
    assert_eq!((friend.player, friend.score, friend.rank), (b.id, 400, 2));
    assert_eq!(friend.name, cl.name(b.id).await);
    assert_eq!((you.player, you.score, you.rank), (a.id, 300, 3));
    assert!(c.push_within::<LeaderboardPassedNtf>(Duration::from_millis(300)).await.is_none());
    // A better score that passes nobody tells nobody.
    submit(&mut b, "points", 450).await;
    assert!(a.push_within::<LeaderboardPassedNtf>(Duration::from_millis(300)).await.is_none());
    cl.finish().await;
}
