//! Hand-off between zone nodes: a portal on one node's map leads to a map held by another node;
//! the player moves over with its state, without logging in again, and exactly one instance
//! holds it at any time.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::cluster_with;
use mmo_core::Shutdown;
use mmo_proto::{AttackReq, AttackResp, EnterReason, ErrorCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_hands_the_player_to_another_node_with_its_state_and_one_owner() {
    // node-1 holds the field, zone-2 the meadow.
    let cl = cluster_with(&["field"], |_| {}).await;
    let other = Shutdown::new();
    let zone2 = cl.zone_node("zone-2", &["meadow"], &other).await;
    assert_eq!(cl.zone.instances(), ["field"]);
    assert_eq!(zone2.instances(), ["meadow"]);

    let (c, id) = cl.guest("traveller").await;
    cl.place(id, "field", 380.0, 200.0).await;
    cl.progress(id, 3, 20, 50).await;
    cl.give(id, "traveller", &[(5, 3)]).await;
    let mut p = common::cluster::Player::enter(c, id).await;
    let mut watcher = cl.player_at("watcher", "field", 375.0, 205.0).await;
    let first = p.entity();
    watcher.until("sees the traveller", |w| w.players.values().any(|pl| *pl == id)).await;

    // East into the portal at (395, 200).
    p.walk(1.0, 0.0).await;
    p.until("placed in the meadow", |p| p.enter.map == "meadow").await;
    let e = p.enters.last().unwrap().clone();
    assert_eq!(e.reason(), EnterReason::Portal);
    assert_eq!(e.position.unwrap(), mmo_proto::Vec2 { x: 20.0, y: 100.0 }, "at the portal's destination");
    let stats = e.stats.unwrap();
    assert_eq!((stats.level, stats.xp, stats.hp), (3, 20, 50), "level, experience and hit points came along");
    assert_eq!(e.inventory.unwrap().items, [mmo_proto::ItemStack { item_id: 5, count: 3 }]);
    let meadow_node = zone2.incarnation("meadow").unwrap();
    let row = cl.row(id).await.unwrap();
    assert_eq!(row.map, "meadow");
    assert!(row.owner.starts_with(&format!("{meadow_node}/")), "owned by the meadow now: {}", row.owner);
    watcher.until("the traveller left the field", |w| !w.players.values().any(|pl| *pl == id)).await;
    // Its zone chat channel followed it: the meadow's now, not the field's.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let meadow = mmo_chat::channels::is_member(&cl.bus, "z:meadow", id).await.unwrap();
        let field = mmo_chat::channels::is_member(&cl.bus, "z:field", id).await.unwrap();
        if meadow && !field {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "zone chat channel: meadow {meadow}, field {field}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The meadow runs the player now: it walks there, and attacks are answered there.
    p.walk(0.0, 1.0).await;
    p.until("moving in the meadow", |p| p.me.1 > 110.0).await;
    let err = p.call::<_, AttackResp>(&AttackReq { target_id: first }).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::TargetNotFound, "its old entity is not in the meadow");

    // And back west through the meadow's portal at (5, y=100): walk to it first.
    let to = mmo_proto::MoveReq {
        input_seq: 100,
        intent: Some(mmo_proto::move_req::Intent::Target(mmo_proto::Vec2 { x: 3.0, y: 100.0 })),
        ..Default::default()
    };
    p.send_move(to).await;
    p.until("back in the field", |p| p.enter.map == "field").await;
    assert_eq!(p.enter.position.unwrap(), mmo_proto::Vec2 { x: 380.0, y: 200.0 });
    let field = cl.zone.incarnation("field").unwrap();
    let row =
        cl.wait_row(id, "owned by the field again", |r| r.owner.starts_with(&format!("{field}/"))).await;
    assert_eq!((row.map.as_str(), row.level, row.hp), ("field", 3, 50));
    watcher.until("the traveller is back", |w| w.players.values().filter(|pl| **pl == id).count() == 1).await;
    p.read_for(Duration::from_millis(200)).await;
    other.trigger();
    other.drain(Duration::from_secs(5)).await;
    cl.finish().await;
}
