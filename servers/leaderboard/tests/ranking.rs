//! The ranking scripts against real Redis, checked against a brute-force sort (proptest): random
//! submits with many ties (few distinct scores, several submits in the same millisecond), both
//! directions, best and cumulative modes, every ranking style; every page of the top and the
//! window around every player must equal the sorted list, ranks included, whether the submits
//! went one script call each or several per call (as the server batches them).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::Bus;
use mmo_leaderboard::config::{BoardConfig, Direction, Mode, Ranking};
use mmo_leaderboard::keys::BoardKeys;
use mmo_leaderboard::ranking::{self, Entry, Submit, Submitted};
use mmo_testkit::redis::TestRedis;
use proptest::prelude::*;

static BOARD: AtomicU64 = AtomicU64::new(0);

/// The expected board: per player its entry, sorted, ranked.
fn brute(cfg: &BoardConfig, submits: &[(u64, i64, u64)]) -> Vec<Entry> {
    let sign = cfg.direction.sign();
    let mut by: HashMap<u64, (i64, u64)> = HashMap::new();
    for &(player, score, at) in submits {
        match (by.get(&player).copied(), cfg.mode) {
            (None, _) => {
                by.insert(player, (score, at));
            }
            (Some((old, _)), Mode::Best) if score * sign < old * sign => {
                by.insert(player, (score, at));
            }
            (Some(_), Mode::Best) => {}
            (Some((old, old_at)), Mode::Cumulative) => {
                let total = (old + score).clamp(cfg.min_score, cfg.max_score);
                by.insert(player, if total == old { (old, old_at) } else { (total, at) });
            }
        }
    }
    let mut all: Vec<Entry> = by
        .into_iter()
        .map(|(player, (score, at))| Entry {
            player,
            score,
            achieved_ms: at,
            rank: 0,
            member: ranking::member(at, player),
        })
        .collect();
    // Better score first, then earlier achieved, then lower player id.
    all.sort_by_key(|e| (e.score * sign, e.achieved_ms, e.player));
    let mut distinct = 0;
    for i in 0..all.len() {
        let tied = i > 0 && all[i].score == all[i - 1].score;
        if i > 0 && !tied {
            distinct += 1;
        }
        all[i].rank = match cfg.ranking {
            Ranking::Ordinal => i as u32 + 1,
            Ranking::Competition if tied => all[i - 1].rank,
            Ranking::Competition => i as u32 + 1,
            Ranking::Dense => distinct + 1,
        };
    }
    all
}

fn board_cfg() -> impl Strategy<Value = BoardConfig> {
    (
        prop_oneof![Just(Direction::Descending), Just(Direction::Ascending)],
        prop_oneof![Just(Mode::Best), Just(Mode::Cumulative)],
        prop_oneof![Just(Ranking::Competition), Just(Ranking::Dense), Just(Ranking::Ordinal)],
    )
        .prop_map(|(direction, mode, ranking)| BoardConfig {
            direction,
            mode,
            ranking,
            min_score: -3,
            max_score: 6,
            submit_interval: Duration::ZERO,
            ..BoardConfig::default()
        })
}

/// Submits: (player 1-12, score -3..=6, ms step 0 or 1): few distinct scores and equal times.
fn submits() -> impl Strategy<Value = Vec<(u64, i64, u64)>> {
    prop::collection::vec((1u64..=12, -3i64..=6, 0u64..=1), 1..40).prop_map(|v| {
        let mut at = 1_000;
        v.into_iter()
            .map(|(p, s, step)| {
                at += step;
                (p, s, at)
            })
            .collect()
    })
}

/// Submits `submits` `batch` at a time (1: one script call each, as `ranking::submit`; more:
/// one call carrying several, as the server's submitter sends them), then checks the board.
async fn run(
    bus: &Bus,
    cfg: &BoardConfig,
    submits: &[(u64, i64, u64)],
    batch: usize,
) -> Result<(), TestCaseError> {
    let name = format!("p{}", BOARD.fetch_add(1, Ordering::Relaxed));
    let keys = BoardKeys::new(bus, &name, 0);
    for chunk in submits.chunks(batch) {
        if let [(player, score, now_ms)] = *chunk {
            let s = Submit { keys: &keys, cfg, player, score, now_ms, restore: false };
            let r = ranking::submit(bus, &s).await.unwrap();
            let done = matches!(r, Submitted::Done { .. });
            prop_assert!(done, "submit refused: {:?}", r);
            continue;
        }
        let answers: Vec<redis::Value> = {
            let mut conn = bus.conn().await.unwrap();
            ranking::invocation(&keys, cfg, false, true, chunk).invoke_async(&mut *conn).await.unwrap()
        };
        prop_assert_eq!(answers.len(), chunk.len() * ranking::REPLY_WIDTH);
        for a in answers.chunks(ranking::REPLY_WIDTH) {
            let r = ranking::submitted(cfg, a);
            let done = matches!(r, Submitted::Done { .. });
            prop_assert!(done, "submit refused: {:?}", r);
        }
    }
    let want = brute(cfg, submits);
    let n = want.len() as u32;
    // The whole board, then every page of 3.
    let (total, all) = ranking::page(bus, &keys, cfg, 0, n + 5).await.unwrap();
    prop_assert_eq!(total, n);
    prop_assert_eq!(&all, &want);
    for start in (0..n).step_by(3) {
        let (_, page) = ranking::page(bus, &keys, cfg, start, 3).await.unwrap();
        let end = (start as usize + 3).min(want.len());
        prop_assert_eq!(&page[..], &want[start as usize..end]);
    }
    // Around every player: the player is in it, with the right neighbours.
    for (i, e) in want.iter().enumerate() {
        let (_, around) = ranking::around(bus, &keys, cfg, e.player, 2, 1).await.unwrap();
        let lo = i.saturating_sub(2);
        let hi = (i + 2).min(want.len());
        prop_assert_eq!(&around[..], &want[lo..hi]);
        prop_assert!(around.iter().any(|a| a.player == e.player));
    }
    // A player without an entry gets an empty window.
    let (_, none) = ranking::around(bus, &keys, cfg, 999, 2, 2).await.unwrap();
    prop_assert!(none.is_empty());
    // The entries of a few players, with their ranks on the whole board.
    let some: Vec<u64> = want.iter().step_by(2).map(|e| e.player).chain([999]).collect();
    let of = ranking::of(bus, &keys, cfg, &some).await.unwrap();
    let expect: Vec<Entry> = want.iter().step_by(2).cloned().collect();
    prop_assert_eq!(of, expect);
    Ok(())
}

#[test]
fn top_and_around_match_a_brute_force_sort() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = rt.block_on(redis.bus("lb-prop", &shutdown));
    let config = ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(cfg in board_cfg(), s in submits(), batch in 1usize..8)| {
        rt.block_on(run(&bus, &cfg, &s, batch))?;
    });
    shutdown.trigger();
    drop(redis);
}

#[test]
fn the_rate_bucket_refuses_then_refills() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    rt.block_on(async {
        let bus = redis.bus("lb-rate", &shutdown).await;
        let cfg = BoardConfig {
            submit_interval: Duration::from_secs(1),
            submit_burst: 2,
            ..BoardConfig::default()
        };
        let keys = BoardKeys::new(&bus, "rate", 0);
        let at = |now_ms| Submit { keys: &keys, cfg: &cfg, player: 7, score: 1, now_ms, restore: false };
        for now in [10_000, 10_001] {
            assert!(matches!(ranking::submit(&bus, &at(now)).await.unwrap(), Submitted::Done { .. }));
        }
        match ranking::submit(&bus, &at(10_002)).await.unwrap() {
            Submitted::Limited(wait) => {
                assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1))
            }
            other => panic!("not limited: {other:?}"),
        }
        // One interval later one more token is there.
        assert!(matches!(ranking::submit(&bus, &at(11_100)).await.unwrap(), Submitted::Done { .. }));
        assert!(matches!(ranking::submit(&bus, &at(11_101)).await.unwrap(), Submitted::Limited(_)));
    });
    shutdown.trigger();
}

#[test]
fn entries_written_in_earlier_layouts_still_read() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    rt.block_on(async {
        let bus = redis.bus("lb-old", &shutdown).await;
        let cfg = BoardConfig {
            submit_interval: Duration::from_secs(1),
            submit_burst: 1,
            ..BoardConfig::default()
        };
        let keys = BoardKeys::new(&bus, "old", 0);
        // The old layout: the HASH holds the bare member; the ZSET the entry (score 40).
        let old = ranking::member(5_000, 9);
        let mut conn = bus.conn().await.unwrap();
        let () = redis::cmd("ZADD").arg(&keys.z).arg(-40).arg(&old).query_async(&mut *conn).await.unwrap();
        let () = redis::cmd("HSET").arg(&keys.h).arg(9).arg(&old).query_async(&mut *conn).await.unwrap();
        drop(conn);
        let (_, around) = ranking::around(&bus, &keys, &cfg, 9, 1, 1).await.unwrap();
        assert_eq!((around[0].player, around[0].score, around[0].rank), (9, 40, 1));
        // A worse submit keeps it (its score came from the ZSET), and takes the one token.
        let at = |now_ms, score| Submit { keys: &keys, cfg: &cfg, player: 9, score, now_ms, restore: false };
        match ranking::submit(&bus, &at(10_000, 30)).await.unwrap() {
            Submitted::Done { improved, entry, old: before } => {
                assert!(!improved);
                assert_eq!((entry.score, entry.achieved_ms), (40, 5_000));
                assert_eq!(before, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(ranking::submit(&bus, &at(10_001, 50)).await.unwrap(), Submitted::Limited(_)));
        // A better one later moves it, in the new layout.
        assert!(matches!(
            ranking::submit(&bus, &at(11_500, 50)).await.unwrap(),
            Submitted::Done { improved: true, .. }
        ));
        let of = ranking::of(&bus, &keys, &cfg, &[9]).await.unwrap();
        assert_eq!((of[0].score, of[0].achieved_ms), (50, 11_500));

        // The second layout: `<member> <zscore> <tokens> <at ms>`, half a token at 10 s. The
        // bucket carries over: 0.7 tokens at 10.2 s (300 ms short), a whole one at 10.5 s.
        let second = ranking::member(6_000, 10);
        let mut conn = bus.conn().await.unwrap();
        let () = redis::cmd("ZADD").arg(&keys.z).arg(-45).arg(&second).query_async(&mut *conn).await.unwrap();
        let value = format!("{second} -45 0.5 10000");
        let () = redis::cmd("HSET").arg(&keys.h).arg(10).arg(value).query_async(&mut *conn).await.unwrap();
        drop(conn);
        let at = |now_ms, score| Submit { keys: &keys, cfg: &cfg, player: 10, score, now_ms, restore: false };
        match ranking::submit(&bus, &at(10_200, 60)).await.unwrap() {
            Submitted::Limited(wait) => assert_eq!(wait, Duration::from_millis(300)),
            other => panic!("not limited: {other:?}"),
        }
        match ranking::submit(&bus, &at(10_500, 60)).await.unwrap() {
            Submitted::Done { improved, entry, old: before } => {
                assert!(improved);
                assert_eq!((entry.score, entry.achieved_ms, entry.rank), (60, 10_500, 1));
                assert_eq!(before, Some((second.clone(), -45)));
            }
            other => panic!("{other:?}"),
        }
        let (_, page) = ranking::page(&bus, &keys, &cfg, 0, 5).await.unwrap();
        let players: Vec<_> = page.iter().map(|e| (e.player, e.score)).collect();
        assert_eq!(players, [(10, 60), (9, 50)]);
    });
    shutdown.trigger();
}
