//! Glicko-2 ratings per mode: reading a player's rating, and the pure rule that turns one
//! match's outcome into new ratings.
//!
//! A player has one [`Rating`] per mode (row in `mm_ratings`; a player with no row has
//! [`Rating::default`]). The math is Glicko-2 from the `skillratings` crate, with its default
//! configuration (tau 0.5); this module only decides *whom* each player is rated against:
//!
//! - **Teams.** Each match is one rating period. A player is rated against every opposing
//!   team, each seen as one composite opponent: the mean rating of its players, and the root
//!   mean square of their deviations (`sqrt(mean(RD^2))`). Against each opposing team the
//!   result is a win when the player's team has the better (lower) rank, a loss when it has the
//!   worse, a draw when the ranks are equal. A 1v1 is therefore exactly Glicko-2 between two
//!   players. Teammates are not opponents; a player's own rating alone is updated.
//! - **Parties (premades).** Players who queued together coordinate better than strangers, so
//!   a team's strength in the expectation is its mean rating plus a premade bonus of
//!   [`PARTY_BONUS`] points per extra member of its largest party (a party of 3 on a team adds
//!   `2 * PARTY_BONUS`; solos, party id 0, and parties of one add nothing). Glicko-2's
//!   expectation depends only on the difference between the two sides, so the bonus is applied
//!   by moving the opponent: each composite opponent is shifted by `its bonus - my team's
//!   bonus`. The effect: a premade that beats solos of equal rating was expected to, and gains
//!   less than solos would; a premade that loses to them loses more; the solos who beat a
//!   premade gain more, and lose less when they lose to it.
//! - **Not modelled.** Deviation growing with inactivity between matches (Glicko's periods of
//!   no games) is not applied: a rating changes only when its player plays.

use std::collections::HashMap;

use mmo_core::store::{Store, StoreError};
use skillratings::Outcomes;
use skillratings::glicko2::{Glicko2Config, Glicko2Rating, glicko2_rating_period};

/// Rating points a team's strength gains, in the expectation, per extra member of its
/// largest party: see the module documentation.
pub const PARTY_BONUS: f64 = 25.0;

/// A Glicko-2 rating in the usual (Glicko-1) scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rating {
    /// Skill estimate; new players start at 1500.
    pub rating: f64,
    /// Rating deviation (RD): the uncertainty of `rating`; 350 for a new player, shrinking as
    /// they play.
    pub deviation: f64,
    /// How erratic the player's results are; 0.06 to start.
    pub volatility: f64,
}

impl Default for Rating {
    fn default() -> Self {
        Rating { rating: 1500.0, deviation: 350.0, volatility: 0.06 }
    }
}

impl From<Rating> for Glicko2Rating {
    fn from(r: Rating) -> Self {
        Glicko2Rating { rating: r.rating, deviation: r.deviation, volatility: r.volatility }
    }
}

impl From<Glicko2Rating> for Rating {
    fn from(r: Glicko2Rating) -> Self {
        Rating { rating: r.rating, deviation: r.deviation, volatility: r.volatility }
    }
}

/// One team's part in a match, as [`rate`] takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamOutcome {
    /// Place of the team, 0 the best; teams with equal ranks drew with each other.
    pub rank: u32,
    /// Each player with the party they queued in (0 = solo) and their rating before the match.
    pub players: Vec<(u64, u64, Rating)>,
}

/// Players' current ratings in `mode`; a player with no row gets [`Rating::default`].
pub async fn get(store: &Store, mode: &str, players: &[u64]) -> Result<HashMap<u64, Rating>, StoreError> {
    Ok(get_versioned(store, mode, players).await?.into_iter().map(|(p, (r, _))| (p, r)).collect())
}

/// [`get`] with each player's games in the mode (0 with no row): the version of a rating that
/// [`crate::reads`] caches.
pub async fn get_versioned(
    store: &Store,
    mode: &str,
    players: &[u64],
) -> Result<HashMap<u64, (Rating, u64)>, StoreError> {
    let mut out: HashMap<u64, (Rating, u64)> = players.iter().map(|&p| (p, (Rating::default(), 0))).collect();
    if players.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT player_id, rating, deviation, volatility, games FROM mm_ratings \
         WHERE mode = ? AND player_id IN ({})",
        placeholders(players.len())
    );
    let mut params: Vec<mysql_async::Value> = Vec::with_capacity(players.len() + 1);
    params.push(mode.into());
    params.extend(players.iter().map(|&p| p.into()));
    let rows: Vec<(u64, f64, f64, f64, u64)> = store.exec(&sql, params).await?;
    for (player, rating, deviation, volatility, games) in rows {
        out.insert(player, (Rating { rating, deviation, volatility }, games));
    }
    Ok(out)
}

/// `?, ?, ?` with `n` marks, for an `IN (...)` list. Only the count is spliced into SQL; the
/// values are bound.
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// The new ratings after one match: `(player, before, after)` for every player, in the order
/// of `teams` and of each team's players. Pure; see the module documentation for the rule.
/// A team with no players is no opponent; a player with no opponent keeps their rating.
pub fn rate(teams: &[TeamOutcome]) -> Vec<(u64, Rating, Rating)> {
    let config = Glicko2Config::new();
    // Each team as an opponent, and its premade bonus; `None` for an empty team.
    let composites: Vec<Option<(Glicko2Rating, f64)>> =
        teams.iter().map(|t| composite(t).map(|c| (c, premade_bonus(t)))).collect();

    let mut out = Vec::with_capacity(teams.iter().map(|t| t.players.len()).sum());
    for (i, team) in teams.iter().enumerate() {
        let my_bonus = composites[i].map_or(0.0, |(_, bonus)| bonus);
        let results: Vec<(Glicko2Rating, Outcomes)> = teams
            .iter()
            .zip(&composites)
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter_map(|(_, (other, c))| {
                let (mut opponent, bonus) = (*c)?;
                opponent.rating += bonus - my_bonus;
                Some((opponent, outcome(team.rank, other.rank)))
            })
            .collect();
        for &(player, _party, before) in &team.players {
            let after = if results.is_empty() {
                before
            } else {
                glicko2_rating_period(&before.into(), &results, &config).into()
            };
            out.push((player, before, after));
        }
    }
    out
}

/// The result against a team of rank `theirs` for a team of rank `mine` (0 is the best).
pub fn outcome(mine: u32, theirs: u32) -> Outcomes {
    match mine.cmp(&theirs) {
        std::cmp::Ordering::Less => Outcomes::WIN,
        std::cmp::Ordering::Equal => Outcomes::DRAW,
        std::cmp::Ordering::Greater => Outcomes::LOSS,
    }
}

/// The team as one opponent: mean rating, root mean square deviation, mean volatility (which
/// Glicko-2 does not use for an opponent). `None` for a team with no players.
fn composite(team: &TeamOutcome) -> Option<Glicko2Rating> {
    if team.players.is_empty() {
        return None;
    }
    let n = team.players.len() as f64;
    let mean = |f: fn(&Rating) -> f64| team.players.iter().map(|(_, _, r)| f(r)).sum::<f64>() / n;
    Some(Glicko2Rating {
        rating: mean(|r| r.rating),
        deviation: mean(|r| r.deviation * r.deviation).sqrt(),
        volatility: mean(|r| r.volatility),
    })
}

/// [`PARTY_BONUS`] per member of the team's largest party beyond the first.
pub fn premade_bonus(team: &TeamOutcome) -> f64 {
    let mut sizes: HashMap<u64, u32> = HashMap::new();
    for &(_, party, _) in &team.players {
        if party != 0 {
            *sizes.entry(party).or_default() += 1;
        }
    }
    let largest = sizes.values().copied().max().unwrap_or(1);
    f64::from(largest.saturating_sub(1)) * PARTY_BONUS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solo(player: u64, rating: f64) -> (u64, u64, Rating) {
        (player, 0, Rating { rating, ..Rating::default() })
    }

    #[test]
    fn premade_bonus_counts_the_largest_party() {
        let t = |players| TeamOutcome { rank: 0, players };
        assert_eq!(premade_bonus(&t(vec![solo(1, 1500.0), solo(2, 1500.0)])), 0.0);
        let party = |p, id| (p, id, Rating::default());
        assert_eq!(premade_bonus(&t(vec![party(1, 9), solo(2, 1500.0)])), 0.0);
        assert_eq!(
            premade_bonus(&t(vec![party(1, 9), party(2, 9), party(3, 9), party(4, 5), party(5, 5)])),
            50.0
        );
    }

    #[test]
    fn composite_is_mean_rating_and_rms_deviation() {
        let team = TeamOutcome {
            rank: 0,
            players: vec![
                (1, 0, Rating { rating: 1400.0, deviation: 30.0, volatility: 0.06 }),
                (2, 0, Rating { rating: 1600.0, deviation: 40.0, volatility: 0.06 }),
            ],
        };
        let c = composite(&team).expect("team has players");
        assert!((c.rating - 1500.0).abs() < 1e-9);
        assert!((c.deviation - 1250.0f64.sqrt()).abs() < 1e-9);
        assert!(composite(&TeamOutcome { rank: 0, players: vec![] }).is_none());
    }

    #[test]
    fn a_lone_team_keeps_its_ratings() {
        let before = Rating { rating: 1700.0, deviation: 80.0, volatility: 0.05 };
        let out = rate(&[TeamOutcome { rank: 0, players: vec![(1, 0, before)] }]);
        assert_eq!(out, vec![(1, before, before)]);
    }
}
