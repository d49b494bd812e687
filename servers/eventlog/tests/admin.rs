//! `mmo admin events show` and `export` against real MariaDB: a player's recent events newest
//! first, and an export over two UTC days (one file per day, a line per event that parses back
//! with its typed detail), written again in place; retention in bounded batches.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use mmo_eventlog::days::{self, DAY_MS};
use mmo_eventlog::{EventlogConfig, admin, rows};
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Ban, GameEvent, Login};

fn event(id: &str, kind: &str, player: u64, at_ms: u64, detail: Option<Detail>) -> GameEvent {
    GameEvent {
        id: id.into(),
        kind: kind.into(),
        player,
        at_ms,
        node: "n1".into(),
        attrs: if detail.is_none() {
            [("match_id".to_string(), "m1".to_string())].into()
        } else {
            Default::default()
        },
        detail,
    }
}

fn login(session: u64) -> Option<Detail> {
    Some(Detail::Login(Login { method: "device".into(), session }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_lists_a_players_events_newest_first() {
    let s = common::setup().await;
    let t = days::parse("2026-03-01T10:00:00Z").unwrap();
    let evs = vec![
        event("a", "login", 5, t, login(1)),
        event("b", "ban", 5, t + 1000, Some(Detail::Ban(Ban { reason: "spam".into(), until_ms: 0 }))),
        event("c", "login", 6, t + 2000, login(2)),
        event("d", "match_left", 5, t + 3000, None),
    ];
    rows::insert(s.db.store(), &evs).await.unwrap();
    let recent = admin::recent(s.db.store(), 5, 2).await.unwrap();
    assert_eq!(recent.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["d", "b"]);
    let text = admin::show(s.db.store(), 5, 10).await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("2026-03-01T10:00:03.000Z") && lines[0].contains("match_left"), "{text}");
    assert!(lines[1].contains("ban") && lines[1].contains(r#""reason":"spam""#), "{text}");
    assert!(lines[2].contains(r#""method":"device""#), "{text}");
    assert!(admin::show(s.db.store(), 99, 10).await.unwrap().contains("no events"));
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_one_file_per_day_that_parses_back() {
    let s = common::setup().await;
    let day1 = days::parse("2026-03-01").unwrap();
    // More than a page on the first day, so paging is crossed; two on the second; one the
    // day after, outside the range.
    let mut evs: Vec<GameEvent> =
        (0..1203).map(|i| event(&format!("d1-{i:05}"), "login", 1, day1 + i * 1000, login(i))).collect();
    evs.push(event(
        "d2-a",
        "ban",
        2,
        day1 + DAY_MS,
        Some(Detail::Ban(Ban { reason: "x".into(), until_ms: 9 })),
    ));
    evs.push(event("d2-b", "match_left", 2, day1 + 2 * DAY_MS - 1, None));
    evs.push(event("d3-a", "login", 3, day1 + 2 * DAY_MS, login(1)));
    for chunk in evs.chunks(500) {
        rows::insert(s.db.store(), chunk).await.unwrap();
    }
    let dir = std::env::temp_dir().join(format!("eventlog-export-{:016x}", rand_id()));
    let until = days::parse("2026-03-03").unwrap();
    let files = admin::export(s.db.store(), day1, until, &dir).await.unwrap();
    let names: Vec<String> =
        files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["events-2026-03-01.ndjson", "events-2026-03-02.ndjson"]);
    assert_eq!(files.iter().map(|f| f.events).collect::<Vec<_>>(), [1203, 2]);
    let text = std::fs::read_to_string(&files[0].path).unwrap();
    assert_eq!(text.lines().count(), 1203);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "d1-00000");
    assert_eq!(first["kind"], "login");
    assert_eq!(first["at"], "2026-03-01T00:00:00.000Z");
    assert_eq!(first["detail"]["method"], "device");
    assert_eq!(first["detail"]["session"], 0);
    let text = std::fs::read_to_string(&files[1].path).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["detail"]["until_ms"], 9);
    assert_eq!(lines[1]["attrs"]["match_id"], "m1");
    assert!(lines[1].get("detail").is_none());
    // Again, after one more event of the first day: the file is replaced, not appended to, and
    // no temporary file is left.
    rows::insert(s.db.store(), &[event("d1-late", "login", 1, day1 + 5, login(1))]).await.unwrap();
    let files = admin::export(s.db.store(), day1, until, &dir).await.unwrap();
    assert_eq!(files.iter().map(|f| f.events).collect::<Vec<_>>(), [1204, 2]);
    assert_eq!(std::fs::read_to_string(&files[0].path).unwrap().lines().count(), 1204);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "only the day files");
    assert!(admin::export(s.db.store(), until, day1, &dir).await.is_err(), "an empty range is refused");
    std::fs::remove_dir_all(&dir).unwrap();
    s.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_events_in_batches_and_zero_keeps_all() {
    let s = common::setup().await;
    let now = mmo_core::clock::now_ms();
    let old: Vec<GameEvent> =
        (0..7).map(|i| event(&format!("old-{i}"), "login", 1, now - 3 * DAY_MS - i, login(i))).collect();
    let new = event("new", "login", 1, now, login(1));
    rows::insert(s.db.store(), &old).await.unwrap();
    rows::insert(s.db.store(), std::slice::from_ref(&new)).await.unwrap();
    let keep = EventlogConfig::default();
    assert_eq!(mmo_eventlog::retention::clean(s.db.store(), &keep).await.unwrap(), 0);
    assert_eq!(s.rows().await, 8);
    let cfg = EventlogConfig { retention: Duration::from_secs(24 * 3600), cleanup_batch: 3, ..keep };
    assert_eq!(mmo_eventlog::retention::clean(s.db.store(), &cfg).await.unwrap(), 7);
    assert_eq!(s.ids().await, ["new"]);
    s.finish().await;
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
