//! Backfill through the gateway: a player leaves a running match of a mode with `backfill`,
//! a searching player takes its place in the match being played, and the result counts it;
//! a place whose match closes is withdrawn.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, Cluster, cluster_with, test_config};
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_proto::{
    EnterWorldReq, EnterWorldResp, LeaveInstanceReq, LeaveInstanceResp, MatchAcceptReq, MatchAcceptResp,
    MatchProposalNtf, MatchStartNtf, QueueJoinReq, QueueJoinResp,
};
use mysql_async::prelude::Queryable;

fn join() -> QueueJoinReq {
    QueueJoinReq { mode: "duel".into(), ..Default::default() }
}

/// A cluster whose `duel` mode backfills.
async fn backfilling() -> Cluster {
    let mut cfg = test_config();
    cfg.modes.0.get_mut("duel").unwrap().backfill = true;
    cluster_with(cfg, Duration::ZERO).await
}

async fn accept(c: &mut Client) {
    let p: MatchProposalNtf = c.push().await;
    let _: MatchAcceptResp = c.ok(&MatchAcceptReq { proposal: p.proposal, accept: true }).await;
}

/// `a` and `b` matched in a duel and in its instance.
async fn playing(a: &mut Client, b: &mut Client) -> MatchStartNtf {
    let _: QueueJoinResp = a.ok(&join()).await;
    let _: QueueJoinResp = b.ok(&join()).await;
    accept(a).await;
    accept(b).await;
    let start: MatchStartNtf = a.push().await;
    let _: MatchStartNtf = b.push().await;
    for c in [&mut *a, &mut *b] {
        let e: EnterWorldResp = c.ok(&EnterWorldReq {}).await;
        assert_eq!(e.zone.unwrap().match_id, start.match_id);
    }
    start
}

async fn opened(cl: &Cluster) -> usize {
    cl.events().await.iter().filter(|e| e.kind == "backfill_opened").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_searching_player_takes_the_leavers_place_and_the_result_counts_it() {
    let cl = backfilling().await;
    let mut a = cl.guest("bf-a").await;
    let mut b = cl.guest("bf-b").await;
    let mut c = cl.guest("bf-c").await;
    let start = playing(&mut a, &mut b).await;
    let _: LeaveInstanceResp = a.ok(&LeaveInstanceReq {}).await;
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while opened(&cl).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no backfill place opened for the leaver");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The zone's notice delivered again opens no second place.
    let left = cl.events().await.into_iter().find(|e| e.kind == "match_left").unwrap();
    assert_eq!(left.player, a.id);
    let attrs: Vec<(&str, &str)> = left.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    events::emit(&cl.bus, "match_left", PlayerId(a.id), &attrs);

    // c queues: it gets a ready check of its own (the place has nobody to ask), then the match
    // in progress, on the leaver's team.
    let _: QueueJoinResp = c.ok(&join()).await;
    let p: MatchProposalNtf = c.push().await;
    assert_eq!(p.players, 1);
    let _: MatchAcceptResp = c.ok(&MatchAcceptReq { proposal: p.proposal, accept: true }).await;
    let s: MatchStartNtf = c.push().await;
    assert!(s.backfill, "{s:?}");
    assert_eq!(
        (s.match_id.as_str(), s.instance.as_str()),
        (start.match_id.as_str(), start.instance.as_str())
    );
    assert_eq!(s.team, start.team, "the leaver's team");
    assert!(s.teams[s.team as usize].players.contains(&c.id), "{s:?}");
    let e: EnterWorldResp = c.ok(&EnterWorldReq {}).await;
    assert_eq!(e.zone.unwrap().match_id, start.match_id, "c plays in the running match");
    // And it is in its team's chat channel.
    let team_ch = format!("m:{}.{}", start.match_id, start.team);
    let members = mmo_chat::channels::members(&cl.bus, &team_ch).await.unwrap();
    assert!(members.iter().any(|(p, _)| *p == c.id), "{members:?}");
    assert_eq!(opened(&cl).await, 1, "one place for one leaver");

    // The match ends: its result has the newcomer on the leaver's team.
    for x in [&mut b, &mut c] {
        let _: LeaveInstanceResp = x.ok(&LeaveInstanceReq {}).await;
    }
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        let mut conn = cl.db.store().conn().await.unwrap();
        let rows: Vec<(u64, u32)> =
            conn.query("SELECT player_id, team FROM mm_match_players ORDER BY player_id").await.unwrap();
        if !rows.is_empty() {
            assert!(rows.contains(&(c.id, start.team)), "{rows:?}");
            assert!(rows.contains(&(b.id, 1 - start.team)), "{rows:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no result recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_whose_match_closed_is_not_offered() {
    let cl = backfilling().await;
    let mut a = cl.guest("bfc-a").await;
    let mut b = cl.guest("bfc-b").await;
    let _ = playing(&mut a, &mut b).await;
    let _: LeaveInstanceResp = a.ok(&LeaveInstanceReq {}).await;
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    while opened(&cl).await == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no backfill place opened for the leaver");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last player leaves: the match closes, and its open place with it.
    let _: LeaveInstanceResp = b.ok(&LeaveInstanceReq {}).await;
    while !cl.events().await.iter().any(|e| e.kind == "match_result") {
        assert!(tokio::time::Instant::now() < deadline, "the match did not close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut d = cl.guest("bfc-d").await;
    let _: QueueJoinResp = d.ok(&join()).await;
    let p: Option<MatchProposalNtf> = d.push_within(Duration::from_millis(800)).await;
    assert!(p.is_none(), "offered a place in a closed match: {p:?}");
    cl.finish().await;
}
