//! Migrations against a real MariaDB: applied once, nothing on a restart, and two owners'
//! histories side by side in one database.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use mmo_core::store::{Migrations, Store, StoreError};
use mmo_testkit::mysql::TestDb;

mod alpha {
    refinery::embed_migrations!("tests/migrations_alpha");
}
mod beta {
    refinery::embed_migrations!("tests/migrations_beta");
}

const ALPHA: Migrations = Migrations { owner: "alpha", runner: alpha::migrations::runner };
const BETA: Migrations = Migrations { owner: "beta", runner: beta::migrations::runner };

fn versions(r: &mmo_core::store::MigrationReport) -> Vec<i64> {
    r.applied.iter().map(|m| m.version).collect()
}

async fn history(store: &Store, owner: &str) -> Vec<i64> {
    store.exec(&format!("SELECT version FROM _migrations_{owner} ORDER BY version"), ()).await.unwrap()
}

#[tokio::test]
async fn migrations_apply_once_and_not_again_on_restart() {
    let db = TestDb::new().await;
    let first = db.store().migrate(&ALPHA).await.unwrap();
    assert_eq!(first.owner, "alpha");
    assert_eq!(versions(&first), [1, 2]);
    assert_eq!(first.applied[1].name, "players_level");

    // The schema is there, both statements of V2 included.
    db.store().exec_drop("INSERT INTO players (id, name) VALUES (?, ?)", (1u64, "ann")).await.unwrap();
    let level: Option<i32> =
        db.store().exec_first("SELECT level FROM players WHERE id = 1", ()).await.unwrap();
    assert_eq!(level, Some(1));
    let index: Option<String> = db
        .store()
        .exec_first(
            "SELECT INDEX_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'players' AND INDEX_NAME = 'players_by_level'",
            (),
        )
        .await
        .unwrap();
    assert_eq!(index.as_deref(), Some("players_by_level"));

    // Same pool again, then a new pool as a restarted process would open: nothing to apply,
    // and the data survived.
    assert!(db.store().migrate(&ALPHA).await.unwrap().applied.is_empty());
    let restarted = Store::connect(db.config()).await.unwrap();
    assert!(restarted.migrate(&ALPHA).await.unwrap().applied.is_empty());
    let names: Vec<String> = restarted.exec("SELECT name FROM players", ()).await.unwrap();
    assert_eq!(names, ["ann"]);
    assert_eq!(history(&restarted, "alpha").await, [1, 2]);
    restarted.disconnect().await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn two_owners_keep_separate_histories() {
    let db = TestDb::new().await;
    let store = db.store();
    assert_eq!(versions(&store.migrate(&ALPHA).await.unwrap()), [1, 2]);
    // Alpha's history does not make beta's V1 look applied, nor beta's folder make alpha's
    // V2 look missing.
    assert_eq!(versions(&store.migrate(&BETA).await.unwrap()), [1]);
    assert!(store.migrate(&ALPHA).await.unwrap().applied.is_empty());
    assert!(store.migrate(&BETA).await.unwrap().applied.is_empty());
    assert_eq!(history(store, "alpha").await, [1, 2]);
    assert_eq!(history(store, "beta").await, [1]);
    store.exec_drop("INSERT INTO wallets (player, gold) VALUES (1, 10)", ()).await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn processes_starting_together_apply_each_migration_once() {
    let db = TestDb::new().await;
    let other = Store::connect(db.config()).await.unwrap();
    let (a, b) = tokio::join!(db.store().migrate(&ALPHA), other.migrate(&ALPHA));
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all = versions(&a);
    all.extend(versions(&b));
    all.sort_unstable();
    assert_eq!(all, [1, 2], "one of them applied everything, the other nothing");
    assert_eq!(history(db.store(), "alpha").await, [1, 2]);
    other.disconnect().await.unwrap();
    db.cleanup().await;
}

#[tokio::test]
async fn owner_names_are_checked() {
    let db = TestDb::new().await;
    for owner in ["", "Alpha", "a-b", "a;b", "a b"] {
        let m = Migrations { owner, runner: alpha::migrations::runner };
        let e = db.store().migrate(&m).await.unwrap_err();
        assert!(matches!(e, StoreError::InvalidName(_)), "{owner:?}: {e}");
    }
    db.cleanup().await;
}
