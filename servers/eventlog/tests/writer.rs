//! The writer against real Redis and MariaDB: events from the stream stored once each, in
//! batches; a writer that dies mid-batch (it read entries, stored part of them, never
//! acknowledged) is taken over and every event ends up in MySQL exactly once.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::collections::BTreeSet;

use common::{setup, test_config};
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Batch, GameEvent, LevelUp};
use mysql_async::prelude::Queryable as _;
use prost::Message as _;

/// Emits `n` level-ups from `bus`; their ids.
fn emit(bus: &mmo_core::bus::Bus, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let ev = events::typed(
                bus,
                "level_up",
                PlayerId(u64::from(i % 7) + 1),
                Detail::LevelUp(LevelUp { level: i, instance: "field".into() }),
            );
            events::send(bus, &ev);
            ev.id
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_once_each() {
    let s = setup().await;
    let w = s.writer("writer-1", test_config()).await;
    let mut ids = emit(&s.bus, 400);
    s.until("400 rows", || async { s.rows().await == 400 }).await;
    ids.sort();
    assert_eq!(s.ids().await, ids);
    // The body is the event itself, typed detail and all.
    let body: Vec<u8> =
        s.db.store()
            .exec_first("SELECT body FROM game_events WHERE id = ?", (ids[0].as_str(),))
            .await
            .unwrap()
            .unwrap();
    let ev = GameEvent::decode(body.as_slice()).unwrap();
    assert!(matches!(ev.detail, Some(Detail::LevelUp(_))) && ev.kind == "level_up", "{ev:?}");
    w.stop().await;
    s.finish().await;
}

/// The writer's crash, reproduced: a consumer of the group (node `ghost`, which has no
/// heartbeat: it died) read every entry, stored the events of the first half of them in one
/// committed batch, and never acknowledged any. A new writer takes its entries over and stores
/// them; what the ghost stored is not stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_mid_batch_is_taken_over_and_nothing_is_stored_twice() {
    let s = setup().await;
    let cfg = test_config();
    mmo_eventlog::writer::consumer(&s.bus, &cfg).ensure_group().await.unwrap();
    let mut emitted = emit(&s.bus, 300);
    assert!(s.bus.flush(common::DEADLINE).await);

    // The ghost reads everything there is, as the group's consumer `ghost`.
    let mut conn = s.bus.conn().await.unwrap();
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(mmo_eventlog::SERVICE)
        .arg("ghost")
        .arg("COUNT")
        .arg(10_000)
        .arg("STREAMS")
        .arg(&*s.bus.keys().events())
        .arg(">")
        .query_async(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let entries: Vec<Vec<GameEvent>> = reply.keys[0]
        .ids
        .iter()
        .map(|e| {
            let blob: Vec<u8> = e.get("b").unwrap();
            Batch::decode(blob.as_slice()).unwrap().envelopes.iter().filter_map(events::decode).collect()
        })
        .collect();
    assert_eq!(entries.iter().map(Vec::len).sum::<usize>(), 300, "the ghost read every event");
    // It committed the first half of what it read, then died before acknowledging.
    let half: Vec<GameEvent> = entries.iter().flatten().take(150).cloned().collect();
    assert_eq!(mmo_eventlog::rows::insert(s.db.store(), &half).await.unwrap(), 150);
    assert_eq!(s.rows().await, 150);

    // A new writer starts; more events come meanwhile.
    let w = s.writer("writer-2", cfg).await;
    emitted.extend(emit(&s.bus, 100));
    s.until("every event stored", || async { s.rows().await == 400 }).await;
    // And everything is acknowledged: nothing is left pending for the group.
    s.until("nothing pending", || async {
        let mut conn = s.bus.conn().await.unwrap();
        let p: redis::streams::StreamPendingReply = redis::cmd("XPENDING")
            .arg(&*s.bus.keys().events())
            .arg(mmo_eventlog::SERVICE)
            .query_async(&mut *conn)
            .await
            .unwrap();
        p.count() == 0
    })
    .await;
    let stored = s.ids().await;
    let emitted: BTreeSet<String> = emitted.into_iter().collect();
    assert_eq!(emitted.len(), 400, "event ids are unique");
    assert_eq!(stored.len(), 400, "one row per event");
    assert_eq!(stored.into_iter().collect::<BTreeSet<_>>(), emitted, "exactly the events emitted");
    w.stop().await;
    s.finish().await;
}

/// MySQL unavailable to the writer for longer than the stream's dead-letter horizon
/// (`max_deliveries` x `claim_idle`): the table is locked by another session, so every INSERT
/// hits its deadline. The writer keeps its entries in flight and retries; once the lock goes,
/// every event is stored, none was dead-lettered, each entry was delivered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_outage_longer_than_the_dead_letter_horizon_loses_nothing() {
    let s = setup().await;
    let mut mysql = s.db.config().clone();
    mysql.query_timeout = std::time::Duration::from_millis(300);
    let short = mmo_core::store::Store::connect(&mysql).await.unwrap();
    let mut lock = s.db.store().conn().await.unwrap();
    lock.query_drop("LOCK TABLES game_events WRITE").await.unwrap();
    let w = s.writer_on("writer-x", test_config(), short).await;
    let mut emitted = emit(&s.bus, 50);
    assert!(s.bus.flush(common::DEADLINE).await);
    let horizon = s.redis.cfg.claim_idle.as_millis() as u64 * (s.redis.cfg.max_deliveries + 2);
    let stream = s.bus.keys().events();
    // Held until every entry has waited well past the horizon.
    s.until("entries older than the dead-letter horizon", || async {
        let mut conn = s.bus.conn().await.unwrap();
        let p: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&*stream)
            .arg(mmo_eventlog::SERVICE)
            .arg("-")
            .arg("+")
            .arg(1000)
            .query_async(&mut *conn)
            .await
            .unwrap();
        !p.ids.is_empty()
            && p.ids.iter().all(|e| e.times_delivered == 1 && e.last_delivered_ms as u64 > horizon)
    })
    .await;
    lock.query_drop("UNLOCK TABLES").await.unwrap();
    drop(lock);
    s.until("every event stored", || async { s.rows().await == 50 }).await;
    emitted.sort();
    assert_eq!(s.ids().await, emitted);
    let mut conn = s.bus.conn().await.unwrap();
    let dead: u64 =
        redis::cmd("XLEN").arg(s.bus.keys().dead_letter(&stream)).query_async(&mut *conn).await.unwrap();
    assert_eq!(dead, 0, "nothing dead-lettered");
    drop(conn);
    w.stop().await;
    s.finish().await;
}

/// A writer stopped while events keep coming, then started again on another node: nothing is
/// lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_stopped_while_events_come_loses_none() {
    let s = setup().await;
    let w = s.writer("writer-a", test_config()).await;
    let mut emitted = emit(&s.bus, 200);
    w.stop().await;
    emitted.extend(emit(&s.bus, 200));
    let w = s.writer("writer-b", test_config()).await;
    s.until("every event stored", || async { s.rows().await == 400 }).await;
    emitted.sort();
    assert_eq!(s.ids().await, emitted);
    w.stop().await;
    s.finish().await;
}
