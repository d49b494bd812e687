//! The group an anchor is forming: it takes a neighbour only if every rule still holds with it,
//! and turns into a proposal once full. Shared by [`super::pass`], [`super::naive_pass`] and
//! [`super::explain`], so all three apply the rules the same way.

use super::eligible::Entry;
use super::teams::{Arranger, best_region};
use super::{Candidate, PlayerId, Proposal, Rules, TicketId};

/// What adding a neighbour did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// It breaks a rule with the group: left out.
    Rejected,
    /// Taken; the group still needs players.
    Added,
    /// Taken, and the group is full.
    Full,
}

pub(super) struct Group<'p> {
    pool: &'p [Candidate],
    entries: &'p [Entry],
    need: usize,
    /// Entry indices, anchor first.
    chosen: Vec<u32>,
    /// The same tickets.
    tickets: Vec<&'p Candidate>,
    /// Whether some ticket of the group has a block list.
    any_blocked: bool,
    size: usize,
    lo: f64,
    hi: f64,
    /// The widest window in the group.
    width: f64,
    /// Regions acceptable for every ticket so far.
    regions: u64,
    arranger: Arranger,
}

impl<'p> Group<'p> {
    pub fn new(rules: &Rules, pool: &'p [Candidate], entries: &'p [Entry]) -> Group<'p> {
        Group {
            pool,
            entries,
            need: rules.players_per_match(),
            chosen: Vec::new(),
            tickets: Vec::new(),
            any_blocked: false,
            size: 0,
            lo: 0.0,
            hi: 0.0,
            width: 0.0,
            regions: 0,
            arranger: Arranger::new(rules),
        }
    }

    /// Starts a new group holding only the anchor, entry `a`.
    pub fn start(&mut self, a: usize) {
        let e = &self.entries[a];
        self.chosen.clear();
        self.tickets.clear();
        self.arranger.forget();
        self.any_blocked = false;
        self.size = 0;
        (self.lo, self.hi, self.width, self.regions) = (e.rating, e.rating, e.window, e.regions);
        self.admit(a);
    }

    /// The entries of the group, anchor first.
    pub fn chosen(&self) -> &[u32] {
        &self.chosen
    }

    /// Adds entry `i` if the group keeps every rule with it: room, rating spread, a common
    /// region, no blocks, and a split into teams (parties whole, roles filled) still possible.
    pub fn try_add(&mut self, i: usize) -> Step {
        let e = &self.entries[i];
        if self.size + e.size > self.need || !self.spread_allows(e) || !self.shares_region(e) {
            return Step::Rejected;
        }
        // The checks above read only the entry; these read the ticket itself.
        let c = &self.pool[e.ticket];
        if (e.blocks || self.any_blocked) && self.blocked_with(c).is_some() {
            return Step::Rejected;
        }
        // Without roles a solo fits wherever there is room; parties and roles need a search
        // (a solo with roles usually just one augmenting path, see `Arranger::admits`).
        if e.size > 1 || self.arranger.has_roles() {
            self.tickets.push(c);
            let fits = self.arranger.admits(&self.tickets, (e.size == 1).then_some(e.solo_roles));
            self.tickets.pop();
            if !fits {
                return Step::Rejected;
            }
        }
        (self.lo, self.hi) = (self.lo.min(e.rating), self.hi.max(e.rating));
        self.width = self.width.max(e.window);
        self.regions &= e.regions;
        self.admit(i);
        if self.size == self.need { Step::Full } else { Step::Added }
    }

    fn admit(&mut self, i: usize) {
        let e = &self.entries[i];
        let c = &self.pool[e.ticket];
        self.chosen.push(i as u32);
        self.tickets.push(c);
        self.any_blocked |= e.blocks;
        self.size += e.size;
    }

    /// Whether the rating spread stays within the widest window with `e` in the group.
    pub fn spread_allows(&self, e: &Entry) -> bool {
        self.hi.max(e.rating) - self.lo.min(e.rating) <= self.width.max(e.window)
    }

    /// Whether `e` shares a region with everyone in the group.
    pub fn shares_region(&self, e: &Entry) -> bool {
        self.regions & e.regions != 0
    }

    /// A block between `c` and the group: the ticket whose list names the player, and the
    /// player.
    pub fn blocked_with(&self, c: &Candidate) -> Option<(TicketId, PlayerId)> {
        let in_group = |p: &PlayerId| self.tickets.iter().any(|t| t.members.iter().any(|m| m.player == *p));
        if let Some(&p) = c.blocked.iter().find(|p| in_group(p)) {
            return Some((c.id, p));
        }
        for t in self.tickets.iter().filter(|t| !t.blocked.is_empty()) {
            if let Some(m) = c.members.iter().find(|m| t.blocked.contains(&m.player)) {
                return Some((t.id, m.player));
            }
        }
        None
    }

    /// Whether the group with `c` can still be split into teams.
    pub fn fits_with(&mut self, c: &'p Candidate) -> bool {
        self.tickets.push(c);
        let ok = self.arranger.feasible(&self.tickets);
        self.tickets.pop();
        ok
    }

    /// Whether the group has all the players a match needs (an anchor can, alone: a full
    /// party in a co-op mode).
    pub fn is_full(&self) -> bool {
        self.size == self.need
    }

    /// Players the group holds.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The full group as a proposal: teams balanced, region chosen. `None` only if the team
    /// search ran out of budget.
    pub fn finish(&mut self) -> Option<Proposal> {
        let teams = self.arranger.arrange(&self.tickets)?;
        Some(Proposal {
            tickets: self.tickets.iter().map(|c| c.id).collect(),
            teams,
            region: best_region(&self.tickets, self.regions),
        })
    }
}
