//! The grants API against real MariaDB: a grant applies once per key (twice in a row, and ten
//! at once), writes its ledger rows and outbox event, and refuses to take a balance below 0.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use mmo_proto::ErrorCode;
use mmo_proto::bus::game_event::Detail;
use mmo_shop::{Grant, Granted};

fn season(player: u64, key: &str) -> Grant {
    Grant {
        player,
        key: key.into(),
        reason: "season_reward".into(),
        reference: "board:weekly:12".into(),
        currencies: vec![("gold".into(), 500), ("gems".into(), 3)],
        items: vec![(7, 1)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_applies_once_per_key() {
    let env = common::env().await;
    let g = season(5, "season:weekly:12");
    assert_eq!(mmo_shop::grant(env.store(), &env.bus, &g).await.unwrap(), Granted::Applied);
    assert_eq!(mmo_shop::grant(env.store(), &env.bus, &g).await.unwrap(), Granted::AlreadyApplied);
    assert_eq!(env.balance(5, "gold").await, 500);
    assert_eq!(env.balance(5, "gems").await, 3);
    assert_eq!(env.items(5, 7).await, 1);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM wallet_ledger WHERE player = ? AND currency = 'gold'", 5).await,
        1
    );
    let events = env.outbox().await;
    let grants: Vec<_> = events.iter().filter(|e| e.kind == "grant" && e.player == 5).collect();
    assert_eq!(grants.len(), 1);
    let Some(Detail::Grant(d)) = &grants[0].detail else { panic!() };
    assert_eq!((d.key.as_str(), d.reason.as_str()), ("season:weekly:12", "season_reward"));
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn ten_grants_with_one_key_at_once_apply_once() {
    let env = common::env().await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, bus) = (env.store().clone(), env.bus.clone());
        tasks.push(tokio::spawn(async move {
            mmo_shop::grant(&store, &bus, &season(6, "match:77")).await.unwrap()
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += usize::from(t.await.unwrap() == Granted::Applied);
    }
    assert_eq!(applied, 1);
    assert_eq!(env.balance(6, "gold").await, 500);
    assert_eq!(env.ledger_sum(6, "gold").await, 500);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_grant_cannot_take_a_balance_below_zero() {
    let env = common::env().await;
    env.fund(3, "gold", 10).await;
    let take = Grant { currencies: vec![("gold".into(), -11)], items: vec![], ..season(3, "fine:1") };
    let e = mmo_shop::grant(env.store(), &env.bus, &take).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ShopInsufficientFunds));
    assert_eq!(env.balance(3, "gold").await, 10);
    // Nothing was kept under the key: a smaller fine with it applies.
    let take = Grant { currencies: vec![("gold".into(), -10)], items: vec![], ..season(3, "fine:1") };
    assert_eq!(mmo_shop::grant(env.store(), &env.bus, &take).await.unwrap(), Granted::Applied);
    assert_eq!(env.balance(3, "gold").await, 0);
    assert_eq!(env.ledger_sum(3, "gold").await, 0);
    let bad = Grant { key: String::new(), ..season(3, "") };
    assert!(mmo_shop::grant(env.store(), &env.bus, &bad).await.is_err());
    env.finish().await;
}
