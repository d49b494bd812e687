//! Which tickets can match at all, and the compact entry a pass works on for each of them.

use std::cmp::{Ordering, Reverse};
use std::fmt;

use super::teams::Arranger;
use super::{Candidate, Rules, TicketId};

/// Why a ticket can never match under the rules, whatever else is queued.
#[derive(Clone, Debug, PartialEq)]
pub enum Ineligible {
    /// The mode's rules cannot form any match (the text says which rule).
    InvalidRules(&'static str),
    /// The ticket has no members.
    Empty,
    /// The ticket's rating is not a finite number.
    InvalidRating,
    /// A party larger than a team: it would have to be split.
    PartyTooLarge { size: usize, team_size: usize },
    /// The party's members cannot fill one team's roles (too many for one role, or a member
    /// accepts none of the mode's roles).
    RolesUnfillable,
    /// No region is at or below the latency limit for this ticket.
    NoAcceptableRegion,
}

impl fmt::Display for Ineligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligible::InvalidRules(why) => write!(f, "the mode's rules cannot form a match: {why}"),
            Ineligible::Empty => f.write_str("the ticket has no players"),
            Ineligible::InvalidRating => f.write_str("its rating is not a number"),
            Ineligible::PartyTooLarge { size, team_size } => {
                write!(f, "party of {size} is larger than a team ({team_size}) and is never split")
            }
            Ineligible::RolesUnfillable => f.write_str("its players cannot fill one team's roles"),
            Ineligible::NoAcceptableRegion => f.write_str("no region is within the latency limit"),
        }
    }
}

/// What is wrong with a mode's rules, if they cannot form any match.
pub(super) fn rules_problem(rules: &Rules) -> Option<&'static str> {
    if rules.team_size == 0 || rules.teams == 0 {
        return Some("team size and teams per match must be at least 1");
    }
    if rules.team_size * rules.teams > u16::MAX as usize || rules.teams > u8::MAX as usize {
        return Some("too many players per match");
    }
    if rules.roles.len() > 32 {
        return Some("at most 32 roles");
    }
    if !rules.roles.is_empty() && rules.roles.iter().map(|r| r.per_team).sum::<usize>() != rules.team_size {
        return Some("the roles' per-team counts must add up to the team size");
    }
    if rules.regions.is_empty() {
        return Some("no regions");
    }
    None
}

/// Why `c` can never match under `rules`, or `None` if it can (given the right company).
pub fn ineligible(rules: &Rules, c: &Candidate) -> Option<Ineligible> {
    if let Some(why) = rules_problem(rules) {
        return Some(Ineligible::InvalidRules(why));
    }
    if c.members.is_empty() {
        return Some(Ineligible::Empty);
    }
    if !c.rating.is_finite() {
        return Some(Ineligible::InvalidRating);
    }
    if c.members.len() > rules.team_size {
        return Some(Ineligible::PartyTooLarge { size: c.members.len(), team_size: rules.team_size });
    }
    if region_mask(rules, c) == 0 {
        return Some(Ineligible::NoAcceptableRegion);
    }
    if !rules.roles.is_empty() && !Arranger::new(rules).feasible(std::slice::from_ref(&c)) {
        return Some(Ineligible::RolesUnfillable);
    }
    None
}

/// The regions acceptable for `c`, as a bitmask over the first 64 of `rules.regions`.
pub(super) fn region_mask(rules: &Rules, c: &Candidate) -> u64 {
    let mut mask = 0;
    for (r, &ms) in c.latency_ms.iter().enumerate().take(rules.regions.len().min(64)) {
        if ms != u32::MAX && ms <= rules.max_latency_ms {
            mask |= 1 << r;
        }
    }
    mask
}

/// An eligible ticket as a pass sees it: what the sorts and the per-neighbour checks read,
/// packed together, so a rejected neighbour costs no visit to its `Candidate`.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    pub rating: f64,
    pub window: f64,
    pub regions: u64,
    pub id: TicketId,
    pub waited_ms: u64,
    /// Index into the pool.
    pub ticket: usize,
    pub size: usize,
    pub front: bool,
    /// Whether the ticket's block list is non-empty.
    pub blocks: bool,
    /// A solo's `Member::roles`.
    pub solo_roles: u32,
}

impl Entry {
    /// Rating order, ties by ticket id (then pool position, so the order is total even with
    /// duplicate ids).
    pub fn rating_order(&self, other: &Entry) -> Ordering {
        self.rating
            .total_cmp(&other.rating)
            .then_with(|| self.id.cmp(&other.id))
            .then_with(|| self.ticket.cmp(&other.ticket))
    }
}

/// The eligible tickets of `pool`, in pool order.
pub(super) fn entries(rules: &Rules, pool: &[Candidate]) -> Vec<Entry> {
    if rules_problem(rules).is_some() {
        return Vec::new();
    }
    // The roles check is the only costly one: a solo only needs to accept one of the mode's
    // roles; a party takes a search, in one arranger's scratch space.
    let mut arranger = Arranger::new(rules);
    let modes_roles = if rules.roles.len() >= 32 { u32::MAX } else { (1u32 << rules.roles.len()) - 1 };
    let fills_roles = |c: &Candidate, arranger: &mut Arranger| match c.members.as_slice() {
        _ if rules.roles.is_empty() => true,
        [solo] => solo.roles == 0 || solo.roles & modes_roles != 0,
        _ => arranger.feasible(std::slice::from_ref(&c)),
    };
    pool.iter()
        .enumerate()
        .filter(|(_, c)| {
            !c.members.is_empty()
                && c.rating.is_finite()
                && c.members.len() <= rules.team_size
                && fills_roles(c, &mut arranger)
        })
        .filter_map(|(ticket, c)| {
            let regions = region_mask(rules, c);
            (regions != 0).then(|| Entry {
                rating: c.rating,
                window: rules.window(c.waited_ms),
                regions,
                id: c.id,
                waited_ms: c.waited_ms,
                ticket,
                size: c.members.len(),
                front: c.front,
                blocks: !c.blocked.is_empty(),
                solo_roles: c.members[0].roles,
            })
        })
        .collect()
}

/// Sorts `entries` into rating order ([`Entry::rating_order`]). Sorting small keys and then
/// moving each entry once is cheaper than sorting the entries themselves.
pub(super) fn sort_by_rating(entries: &mut Vec<Entry>) {
    // The integer whose order is `f64::total_cmp`'s.
    let total = |x: f64| {
        let bits = x.to_bits() as i64;
        bits ^ (((bits >> 63) as u64) >> 1) as i64
    };
    let mut keys: Vec<(i64, TicketId, usize, u32)> =
        entries.iter().enumerate().map(|(i, e)| (total(e.rating), e.id, e.ticket, i as u32)).collect();
    keys.sort_unstable();
    *entries = keys.iter().map(|k| entries[k.3 as usize].clone()).collect();
}

/// Indices into `entries` in the order tickets are served: `front` first, then longest wait,
/// then lowest id.
pub(super) fn service_order(entries: &[Entry]) -> Vec<u32> {
    // The keys themselves are sorted, not indices into `entries`: the sort stays in cache.
    let mut keys: Vec<(bool, Reverse<u64>, TicketId, usize, u32)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (!e.front, Reverse(e.waited_ms), e.id, e.ticket, i as u32))
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|k| k.4).collect()
}
