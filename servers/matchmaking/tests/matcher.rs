//! The matcher's rules, checked on constructed pools and on random ones: every proposal keeps
//! every rule (checked here independently of the matcher's code), the indexed pass and the naive
//! baseline agree, and `explain` names the rule that keeps tickets apart.
#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::{HashMap, HashSet};

use mmo_matchmaking::matcher::{
    Blocker, Candidate, Ineligible, Member, Misfit, Proposal, Reason, Role, Rules, explain, naive_pass, pass,
};
use proptest::prelude::*;

fn rules(team_size: usize, teams: usize) -> Rules {
    Rules {
        team_size,
        teams,
        roles: Vec::new(),
        rating_window: 100.0,
        widen_per_sec: 10.0,
        max_window: 500.0,
        regions: vec!["eu".into(), "us".into(), "asia".into()],
        max_latency_ms: 100,
    }
}

/// A solo: player id = ticket id, acceptable everywhere.
fn solo(id: u64, rating: f64) -> Candidate {
    party(id, &[rating])
}

/// A party: players `id * 100 + k`, the ticket's rating the mean of its members'.
fn party(id: u64, ratings: &[f64]) -> Candidate {
    let members: Vec<Member> = ratings
        .iter()
        .enumerate()
        .map(|(k, &rating)| Member {
            player: if ratings.len() == 1 { id } else { id * 100 + k as u64 },
            rating,
            roles: 0,
        })
        .collect();
    Candidate {
        id,
        rating: ratings.iter().sum::<f64>() / ratings.len() as f64,
        members,
        waited_ms: 0,
        front: false,
        latency_ms: vec![30, 30, 30],
        blocked: Vec::new(),
    }
}

fn waited(mut c: Candidate, secs: u64) -> Candidate {
    c.waited_ms = secs * 1000;
    c
}

fn ids(p: &Proposal) -> HashSet<u64> {
    p.tickets.iter().copied().collect()
}

fn team_sums(p: &Proposal, pool: &[Candidate]) -> Vec<f64> {
    let rating: HashMap<u64, f64> =
        pool.iter().flat_map(|c| c.members.iter().map(|m| (m.player, m.rating))).collect();
    p.teams.iter().map(|t| t.iter().map(|(pl, _)| rating[pl]).sum()).collect()
}

/// Every rule a proposal must keep, checked from the rules' text rather than the matcher's code.
fn check(rules: &Rules, pool: &[Candidate], proposals: &[Proposal]) {
    let by_id: HashMap<u64, &Candidate> = pool.iter().map(|c| (c.id, c)).collect();
    let window = |c: &Candidate| {
        (rules.rating_window + rules.widen_per_sec * c.waited_ms as f64 / 1000.0).min(rules.max_window)
    };
    let acceptable =
        |c: &Candidate, r: usize| c.latency_ms.get(r).is_some_and(|&l| l <= rules.max_latency_ms);
    let mut seen = HashSet::new();
    for p in proposals {
        let tickets: Vec<&Candidate> = p.tickets.iter().map(|t| by_id[t]).collect();
        for t in &p.tickets {
            assert!(seen.insert(*t), "ticket {t} in two proposals");
        }
        // Sizes: exact teams, the players are exactly the tickets' members.
        assert_eq!(p.teams.len(), rules.teams);
        for team in &p.teams {
            assert_eq!(team.len(), rules.team_size, "{p:?}");
        }
        let mut placed: Vec<u64> = p.teams.iter().flatten().map(|(pl, _)| *pl).collect();
        let mut members: Vec<u64> = tickets.iter().flat_map(|c| c.members.iter().map(|m| m.player)).collect();
        placed.sort_unstable();
        members.sort_unstable();
        assert_eq!(placed, members);
        // Parties whole.
        let team_of: HashMap<u64, usize> = p
            .teams
            .iter()
            .enumerate()
            .flat_map(|(t, team)| team.iter().map(move |(pl, _)| (*pl, t)))
            .collect();
        for c in &tickets {
            let t = team_of[&c.members[0].player];
            assert!(c.members.iter().all(|m| team_of[&m.player] == t), "party {} split", c.id);
        }
        // Blocks, either direction.
        for a in &tickets {
            for b in &tickets {
                if a.id != b.id {
                    assert!(
                        !b.members.iter().any(|m| a.blocked.contains(&m.player)),
                        "blocked pair {} {} together",
                        a.id,
                        b.id
                    );
                }
            }
        }
        // Region: acceptable for all, and the lowest worst latency among those.
        assert!(tickets.iter().all(|c| acceptable(c, p.region)), "region {} not acceptable: {p:?}", p.region);
        let worst = |r: usize| tickets.iter().map(|c| c.latency_ms[r]).max().unwrap();
        for r in 0..rules.regions.len() {
            if tickets.iter().all(|c| acceptable(c, r)) {
                assert!(worst(r) >= worst(p.region), "region {r} beats {}", p.region);
            }
        }
        // Rating: the spread within the widest window of the match.
        let lo = tickets.iter().map(|c| c.rating).fold(f64::INFINITY, f64::min);
        let hi = tickets.iter().map(|c| c.rating).fold(f64::NEG_INFINITY, f64::max);
        let widest = tickets.iter().map(|c| window(c)).fold(f64::NEG_INFINITY, f64::max);
        assert!(hi - lo <= widest, "spread {} over window {widest}", hi - lo);
        // Roles: each team fills each exactly, every player in one it accepts.
        let mask: HashMap<u64, u32> =
            tickets.iter().flat_map(|c| c.members.iter().map(|m| (m.player, m.roles))).collect();
        for team in &p.teams {
            if rules.roles.is_empty() {
                assert!(team.iter().all(|(_, r)| r.is_none()));
                continue;
            }
            for (pl, role) in team {
                let r = role.expect("a role in a mode with roles");
                assert!(mask[pl] == 0 || mask[pl] & (1 << r) != 0, "player {pl} in role {r} it refuses");
            }
            for (r, role) in rules.roles.iter().enumerate() {
                assert_eq!(team.iter().filter(|(_, x)| *x == Some(r)).count(), role.per_team);
            }
        }
    }
}

/// Without roles: no swap of two equal-sized tickets between two teams narrows their gap.
fn check_balanced(rules: &Rules, pool: &[Candidate], proposals: &[Proposal]) {
    if !rules.roles.is_empty() {
        return;
    }
    let by_id: HashMap<u64, &Candidate> = pool.iter().map(|c| (c.id, c)).collect();
    for p in proposals {
        let sums = team_sums(p, pool);
        let team =
            |c: &Candidate| p.teams.iter().position(|t| t.iter().any(|(pl, _)| *pl == c.members[0].player));
        let sum = |c: &Candidate| c.members.iter().map(|m| m.rating).sum::<f64>();
        for a in &p.tickets {
            for b in &p.tickets {
                let (a, b) = (by_id[a], by_id[b]);
                let (ta, tb) = (team(a).unwrap(), team(b).unwrap());
                if ta == tb || a.members.len() != b.members.len() {
                    continue;
                }
                let gap = sums[ta] - sums[tb];
                let after = gap - 2.0 * (sum(a) - sum(b));
                assert!(
                    after.abs() >= gap.abs() - 1e-6,
                    "swapping {} and {} balances better: {p:?}",
                    a.id,
                    b.id
                );
            }
        }
    }
}

#[test]
fn two_close_solos_are_matched_one_against_one() {
    let r = rules(1, 2);
    let pool = vec![solo(1, 1500.0), solo(2, 1550.0)];
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1);
    assert_eq!(ids(&out[0]), HashSet::from([1, 2]));
    assert_eq!(out[0].teams.len(), 2);
    check(&r, &pool, &out);
}

#[test]
fn far_ratings_match_only_once_either_has_waited_long_enough() {
    // 300 apart; the window starts at 100 and widens by 10 per second.
    let r = rules(1, 2);
    assert!(pass(&r, &[solo(1, 1500.0), solo(2, 1800.0)]).is_empty());
    assert!(pass(&r, &[waited(solo(1, 1500.0), 19), solo(2, 1800.0)]).is_empty());
    // The larger of the two windows counts: one long waiter pulls the other in.
    assert_eq!(pass(&r, &[waited(solo(1, 1500.0), 20), solo(2, 1800.0)]).len(), 1);
    assert_eq!(pass(&r, &[solo(1, 1500.0), waited(solo(2, 1800.0), 25)]).len(), 1);
    // The window stops at max_window (500) however long the wait.
    assert!(pass(&r, &[waited(solo(1, 1500.0), 3600), solo(2, 2001.0)]).is_empty());
}

#[test]
fn parties_are_never_split_and_teams_are_balanced() {
    // Two teams of three: a party of two, four solos. The best split puts the party (3200)
    // with the 1600 and the rest together: 4800 each.
    let r = Rules { rating_window: 400.0, ..rules(3, 2) };
    let pool =
        vec![party(1, &[1600.0, 1600.0]), solo(2, 1800.0), solo(3, 1600.0), solo(4, 1400.0), solo(5, 1600.0)];
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1);
    check(&r, &pool, &out);
    let sums = team_sums(&out[0], &pool);
    assert_eq!(sums[0], sums[1], "{out:?}");

    // Six solos: largest first into the lower team gives 1800+1700+1700 against
    // 1800+1700+1500 (200 apart); swapping a 1800 for a 1700 evens them at 5100.
    let pool: Vec<Candidate> = [1800.0, 1800.0, 1700.0, 1700.0, 1700.0, 1500.0]
        .iter()
        .zip(1..)
        .map(|(&r, id)| solo(id, r))
        .collect();
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1);
    check(&r, &pool, &out);
    assert_eq!(team_sums(&out[0], &pool), vec![5100.0, 5100.0], "{out:?}");

    // Parties of 3, 3, 2, 2, 2 into two teams of six: the largest-first greedy cannot place
    // them (3+3 / 2+2 then a 2 left over), but a split exists and is found.
    let r = Rules { rating_window: 400.0, ..rules(6, 2) };
    let pool = vec![
        party(1, &[1500.0; 3]),
        party(2, &[1500.0; 3]),
        party(3, &[1500.0; 2]),
        party(4, &[1500.0; 2]),
        party(5, &[1500.0; 2]),
    ];
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1);
    check(&r, &pool, &out);
}

#[test]
fn a_full_party_in_a_co_op_mode_is_a_match_on_its_own() {
    let r = rules(3, 1);
    let pool = vec![party(1, &[1500.0; 3]), solo(2, 1500.0), party(3, &[1500.0; 2])];
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].tickets, vec![1]);
    assert_eq!(ids(&out[1]), HashSet::from([2, 3]));
    check(&r, &pool, &out);
    assert_eq!(out, naive_pass(&r, &pool));
}

#[test]
fn a_party_larger_than_a_team_never_matches() {
    let r = rules(2, 2);
    let pool = vec![party(1, &[1500.0; 3]), solo(2, 1500.0)];
    assert!(pass(&r, &pool).is_empty());
    let why = explain(&r, &pool, 1).unwrap();
    assert_eq!(why.reason, Reason::Ineligible(Ineligible::PartyTooLarge { size: 3, team_size: 2 }));
    assert!(why.to_string().contains("party of 3 is larger than a team (2)"), "{why}");
}

#[test]
fn a_blocked_pair_is_never_in_one_match() {
    let r = rules(1, 2);
    // Ticket 1 waited longest and anchors; ticket 2 is nearest but blocked, in either direction.
    for one_way in [true, false] {
        let mut a = waited(solo(1, 1500.0), 10);
        let mut b = solo(2, 1500.0);
        if one_way {
            a.blocked.push(2);
        } else {
            b.blocked.push(1);
        }
        let pool = vec![a, b, solo(3, 1530.0)];
        let out = pass(&r, &pool);
        assert_eq!(out.len(), 1);
        assert_eq!(ids(&out[0]), HashSet::from([1, 3]));
        check(&r, &pool, &out);
    }
}

#[test]
fn the_region_minimises_the_worst_latency_among_acceptable_ones() {
    let r = rules(1, 2);
    // asia is best for ticket 1 but over the limit for ticket 2; of eu (worst 80) and us
    // (worst 90), eu wins.
    let mut a = solo(1, 1500.0);
    a.latency_ms = vec![50, 90, 10];
    let mut b = solo(2, 1500.0);
    b.latency_ms = vec![80, 40, 200];
    let out = pass(&r, &[a.clone(), b.clone()]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].region, 0);

    // No region acceptable for both: no match.
    b.latency_ms = vec![150, u32::MAX, 20];
    a.latency_ms = vec![50, 60, 120];
    assert!(pass(&r, &[a, b]).is_empty());
}

#[test]
fn roles_are_filled_in_every_team() {
    let mut r = rules(3, 2);
    r.rating_window = 300.0;
    r.roles = vec![
        Role { name: "tank".into(), per_team: 1 },
        Role { name: "healer".into(), per_team: 1 },
        Role { name: "dps".into(), per_team: 1 },
    ];
    let with_roles = |mut c: Candidate, masks: &[u32]| {
        for (m, &mask) in c.members.iter_mut().zip(masks) {
            m.roles = mask;
        }
        c
    };
    let (tank, healer, dps) = (1, 2, 4);
    let pool = vec![
        with_roles(waited(solo(1, 1500.0), 5), &[dps]),
        with_roles(solo(2, 1510.0), &[dps]),
        with_roles(solo(3, 1520.0), &[dps]), // a third dps: one too many
        with_roles(solo(4, 1530.0), &[tank | dps]),
        with_roles(solo(5, 1540.0), &[0]),
        with_roles(party(6, &[1550.0, 1550.0]), &[tank, healer]),
        with_roles(solo(7, 1560.0), &[healer]),
    ];
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1, "{out:?}");
    check(&r, &pool, &out);
    // The third dps is left out; the flexible players fill the second team's tank and healer.
    assert_eq!(ids(&out[0]), HashSet::from([1, 2, 4, 5, 6]), "{out:?}");

    // A party of two tanks can never fill one team's roles.
    let pool = vec![with_roles(party(1, &[1500.0, 1500.0]), &[tank, tank])];
    assert_eq!(explain(&r, &pool, 1).unwrap().reason, Reason::Ineligible(Ineligible::RolesUnfillable));
}

#[test]
fn front_tickets_are_served_first() {
    let r = rules(1, 2);
    // Without `front`, ticket 2 (the longest waiter) anchors and takes ticket 3, the nearer.
    let pool = vec![solo(1, 1490.0), waited(solo(2, 1500.0), 60), solo(3, 1505.0)];
    assert_eq!(ids(&pass(&r, &pool)[0]), HashSet::from([2, 3]));
    // Requeued after a failed ready check, ticket 1 is served first and takes ticket 2.
    let mut pool = pool;
    pool[0].front = true;
    let out = pass(&r, &pool);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].tickets[0], 1);
    assert_eq!(ids(&out[0]), HashSet::from([1, 2]));
}

#[test]
fn explain_names_the_rule_that_keeps_tickets_apart() {
    let r = rules(1, 2);
    let mut blocked = solo(2, 1505.0);
    blocked.blocked.push(1);
    let mut elsewhere = solo(3, 1510.0);
    elsewhere.latency_ms = vec![u32::MAX, u32::MAX, 40];
    let mut far_east = solo(4, 1520.0);
    far_east.latency_ms = vec![u32::MAX, u32::MAX, 40];
    let mut me = solo(1, 1500.0);
    me.latency_ms = vec![30, 70, 250];
    let pool = vec![me, blocked, elsewhere, far_east, solo(5, 1800.0), party(6, &[1500.0, 1500.0])];
    let why = explain(&r, &pool, 1).unwrap();
    let rule = |t: u64| why.nearest.iter().find(|n| n.ticket == t).unwrap().blocker.clone();
    assert_eq!(rule(2), Blocker::Blocked { ticket: 2, player: 1 });
    assert_eq!(rule(3), Blocker::NoCommonRegion);
    // 3 and 4 match each other.
    assert_eq!(rule(4), Blocker::NoCommonRegion);
    assert_eq!(rule(5), Blocker::RatingWindow { difference: 300.0, window: 100.0 });
    assert_eq!(rule(6), Blocker::Ineligible(Ineligible::PartyTooLarge { size: 2, team_size: 1 }));
    assert_eq!(why.reason, Reason::NotEnoughPlayers { needed: 2, available: 1 });
    assert_eq!(why.regions, vec!["eu".to_string(), "us".to_string()]);
    assert_eq!(why.nearest[0].ticket, 6, "nearest first");
    let text = why.to_string();
    for line in [
        "ticket 1: rating 1500, waited 0.0 s, window 100, regions eu, us",
        "not enough players: a match needs 2, 1 compatible",
        "ticket 2 (rating 1505, +5, 1 player): blocked: ticket 2's block list names player 1",
        "ticket 3 (rating 1510, +10, 1 player): no common region",
        "ticket 5 (rating 1800, +300, 1 player): rating window: difference 300 is over the window 100",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(explain(&r, &pool, 99).is_none());
}

#[test]
fn explain_tells_taken_and_compatible_neighbours_apart() {
    let r = rules(1, 2);
    // 1 and 2 (the longest waiters) match; 3 is compatible with 2 but left alone.
    let pool = vec![waited(solo(1, 1500.0), 30), waited(solo(2, 1510.0), 20), solo(3, 1650.0)];
    let why = explain(&r, &pool, 3).unwrap();
    let rule = |t: u64| why.nearest.iter().find(|n| n.ticket == t).unwrap().blocker.clone();
    assert_eq!(rule(2), Blocker::MatchedElsewhere { anchor: 1 });
    assert_eq!(rule(1), Blocker::MatchedElsewhere { anchor: 1 });
    assert_eq!(why.reason, Reason::NotEnoughPlayers { needed: 2, available: 1 });

    let why = explain(&r, &pool, 2).unwrap();
    assert_eq!(why.reason, Reason::WouldMatch { tickets: vec![1, 2], region: "eu".into() });
    assert_eq!(why.nearest.iter().find(|n| n.ticket == 1).unwrap().blocker, Blocker::Compatible);

    // Two parties of three cannot share a match of one team of four.
    let r = rules(4, 1);
    let pool = vec![party(1, &[1500.0; 3]), party(2, &[1500.0; 3])];
    let why = explain(&r, &pool, 1).unwrap();
    assert_eq!(why.nearest[0].blocker, Blocker::DoesNotFit(Misfit::TooManyPlayers { players: 6, needed: 4 }));
}

#[test]
fn explain_says_when_enough_players_cannot_form_a_group() {
    // Ticket 1 is compatible with 2 and 3, but they block each other, and a match needs all.
    let r = rules(1, 3);
    let mut b = solo(2, 1500.0);
    b.blocked.push(3);
    let pool = vec![solo(1, 1500.0), b, solo(3, 1500.0)];
    assert!(pass(&r, &pool).is_empty());
    let why = explain(&r, &pool, 1).unwrap();
    assert_eq!(why.reason, Reason::NoCompatibleGroup { needed: 3, available: 3 });
}

// Random pools.

fn arb_rules() -> impl Strategy<Value = Rules> {
    (1usize..=4, 1usize..=3, any::<bool>(), 20.0f64..300.0, 0.0f64..20.0, 0.0f64..500.0, 1usize..=4).prop_map(
        |(team_size, teams, with_roles, rating_window, widen_per_sec, extra, regions)| {
            let roles = if with_roles && team_size >= 2 {
                vec![
                    Role { name: "front".into(), per_team: 1 },
                    Role { name: "back".into(), per_team: team_size - 1 },
                ]
            } else {
                Vec::new()
            };
            Rules {
                team_size,
                teams,
                roles,
                rating_window,
                widen_per_sec,
                max_window: rating_window + extra,
                regions: (0..regions).map(|r| format!("r{r}")).collect(),
                max_latency_ms: 100,
            }
        },
    )
}

/// Tickets with unique ids and players; blocks name players of the pool; some parties too large.
fn arb_pool() -> impl Strategy<Value = Vec<Candidate>> {
    let ticket = (
        1usize..=4,
        // Round ratings too, so equal ratings (ties in the neighbour order) are common.
        prop_oneof![800.0f64..2200.0, (32u32..88).prop_map(|x| f64::from(x) * 25.0)],
        0u64..120_000,
        prop::bool::weighted(0.1),
        prop::collection::vec(prop_oneof![3 => 10u32..100, 1 => 100u32..200, 1 => Just(u32::MAX)], 4),
        prop::collection::vec((0u64..60, 0u64..4), 0..2),
        // Over two roles: 0 any, 1-3 one or both, 4-7 also a role the mode does not have.
        prop::collection::vec(0u32..8, 4),
        prop::collection::vec(-100.0f64..100.0, 4),
    );
    prop::collection::vec(ticket, 0..60).prop_map(|tickets| {
        tickets
            .into_iter()
            .enumerate()
            .map(|(i, (size, rating, waited_ms, front, latency_ms, blocked, roles, spread))| {
                let id = i as u64;
                // Mostly solos.
                let size = if i % 3 != 0 { 1 } else { size };
                Candidate {
                    id,
                    members: (0..size)
                        .map(|k| Member {
                            player: if size == 1 { id } else { 1000 + id * 10 + k as u64 },
                            rating: rating + spread[k],
                            roles: roles[k],
                        })
                        .collect(),
                    rating,
                    waited_ms,
                    front,
                    latency_ms,
                    // A solo's player or a party member, maybe of no ticket in the pool.
                    blocked: blocked
                        .into_iter()
                        .map(|(t, k)| if k == 0 { t } else { 1000 + t * 10 + k - 1 })
                        .collect(),
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_proposal_keeps_every_rule(r in arb_rules(), pool in arb_pool()) {
        let fast = pass(&r, &pool);
        check(&r, &pool, &fast);
        check_balanced(&r, &pool, &fast);
        let naive = naive_pass(&r, &pool);
        check(&r, &pool, &naive);
        // The same neighbours in the same order: the same proposals.
        prop_assert_eq!(&fast, &naive);
        // The pool's order does not matter.
        let mut reversed = pool.clone();
        reversed.reverse();
        prop_assert_eq!(&fast, &pass(&r, &reversed));
    }

    #[test]
    fn solos_that_all_fit_together_are_all_matched_but_the_remainder(
        team_size in 1usize..=5,
        teams in 1usize..=3,
        offsets in prop::collection::vec(0.0f64..=1.0, 0..80),
    ) {
        let r = rules(team_size, teams);
        let pool: Vec<Candidate> =
            offsets.iter().zip(1..).map(|(x, id)| solo(id, 1500.0 + x * r.rating_window)).collect();
        let out = pass(&r, &pool);
        check(&r, &pool, &out);
        prop_assert_eq!(out.len(), pool.len() / r.players_per_match());
    }

    #[test]
    fn explain_agrees_with_the_pass(r in arb_rules(), pool in arb_pool()) {
        let out = pass(&r, &pool);
        let matched: HashSet<u64> = out.iter().flat_map(|p| p.tickets.iter().copied()).collect();
        for c in &pool {
            let why = explain(&r, &pool, c.id).unwrap();
            match &why.reason {
                Reason::WouldMatch { tickets, .. } => {
                    prop_assert!(matched.contains(&c.id));
                    prop_assert!(tickets.contains(&c.id));
                }
                Reason::NotEnoughPlayers { needed, available } => {
                    prop_assert!(!matched.contains(&c.id));
                    prop_assert!(available < needed);
                }
                _ => prop_assert!(!matched.contains(&c.id)),
            }
            prop_assert!(why.nearest.len() <= 10);
            let _ = why.to_string();
        }
    }
}
