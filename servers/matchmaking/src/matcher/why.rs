//! "Why is this ticket not matched?": the ticket's window and regions, its nearest tickets by
//! rating each with the rule that keeps it apart, and the overall reason. For operators, so the
//! `Display` reads as a short report.

use std::collections::HashMap;
use std::fmt;

use super::eligible::{self, Entry, Ineligible, region_mask};
use super::group::Group;
use super::{Candidate, PlayerId, Rules, TicketId, pass};

/// How many neighbours an explanation lists.
const NEAREST: usize = 10;

/// Why a ticket is (not) matched. Built by [`explain`]; `Display` prints it for an operator.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub ticket: TicketId,
    pub rating: f64,
    pub waited_ms: u64,
    /// The ticket's current rating window.
    pub window: f64,
    /// The names of the regions acceptable for the ticket.
    pub regions: Vec<String>,
    pub reason: Reason,
    /// The other tickets nearest in rating (ties: lower id), nearest first.
    pub nearest: Vec<Neighbour>,
}

/// The overall answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// A pass over this pool matches it, with these tickets in this region.
    WouldMatch { tickets: Vec<TicketId>, region: String },
    /// It can never match, whatever else is queued.
    Ineligible(Ineligible),
    /// A match needs `needed` players, and only `available` are compatible with the ticket
    /// (itself included) and not taken by other matches of this pass.
    NotEnoughPlayers { needed: usize, available: usize },
    /// Enough compatible players, but no group of them keeps the rules among themselves (their
    /// ratings spread too far, they share no region, block each other, or cannot be split into
    /// teams), or they were beyond the neighbours one attempt examines.
    NoCompatibleGroup { needed: usize, available: usize },
}

/// One ticket near the explained one.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbour {
    pub ticket: TicketId,
    pub rating: f64,
    /// Its rating minus the explained ticket's.
    pub difference: f64,
    pub players: usize,
    pub blocker: Blocker,
}

/// What keeps a neighbour apart from the explained ticket. The first that applies, in this
/// order: the neighbour can never match, a block, no common region, the two do not fit in one
/// match, the rating window; then whether another match of this pass takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocker {
    /// The neighbour itself can never match.
    Ineligible(Ineligible),
    /// `ticket`'s block list names `player`, who is in the other ticket.
    Blocked { ticket: TicketId, player: PlayerId },
    /// No region is acceptable for both.
    NoCommonRegion,
    /// The two cannot be in one match.
    DoesNotFit(Misfit),
    /// `difference` is over `window`, the larger of the two tickets' windows.
    RatingWindow { difference: f64, window: f64 },
    /// Nothing keeps the pair apart, but this pass puts the neighbour in the match anchored by
    /// `anchor`.
    MatchedElsewhere { anchor: TicketId },
    /// No rule keeps the pair apart (see the overall reason).
    Compatible,
}

/// Why two tickets cannot be in one match.
#[derive(Clone, Debug, PartialEq)]
pub enum Misfit {
    /// More players between them than a match holds.
    TooManyPlayers { players: usize, needed: usize },
    /// Their players cannot fill the teams' roles together.
    Roles,
    /// Their parties cannot be placed in the teams whole.
    Teams,
}

/// Why `ticket` is not matched: its nearest candidates (by rating) and for each the rule that
/// keeps them apart, or the reason no match can form. `None` if the ticket is not in `pool`.
/// Runs a whole [`pass`] over the pool to see which tickets other matches would take.
pub fn explain(rules: &Rules, pool: &[Candidate], ticket: TicketId) -> Option<Explanation> {
    let x = pool.iter().position(|c| c.id == ticket)?;
    let c = &pool[x];
    let mask = region_mask(rules, c);
    let mut out = Explanation {
        ticket,
        rating: c.rating,
        waited_ms: c.waited_ms,
        window: rules.window(c.waited_ms),
        regions: (0..rules.regions.len().min(64))
            .filter(|r| mask & (1 << r) != 0)
            .map(|r| rules.regions[r].clone())
            .collect(),
        reason: Reason::NotEnoughPlayers { needed: rules.players_per_match(), available: 0 },
        nearest: Vec::new(),
    };
    if let Some(why) = eligible::ineligible(rules, c) {
        out.reason = Reason::Ineligible(why);
        return Some(out);
    }

    // Which match of this pass takes each ticket (by its anchor).
    let proposals = pass(rules, pool);
    let mut anchor_of: HashMap<TicketId, TicketId> = HashMap::new();
    for p in &proposals {
        for &t in &p.tickets {
            anchor_of.insert(t, p.tickets[0]);
        }
    }
    let own = proposals.iter().find(|p| p.tickets.contains(&ticket));

    let entries = eligible::entries(rules, pool);
    let mut entry_of = vec![None; pool.len()];
    for (i, e) in entries.iter().enumerate() {
        entry_of[e.ticket] = Some(i);
    }
    let Some(xe) = entry_of[x] else { return Some(out) };
    let mut group = Group::new(rules, pool, &entries);
    group.start(xe);

    let needed = rules.players_per_match();
    let mut available = c.members.len();
    let mut neighbours = Vec::new();
    for (j, other) in pool.iter().enumerate() {
        if j == x {
            continue;
        }
        let blocker = match entry_of[j] {
            None => Blocker::Ineligible(eligible::ineligible(rules, other).unwrap_or(Ineligible::Empty)),
            Some(i) => match pair_rule(&mut group, rules, &entries[xe], &entries[i], other) {
                Some(b) => b,
                None => match anchor_of.get(&other.id) {
                    Some(&a) if own.is_none_or(|p| p.tickets[0] != a) => {
                        Blocker::MatchedElsewhere { anchor: a }
                    }
                    _ => Blocker::Compatible,
                },
            },
        };
        if blocker == Blocker::Compatible {
            available += other.members.len();
        }
        neighbours.push(Neighbour {
            ticket: other.id,
            rating: other.rating,
            difference: other.rating - c.rating,
            players: other.members.len(),
            blocker,
        });
    }
    neighbours
        .sort_by(|a, b| a.difference.abs().total_cmp(&b.difference.abs()).then(a.ticket.cmp(&b.ticket)));
    neighbours.truncate(NEAREST);
    out.nearest = neighbours;
    out.reason = match own {
        Some(p) => Reason::WouldMatch { tickets: p.tickets.clone(), region: rules.regions[p.region].clone() },
        None if available < needed => Reason::NotEnoughPlayers { needed, available },
        None => Reason::NoCompatibleGroup { needed, available },
    };
    Some(out)
}

/// The rule that keeps ticket `c` (entry `e`) out of a group holding only the explained ticket
/// (entry `x`), if any.
fn pair_rule<'p>(
    group: &mut Group<'p>,
    rules: &Rules,
    x: &Entry,
    e: &Entry,
    c: &'p Candidate,
) -> Option<Blocker> {
    if let Some((ticket, player)) = group.blocked_with(c) {
        return Some(Blocker::Blocked { ticket, player });
    }
    if !group.shares_region(e) {
        return Some(Blocker::NoCommonRegion);
    }
    let (players, needed) = (group.size() + e.size, rules.players_per_match());
    if players > needed {
        return Some(Blocker::DoesNotFit(Misfit::TooManyPlayers { players, needed }));
    }
    if !group.fits_with(c) {
        let misfit = if rules.roles.is_empty() { Misfit::Teams } else { Misfit::Roles };
        return Some(Blocker::DoesNotFit(misfit));
    }
    if !group.spread_allows(e) {
        let (difference, window) = ((e.rating - x.rating).abs(), x.window.max(e.window));
        return Some(Blocker::RatingWindow { difference, window });
    }
    None
}

/// A rating or window for an operator: one decimal at most.
fn num(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let regions = if self.regions.is_empty() { "none".to_string() } else { self.regions.join(", ") };
        writeln!(
            f,
            "ticket {}: rating {}, waited {:.1} s, window {}, regions {regions}",
            self.ticket,
            num(self.rating),
            self.waited_ms as f64 / 1000.0,
            num(self.window),
        )?;
        write!(f, "{}", self.reason)?;
        for n in &self.nearest {
            let sign = if n.difference >= 0.0 { "+" } else { "" };
            let players =
                if n.players == 1 { "1 player".to_string() } else { format!("{} players", n.players) };
            write!(
                f,
                "\n  ticket {} (rating {}, {sign}{}, {players}): {}",
                n.ticket,
                num(n.rating),
                num(n.difference),
                n.blocker
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::WouldMatch { tickets, region } => {
                let ids: Vec<String> = tickets.iter().map(|t| t.to_string()).collect();
                write!(f, "matched by the next pass: tickets {} in {region}", ids.join(", "))
            }
            Reason::Ineligible(why) => write!(f, "never matched: {why}"),
            Reason::NotEnoughPlayers { needed, available } => write!(
                f,
                "not matched: not enough players: a match needs {needed}, {available} compatible and free \
                 (itself included)"
            ),
            Reason::NoCompatibleGroup { needed, available } => write!(
                f,
                "not matched: {available} compatible and free players (a match needs {needed}), but no group \
                 of them keeps the rules among themselves"
            ),
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::Ineligible(why) => write!(f, "never matched: {why}"),
            Blocker::Blocked { ticket, player } => {
                write!(f, "blocked: ticket {ticket}'s block list names player {player}")
            }
            Blocker::NoCommonRegion => f.write_str("no common region within the latency limit"),
            Blocker::DoesNotFit(m) => write!(f, "does not fit: {m}"),
            Blocker::RatingWindow { difference, window } => {
                write!(
                    f,
                    "rating window: difference {} is over the window {}",
                    num(*difference),
                    num(*window)
                )
            }
            Blocker::MatchedElsewhere { anchor } => {
                write!(f, "compatible, but taken by the match of ticket {anchor}")
            }
            Blocker::Compatible => f.write_str("compatible"),
        }
    }
}

impl fmt::Display for Misfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misfit::TooManyPlayers { players, needed } => {
                write!(f, "{players} players together, a match holds {needed}")
            }
            Misfit::Roles => f.write_str("their players cannot fill the teams' roles together"),
            Misfit::Teams => f.write_str("their parties cannot be placed in the teams whole"),
        }
    }
}
