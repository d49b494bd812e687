//! Loot and the shop's inventory, through the real path (gateway, Redis Streams, zone instance,
//! MariaDB): a kill's loot is a grant in the shop's ledger, applied once even when MySQL fails
//! and the grant is retried; a purchase made while in the world is in every inventory pushed
//! afterwards; the zone's old JSON inventories are moved into the shop's table once.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::{DEADLINE, Player, cluster};
use mmo_proto::{AttackReq, AttackResp, LogoutReq};
use mmo_zone::{ItemStack, PlayerId};

/// The field's dummy NPC stands at (50, 50): a player placed at (52, 50) can hit it.
async fn kill_dummy(p: &mut Player) -> AttackResp {
    p.until("sees the dummy", |p| p.view.values().any(|at| *at == (50.0, 50.0))).await;
    let dummy = *p.view.iter().find(|(_, at)| **at == (50.0, 50.0)).unwrap().0;
    let hit: AttackResp = p.call(&AttackReq { target_id: dummy }).await.unwrap();
    assert!(hit.killed, "{hit:?}");
    hit
}

/// Waits for a pushed inventory equal to `items`.
async fn pushed(p: &mut Player, items: &[(u32, u32)]) {
    let want: Vec<mmo_proto::ItemStack> =
        items.iter().map(|&(item_id, count)| mmo_proto::ItemStack { item_id, count }).collect();
    p.until("the inventory pushed", |p| {
        p.ticks
            .iter()
            .any(|t| t.you.as_ref().and_then(|y| y.inventory.as_ref()).is_some_and(|i| i.items == want))
    })
    .await;
}

async fn until(what: &str, f: impl AsyncFn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loot_is_granted_once_even_when_mysql_fails_and_the_grant_is_retried() {
    let cl = cluster().await;
    let mut a = cl.player_at("looter", "field", 52.0, 50.0).await;
    // The grants table gone: every grant fails (as with MySQL down) until it is back.
    let store = cl.db.store();
    store.exec_drop("RENAME TABLE grants TO grants_away", ()).await.unwrap();
    let hit = kill_dummy(&mut a).await;
    assert_eq!(hit.loot, [mmo_proto::ItemStack { item_id: 7, count: 2 }]);
    until("a failed grant queued for a retry", async || cl.zone.loot_retries() >= 2).await;
    assert!(cl.inventory(a.id).await.is_empty(), "nothing applied while it fails");
    store.exec_drop("RENAME TABLE grants_away TO grants", ()).await.unwrap();

    // The retry lands: pushed, and in MySQL once.
    pushed(&mut a, &[(7, 2)]).await;
    assert_eq!(cl.inventory(a.id).await, [(7, 2)]);
    let grants = cl.grants(a.id).await;
    assert_eq!(grants.len(), 1, "{grants:?}");
    let (key, reason, _) = grants[0].clone();
    assert_eq!(reason, "loot");
    // Sent again under its key (an answer lost after the commit): applied once.
    let again = mmo_shop::Grant {
        player: a.id,
        key: key.clone(),
        reason: "loot".into(),
        reference: "again".into(),
        currencies: Vec::new(),
        items: vec![(7, 2)],
    };
    let (done, items) = mmo_shop::grants::grant_and_inventory(store, &cl.bus, &again, 100).await.unwrap();
    assert_eq!((done, items), (mmo_shop::Granted::AlreadyApplied, vec![(7, 2)]));
    assert_eq!(cl.grants(a.id).await.len(), 1);

    // The run's first kill with loot.
    assert!(key.starts_with("loot:") && key.ends_with(":0"), "{key}");
    let _ = a.c.send(&LogoutReq {}).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_in_the_world_then_loot_are_both_pushed_and_in_mysql_and_back_after_login() {
    let cl = cluster().await;
    let store = cl.db.store();
    let mut a = cl.player_at("buyer", "field", 52.0, 50.0).await;
    assert!(a.enter.inventory.clone().unwrap().items.is_empty());
    // Buys a gem (item 9) through the shop while in the world.
    mmo_shop::admin::load_catalog(store, "[[item]]\nid = 9\nname = \"Gem\"\nprices = { gold = 10 }\n")
        .await
        .unwrap();
    mmo_shop::admin::grant_currency(store, &cl.bus, a.id, "gold", 100, "buyer-gold", "test").await.unwrap();
    let req = mmo_shop::purchase::Request {
        player: a.id,
        key: "buy-gem-1".into(),
        item_id: 9,
        quantity: 1,
        expected_version: 0,
    };
    let bought = mmo_shop::purchase::purchase(store, &cl.bus, 10, &req).await.unwrap();
    assert_eq!(bought.items[0].item_id, 9);

    // Then loots: the inventory pushed holds both, as MySQL does.
    kill_dummy(&mut a).await;
    pushed(&mut a, &[(7, 2), (9, 1)]).await;
    assert_eq!(cl.inventory(a.id).await, [(7, 2), (9, 1)]);
    let reasons: Vec<String> = cl.grants(a.id).await.into_iter().map(|g| g.1).collect();
    assert_eq!(reasons, ["admin", "loot"]);

    // Logged out and in again: the inventory comes from MySQL.
    let id = a.id;
    let _ = a.c.send(&LogoutReq {}).await;
    cl.wait_row(id, "released", |r| r.owner.is_empty()).await;
    let back = cl.player("buyer").await;
    assert_eq!(back.id, id);
    let items = back.enter.inventory.clone().unwrap().items;
    assert_eq!(
        items,
        [mmo_proto::ItemStack { item_id: 7, count: 2 }, mmo_proto::ItemStack { item_id: 9, count: 1 }]
    );
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_json_inventories_are_moved_into_the_shops_inventory_once_through_the_ledger() {
    let cl = cluster().await;
    let store = cl.db.store();
    let rows = [(9001u64, "[[3,5],[4,1]]"), (9002, "[[3,2]]"), (9003, "not json")];
    for (player, json) in rows {
        store
            .exec_drop(
                "INSERT INTO zone_players (player_id, map, level, xp, hp, inventory, owner, saved_at_ms) \
                 VALUES (?, 'field', 1, 0, 100, ?, '', 0)",
                (player, json),
            )
            .await
            .unwrap();
    }
    let moved = mmo_zone::loot::move_json_inventories(store, &cl.bus).await.unwrap();
    assert_eq!((moved.granted, moved.again, moved.failed), (2, 0, 1));
    assert_eq!(cl.inventory(9001).await, [(3, 5), (4, 1)]);
    assert_eq!(cl.inventory(9002).await, [(3, 2)]);
    let g = cl.grants(9001).await;
    assert_eq!(
        (g.len(), g[0].0.as_str(), g[0].1.as_str()),
        (1, "zone:json-inventory", "zone_inventory_move")
    );
    assert_eq!(cl.row(9001).await.unwrap().inventory, "[]");
    assert_eq!(cl.row(9003).await.unwrap().inventory, "not json", "left as it was");

    // Again: nothing to move. A move cut short after its grant (the column still full) is
    // not granted twice.
    let moved = mmo_zone::loot::move_json_inventories(store, &cl.bus).await.unwrap();
    assert_eq!((moved.granted, moved.again), (0, 0));
    store
        .exec_drop("UPDATE zone_players SET inventory = '[[3,2]]' WHERE player_id = 9002", ())
        .await
        .unwrap();
    let moved = mmo_zone::loot::move_json_inventories(store, &cl.bus).await.unwrap();
    assert_eq!((moved.granted, moved.again), (0, 1));
    assert_eq!(cl.inventory(9002).await, [(3, 2)]);
    assert_eq!(cl.row(9002).await.unwrap().inventory, "[]");
    cl.finish().await;
}

#[test]
fn loot_keys_name_the_run_and_the_kill() {
    let run = mmo_zone::loot::run_of("field#node-1#1733600000000#0a1b2c3d");
    assert_eq!(run, "1733600000000-0a1b2c3d");
    let items = [ItemStack { item: 7, count: 2 }];
    let g = mmo_zone::loot::kill_grant(PlayerId(5), &run, 12, "field", "wolf", 77, &items);
    assert_eq!((g.key.as_str(), g.reason.as_str()), ("loot:1733600000000-0a1b2c3d:12", "loot"));
    assert_eq!((g.reference.as_str(), g.items.as_slice()), ("wolf #77 in field", &[(7u32, 2i64)][..]));
    // Another run of the same instance (a restart) never makes the same key.
    assert_ne!(run, mmo_zone::loot::run_of("field#node-1#1733600000001#0a1b2c3d"));
}
