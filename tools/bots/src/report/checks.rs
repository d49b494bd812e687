//! The `match` scenario's checks over what every bot saw (the merged [`Ledger`]): no ticket
//! started in two matches, no player in two matches at once, and every player of a match told
//! the same teams. Each bot sees only its own side; a ticket matched twice or a roster that
//! overlaps another match shows only when the sides are put together.
//!
//! A player's stay in a match runs from its MatchStartNtf to its LeaveInstanceResp. Two stays of
//! one player that overlap are two matches at once. So is a match whose roster lists a player
//! that was, when the match's first player heard of it, still in another match and never heard
//! of this one: the bots queue only once out of their last match (a party's leader waits for its
//! members), so a correct server cannot have matched such a player yet.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::tally::{Ledger, Stay};

/// Violations described at most; the counts go on.
const MAX_EXAMPLES: usize = 10;

/// The checks' verdict.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MatchChecks {
    /// Tickets that were started in more than one match.
    pub tickets_matched_twice: u64,
    /// Players that were in two matches at once.
    pub players_in_two_matches: u64,
    /// MatchStartNtfs that disagree with another of the same match, or do not list their
    /// receiver in its team, or list a player twice.
    pub rosters_disagreeing: u64,
    /// The first few violations, described.
    pub examples: Vec<String>,
}

impl MatchChecks {
    pub fn run(ledger: &Ledger) -> MatchChecks {
        let mut checks = MatchChecks { rosters_disagreeing: ledger.disagreeing, ..MatchChecks::default() };
        for why in &ledger.disagreements {
            checks.example(why.clone());
        }
        checks.tickets(ledger);
        checks.players(ledger);
        checks
    }

    pub fn passed(&self) -> bool {
        self.tickets_matched_twice == 0 && self.players_in_two_matches == 0 && self.rosters_disagreeing == 0
    }

    fn example(&mut self, why: String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(why);
        }
    }

    /// Every ticket in at most one match.
    fn tickets(&mut self, ledger: &Ledger) {
        let mut matches: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
        for (ticket, match_id) in &ledger.tickets {
            matches.entry(*ticket).or_default().insert(match_id);
        }
        for (ticket, ids) in matches.into_iter().filter(|(_, ids)| ids.len() > 1) {
            self.tickets_matched_twice += 1;
            self.example(format!("ticket {ticket} started in matches {ids:?}"));
        }
    }

    /// Every player in at most one match at a time: its own stays do not overlap, and no roster
    /// claims it while it was in another match without telling it.
    fn players(&mut self, ledger: &Ledger) {
        let mut stays: BTreeMap<u64, Vec<&Stay>> = BTreeMap::new();
        for s in &ledger.stays {
            stays.entry(s.player).or_default().push(s);
        }
        let mut caught = BTreeSet::new();
        for (player, list) in &mut stays {
            list.sort_by_key(|s| s.from);
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                if a.until.is_none_or(|until| b.from < until) {
                    caught.insert(*player);
                    self.example(format!(
                        "player {player} started in match {} while still in match {}",
                        b.match_id, a.match_id
                    ));
                }
            }
        }
        for (match_id, roster) in &ledger.rosters {
            for player in roster.teams.iter().flatten() {
                let Some(list) = stays.get(player) else { continue };
                if list.iter().any(|s| &s.match_id == match_id) {
                    continue;
                }
                let inside =
                    list.iter().find(|s| s.from <= roster.told && s.until.is_none_or(|u| roster.told < u));
                if let Some(s) = inside {
                    caught.insert(*player);
                    self.example(format!(
                        "player {player} is on match {match_id}'s roster, which started while it was in \
                         match {} and never told it",
                        s.match_id
                    ));
                }
            }
        }
        self.players_in_two_matches = caught.len() as u64;
    }

    /// Why the run failed, as far as the checks go.
    pub(crate) fn failures(&self, why: &mut Vec<String>) {
        if self.passed() {
            return;
        }
        why.push(format!(
            "matchmaking checks failed: {} tickets matched twice, {} players in two matches at once, {} \
             rosters disagreeing (e.g. {})",
            self.tickets_matched_twice,
            self.players_in_two_matches,
            self.rosters_disagreeing,
            self.examples.first().map_or("-", String::as_str)
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;

    fn stay(player: u64, match_id: &str, from_ms: u64, until_ms: Option<u64>, t0: Instant) -> Stay {
        let at = |ms| t0 + Duration::from_millis(ms);
        Stay { player, match_id: match_id.into(), from: at(from_ms), until: until_ms.map(at) }
    }

    #[test]
    fn clean_runs_pass_and_each_kind_of_violation_is_caught() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        // Players 1 and 2 play m1 then m2, one after the other; the tickets are all different.
        let mut clean = Ledger::default();
        clean.told(1, "m1", vec![vec![1], vec![2]], 0, false, at(0));
        clean.told(2, "m1", vec![vec![1], vec![2]], 1, false, at(1));
        clean.told(1, "m2", vec![vec![2], vec![1]], 1, false, at(3000));
        clean.tickets.extend([(10, "m1".to_owned()), (11, "m1".to_owned()), (12, "m2".to_owned())]);
        clean.stays.extend([
            stay(1, "m1", 0, Some(2000), t0),
            stay(2, "m1", 1, Some(2500), t0),
            stay(1, "m2", 3000, Some(5000), t0),
        ]);
        let checks = MatchChecks::run(&clean);
        assert!(checks.passed(), "{checks:?}");
        assert!(checks.examples.is_empty());

        // A ticket started twice.
        let mut twice = Ledger::default();
        twice.tickets.extend([(10, "m1".to_owned()), (10, "m2".to_owned()), (11, "m1".to_owned())]);
        let checks = MatchChecks::run(&twice);
        assert_eq!((checks.tickets_matched_twice, checks.players_in_two_matches), (1, 0));
        assert!(checks.examples[0].contains("ticket 10"), "{checks:?}");

        // A start while still in a match (never let out of it, or not yet out).
        for until in [None, Some(4000)] {
            let mut overlap = Ledger::default();
            overlap.stays.extend([stay(1, "m1", 0, until, t0), stay(1, "m2", 3000, Some(5000), t0)]);
            let checks = MatchChecks::run(&overlap);
            assert_eq!(checks.players_in_two_matches, 1, "{until:?}");
            assert!(!checks.passed());
        }

        // Player 2 is on m2's roster while still in m1, and was never told of m2.
        let mut claimed = Ledger::default();
        claimed.told(1, "m2", vec![vec![1], vec![2]], 0, false, at(1000));
        claimed.stays.extend([stay(2, "m1", 0, Some(2000), t0), stay(1, "m2", 1000, Some(3000), t0)]);
        let checks = MatchChecks::run(&claimed);
        assert_eq!(checks.players_in_two_matches, 1, "{checks:?}");
        assert!(checks.examples[0].contains("player 2"), "{checks:?}");
        // Had m2 started after player 2 left m1, it would merely have missed the start.
        let mut later = Ledger::default();
        later.told(1, "m2", vec![vec![1], vec![2]], 0, false, at(2500));
        later.stays.extend([stay(2, "m1", 0, Some(2000), t0), stay(1, "m2", 2500, Some(3000), t0)]);
        assert!(MatchChecks::run(&later).passed());
    }

    #[test]
    fn rosters_must_agree_and_list_their_receiver_once() {
        let t0 = Instant::now();
        let mut a = Ledger::default();
        a.told(1, "m1", vec![vec![1], vec![2]], 0, false, t0);
        let mut b = Ledger::default();
        b.told(2, "m1", vec![vec![1], vec![3]], 1, false, t0);
        a.merge(b);
        // Player 2 is not in team 1 of what it was told, and the teams differ from player 1's.
        assert_eq!(MatchChecks::run(&a).rosters_disagreeing, 2);

        let mut twice = Ledger::default();
        twice.told(1, "m1", vec![vec![1, 2], vec![2]], 0, false, t0);
        let checks = MatchChecks::run(&twice);
        assert_eq!(checks.rosters_disagreeing, 1);
        assert!(checks.examples[0].contains("listed twice"), "{checks:?}");
        let mut why = Vec::new();
        checks.failures(&mut why);
        assert!(why[0].starts_with("matchmaking checks failed"), "{why:?}");
    }

    #[test]
    fn a_backfill_may_only_grow_the_teams() {
        let t0 = Instant::now();
        // The newcomer's notice first (another bot's ledger), then the start's: teams grew.
        let mut grown = Ledger::default();
        grown.told(3, "m1", vec![vec![1, 3], vec![2]], 0, true, t0);
        let mut start = Ledger::default();
        start.told(1, "m1", vec![vec![1], vec![2]], 0, false, t0);
        grown.merge(start);
        assert_eq!(MatchChecks::run(&grown).rosters_disagreeing, 0);
        // A backfill that drops a player of the start disagrees, in either order.
        let mut dropped = Ledger::default();
        dropped.told(1, "m1", vec![vec![1], vec![2]], 0, false, t0);
        dropped.told(3, "m1", vec![vec![3], vec![2]], 0, true, t0);
        assert_eq!(MatchChecks::run(&dropped).rosters_disagreeing, 1);
    }
}
