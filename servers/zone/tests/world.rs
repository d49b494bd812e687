//! The zone through the real path: client -> gateway -> Redis Streams -> zone instance -> Redis
//! Streams -> gateway -> client, with the account server for logins and MariaDB for progress.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::{DEADLINE, cluster};
use mmo_proto::{
    AttackReq, AttackResp, EnterReason, EnterWorldReq, EnterWorldResp, ErrorCode, LogoutReq, MoveReq,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_near_each_other_see_each_other_move_and_far_ones_do_not() {
    let cl = cluster().await;
    let mut a = cl.player_at("a", "field", 100.0, 100.0).await;
    assert_eq!((a.enter.map.as_str(), a.enter.reason()), ("field", EnterReason::Login));
    assert_eq!(a.me, (100.0, 100.0), "entered at the saved position");
    let mut b = cl.player_at("b", "field", 110.0, 100.0).await;
    let mut far = cl.player_at("far", "field", 300.0, 300.0).await;
    let (ea, eb) = (a.entity(), b.entity());
    a.until("a sees b", |p| p.view.contains_key(&eb)).await;
    b.until("b sees a", |p| p.view.contains_key(&ea)).await;

    // a walks north-west; b sees the moves.
    a.walk(-1.0, 0.0).await;
    b.until("b sees a move west", |p| p.view.get(&ea).is_some_and(|at| at.0 < 99.0)).await;
    a.until("a sees itself move", |p| p.me.0 < 99.0).await;
    far.read_for(Duration::from_millis(300)).await;
    assert!(
        !far.view.contains_key(&ea) && !far.view.contains_key(&eb),
        "far away sees neither: {:?}",
        far.view
    );
    assert!(far.view.is_empty(), "{:?}", far.view);

    // Out of view beyond view_radius + hysteresis (22 units), not at the radius (20).
    b.until("a leaves b's view", |p| !p.view.contains_key(&ea)).await;
    let dist = 110.0 - b.left[&ea].0;
    assert!(dist > 20.0, "last seen {dist} away: it left beyond the radius (hysteresis)");
    // Back east: in view again once nearer than the radius.
    a.walk(1.0, 0.0).await;
    b.until("a enters b's view again", |p| p.view.contains_key(&ea)).await;
    let dist = 110.0 - b.view[&ea].0;
    assert!(dist < 20.0, "came back into view {dist} away, inside the radius");
    a.walk(0.0, 0.0).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_positions_beyond_the_speed_limit_are_corrected_and_bad_input_is_answered() {
    let cl = cluster().await;
    let mut a = cl.player_at("speed", "field", 100.0, 100.0).await;
    // A claim of 100 units in one go (max speed 30/s, burst 0.5 s): cut to the budget.
    let claim = MoveReq {
        input_seq: 1,
        position: Some(mmo_proto::Vec2 { x: 200.0, y: 100.0 }),
        ..Default::default()
    };
    a.send_move(claim).await;
    a.until("a correction", |p| {
        p.ticks.iter().any(|t| t.you.as_ref().is_some_and(|y| y.correction.is_some()))
    })
    .await;
    assert!(a.me.0 < 120.0, "the server kept a within its budget: {:?}", a.me);
    // Non-finite input on the one-way route: an ErrorResp with the request's code, nothing else.
    let nan = MoveReq {
        input_seq: 2,
        position: Some(mmo_proto::Vec2 { x: f32::NAN, y: 0.0 }),
        ..Default::default()
    };
    a.send_move(nan).await;
    a.until("INVALID_ARGUMENT", |p| p.errors.iter().any(|e| e.code() == ErrorCode::InvalidArgument)).await;
    // Still in the world and answering; asking again resends the whole view.
    let mut b = cl.player_at("speed-onlooker", "field", 105.0, 105.0).await;
    let eb = b.entity();
    a.until("a sees b", |p| p.view.contains_key(&eb)).await;
    let again: EnterWorldResp = a.call(&EnterWorldReq {}).await.unwrap();
    assert_eq!(again.zone.unwrap().entity_id, a.entity(), "the same entity");
    a.view.clear();
    a.until("b announced again", |p| p.view.contains_key(&eb)).await;
    b.read_for(Duration::from_millis(100)).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_gives_xp_and_loot_which_survive_logout_and_login() {
    let cl = cluster().await;
    // The field's dummy NPC stands at (50, 50).
    let mut a = cl.player_at("hunter", "field", 65.0, 50.0).await;
    a.until("a sees the dummy", |p| p.view.values().any(|at| *at == (50.0, 50.0))).await;
    let dummy = *a.view.iter().find(|(_, at)| **at == (50.0, 50.0)).unwrap().0;
    let far = a.call::<_, AttackResp>(&AttackReq { target_id: dummy }).await.unwrap_err();
    assert_eq!(far.code(), ErrorCode::TargetOutOfRange);
    let missing = a.call::<_, AttackResp>(&AttackReq { target_id: 999_999 }).await.unwrap_err();
    assert_eq!(missing.code(), ErrorCode::TargetNotFound);
    // Walk up to it (a target point: the server walks a there and stops).
    let to = MoveReq {
        input_seq: 1,
        intent: Some(mmo_proto::move_req::Intent::Target(mmo_proto::Vec2 { x: 52.0, y: 50.0 })),
        ..Default::default()
    };
    a.send_move(to).await;
    a.until("a next to the dummy", |p| (p.me.0 - 52.0).abs() < 0.5).await;
    let hit: AttackResp = a.call(&AttackReq { target_id: dummy }).await.unwrap();
    assert!(hit.killed, "{hit:?}");
    assert_eq!((hit.xp_gained, hit.level), (150, 2), "150 xp: level 2 (100 needed) with 50 over");
    assert_eq!(hit.loot, [mmo_proto::ItemStack { item_id: 7, count: 2 }]);
    // The inventory is pushed once the grant is in the shop's ledger: what MySQL answered.
    let looted = [mmo_proto::ItemStack { item_id: 7, count: 2 }];
    a.until("the granted inventory pushed", |p| {
        p.ticks
            .iter()
            .any(|t| t.you.as_ref().and_then(|y| y.inventory.as_ref()).is_some_and(|i| i.items == looted))
    })
    .await;
    let dead = a.call::<_, AttackResp>(&AttackReq { target_id: dummy }).await.unwrap_err();
    assert!(matches!(dead.code(), ErrorCode::TargetDead | ErrorCode::AttackOnCooldown), "{dead:?}");

    // Log out: the state is saved at once, the player released.
    let id = a.id;
    let _ = a.c.send(&LogoutReq {}).await;
    let row = cl.wait_row(id, "saved and released", |r| r.owner.is_empty() && r.level == 2).await;
    assert_eq!((row.map.as_str(), row.xp, row.inventory.as_str()), ("field", 50, "[]"), "no JSON inventory");
    // The loot is in the shop's inventory, through its ledger: one grant, reason "loot".
    assert_eq!(cl.inventory(id).await, [(7, 2)]);
    let grants = cl.grants(id).await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    assert!(grants[0].0.starts_with("loot:") && grants[0].1 == "loot", "{grants:?}");
    assert!(grants[0].2.starts_with("dummy #") && grants[0].2.ends_with(" in field"), "{grants:?}");
    assert!((row.x.unwrap() - 52.0).abs() < 0.5, "{row:?}");

    // A new login (the same device) finds it all again.
    let mut back = cl.player("hunter").await;
    assert_eq!(back.id, id);
    let stats = back.enter.stats.unwrap();
    assert_eq!((stats.level, stats.xp), (2, 50));
    assert_eq!(back.enter.inventory.clone().unwrap().items, [mmo_proto::ItemStack { item_id: 7, count: 2 }]);
    assert!((back.me.0 - 52.0).abs() < 0.5, "{:?}", back.me);
    assert!(cl.row(id).await.unwrap().owner.starts_with("field#"), "claimed again by the field");
    let _ = tokio::time::timeout(DEADLINE, back.c.send(&LogoutReq {})).await;
    cl.finish().await;
}
