//! Forms matches from a pool of tickets. Pure: no I/O, no clock, no randomness; the matcher task
//! calls [`pass`] on a snapshot of a queue, tests and the benchmark call it on any pool.
//!
//! # The rules a match keeps
//!
//! A match is `rules.teams` teams of exactly `rules.team_size` players, formed from whole
//! tickets: a ticket is a solo player or a party, and a party is never split across teams.
//!
//! - **Rating window.** A ticket's window is
//!   `min(max_window, rating_window + widen_per_sec * waited_seconds)` ([`Rules::window`]): it
//!   widens the longer the ticket waits. A match's tickets must lie within the widest window among
//!   them: `max rating - min rating <= max window` (ratings are the tickets' `rating`). For two
//!   tickets that is "their difference is within the larger of their two windows", so a long
//!   waiter pulls others in; for more, every ticket is within that long waiter's window of it.
//! - **Region.** A region is acceptable for a ticket if its latency there is at most
//!   `max_latency_ms` (`u32::MAX` and a missing entry mean unknown: never acceptable). A match
//!   needs a region acceptable for all its tickets and is played in the one among those that
//!   minimises the worst ticket's latency (ties: the lower index). Only the first 64 regions
//!   are considered.
//! - **Blocks.** No ticket's `blocked` list names a player of another ticket of the same match.
//!   (Blocks inside one party are its own business and ignored.)
//! - **Roles.** When the mode has roles, every team has exactly `per_team` players of each role
//!   and every player's role is one it accepts (`Member::roles`, a bitmask; 0 accepts any).
//! - **Balance.** Tickets go to teams so that the teams' sums of member ratings are close:
//!   largest tickets first, each into the team with the lowest sum that has room, then swaps of
//!   equal-sized tickets between teams while a swap narrows the gap between its two teams.
//!
//! A ticket that can never match whatever else is queued (a party larger than a team, a party
//! whose players cannot fill one team's roles, no acceptable region, a rating that is not a
//! number) is left out of every pass; [`ineligible`] says why, so the queue can refuse it up
//! front.
//!
//! # The pass
//!
//! Tickets are served in order: first those requeued after a failed ready check (`front`),
//! then by time waited, longest first (ties: lower ticket id). Each ticket not yet taken
//! anchors an attempt: its untaken neighbours within its own window are examined nearest
//! rating first, and each is added to the forming group if the group still keeps every rule
//! above with it (and the parties and roles can still be split into teams), until the group
//! has `team_size * teams` players. A full group becomes a [`Proposal`]; an anchor that cannot
//! fill one takes nothing, and stays available to later anchors. An attempt examines at most
//! `max(128, 16 * players per match)` neighbours, which bounds the work of anchors that cannot
//! match (the leftovers at the end of a pass). Neighbours are chosen by rating alone: latency
//! only decides who can join (a region shared with the group) and where the match is played.
//! The team searches are bounded too (4,096 party placements); a group they cannot settle
//! within that counts as one that does not fit.
//!
//! [`pass`] finds the neighbours in a rating-sorted array with skip links over the taken
//! tickets, so an attempt costs about the number of tickets it examines. [`naive_pass`] scans
//! the whole pool per anchor and sorts what it finds: it is the benchmark's baseline, and since
//! it examines the same tickets in the same order it returns the same proposals. The output
//! depends only on the pool's contents, not its order, as long as ticket ids are unique.
//!
//! [`backfill::fill`] fills the places players left in running matches (backfill tickets)
//! from the same pool, before the pass, by the same rules against the players still there.
//!
//! [`explain`] answers "why is this ticket not matched": the ticket's window and regions, the
//! nearest tickets by rating with the rule that keeps each apart from it, and the overall
//! reason (see [`Explanation`]).

pub mod backfill;
mod eligible;
mod group;
mod naive;
mod teams;
mod why;

pub use eligible::{Ineligible, ineligible};
pub use naive::naive_pass;
pub use why::{Blocker, Explanation, Misfit, Neighbour, Reason, explain};

use group::{Group, Step};

pub type TicketId = u64;
pub type PlayerId = u64;

/// A mode's matching rules (from config).
#[derive(Clone, Debug)]
pub struct Rules {
    /// Players per team.
    pub team_size: usize,
    /// Teams per match (>= 1; 1 = co-op).
    pub teams: usize,
    /// The roles every team fills; empty: the mode has no roles. At most 32.
    pub roles: Vec<Role>,
    /// A fresh ticket's window: the largest rating difference it accepts.
    pub rating_window: f64,
    /// How much a ticket's window grows per second it has waited.
    pub widen_per_sec: f64,
    /// The largest a window grows.
    pub max_window: f64,
    /// Region names; `Candidate::latency_ms` is indexed like this.
    pub regions: Vec<String>,
    /// A region is acceptable for a ticket only at or below this latency.
    pub max_latency_ms: u32,
}

/// A role every team fills with exactly `per_team` players. The `per_team` of a mode's roles
/// add up to its `team_size`.
#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub per_team: usize,
}

/// One player of a ticket.
#[derive(Clone, Debug)]
pub struct Member {
    pub player: PlayerId,
    /// Used for team balance.
    pub rating: f64,
    /// Bitmask over `Rules::roles` of the roles this player accepts; 0: any.
    pub roles: u32,
}

/// One ticket in the pool: a solo player or a whole party (never split).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: TicketId,
    pub members: Vec<Member>,
    /// The ticket's matching rating (computed by the caller, e.g. the mean of its members').
    pub rating: f64,
    /// Time waited, kept across requeues.
    pub waited_ms: u64,
    /// Requeued after a failed ready check: served first.
    pub front: bool,
    /// Per `Rules::regions` index; `u32::MAX`: unknown or unreachable.
    pub latency_ms: Vec<u32>,
    /// Players that any member blocked or was blocked by: never in the same match.
    pub blocked: Vec<PlayerId>,
}

/// A match to offer: its tickets, teams and region.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    /// The anchor first, then the others in the order they joined.
    pub tickets: Vec<TicketId>,
    /// `teams[t]`: the players of team t with the index of their role in `Rules::roles`
    /// (`None`: the mode has no roles).
    pub teams: Vec<Vec<(PlayerId, Option<usize>)>>,
    /// Index into `Rules::regions`.
    pub region: usize,
}

impl Rules {
    /// Players in one match.
    pub fn players_per_match(&self) -> usize {
        self.team_size * self.teams
    }

    /// The rating window of a ticket that has waited `waited_ms`.
    pub fn window(&self, waited_ms: u64) -> f64 {
        let widened = self.rating_window + self.widen_per_sec * (waited_ms as f64 / 1000.0);
        widened.min(self.max_window)
    }

    /// How many neighbours one attempt examines at most.
    fn examine_limit(&self) -> usize {
        (16 * self.players_per_match()).max(128)
    }
}

/// One matching pass: disjoint proposals (no ticket in two) over `pool`, in the order their
/// anchors were served. Ticket ids must be unique in the pool.
pub fn pass(rules: &Rules, pool: &[Candidate]) -> Vec<Proposal> {
    let mut entries = eligible::entries(rules, pool);
    // Rating order, ties by id, so the neighbours of a ticket are next to it.
    eligible::sort_by_rating(&mut entries);
    let order = eligible::service_order(&entries);
    let mut taken = Skips::new(entries.len());
    let mut group = Group::new(rules, pool, &entries);
    let limit = rules.examine_limit();
    let mut out = Vec::new();
    for &a in &order {
        let a = a as usize;
        if taken.is_taken(a) {
            continue;
        }
        let anchor = &entries[a];
        group.start(a);
        let (mut left, mut right) = (taken.left_of(a), taken.right_of(a));
        let mut examined = 0;
        let full = group.is_full()
            || loop {
                // The nearer of the next untaken neighbours below and above, within the window;
                // on a tie the one below, which is the order `naive_pass` sorts by.
                let below = left.map(|i| anchor.rating - entries[i].rating).filter(|d| *d <= anchor.window);
                let above = right.map(|i| entries[i].rating - anchor.rating).filter(|d| *d <= anchor.window);
                let go_left = match (below, above) {
                    (Some(b), Some(c)) => b <= c,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => break false,
                };
                if examined == limit {
                    break false;
                }
                examined += 1;
                let next = if go_left { left } else { right };
                let Some(next) = next else { break false };
                if go_left {
                    left = taken.left_of(next);
                } else {
                    right = taken.right_of(next);
                }
                if group.try_add(next) == Step::Full {
                    break true;
                }
            };
        if full && let Some(proposal) = group.finish() {
            for &i in group.chosen() {
                taken.take(i as usize);
            }
            out.push(proposal);
        }
    }
    out
}

/// Which entries of the rating-sorted array are taken, with links that skip runs of taken ones
/// (union-find with path halving), so finding the nearest untaken neighbour stays cheap as the
/// pass takes more and more tickets.
struct Skips {
    /// `up[i] == i`: i is untaken (index n is a sentinel); otherwise a link towards higher
    /// indices.
    up: Vec<u32>,
    /// The same towards lower indices, shifted by one: `down[i + 1]` is about entry i, and
    /// `down[0]` is the sentinel.
    down: Vec<u32>,
}

impl Skips {
    fn new(n: usize) -> Skips {
        let links: Vec<u32> = (0..=n as u32).collect();
        Skips { up: links.clone(), down: links }
    }

    fn find(links: &mut [u32], mut i: usize) -> usize {
        while links[i] as usize != i {
            let parent = links[i] as usize;
            links[i] = links[parent];
            i = parent;
        }
        i
    }

    fn is_taken(&self, i: usize) -> bool {
        self.up[i] as usize != i
    }

    fn take(&mut self, i: usize) {
        self.up[i] = i as u32 + 1;
        self.down[i + 1] = i as u32;
    }

    /// The nearest untaken entry above `i`.
    fn right_of(&mut self, i: usize) -> Option<usize> {
        let j = Self::find(&mut self.up, i + 1);
        (j + 1 < self.up.len()).then_some(j)
    }

    /// The nearest untaken entry below `i`.
    fn left_of(&mut self, i: usize) -> Option<usize> {
        let j = Self::find(&mut self.down, i);
        j.checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::Skips;

    #[test]
    fn skips_find_the_nearest_untaken_entries() {
        let mut s = Skips::new(6);
        assert_eq!((s.left_of(0), s.right_of(5)), (None, None));
        for i in [1, 2, 4] {
            s.take(i);
        }
        assert_eq!((s.left_of(3), s.right_of(3)), (Some(0), Some(5)));
        assert_eq!((s.left_of(5), s.right_of(0)), (Some(3), Some(3)));
        s.take(0);
        s.take(5);
        assert_eq!((s.left_of(3), s.right_of(3)), (None, None));
        assert!(s.is_taken(2) && !s.is_taken(3));
    }
}
