//! Rules reload without a restart: a published rule set reaches the running instances within a
//! second or two; a bad one is refused with the reason and the running rules stay.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::cluster;
use mmo_matchmaking::rules::{self, RulesError};
use mmo_proto::{ErrorCode, QueueJoinReq, QueueJoinResp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_rules_apply_without_a_restart_and_bad_ones_are_refused_with_the_reason() {
    let cl = cluster().await;
    let mut a = cl.guest("rules-a").await;
    let join = |mode: &str| QueueJoinReq { mode: mode.into(), ..Default::default() };
    a.refused::<_, QueueJoinResp>(&join("brawl"), ErrorCode::UnknownMode).await;
    // Refused, with the reason: a party larger than a team.
    let bad = "[brawl]\nteam_size = 2\nmax_party = 3\n";
    match rules::publish(&cl.bus, bad).await {
        Err(RulesError::Invalid(why)) => assert!(why.contains("max_party 3 is over team_size 2"), "{why}"),
        other => panic!("bad rules accepted: {other:?}"),
    }
    // Not TOML at all.
    assert!(matches!(rules::publish(&cl.bus, "[brawl\n").await, Err(RulesError::Invalid(_))));
    a.refused::<_, QueueJoinResp>(&join("brawl"), ErrorCode::UnknownMode).await;
    let good = "[brawl]\nteam_size = 4\nteams = 2\n\n[duel]\nteam_size = 1\n";
    let v = rules::publish(&cl.bus, good).await.unwrap();
    assert!(v >= 1);
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        match a.ask::<_, QueueJoinResp>(&join("brawl")).await {
            Ok(r) => {
                assert_eq!(r.ticket.unwrap().mode, "brawl");
                break;
            }
            Err(e) => assert_eq!(e.code(), ErrorCode::UnknownMode),
        }
        assert!(tokio::time::Instant::now() < deadline, "published rules never applied");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // The old `team` mode is gone with the new set.
    let mut b = cl.guest("rules-b").await;
    b.refused::<_, QueueJoinResp>(&join("team"), ErrorCode::UnknownMode).await;
    cl.finish().await;
}
