//! Backfill: filling the place a player left in a running match with a searching ticket.
//!
//! An [`Opening`] is a backfill ticket: one free place on one team of a match that goes on.
//! [`fill`] gives each opening, longest waiting first, the searching solo ticket that keeps
//! the rules of a match with the players still in it and is nearest in rating: not already on
//! the match's roster (a leaver who queued again never goes back into it), its rating
//! within the larger of the two windows (the opening's rating is its team's), the match's
//! region acceptable for it, no block between it and anyone in the match, and in a mode with
//! roles, the leaver's role among those it accepts. A ticket fills one opening at most. Pure,
//! like the rest of the matcher; the matcher task runs it before the pass, on the same pool.

use super::{Candidate, PlayerId, Rules, TicketId, eligible};

/// One open place in a running match.
#[derive(Clone, Debug)]
pub struct Opening {
    /// The backfill ticket.
    pub id: TicketId,
    /// The rating the newcomer is matched against (the team's mean).
    pub rating: f64,
    /// Time waited since the place opened.
    pub waited_ms: u64,
    /// The match's region, an index into `Rules::regions`.
    pub region: usize,
    /// Everyone on the match's teams, leavers included: none of them may take the place, and
    /// none may be blocked with the newcomer.
    pub roster: Vec<PlayerId>,
    /// Players any of the roster blocked or was blocked by.
    pub blocked: Vec<PlayerId>,
    /// The leaver's role as a bit over `Rules::roles` (0: the mode has no roles).
    pub role: u32,
}

/// An opening and the ticket that fills it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    pub opening: TicketId,
    pub ticket: TicketId,
}

/// Fills what it can of `openings` from `pool` (see the module's rules).
pub fn fill(rules: &Rules, openings: &[Opening], pool: &[Candidate]) -> Vec<Fill> {
    let mut order: Vec<&Opening> = openings.iter().collect();
    order.sort_by(|a, b| b.waited_ms.cmp(&a.waited_ms).then(a.id.cmp(&b.id)));
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::new();
    for o in order {
        let best = pool.iter().filter(|c| !taken.contains(&c.id) && fits(rules, o, c)).min_by(|a, b| {
            let (da, db) = ((a.rating - o.rating).abs(), (b.rating - o.rating).abs());
            da.total_cmp(&db).then(b.waited_ms.cmp(&a.waited_ms)).then(a.id.cmp(&b.id))
        });
        if let Some(c) = best {
            taken.insert(c.id);
            out.push(Fill { opening: o.id, ticket: c.id });
        }
    }
    out
}

/// Whether ticket `c` may take opening `o`.
pub fn fits(rules: &Rules, o: &Opening, c: &Candidate) -> bool {
    let [m] = c.members.as_slice() else { return false };
    if eligible::ineligible(rules, c).is_some() {
        return false;
    }
    let window = rules.window(o.waited_ms).max(rules.window(c.waited_ms));
    if (c.rating - o.rating).abs() > window {
        return false;
    }
    let latency = c.latency_ms.get(o.region).copied().unwrap_or(u32::MAX);
    if latency == u32::MAX || latency > rules.max_latency_ms {
        return false;
    }
    if o.roster.contains(&m.player) {
        return false;
    }
    if o.blocked.contains(&m.player) || c.blocked.iter().any(|p| o.roster.contains(p)) {
        return false;
    }
    o.role == 0 || m.roles == 0 || m.roles & o.role != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::Member;

    fn rules() -> Rules {
        Rules {
            team_size: 3,
            teams: 2,
            roles: Vec::new(),
            rating_window: 100.0,
            widen_per_sec: 0.0,
            max_window: 100.0,
            regions: vec!["eu".into(), "us".into()],
            max_latency_ms: 100,
        }
    }

    fn solo(id: u64, rating: f64, latency: [u32; 2]) -> Candidate {
        Candidate {
            id,
            members: vec![Member { player: id * 10, rating, roles: 0 }],
            rating,
            waited_ms: 0,
            front: false,
            latency_ms: latency.to_vec(),
            blocked: Vec::new(),
        }
    }

    fn opening(id: u64, rating: f64) -> Opening {
        Opening { id, rating, waited_ms: 0, region: 0, roster: vec![1, 2, 3], blocked: Vec::new(), role: 0 }
    }

    #[test]
    fn the_nearest_rating_in_the_window_and_region_fills_the_place() {
        let pool = [solo(1, 1300.0, [20, 20]), solo(2, 1520.0, [20, 20]), solo(3, 1490.0, [500, 20])];
        let fills = fill(&rules(), &[opening(9, 1500.0)], &pool);
        assert_eq!(fills, vec![Fill { opening: 9, ticket: 2 }]);
    }

    #[test]
    fn parties_blocks_and_taken_tickets_are_left_out() {
        let mut party = solo(1, 1500.0, [20, 20]);
        party.members.push(Member { player: 11, rating: 1500.0, roles: 0 });
        let mut blocker = solo(2, 1500.0, [20, 20]);
        blocker.blocked = vec![3];
        let mut blocked = opening(8, 1500.0);
        blocked.blocked = vec![40];
        let pool = [party, blocker, solo(4, 1500.0, [20, 20])];
        // Opening 9 takes ticket 4; opening 8 blocked its player anyway, and nobody else fits.
        let fills = fill(&rules(), &[opening(9, 1500.0), blocked], &pool);
        assert_eq!(fills, vec![Fill { opening: 9, ticket: 4 }]);
        // Player 50 (ticket 5) left this match and queued again: never put back into it.
        let mut left = opening(7, 1500.0);
        left.roster.push(50);
        assert_eq!(fill(&rules(), &[left], &[solo(5, 1500.0, [20, 20])]), vec![]);
    }

    #[test]
    fn a_role_mode_fills_the_leavers_role() {
        let mut r = rules();
        r.roles = vec![
            crate::matcher::Role { name: "tank".into(), per_team: 1 },
            crate::matcher::Role { name: "dps".into(), per_team: 2 },
        ];
        let mut dps = solo(1, 1500.0, [20, 20]);
        dps.members[0].roles = 0b10;
        let mut tank = solo(2, 1600.0, [20, 20]);
        tank.members[0].roles = 0b01;
        let o = Opening { role: 0b01, ..opening(9, 1500.0) };
        assert_eq!(fill(&r, &[o], &[dps, tank]), vec![Fill { opening: 9, ticket: 2 }]);
    }
}
