//! The outbox against real Redis and MariaDB: a staged event reaches `game_events` even when
//! Redis loses everything between its transaction's commit and the relay; one staged in a
//! transaction that rolled back never does; rounds are bounded and in order.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use common::{setup, test_config};
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_eventlog::outbox;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{CurrencyAmount, GameEvent, Grant};
use mysql_async::TxOpts;

fn grant(bus: &mmo_core::bus::Bus, player: u64, key: &str) -> GameEvent {
    let g = Grant {
        reason: "admin".into(),
        reference: "test".into(),
        key: key.into(),
        currencies: vec![CurrencyAmount { currency: "gold".into(), amount: 10 }],
        items: vec![],
    };
    events::typed(bus, "grant", PlayerId(player), Detail::Grant(g))
}

/// Stages `ev` in a transaction that commits (or rolls back).
async fn stage(s: &common::Setup, ev: &GameEvent, commit: bool) {
    let mut tx = s.db.store().pool().start_transaction(TxOpts::default()).await.unwrap();
    outbox::stage(&mut tx, ev).await.unwrap();
    if commit { tx.commit().await.unwrap() } else { tx.rollback().await.unwrap() }
}

async fn outbox_rows(s: &common::Setup) -> u64 {
    let n: Option<u64> = s.db.store().exec_first("SELECT COUNT(*) FROM event_outbox", ()).await.unwrap();
    n.unwrap_or(0)
}

async fn stored(s: &common::Setup, id: &str) -> bool {
    let n: Option<u64> =
        s.db.store().exec_first("SELECT COUNT(*) FROM game_events WHERE id = ?", (id,)).await.unwrap();
    n == Some(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_event_survives_redis_losing_everything_before_the_relay() {
    let s = setup().await;
    // Another relay (that died) holds the lease: nothing is relayed until it lapses or Redis
    // loses it, so the loss below falls between the commit and the relay.
    let mut conn = s.bus.conn().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(mmo_eventlog::relay::lease_key(&s.bus))
        .arg("ghost")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let w = s.writer("eventlog-1", test_config()).await;
    // The writer works: an ordinary event arrives.
    let ordinary = events::event(&s.bus, "login", PlayerId(1), &[]);
    events::send(&s.bus, &ordinary);
    s.until("the ordinary event", || stored(&s, &ordinary.id)).await;

    let kept = grant(&s.bus, 7, "kept");
    let rolled_back = grant(&s.bus, 7, "rolled-back");
    stage(&s, &kept, true).await;
    stage(&s, &rolled_back, false).await;
    assert_eq!(outbox_rows(&s).await, 1, "the rolled-back row is not there");
    assert!(!stored(&s, &kept.id).await, "not relayed while the lease is held elsewhere");

    // Redis loses everything of this cluster: the stream, the groups, the lease.
    s.flush_prefix().await;
    s.until("the staged event arrives", || stored(&s, &kept.id)).await;
    s.until("the outbox is empty", || async { outbox_rows(&s).await == 0 }).await;
    assert!(!stored(&s, &rolled_back.id).await);
    // The stored body keeps the typed detail.
    let back = mmo_eventlog::rows::of_player(s.db.store(), 7, 10).await.unwrap();
    assert_eq!(back.len(), 1);
    assert!(matches!(&back[0].detail, Some(Detail::Grant(g)) if g.key == "kept"), "{back:?}");
    w.stop().await;
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_relays_at_most_its_batch_in_order_then_deletes_the_rows() {
    let s = setup().await;
    let staged: Vec<GameEvent> = (0..5).map(|i| grant(&s.bus, 9, &format!("k{i}"))).collect();
    for ev in &staged {
        stage(&s, ev, true).await;
    }
    assert_eq!(mmo_eventlog::relay::relay_once(&s.bus, s.db.store(), 3).await.unwrap(), 3);
    assert_eq!(outbox_rows(&s).await, 2);
    assert_eq!(mmo_eventlog::relay::relay_once(&s.bus, s.db.store(), 3).await.unwrap(), 2);
    assert_eq!(mmo_eventlog::relay::relay_once(&s.bus, s.db.store(), 3).await.unwrap(), 0);
    let on_stream: Vec<String> = mmo_testkit::redis::events(&s.bus).await.into_iter().map(|e| e.id).collect();
    let ids: Vec<String> = staged.iter().map(|e| e.id.clone()).collect();
    assert_eq!(on_stream, ids, "in the order staged");
    // Only the lease's holder relays.
    assert!(mmo_eventlog::relay::lease(&s.bus, std::time::Duration::from_secs(5)).await.unwrap());
    let other = s.redis.bus("other", &s.shutdown).await;
    assert!(!mmo_eventlog::relay::lease(&other, std::time::Duration::from_secs(5)).await.unwrap());
    // Given up (a relay stopping), it is the other's at once; the other's is not given up by us.
    mmo_eventlog::relay::release(&s.bus).await.unwrap();
    assert!(mmo_eventlog::relay::lease(&other, std::time::Duration::from_secs(5)).await.unwrap());
    mmo_eventlog::relay::release(&s.bus).await.unwrap();
    assert!(!mmo_eventlog::relay::lease(&s.bus, std::time::Duration::from_secs(5)).await.unwrap());
    s.finish().await;
}
