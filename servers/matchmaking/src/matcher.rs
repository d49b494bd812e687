//! Forms matches from a pool of tickets (pure: no I/O). Interim greedy version; the full
//! algorithm (balanced teams, roles, explanations, benchmark) replaces it.

pub type TicketId = u64;
pub type PlayerId = u64;

/// A mode's matching rules (from config).
#[derive(Clone, Debug)]
pub struct Rules {
    pub team_size: usize,
    pub teams: usize,
    pub roles: Vec<Role>,
    pub rating_window: f64,
    pub widen_per_sec: f64,
    pub max_window: f64,
    pub regions: Vec<String>,
    pub max_latency_ms: u32,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    pub per_team: usize,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub player: PlayerId,
    pub rating: f64,
    pub roles: u32,
}

#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: TicketId,
    pub members: Vec<Member>,
    pub rating: f64,
    pub waited_ms: u64,
    pub front: bool,
    pub latency_ms: Vec<u32>,
    pub blocked: Vec<PlayerId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub tickets: Vec<TicketId>,
    pub teams: Vec<Vec<(PlayerId, Option<usize>)>>,
    pub region: usize,
}

fn window(rules: &Rules, c: &Candidate) -> f64 {
    (rules.rating_window + rules.widen_per_sec * c.waited_ms as f64 / 1000.0).min(rules.max_window)
}

/// One matching pass: disjoint proposals over `pool`.
pub fn pass(rules: &Rules, pool: &[Candidate]) -> Vec<Proposal> {
    let need = rules.team_size * rules.teams;
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.sort_by(|&a, &b| pool[b].front.cmp(&pool[a].front).then(pool[b].waited_ms.cmp(&pool[a].waited_ms)));
    let mut used = vec![false; pool.len()];
    let mut out = Vec::new();
    for &a in &order {
        if used[a] {
            continue;
        }
        let anchor = &pool[a];
        let w = window(rules, anchor);
        let mut picked = vec![a];
        let mut n = anchor.members.len();
        for &b in &order {
            if n == need {
                break;
            }
            if used[b] || b == a || n + pool[b].members.len() > need {
                continue;
            }
            let c = &pool[b];
            if (c.rating - anchor.rating).abs() > w.max(window(rules, c)) {
                continue;
            }
            let clash = picked.iter().any(|&p| {
                pool[p].members.iter().any(|m| c.blocked.contains(&m.player))
                    || c.members.iter().any(|m| pool[p].blocked.contains(&m.player))
            });
            if !clash {
                picked.push(b);
                n += c.members.len();
            }
        }
        if n != need {
            continue;
        }
        let region = (0..rules.regions.len())
            .filter(|&r| {
                picked.iter().all(|&p| pool[p].latency_ms.get(r).is_some_and(|&l| l <= rules.max_latency_ms))
            })
            .min_by_key(|&r| picked.iter().map(|&p| pool[p].latency_ms[r]).max().unwrap_or(0));
        let Some(region) = region else { continue };
        let mut teams: Vec<Vec<(PlayerId, Option<usize>)>> = vec![Vec::new(); rules.teams];
        let mut sums = vec![0.0; rules.teams];
        let mut by_rating = picked.clone();
        by_rating.sort_by(|&x, &y| pool[y].members.len().cmp(&pool[x].members.len()));
        for &p in &by_rating {
            let t = (0..rules.teams)
                .filter(|&t| teams[t].len() + pool[p].members.len() <= rules.team_size)
                .min_by(|&x, &y| sums[x].partial_cmp(&sums[y]).unwrap_or(std::cmp::Ordering::Equal));
            let Some(t) = t else { break };
            teams[t].extend(pool[p].members.iter().map(|m| (m.player, None)));
            sums[t] += pool[p].rating * pool[p].members.len() as f64;
        }
        if teams.iter().any(|t| t.len() != rules.team_size) {
            continue;
        }
        for &p in &picked {
            used[p] = true;
        }
        out.push(Proposal { tickets: picked.iter().map(|&p| pool[p].id).collect(), teams, region });
    }
    out
}
