//! Match results and Glicko-2 ratings on real MariaDB (a fresh database per test): a result is
//! written exactly once however often and however concurrently it is delivered, history comes
//! back newest first, ratings move the right way, persist per mode and respect parties, and
//! bad input is refused without writing anything.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use mmo_core::store::Store;
use mmo_matchmaking::ratings::{self, PARTY_BONUS, Rating, TeamOutcome};
use mmo_matchmaking::results::{self, InvalidResult, MatchResult, Recorded, TeamResult};
use mmo_testkit::mysql::TestDb;
use skillratings::Outcomes;
use skillratings::glicko2::{Glicko2Config, Glicko2Rating, glicko2};

const MODE: &str = "arena_2v2";

async fn db() -> TestDb {
    let db = TestDb::new().await;
    for m in [mmo_eventlog::migrations(), mmo_shop::migrations(), mmo_matchmaking::migrations()] {
        db.store().migrate(&m).await.unwrap();
    }
    db
}

/// A result in [`MODE`]: `teams` as (rank, [(player, party)]), scores 10 * team index.
fn result(id: &str, started_ms: u64, teams: &[(u32, &[(u64, u64)])]) -> MatchResult {
    MatchResult {
        match_id: id.into(),
        mode: MODE.into(),
        instance: "instance-1".into(),
        started_ms,
        duration_ms: 60_000,
        teams: teams
            .iter()
            .enumerate()
            .map(|(i, &(rank, players))| TeamResult { rank, score: 10 * i as i64, players: players.to_vec() })
            .collect(),
    }
}

/// Players 1 and 2 (rank 0) beat players 3 and 4, all solo.
fn two_v_two(id: &str, started_ms: u64) -> MatchResult {
    result(id, started_ms, &[(0, &[(1, 0), (2, 0)]), (1, &[(3, 0), (4, 0)])])
}

fn written(r: Recorded) -> Vec<results::RatingChange> {
    match r {
        Recorded::Written(changes) => changes,
        Recorded::AlreadyRecorded => panic!("expected the result to be written"),
    }
}

async fn count(store: &Store, table: &str) -> u64 {
    store.exec_first(&format!("SELECT COUNT(*) FROM {table}"), ()).await.unwrap().unwrap()
}

/// (games, wins, losses, draws) of `player` in [`MODE`].
async fn counters(store: &Store, player: u64) -> (u32, u32, u32, u32) {
    store
        .exec_first(
            "SELECT games, wins, losses, draws FROM mm_ratings WHERE player_id = ? AND mode = ?",
            (player, MODE),
        )
        .await
        .unwrap()
        .unwrap()
}

async fn rating(store: &Store, player: u64) -> Rating {
    ratings::get(store, MODE, &[player]).await.unwrap()[&player]
}

#[tokio::test]
async fn a_result_delivered_twice_is_written_once() {
    let db = db().await;
    let store = db.store();
    let m = two_v_two("m-1", 1_000);

    let changes = written(results::record(store, &m).await.unwrap());
    assert_eq!(changes.iter().map(|c| c.player).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    let after_first = rating(store, 1).await;
    assert_eq!(after_first, changes[0].after);

    assert_eq!(results::record(store, &m).await.unwrap(), Recorded::AlreadyRecorded);
    // Even a second delivery that disagrees with the first changes nothing.
    let mut flipped = m.clone();
    flipped.teams[0].rank = 1;
    flipped.teams[1].rank = 0;
    assert_eq!(results::record(store, &flipped).await.unwrap(), Recorded::AlreadyRecorded);

    assert_eq!(count(store, "mm_matches").await, 1);
    assert_eq!(count(store, "mm_match_players").await, 4);
    assert_eq!(counters(store, 1).await, (1, 1, 0, 0));
    assert_eq!(counters(store, 3).await, (1, 0, 1, 0));
    assert_eq!(rating(store, 1).await, after_first);
    assert_eq!(results::history(store, 1, 10).await.unwrap().len(), 1);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deliveries_of_one_result_write_once() {
    let db = db().await;
    let store = db.store();
    let m = two_v_two("m-race", 1_000);

    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (store, m) = (store.clone(), m.clone());
            tokio::spawn(async move { results::record(&store, &m).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let writes = outcomes.iter().filter(|o| matches!(o, Recorded::Written(_))).count();
    assert_eq!(writes, 1, "{outcomes:?}");

    assert_eq!(count(store, "mm_matches").await, 1);
    assert_eq!(count(store, "mm_match_players").await, 4);
    for p in 1..=4 {
        assert_eq!(counters(store, p).await.0, 1, "player {p} counted once");
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_matches_sharing_a_player_are_rated_one_after_the_other() {
    let db = db().await;
    let store = db.store();
    // Player 1, new, wins six matches recorded at once, each against another new player;
    // players 101.. and 201.. play their own matches alongside (new rows next to each other).
    let mut all = Vec::new();
    for k in 0..6u64 {
        all.push(result(&format!("shared-{k}"), k, &[(0, &[(1, 0)]), (1, &[(10 + k, 0)])]));
        all.push(result(&format!("other-{k}"), k, &[(0, &[(101 + k, 0)]), (1, &[(201 + k, 0)])]));
    }
    let tasks: Vec<_> = all
        .into_iter()
        .map(|m| {
            let store = store.clone();
            tokio::spawn(async move { results::record(&store, &m).await.unwrap() })
        })
        .collect();
    let mut player_one = Vec::new();
    for t in tasks {
        for c in written(t.await.unwrap()) {
            if c.player == 1 {
                player_one.push((c.before, c.after));
            }
        }
    }
    assert_eq!(counters(store, 1).await, (6, 6, 0, 0));
    assert_eq!(count(store, "mm_matches").await, 12);

    // Serialised: the changes form one chain from the default rating to the stored one, each
    // match starting where another ended.
    let mut at = Rating::default();
    for _ in 0..6 {
        let i = player_one.iter().position(|(before, _)| *before == at).expect("a match starts here");
        at = player_one.swap_remove(i).1;
    }
    assert_eq!(rating(store, 1).await, at);
    db.cleanup().await;
}

#[tokio::test]
async fn history_is_newest_first_and_limited() {
    let db = db().await;
    let store = db.store();
    // Recorded out of order; player 1 plays matches starting at 5, 1, 4, 2, 3 (seconds);
    // player 9 plays one match with other people.
    for s in [5u64, 1, 4, 2, 3] {
        let m = result(&format!("h-{s}"), s * 1_000, &[(1, &[(1, 0), (2, 7)]), (0, &[(3, 0)])]);
        written(results::record(store, &m).await.unwrap());
    }
    let other = result("x", 9_000, &[(0, &[(9, 0)]), (1, &[(8, 0)])]);
    written(results::record(store, &other).await.unwrap());

    let h = results::history(store, 1, 3).await.unwrap();
    assert_eq!(h.iter().map(|e| e.match_id.as_str()).collect::<Vec<_>>(), vec!["h-5", "h-4", "h-3"]);
    let e = &h[0];
    assert_eq!((e.mode.as_str(), e.ended_ms, e.duration_ms), (MODE, 65_000, 60_000));
    assert_eq!((e.team, e.rank, e.score), (0, 1, 0));
    assert_eq!(e.teams, vec![vec![1, 2], vec![3]]);
    assert!(e.rating_after < e.rating_before, "team 0 lost");

    // Player 3 sees the same match from the other side.
    let e3 = &results::history(store, 3, 1).await.unwrap()[0];
    assert_eq!((e3.match_id.as_str(), e3.team, e3.rank, e3.score), ("h-5", 1, 0, 10));
    assert!(e3.rating_after > e3.rating_before);

    assert_eq!(results::history(store, 1, 1_000).await.unwrap().len(), 5);
    assert!(results::history(store, 1, 0).await.unwrap().is_empty());
    assert!(results::history(store, 42, 10).await.unwrap().is_empty());
    assert_eq!(results::history(store, 9, 10).await.unwrap().len(), 1);
    // The party a player queued in is kept with the match.
    let party: Option<u64> = store
        .exec_first("SELECT party_id FROM mm_match_players WHERE match_id = 'h-1' AND player_id = 2", ())
        .await
        .unwrap();
    assert_eq!(party, Some(7));
    db.cleanup().await;
}

#[tokio::test]
async fn winners_go_up_losers_down_and_draws_move_together() {
    let db = db().await;
    let store = db.store();
    let changes = written(results::record(store, &two_v_two("w", 0)).await.unwrap());
    for c in &changes {
        if c.player <= 2 {
            assert!(c.after.rating > c.before.rating, "winner {c:?}");
        } else {
            assert!(c.after.rating < c.before.rating, "loser {c:?}");
        }
        assert!(c.after.deviation < c.before.deviation, "a game makes the rating surer: {c:?}");
    }

    // Now 1 (up) and 3 (down) draw: the stronger loses points, the weaker gains.
    let (one, three) = (rating(store, 1).await, rating(store, 3).await);
    let draw = result("d", 100_000, &[(0, &[(1, 0)]), (0, &[(3, 0)])]);
    let changes = written(results::record(store, &draw).await.unwrap());
    assert_eq!((changes[0].player, changes[0].before), (1, one));
    assert_eq!((changes[1].player, changes[1].before), (3, three));
    assert!(changes[0].after.rating < one.rating);
    assert!(changes[1].after.rating > three.rating);
    assert_eq!(counters(store, 1).await, (2, 1, 0, 1));
    assert_eq!(counters(store, 3).await, (2, 0, 1, 1));
    db.cleanup().await;
}

#[tokio::test]
async fn ratings_persist_across_matches_and_are_per_mode() {
    let db = db().await;
    let store = db.store();
    let first = written(results::record(store, &two_v_two("p-1", 0)).await.unwrap());
    let second = written(results::record(store, &two_v_two("p-2", 100_000)).await.unwrap());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.player, b.player);
        assert_eq!(b.before, a.after, "the second match starts from the first's result");
    }
    let now = ratings::get(store, MODE, &[1, 3, 77]).await.unwrap();
    assert_eq!(now[&1], second[0].after);
    assert_eq!(now[&3], second[2].after);
    assert_eq!(now[&77], Rating::default(), "never played");

    // Another mode starts from scratch.
    let mut other = two_v_two("p-3", 200_000);
    other.mode = "duel".into();
    let changes = written(results::record(store, &other).await.unwrap());
    assert_eq!(changes[0].before, Rating::default());
    assert_eq!(ratings::get(store, MODE, &[1]).await.unwrap()[&1], second[0].after);
    db.cleanup().await;
}

#[tokio::test]
async fn bad_results_are_refused_and_write_nothing() {
    let db = db().await;
    let store = db.store();
    let mut cases: Vec<(MatchResult, InvalidResult)> = vec![
        (result("", 0, &[(0, &[(1, 0)]), (1, &[(2, 0)])]), InvalidResult::EmptyMatchId),
        (result("a", 0, &[(0, &[(1, 0)]), (1, &[])]), InvalidResult::EmptyTeam(1)),
        (result("b", 0, &[(0, &[(1, 0), (2, 0)]), (1, &[(2, 0)])]), InvalidResult::DuplicatePlayer(2)),
        (result("c", 0, &[(0, &[(1, 0)])]), InvalidResult::TooFewTeams(1)),
        (result(&"x".repeat(65), 0, &[(0, &[(1, 0)]), (1, &[(2, 0)])]), InvalidResult::MatchIdTooLong),
        (result("d", u64::MAX, &[(0, &[(1, 0)]), (1, &[(2, 0)])]), InvalidResult::EndOverflow),
    ];
    let mut no_mode = two_v_two("e", 0);
    no_mode.mode.clear();
    cases.push((no_mode, InvalidResult::EmptyMode));
    for (m, why) in cases {
        let err = results::record(store, &m).await.unwrap_err();
        assert_eq!(InvalidResult::of(&err), Some(&why), "{m:?}: {err}");
        assert!(!err.is_retryable() && !err.is_unavailable());
    }
    assert_eq!(count(store, "mm_matches").await, 0);
    assert_eq!(count(store, "mm_ratings").await, 0);
    db.cleanup().await;
}

/// A 1v1 is plain Glicko-2: the crate's own two-player function gives the same numbers.
#[test]
fn one_v_one_is_plain_glicko2() {
    let strong = Rating { rating: 1700.0, deviation: 80.0, volatility: 0.06 };
    let weak = Rating { rating: 1450.0, deviation: 200.0, volatility: 0.059 };
    let g = |r: Rating| Glicko2Rating { rating: r.rating, deviation: r.deviation, volatility: r.volatility };
    for (ranks, outcome) in [((1, 0), Outcomes::LOSS), ((0, 1), Outcomes::WIN), ((0, 0), Outcomes::DRAW)] {
        let out = ratings::rate(&[
            TeamOutcome { rank: ranks.0, players: vec![(1, 0, weak)] },
            TeamOutcome { rank: ranks.1, players: vec![(2, 0, strong)] },
        ]);
        let (a, b) = glicko2(&g(weak), &g(strong), &outcome, &Glicko2Config::new());
        for (mine, theirs) in [(out[0].2, a), (out[1].2, b)] {
            assert!((mine.rating - theirs.rating).abs() < 1e-9, "{mine:?} {theirs:?}");
            assert!((mine.deviation - theirs.deviation).abs() < 1e-9, "{mine:?} {theirs:?}");
            assert!((mine.volatility - theirs.volatility).abs() < 1e-12, "{mine:?} {theirs:?}");
        }
        assert_eq!((out[0].0, out[0].1, out[1].0, out[1].1), (1, weak, 2, strong));
    }
}

/// A premade of two that beats two solos of the same ratings was expected to: it gains less
/// than two solos would have, and the solos it beat lose less.
#[test]
fn premades_gain_less_from_beating_solos() {
    let r = Rating::default();
    let game = |party: u64| {
        ratings::rate(&[
            TeamOutcome { rank: 0, players: vec![(1, party, r), (2, party, r)] },
            TeamOutcome { rank: 1, players: vec![(3, 0, r), (4, 0, r)] },
        ])
    };
    let (premade, solos) = (game(5), game(0));
    let gain = |out: &[(u64, Rating, Rating)], i: usize| out[i].2.rating - out[i].1.rating;
    assert!(gain(&premade, 0) > 0.0);
    assert!(gain(&premade, 0) < gain(&solos, 0), "premade {} solos {}", gain(&premade, 0), gain(&solos, 0));
    assert!(gain(&premade, 2) > gain(&solos, 2), "beaten by a premade costs less");

    // And a premade that loses to solos loses more than solos would.
    let lose = |party: u64| {
        ratings::rate(&[
            TeamOutcome { rank: 1, players: vec![(1, party, r), (2, party, r)] },
            TeamOutcome { rank: 0, players: vec![(3, 0, r), (4, 0, r)] },
        ])
    };
    assert!(gain(&lose(5), 0) < gain(&lose(0), 0));

    // Two premades of equal size cancel out: the same as two teams of solos.
    let both = ratings::rate(&[
        TeamOutcome { rank: 0, players: vec![(1, 5, r), (2, 5, r)] },
        TeamOutcome { rank: 1, players: vec![(3, 6, r), (4, 6, r)] },
    ]);
    assert_eq!(both, solos);

    // The documented rule, exactly: for the premade, it is as if the solos were PARTY_BONUS
    // points weaker.
    let weaker = Rating { rating: r.rating - PARTY_BONUS, ..r };
    let as_if = ratings::rate(&[
        TeamOutcome { rank: 0, players: vec![(1, 0, r), (2, 0, r)] },
        TeamOutcome { rank: 1, players: vec![(3, 0, weaker), (4, 0, weaker)] },
    ]);
    assert!((premade[0].2.rating - as_if[0].2.rating).abs() < 1e-9);
}

/// `rate` never panics on odd input: no teams, a team with nobody in it.
#[test]
fn rate_takes_odd_input_without_panicking() {
    assert!(ratings::rate(&[]).is_empty());
    let r = Rating::default();
    let out = ratings::rate(&[
        TeamOutcome { rank: 0, players: vec![(1, 0, r)] },
        TeamOutcome { rank: 1, players: vec![] },
    ]);
    assert_eq!(out, vec![(1, r, r)], "nobody to be rated against");
}
