//! Retry and deadlines against a real MariaDB: a real deadlock is retried until both
//! transactions are in, other errors come back at once, and a slow query ends in a timeout
//! with the server-side query killed.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mmo_core::store::{ER_LOCK_DEADLOCK, Store, StoreError, retry};
use mmo_testkit::mysql::TestDb;
use mysql_async::TxOpts;
use mysql_async::prelude::Queryable;
use tokio::sync::Barrier;

async fn accounts(store: &Store) {
    store
        .query_drop(
            "CREATE TABLE accounts (id INT PRIMARY KEY, v INT NOT NULL) ENGINE = InnoDB; \
             INSERT INTO accounts VALUES (1, 0), (2, 0);",
        )
        .await
        .unwrap();
}

/// Adds 1 to row `first`, meets the other transaction at `barrier` (first attempt only, so that
/// both hold their first lock), then adds 1 to row `second`. Run against each other with the
/// rows swapped, the two transactions deadlock; InnoDB rolls one back with 1213.
async fn cross_update(
    tx: &mut mysql_async::Transaction<'static>,
    first: i32,
    second: i32,
    barrier: &Barrier,
    attempts: &AtomicU32,
) -> Result<(), mysql_async::Error> {
    let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
    tx.exec_drop("UPDATE accounts SET v = v + 1 WHERE id = ?", (first,)).await?;
    if attempt == 1 {
        barrier.wait().await;
    }
    tx.exec_drop("UPDATE accounts SET v = v + 1 WHERE id = ?", (second,)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_deadlock_is_retried_and_both_transactions_commit() {
    let db = TestDb::new().await;
    accounts(db.store()).await;
    let barrier = Arc::new(Barrier::new(2));
    let (a_attempts, b_attempts) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));

    // A: the plain `retry` loop around a transaction of its own making.
    let a = {
        let (store, barrier, attempts) = (db.store().clone(), barrier.clone(), a_attempts.clone());
        tokio::spawn(async move {
            retry(store.retry_policy(), || {
                let (store, barrier, attempts) = (store.clone(), barrier.clone(), attempts.clone());
                async move {
                    let mut tx = store.pool().start_transaction(TxOpts::default()).await?;
                    cross_update(&mut tx, 1, 2, &barrier, &attempts).await?;
                    tx.commit().await?;
                    Ok(())
                }
            })
            .await
        })
    };
    // B: `Store::in_tx`, rows in the other order.
    let b = {
        let (store, barrier, attempts) = (db.store().clone(), barrier.clone(), b_attempts.clone());
        tokio::spawn(async move {
            store
                .in_tx(|tx| {
                    let (barrier, attempts) = (barrier.clone(), attempts.clone());
                    Box::pin(async move { cross_update(tx, 2, 1, &barrier, &attempts).await })
                })
                .await
        })
    };
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    let (a_n, b_n) = (a_attempts.load(Ordering::SeqCst), b_attempts.load(Ordering::SeqCst));
    assert_eq!(a_n + b_n, 3, "exactly one deadlock victim, retried once (A {a_n}, B {b_n})");
    let rows: Vec<(i32, i32)> = db.store().exec("SELECT id, v FROM accounts ORDER BY id", ()).await.unwrap();
    assert_eq!(rows, [(1, 2), (2, 2)], "both transactions' effects, each once");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_retries_the_deadlock_reaches_the_caller() {
    // The same race with one attempt allowed: the victim's error is the real 1213, which is
    // what makes the test above a test of the retry.
    let db = TestDb::with_config(|c| c.retry_attempts = 1).await;
    accounts(db.store()).await;
    let barrier = Arc::new(Barrier::new(2));
    let run = |first: i32, second: i32| {
        let (store, barrier) = (db.store().clone(), barrier.clone());
        tokio::spawn(async move {
            let attempts = Arc::new(AtomicU32::new(0));
            store
                .in_tx(|tx| {
                    let (barrier, attempts) = (barrier.clone(), attempts.clone());
                    Box::pin(async move { cross_update(tx, first, second, &barrier, &attempts).await })
                })
                .await
        })
    };
    let (a, b) = (run(1, 2), run(2, 1));
    let results = [a.await.unwrap(), b.await.unwrap()];
    let codes: Vec<Option<u16>> =
        results.iter().map(|r| r.as_ref().err().and_then(StoreError::server_code)).collect();
    assert!(codes.contains(&None) && codes.contains(&Some(ER_LOCK_DEADLOCK)), "{codes:?}");
    assert!(results.iter().flat_map(|r| r.as_ref().err()).all(StoreError::is_retryable));
    db.cleanup().await;
}

#[tokio::test]
async fn other_errors_are_returned_at_once() {
    let db = TestDb::new().await;
    let store = db.store();
    let mut calls = 0;
    let err = retry(store.retry_policy(), || {
        calls += 1;
        store.exec_drop("SELEC 1", ())
    })
    .await
    .unwrap_err();
    assert_eq!(calls, 1);
    assert_eq!(err.server_code(), Some(1064), "syntax error: {err}");
    assert!(!err.is_retryable());

    let calls = AtomicU32::new(0);
    let err = store
        .in_tx(|tx| {
            calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move { tx.query_drop("SELECT * FROM no_such_table").await })
        })
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(err.server_code(), Some(1146), "unknown table: {err}");
    db.cleanup().await;
}

/// True when no connection of this database runs `SELECT SLEEP(3)` any more (within 2s).
async fn sleep_was_killed(store: &Store, db: &str) -> bool {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let running: Option<i64> = store
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO = 'SELECT SLEEP(3)'",
                (db,),
            )
            .await
            .unwrap();
        if running == Some(0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

// Real time on purpose: this is a deadline on socket I/O, which paused time cannot drive.
#[tokio::test]
async fn a_slow_query_times_out_and_is_killed_on_the_server() {
    let db = TestDb::with_config(|c| c.query_timeout = Duration::from_millis(200)).await;
    let store = db.store();

    let started = Instant::now();
    let err = store.exec::<i64>("SELECT SLEEP(3)", ()).await.unwrap_err();
    assert!(matches!(err, StoreError::Timeout(d) if d == Duration::from_millis(200)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "the caller waited {:?}", started.elapsed());
    assert!(sleep_was_killed(store, db.name()).await, "the query still runs on the server");

    // Inside a transaction too.
    let err =
        store.in_tx(|tx| Box::pin(async move { tx.query_drop("SELECT SLEEP(3)").await })).await.unwrap_err();
    assert!(matches!(err, StoreError::Timeout(_)), "{err}");
    assert!(sleep_was_killed(store, db.name()).await, "the transaction's query still runs");

    // The pool handed out no broken connection afterwards.
    for _ in 0..10 {
        let one: Option<i64> = store.exec_first("SELECT 1", ()).await.unwrap();
        assert_eq!(one, Some(1));
    }
    db.cleanup().await;
}
