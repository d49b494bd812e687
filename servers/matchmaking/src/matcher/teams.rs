//! Splitting a group of tickets into teams: whether it can be done at all (parties whole, roles
//! filled), the balanced split itself, and the region the match is played in.
//!
//! Teams are small, so both use plain search: parties are placed into teams by backtracking
//! (two teams with the same load are interchangeable, so only the first is tried), and roles
//! are a bipartite matching of players to role slots (Kuhn's augmenting paths, with a slot per
//! team and role holding `per_team` players). Solos are free to go to any team, so only parties
//! are backtracked; the matching places the solos.

use super::{Candidate, PlayerId, Rules};

/// The most placements one search tries before it gives up and calls the group unfit.
const BUDGET: u32 = 4096;
/// The most balancing swaps one split makes.
const MAX_SWAPS: usize = 256;
/// A swap must narrow the gap by more than this (in rating points): no churn on rounding.
const EPSILON: f64 = 1e-9;
const NONE: usize = usize::MAX;

/// One team of a proposal: each player with its role index.
type Team = Vec<(PlayerId, Option<usize>)>;

/// One player in a role matching.
#[derive(Clone, Copy)]
struct Player {
    /// The roles it accepts, already restricted to the mode's.
    roles: u32,
    /// The team it must be in (a party member, or any player when checking one team).
    team: Option<usize>,
}

/// Scratch space for team searches, kept across calls so a pass does not allocate per group.
pub(super) struct Arranger {
    teams: usize,
    team_size: usize,
    /// `per_team` of each role; empty: no roles.
    caps: Vec<usize>,
    all_roles: u32,
    budget: u32,
    /// How many tickets of the group the current matching (`players`, `slot_of`) seats, all of
    /// them: lets `admits` add a solo with one augmenting path. 0: no such matching.
    seated: usize,
    /// Role masks of solos this group has already refused: a solo accepting no more than one
    /// of them is refused without a search, since a group only gets harder to seat as it grows.
    refused: Vec<u32>,
    /// Per ticket of the group: its team.
    team_of: Vec<usize>,
    /// Players per team.
    load: Vec<usize>,
    /// The parties of the group (ticket indices), largest first.
    parties: Vec<usize>,
    players: Vec<Player>,
    /// Per player: the slot (team * roles + role) it holds.
    slot_of: Vec<usize>,
    slot_load: Vec<usize>,
    /// `slot_of` and `slot_load` before a party's tentative seating.
    saved_slot_of: Vec<usize>,
    saved_slot_load: Vec<usize>,
    seen: Vec<bool>,
    /// Per team: the sum of its players' ratings.
    sums: Vec<f64>,
    /// Per ticket of the group: the sum of its players' ratings.
    ticket_sums: Vec<f64>,
    order: Vec<usize>,
}

impl Arranger {
    pub fn new(rules: &Rules) -> Arranger {
        let caps: Vec<usize> = rules.roles.iter().map(|r| r.per_team).collect();
        let all_roles = if caps.len() >= 32 { u32::MAX } else { (1u32 << caps.len()) - 1 };
        Arranger {
            teams: rules.teams,
            team_size: rules.team_size,
            caps,
            all_roles,
            budget: 0,
            seated: 0,
            refused: Vec::new(),
            team_of: Vec::new(),
            load: Vec::new(),
            parties: Vec::new(),
            players: Vec::new(),
            slot_of: Vec::new(),
            slot_load: Vec::new(),
            saved_slot_of: Vec::new(),
            saved_slot_load: Vec::new(),
            seen: Vec::new(),
            sums: Vec::new(),
            ticket_sums: Vec::new(),
            order: Vec::new(),
        }
    }

    /// Whether the mode has roles.
    pub fn has_roles(&self) -> bool {
        !self.caps.is_empty()
    }

    /// `feasible` for a group that grew by its last ticket, usually without the whole search.
    /// A solo joining a group whose matching is at hand takes one augmenting path: if there is
    /// one the matching grows; if not, no seating works with the parties where they are, so the
    /// whole search (other placements of the parties) runs, and only if there are two parties
    /// or more. A first party is seated the same way (`admit_first_party`). A solo whose roles a
    /// refused solo's already covered is refused outright.
    pub fn admits(&mut self, group: &[&Candidate], solo_roles: Option<u32>) -> bool {
        // A solo's roles come from the caller, so a solo is seated without reading its ticket.
        let Some(roles) = solo_roles.filter(|_| self.has_roles()) else {
            if self.has_roles() && self.seated + 1 == group.len() && self.parties.is_empty() {
                return self.admit_first_party(group);
            }
            return self.feasible(group);
        };
        let roles = self.roles_of(roles);
        if self.refuses(roles) {
            return false;
        }
        let ok = self.admit_solo(group, roles);
        if !ok {
            self.refused.push(roles);
        }
        ok
    }

    fn admit_solo(&mut self, group: &[&Candidate], roles: u32) -> bool {
        let n = group.len();
        if self.seated + 1 == n {
            self.players.push(Player { roles, team: None });
            self.slot_of.push(NONE);
            self.team_of.push(NONE);
            self.seen.clear();
            self.seen.resize(self.slot_load.len(), false);
            if self.augment(self.players.len() - 1) {
                self.seated = n;
                return true;
            }
            self.players.pop();
            self.slot_of.pop();
            self.team_of.pop();
            // With at most one party, every placement of it is the same up to naming the teams
            // (solos sit anywhere): no path, no fit.
            if self.parties.len() <= 1 {
                return false;
            }
        }
        self.feasible(group)
    }

    /// A party joining a group of solos whose matching is at hand. The teams are alike (the
    /// solos may sit in any), so seating the party's players in the first team, each by an
    /// augmenting path, settles it either way.
    fn admit_first_party(&mut self, group: &[&Candidate]) -> bool {
        let Some(c) = group.last() else { return true };
        let before = self.players.len();
        self.saved_slot_of.clone_from(&self.slot_of);
        self.saved_slot_load.clone_from(&self.slot_load);
        for m in &c.members {
            let roles = self.roles_of(m.roles);
            self.players.push(Player { roles, team: Some(0) });
            self.slot_of.push(NONE);
            self.seen.clear();
            self.seen.resize(self.slot_load.len(), false);
            if !self.augment(self.players.len() - 1) {
                self.players.truncate(before);
                std::mem::swap(&mut self.slot_of, &mut self.saved_slot_of);
                std::mem::swap(&mut self.slot_load, &mut self.saved_slot_load);
                return false;
            }
        }
        self.team_of.push(0);
        self.parties.push(group.len() - 1);
        self.seated = group.len();
        true
    }

    /// Whether a solo accepting `roles` is refused for what an earlier refusal showed.
    fn refuses(&self, roles: u32) -> bool {
        self.refused.iter().any(|&r| roles & !r == 0)
    }

    /// Drops the matching at hand: a new group starts.
    pub fn forget(&mut self) {
        self.seated = 0;
        self.refused.clear();
    }

    fn roles_of(&self, mask: u32) -> u32 {
        if mask == 0 { self.all_roles } else { mask & self.all_roles }
    }

    /// Whether `group` (at most a match's players) can be placed into the teams with every
    /// party whole and, if the mode has roles, every player in a role it accepts without any
    /// role over its count. With the group complete this is "a valid split exists".
    pub fn feasible(&mut self, group: &[&Candidate]) -> bool {
        self.budget = BUDGET;
        self.team_of.clear();
        self.team_of.resize(group.len(), NONE);
        self.load.clear();
        self.load.resize(self.teams, 0);
        self.parties.clear();
        self.parties.extend((0..group.len()).filter(|&i| group[i].members.len() > 1));
        self.parties.sort_by_key(|&i| std::cmp::Reverse(group[i].members.len()));
        // Solos fit anywhere there is room, so the parties are all there is to search.
        let players: usize = group.iter().map(|c| c.members.len()).sum();
        let ok = players <= self.teams * self.team_size && self.place_parties(group, 0);
        // With roles, success leaves the matching of the whole group in place.
        self.seated = if ok && self.has_roles() { group.len() } else { 0 };
        ok
    }

    /// Places parties `k..` by backtracking; at the end, matches roles (if any).
    fn place_parties(&mut self, group: &[&Candidate], k: usize) -> bool {
        if k == self.parties.len() {
            return self.caps.is_empty() || self.match_roles(group, None);
        }
        let i = self.parties[k];
        let size = group[i].members.len();
        for t in 0..self.teams {
            if self.load[t] + size > self.team_size || self.load[..t].contains(&self.load[t]) {
                continue;
            }
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            self.load[t] += size;
            self.team_of[i] = t;
            if self.place_parties(group, k + 1) {
                return true;
            }
            self.load[t] -= size;
            self.team_of[i] = NONE;
        }
        false
    }

    /// Matches players to role slots: every player of `group` (or only those of team `only`),
    /// party members and team `only`'s players held to their team. Leaves `slot_of` filled.
    fn match_roles(&mut self, group: &[&Candidate], only: Option<usize>) -> bool {
        self.seated = 0;
        self.players.clear();
        for (i, c) in group.iter().enumerate() {
            if only.is_some_and(|t| self.team_of[i] != t) {
                continue;
            }
            let team = if c.members.len() > 1 || only.is_some() { Some(self.team_of[i]) } else { None };
            for m in &c.members {
                let roles = self.roles_of(m.roles);
                self.players.push(Player { roles, team });
            }
        }
        let slots = self.teams * self.caps.len();
        self.slot_load.clear();
        self.slot_load.resize(slots, 0);
        self.slot_of.clear();
        self.slot_of.resize(self.players.len(), NONE);
        for p in 0..self.players.len() {
            self.seen.clear();
            self.seen.resize(slots, false);
            if !self.augment(p) {
                return false;
            }
        }
        true
    }

    /// Kuhn's step: finds `p` a slot, moving players already seated along an augmenting path.
    fn augment(&mut self, p: usize) -> bool {
        let Player { roles, team } = self.players[p];
        let teams = team.map_or(0..self.teams, |t| t..t + 1);
        for t in teams {
            let mut mask = roles;
            while mask != 0 {
                let r = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let slot = t * self.caps.len() + r;
                if self.seen[slot] {
                    continue;
                }
                self.seen[slot] = true;
                if self.slot_load[slot] < self.caps[r] {
                    self.slot_load[slot] += 1;
                    self.slot_of[p] = slot;
                    return true;
                }
                for q in 0..self.players.len() {
                    if q != p && self.slot_of[q] == slot && self.augment(q) {
                        self.slot_of[p] = slot;
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Splits a complete group into balanced teams: `teams[t]` holds each player of team t with
    /// its role index. `None` only if no valid split is found within the search budget.
    pub fn arrange(&mut self, group: &[&Candidate]) -> Option<Vec<Team>> {
        self.ticket_sums.clear();
        self.ticket_sums.extend(group.iter().map(|c| c.members.iter().map(|m| m.rating).sum::<f64>()));
        if !self.greedy(group) {
            // Greedy packing can fail where a valid split exists (sizes 3,3,2,2,2 into two
            // teams of six): take the search's split, and let the swaps balance it.
            if !self.feasible(group) {
                return None;
            }
            self.place_solos(group);
        }
        self.sums.clear();
        self.sums.resize(self.teams, 0.0);
        for i in 0..group.len() {
            self.sums[self.team_of[i]] += self.ticket_sums[i];
        }
        self.balance(group);
        // Roles within each team; the split guarantees every team can fill them.
        let mut teams = vec![Vec::with_capacity(self.team_size); self.teams];
        for (t, team) in teams.iter_mut().enumerate() {
            if !self.caps.is_empty() && !self.match_roles(group, Some(t)) {
                return None;
            }
            let mut k = 0;
            for (_, c) in group.iter().enumerate().filter(|(i, _)| self.team_of[*i] == t) {
                for m in &c.members {
                    let role = (!self.caps.is_empty()).then(|| self.slot_of[k] % self.caps.len());
                    team.push((m.player, role));
                    k += 1;
                }
            }
        }
        Some(teams)
    }

    /// Largest tickets first (then highest rating sum), each into the team with the lowest sum
    /// that has room. False if some ticket finds no room, or the split leaves a team unable to
    /// fill its roles.
    fn greedy(&mut self, group: &[&Candidate]) -> bool {
        self.order.clear();
        self.order.extend(0..group.len());
        let sums = &self.ticket_sums;
        self.order.sort_by(|&a, &b| {
            let (ca, cb) = (group[a], group[b]);
            cb.members.len().cmp(&ca.members.len()).then(sums[b].total_cmp(&sums[a])).then(a.cmp(&b))
        });
        self.team_of.clear();
        self.team_of.resize(group.len(), NONE);
        self.load.clear();
        self.load.resize(self.teams, 0);
        self.sums.clear();
        self.sums.resize(self.teams, 0.0);
        for k in 0..self.order.len() {
            let i = self.order[k];
            let size = group[i].members.len();
            let best = (0..self.teams)
                .filter(|&t| self.load[t] + size <= self.team_size)
                .min_by(|&a, &b| self.sums[a].total_cmp(&self.sums[b]).then(a.cmp(&b)));
            let Some(t) = best else { return false };
            self.team_of[i] = t;
            self.load[t] += size;
            self.sums[t] += self.ticket_sums[i];
        }
        self.caps.is_empty() || (0..self.teams).all(|t| self.match_roles(group, Some(t)))
    }

    /// After `feasible`: puts the solos in teams. With roles, where the matching seated them;
    /// without, each into the team with the fewest players.
    fn place_solos(&mut self, group: &[&Candidate]) {
        let mut player = 0;
        for (i, c) in group.iter().enumerate() {
            if c.members.len() == 1 {
                let t = if self.caps.is_empty() {
                    (0..self.teams).min_by_key(|&t| (self.load[t], t)).unwrap_or(0)
                } else {
                    self.slot_of[player] / self.caps.len()
                };
                self.team_of[i] = t;
                self.load[t] += 1;
            }
            player += c.members.len();
        }
    }

    /// Swaps equal-sized tickets between two teams while one narrows the gap between their
    /// rating sums (which also lowers the spread of all the sums), best swap first.
    fn balance(&mut self, group: &[&Candidate]) {
        for _ in 0..MAX_SWAPS {
            let mut best: Option<(usize, usize, f64)> = None;
            for i in 0..group.len() {
                for j in i + 1..group.len() {
                    let (a, b) = (self.team_of[i], self.team_of[j]);
                    if a == b || group[i].members.len() != group[j].members.len() {
                        continue;
                    }
                    let gap = self.sums[a] - self.sums[b];
                    let d = self.ticket_sums[i] - self.ticket_sums[j];
                    let gain = gap.abs() - (gap - 2.0 * d).abs();
                    if gain > EPSILON
                        && best.is_none_or(|(_, _, g)| gain > g)
                        && self.roles_allow_swap(group, i, j)
                    {
                        best = Some((i, j, gain));
                    }
                }
            }
            let Some((i, j, _)) = best else { return };
            let (a, b) = (self.team_of[i], self.team_of[j]);
            let d = self.ticket_sums[i] - self.ticket_sums[j];
            self.sums[a] -= d;
            self.sums[b] += d;
            self.team_of.swap(i, j);
        }
    }

    /// Whether both teams can still fill their roles with tickets i and j swapped.
    fn roles_allow_swap(&mut self, group: &[&Candidate], i: usize, j: usize) -> bool {
        if self.caps.is_empty() {
            return true;
        }
        // Tickets whose players accept the same roles trade places without changing anything
        // a matching can see.
        let same = group[i]
            .members
            .iter()
            .zip(&group[j].members)
            .all(|(x, y)| self.roles_of(x.roles) == self.roles_of(y.roles));
        if same {
            return true;
        }
        let (a, b) = (self.team_of[i], self.team_of[j]);
        self.team_of.swap(i, j);
        let ok = self.match_roles(group, Some(a)) && self.match_roles(group, Some(b));
        self.team_of.swap(i, j);
        ok
    }
}

/// Among the regions in `mask` (acceptable for every ticket of `group`), the one where the
/// worst ticket's latency is lowest; ties go to the lower index.
pub(super) fn best_region(group: &[&Candidate], mask: u64) -> usize {
    let mut best = (u32::MAX, usize::MAX);
    let mut m = mask;
    while m != 0 {
        let r = m.trailing_zeros() as usize;
        m &= m - 1;
        let worst = group.iter().map(|c| c.latency_ms.get(r).copied().unwrap_or(u32::MAX)).max().unwrap_or(0);
        if (worst, r) < best {
            best = (worst, r);
        }
    }
    best.1
}

#[cfg(test)]
impl Arranger {
    /// Whether the matching at hand, if any, seats every player of `group` in a role it accepts
    /// with no slot over its count and each party in one team.
    fn seating_holds(&self, group: &[&Candidate]) -> bool {
        if self.seated != group.len() {
            return true;
        }
        let roles = self.caps.len();
        let mut load = vec![0; self.slot_load.len()];
        let mut p = 0;
        for c in group {
            let mut team = None;
            for m in &c.members {
                let Some(&slot) = self.slot_of.get(p).filter(|&&s| s != NONE) else { return false };
                let (t, r) = (slot / roles, slot % roles);
                if self.roles_of(m.roles) & (1 << r) == 0
                    || (c.members.len() > 1 && team.is_some_and(|x| x != t))
                {
                    return false;
                }
                team = Some(t);
                load[slot] += 1;
                p += 1;
            }
        }
        p == self.players.len()
            && p == self.slot_of.len()
            && load == self.slot_load
            && load.iter().enumerate().all(|(s, &l)| l <= self.caps[s % roles])
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Arranger;
    use crate::matcher::{Candidate, Member, Role, Rules};

    fn rules(team_size: usize, teams: usize, roles: &[usize]) -> Rules {
        Rules {
            team_size,
            teams,
            roles: roles.iter().map(|&per_team| Role { name: String::new(), per_team }).collect(),
            rating_window: 0.0,
            widen_per_sec: 0.0,
            max_window: 0.0,
            regions: vec!["r".into()],
            max_latency_ms: 0,
        }
    }

    fn ticket(id: u64, masks: &[u32]) -> Candidate {
        Candidate {
            id,
            members: masks
                .iter()
                .zip(0..)
                .map(|(&roles, k)| Member { player: id * 10 + k, rating: 0.0, roles })
                .collect(),
            rating: 0.0,
            waited_ms: 0,
            front: false,
            latency_ms: vec![0],
            blocked: Vec::new(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// The shortcuts of `admits` (one augmenting path, the first party, refused masks) give
        /// the answer of the whole search, as a group grows ticket by ticket.
        #[test]
        fn admits_agrees_with_the_whole_search(
            shape in prop_oneof![Just((3usize, 2usize, vec![1usize, 2])), Just((5, 2, vec![1, 1, 3])), Just((4, 3, vec![2, 2]))],
            tickets in prop::collection::vec(prop::collection::vec(0u32..8, 1..=3), 1..24),
        ) {
            let (team_size, teams, caps) = shape;
            let r = rules(team_size, teams, &caps);
            let all: Vec<Candidate> = tickets.iter().zip(0..).map(|(m, id)| ticket(id, m)).collect();
            let mut arranger = Arranger::new(&r);
            let mut group: Vec<&Candidate> = vec![&all[0]];
            let mut size = all[0].members.len();
            prop_assume!(Arranger::new(&r).feasible(&group));
            arranger.forget();
            for c in &all[1..] {
                if size + c.members.len() > team_size * teams {
                    continue;
                }
                group.push(c);
                let solo = (c.members.len() == 1).then(|| c.members[0].roles);
                let quick = arranger.admits(&group, solo);
                let whole = Arranger::new(&r).feasible(&group);
                prop_assert_eq!(quick, whole, "group {:?}", group.iter().map(|c| &c.members).collect::<Vec<_>>());
                prop_assert!(arranger.seating_holds(&group));
                if quick {
                    size += c.members.len();
                } else {
                    group.pop();
                }
            }
        }
    }
}
