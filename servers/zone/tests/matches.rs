//! Match instances, as matchmaking uses them: created for a roster, its players pulled in from
//! wherever they are (and offline ones pointed at it), sent back where they came from, and the
//! instance closes once empty with a `match_closed` event.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::{Player, cluster};
use mmo_proto::{EnterReason, ErrorCode, LeaveInstanceReq, LeaveInstanceResp, LogoutReq};
use mmo_zone::PlayerId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_instance_takes_its_roster_in_sends_them_back_and_closes_when_empty() {
    let cl = cluster().await;
    let mut a = cl.player_at("red", "field", 120.0, 130.0).await;
    let mut b = cl.player_at("blue", "meadow", 40.0, 60.0).await;
    let (c, offline) = cl.guest("late").await;
    drop(c);

    // Leaving a match instance outside one is refused.
    let err = a.call::<_, LeaveInstanceResp>(&LeaveInstanceReq {}).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotInMatch);

    let roster = [PlayerId(a.id), PlayerId(b.id), PlayerId(offline)];
    let instance = mmo_zone::create_instance(&cl.bus, "arena", &roster, "match-42", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(instance.starts_with("arena."), "{instance}");
    for p in [&mut a, &mut b] {
        p.until("pulled into the arena", |p| p.enter.map == "arena").await;
        let e = p.enters.last().unwrap();
        assert_eq!((e.reason(), e.match_id.as_str()), (EnterReason::Match, "match-42"));
    }
    assert_eq!(a.enter.instance, b.enter.instance);
    let ea = a.entity();
    b.until("they see each other in the arena", |p| p.view.contains_key(&ea)).await;
    let row = cl.row(offline).await.unwrap();
    assert_eq!(row.map, instance, "the offline player will enter the match when it comes back");

    // a leaves: back in the field where it was.
    let _: LeaveInstanceResp = a.call(&LeaveInstanceReq {}).await.unwrap();
    a.until("back in the field", |p| p.enter.map == "field").await;
    assert_eq!(a.enters.last().unwrap().reason(), EnterReason::Return);
    let at = a.enter.position.unwrap();
    assert!((at.x - 120.0).abs() < 1.0 && (at.y - 130.0).abs() < 1.0, "where it left: {at:?}");

    // The offline player comes back: into the match.
    let (c, id) = cl.guest("late").await;
    assert_eq!(id, offline);
    let mut late = Player::enter(c, id).await;
    assert_eq!((late.enter.map.as_str(), late.enter.match_id.as_str()), ("arena", "match-42"));
    let _: LeaveInstanceResp = late.call(&LeaveInstanceReq {}).await.unwrap();
    late.until("sent to the start map (it had no place before)", |p| p.enter.map == "field").await;

    // b logs out inside the match; the instance is then empty and closes.
    b.c.send(&LogoutReq {}).await.unwrap();
    let _ = b.c.expect_disconnect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let closed = loop {
        let events = cl.events().await;
        if let Some(e) = events.into_iter().find(|e| e.kind == "match_closed") {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "no match_closed event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let Some(mmo_proto::bus::game_event::Detail::MatchClosed(closed)) = closed.detail else {
        panic!("a typed match_closed: {closed:?}")
    };
    assert_eq!(closed.instance, instance);
    assert_eq!(closed.match_id, "match-42");
    let players = closed.players.clone();
    let mut expected = vec![a.id, b.id, offline];
    expected.sort();
    assert_eq!(players, expected, "everyone who entered");
    assert!(!cl.zone.instances().contains(&instance), "{:?}", cl.zone.instances());
    // Nothing of it stays in Redis: no lease, no listing, no stream.
    let mut conn = cl.bus.conn().await.unwrap();
    let stream = mmo_zone::directory::stream(&cl.bus, &instance);
    let lease = mmo_zone::directory::lease_key(&cl.bus, &instance);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left: u32 = redis::cmd("EXISTS").arg(&*stream).arg(&lease).query_async(&mut *conn).await.unwrap();
        if left == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the closed instance's stream or lease stayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mmo_zone::directory::open_matches(&cl.bus).await.unwrap().is_empty());

    // b comes back after the match closed: to where it was before it (the meadow).
    let (c, _) = cl.guest("blue").await;
    let back = Player::enter(c, b.id).await;
    assert_eq!(back.enter.map, "meadow");
    let at = back.enter.position.unwrap();
    assert!((at.x - 40.0).abs() < 1.0 && (at.y - 60.0).abs() < 1.0, "{at:?}");
    cl.finish().await;
}
