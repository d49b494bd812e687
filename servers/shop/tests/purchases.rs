//! Purchases against real MariaDB: the happy path through a gateway, the ledger summing to the
//! balance, 100 concurrent purchases by a player who can afford one, one key sent 10 times at
//! once and again, a key reused for another item, limits, catalog versions, the outbox, bad
//! input.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use mmo_proto::bus::game_event::Detail;
use mmo_proto::*;
use mmo_shop::purchase::{self, Request};
use mmo_shop::{ShopConfig, ShopError};

fn req(player: u64, key: &str, item_id: u32, quantity: u32) -> Request {
    Request { player, key: key.into(), item_id, quantity, expected_version: 0 }
}

async fn buy(env: &common::Env, r: &Request) -> Result<PurchaseResp, ShopError> {
    purchase::purchase(env.store(), &env.bus, 100, r).await
}

fn code(r: Result<PurchaseResp, ShopError>) -> ErrorCode {
    match r {
        Err(e) => e.code().unwrap_or_else(|| panic!("not a refusal: {e}")),
        Ok(r) => panic!("expected a refusal, got {r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_through_the_gateway_pays_grants_and_is_in_the_ledger() {
    let env = common::env().await;
    let (addr, _shop) = common::cluster(&env, ShopConfig::default()).await;
    let mut p = common::guest(addr, "buyer").await;
    env.fund(p.id, "gold", 250).await;
    let cat: CatalogResp = p.ok(&CatalogReq {}).await;
    assert_eq!(cat.items.len(), 3);
    let sword = cat.items.iter().find(|i| i.item_id == 1).unwrap();
    assert_eq!(sword.prices, vec![Balance { currency: "gold".into(), amount: 100 }]);
    let r: PurchaseResp = p
        .ok(&PurchaseReq { key: "k-1".into(), item_id: 1, quantity: 2, expected_version: sword.version })
        .await;
    assert!(!r.replayed);
    assert_eq!(r.paid, vec![Balance { currency: "gold".into(), amount: 200 }]);
    assert_eq!(r.balances, vec![Balance { currency: "gold".into(), amount: 50 }]);
    assert_eq!(r.items, vec![InventoryItem { item_id: 1, count: 2 }]);
    let w: WalletResp = p.ok(&WalletReq {}).await;
    assert_eq!(w.balances, vec![Balance { currency: "gold".into(), amount: 50 }]);
    let inv: InventoryResp = p.ok(&InventoryReq {}).await;
    assert_eq!(inv.items, vec![InventoryItem { item_id: 1, count: 2 }]);
    let l: LedgerResp = p.ok(&LedgerReq { before_id: 0, limit: 1 }).await;
    assert_eq!(l.entries.len(), 1);
    assert_eq!((l.entries[0].amount, l.entries[0].balance_after), (-200, 50));
    assert_eq!(l.entries[0].reference, r.purchase_id.to_string());
    let rest: LedgerResp = p.ok(&LedgerReq { before_id: l.next_before_id, limit: 10 }).await;
    assert_eq!(rest.entries.len(), 1);
    assert_eq!((rest.entries[0].amount, rest.entries[0].reason.as_str()), (250, "admin"));
    assert_eq!(rest.next_before_id, 0);
    assert_eq!(env.ledger_sum(p.id, "gold").await, env.balance(p.id, "gold").await);
    // Not enough for a third sword; the same key again is the first answer.
    p.refused::<_, PurchaseResp>(
        &PurchaseReq { key: "k-2".into(), item_id: 1, quantity: 1, expected_version: 0 },
        ErrorCode::ShopInsufficientFunds,
    )
    .await;
    let again: PurchaseResp = p
        .ok(&PurchaseReq { key: "k-1".into(), item_id: 1, quantity: 2, expected_version: sword.version })
        .await;
    assert_eq!(again, PurchaseResp { replayed: true, ..r });
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn purchases_beyond_the_gate_wait_their_turn_and_all_complete() {
    let env = common::env().await;
    // 40 purchases asked at once (two per player), 3 in MySQL at a time: each completes once.
    let gate = std::sync::Arc::new(purchase::Gate::new(3));
    for player in 1..=20 {
        env.fund(player, "gold", 1_000).await;
    }
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let (store, bus, gate) = (env.store().clone(), env.bus.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            gate.purchase(&store, &bus, 100, &req(1 + i % 20, &format!("g{i}"), 1, 1)).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert!(!r.replayed);
    }
    for player in 1..=20 {
        assert_eq!(env.items(player, 1).await, 2);
        assert_eq!(env.balance(player, "gold").await, env.ledger_sum(player, "gold").await);
        assert_eq!(env.count("SELECT COUNT(*) FROM purchases WHERE player = ?", player).await, 2);
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_hundred_concurrent_purchases_by_a_player_who_can_afford_one_buy_one() {
    let env = common::env().await;
    let player = 42;
    env.fund(player, "gold", 150).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (store, bus) = (env.store().clone(), env.bus.clone());
        tasks.push(tokio::spawn(async move {
            purchase::purchase(&store, &bus, 100, &req(player, &format!("k{i}"), 1, 1)).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                ok += 1;
                assert_eq!(r.balances, vec![Balance { currency: "gold".into(), amount: 50 }]);
            }
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::ShopInsufficientFunds), "{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(env.balance(player, "gold").await, 50);
    assert_eq!(env.ledger_sum(player, "gold").await, 50);
    assert_eq!(env.items(player, 1).await, 1);
    assert_eq!(env.count("SELECT COUNT(*) FROM purchases WHERE player = ?", player).await, 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_key_ten_times_at_once_and_again_grants_once_with_identical_replies() {
    let env = common::env().await;
    let player = 7;
    env.fund(player, "gold", 1000).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, bus) = (env.store().clone(), env.bus.clone());
        tasks.push(tokio::spawn(async move {
            purchase::purchase(&store, &bus, 100, &req(player, "same-key", 1, 1)).await.unwrap()
        }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    assert_eq!(replies.iter().filter(|r| !r.replayed).count(), 1, "{replies:?}");
    let first = PurchaseResp { replayed: false, ..replies[0].clone() };
    for r in &replies {
        assert_eq!(PurchaseResp { replayed: false, ..r.clone() }, first);
    }
    let later = buy(&env, &req(player, "same-key", 1, 1)).await.unwrap();
    assert!(later.replayed);
    assert_eq!(PurchaseResp { replayed: false, ..later }, first);
    assert_eq!(env.balance(player, "gold").await, 900);
    assert_eq!(env.ledger_sum(player, "gold").await, 900);
    assert_eq!(env.items(player, 1).await, 1);
    // The same key for another item, or another quantity: refused, nothing charged.
    assert_eq!(code(buy(&env, &req(player, "same-key", 3, 1)).await), ErrorCode::ShopKeyReused);
    assert_eq!(code(buy(&env, &req(player, "same-key", 1, 2)).await), ErrorCode::ShopKeyReused);
    assert_eq!(env.balance(player, "gold").await, 900);
    // Another player's key space is its own.
    env.fund(8, "gold", 100).await;
    assert!(!buy(&env, &req(8, "same-key", 1, 1)).await.unwrap().replayed);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_outbox_has_the_purchase_exactly_when_it_happened() {
    let env = common::env().await;
    let player = 9;
    env.fund(player, "gold", 100).await;
    let before = env.outbox().await.len();
    let r = buy(&env, &req(player, "o-1", 1, 1)).await.unwrap();
    let events = env.outbox().await;
    assert_eq!(events.len(), before + 1);
    let ev = events.last().unwrap();
    assert_eq!((ev.kind.as_str(), ev.player), ("purchase", player));
    let Some(Detail::Purchase(p)) = &ev.detail else { panic!("{ev:?}") };
    assert_eq!((p.purchase_id, p.key.as_str(), p.item_id, p.quantity), (r.purchase_id, "o-1", 1, 1));
    assert_eq!(p.paid[0].amount, 100);
    // A refused purchase and a replay stage nothing.
    assert_eq!(code(buy(&env, &req(player, "o-2", 1, 1)).await), ErrorCode::ShopInsufficientFunds);
    assert!(buy(&env, &req(player, "o-1", 1, 1)).await.unwrap().replayed);
    assert_eq!(env.outbox().await.len(), before + 1);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_versions_and_bad_input_get_their_codes() {
    let env = common::env().await;
    let player = 11;
    env.fund(player, "gold", 10_000).await;
    env.fund(player, "gems", 100).await;
    // Shield: limit 2 per player, two currencies.
    let r = buy(&env, &req(player, "s1", 2, 2)).await.unwrap();
    assert_eq!(r.paid.len(), 2);
    assert_eq!(code(buy(&env, &req(player, "s2", 2, 1)).await), ErrorCode::ShopLimitReached);
    assert_eq!(env.balance(player, "gems").await, 90);
    assert_eq!(code(buy(&env, &req(player, "u", 99, 1)).await), ErrorCode::ShopUnknownItem);
    assert_eq!(code(buy(&env, &req(player, "q0", 1, 0)).await), ErrorCode::InvalidArgument);
    assert_eq!(code(buy(&env, &req(player, "q-huge", 1, u32::MAX)).await), ErrorCode::InvalidArgument);
    assert_eq!(code(buy(&env, &req(player, &"k".repeat(65), 1, 1)).await), ErrorCode::ShopBadKey);
    assert_eq!(code(buy(&env, &req(player, "", 1, 1)).await), ErrorCode::ShopBadKey);
    assert_eq!(code(buy(&env, &req(player, "bad key", 1, 1)).await), ErrorCode::ShopBadKey);
    // A price change bumps the version: the old one is refused, the new one is paid.
    let v1 = mmo_shop::catalog::load(env.store()).await.unwrap()[0].version;
    let changed = common::CATALOG.replace("prices = { gold = 100 }", "prices = { gold = 120 }");
    let report = mmo_shop::admin::load_catalog(env.store(), &changed).await.unwrap();
    assert_eq!((report.changed, report.unchanged), (1, 2));
    let stale = Request { expected_version: v1, ..req(player, "v1", 1, 1) };
    assert_eq!(code(buy(&env, &stale).await), ErrorCode::ShopCatalogChanged);
    let fresh = Request { expected_version: v1 + 1, ..req(player, "v2", 1, 1) };
    let r = buy(&env, &fresh).await.unwrap();
    assert_eq!((r.catalog_version, r.paid[0].amount), (v1 + 1, 120));
    // An item left out of the file is off sale.
    let only_sword = "[[item]]\nid = 1\nname = \"Sword\"\nprices = { gold = 120 }\n";
    let report = mmo_shop::admin::load_catalog(env.store(), only_sword).await.unwrap();
    assert_eq!(report.withdrawn, 2);
    assert_eq!(code(buy(&env, &req(player, "p1", 3, 1)).await), ErrorCode::ShopNotForSale);
    assert_eq!(env.ledger_sum(player, "gold").await, env.balance(player, "gold").await);
    assert_eq!(env.ledger_sum(player, "gems").await, env.balance(player, "gems").await);
    env.finish().await;
}
