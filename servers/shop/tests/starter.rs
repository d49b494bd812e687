//! The starter balance (`[shop] starter`) through a gateway against real MariaDB: a new
//! player's first WalletReq shows it, with one ledger row per currency; asked again, and after
//! other requests, still one grant.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use mmo_proto::*;
use mmo_shop::ShopConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_player_gets_the_starter_balance_once() {
    let env = common::env().await;
    let cfg = ShopConfig {
        starter: [("gold".to_string(), 1000), ("gems".to_string(), 10)].into(),
        ..ShopConfig::default()
    };
    let (addr, _shop) = common::cluster(&env, cfg).await;
    let mut p = common::guest(addr, "starter").await;
    let w: WalletResp = p.ok(&WalletReq {}).await;
    let expected = vec![
        Balance { currency: "gems".into(), amount: 10 },
        Balance { currency: "gold".into(), amount: 1000 },
    ];
    assert_eq!(w.balances, expected);
    let again: WalletResp = p.ok(&WalletReq {}).await;
    assert_eq!(again.balances, expected);
    let _: CatalogResp = p.ok(&CatalogReq {}).await;
    let l: LedgerResp = p.ok(&LedgerReq { before_id: 0, limit: 10 }).await;
    assert_eq!(l.entries.len(), 2, "one ledger row per currency: {l:?}");
    assert!(l.entries.iter().all(|e| e.reason == "starter"));
    let grants = "SELECT COUNT(*) FROM grants WHERE player = ? AND grant_key = 'starter'";
    assert_eq!(env.count(grants, p.id).await, 1);
    assert_eq!(env.ledger_sum(p.id, "gold").await, 1000);

    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_starter_balance_a_new_wallet_is_empty() {
    let env = common::env().await;
    let (addr, _shop) = common::cluster(&env, ShopConfig::default()).await;
    let mut p = common::guest(addr, "no-starter").await;
    let w: WalletResp = p.ok(&WalletReq {}).await;
    assert!(w.balances.is_empty());
    assert_eq!(env.count("SELECT COUNT(*) FROM grants WHERE player = ?", p.id).await, 0);
    env.finish().await;
}
