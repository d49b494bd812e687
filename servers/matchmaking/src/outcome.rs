//! A match's outcome: the zone's `match_closed` event (typed `MatchClosed`; the default: each team scores its
//! players' kills) or a game server's own scores ([`report`]), turned into a result against the
//! match as it was started (its teams and parties, kept in Redis for `match_ttl`) and recorded
//! once per match id: a second delivery, or a second report, changes nothing. The mode's
//! `rewards` go to the winners through the shop's ledger under the key `match:<match id>`,
//! after the result is recorded, and again (applied once) whenever it arrives again, from the
//! ranks recorded first: a reward that failed is given by the result's next delivery.

use std::collections::HashMap;

use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{self, MatchClosed};

use crate::error::MmError;
use crate::proposals::{self, StartedMatch};
use crate::results::{self, InvalidResult, MatchResult, Recorded, TeamResult};
use crate::{State, ratings, reads};

/// The zone closed a match instance: each team's score is its players' kills.
pub async fn on_match_closed(st: &State, ev: &MatchClosed) -> Result<(), MmError> {
    let match_id = ev.match_id.as_str();
    if match_id.is_empty() {
        return Ok(());
    }
    if ev.players.is_empty() {
        // Nobody came: no match was played, and nobody's rating moves.
        if let Some(started) = proposals::started(&st.bus, match_id).await? {
            crate::chat::match_closed(&st.bus, match_id, started.teams.len()).await;
        }
        tracing::info!(match_id, "match closed with no player entered; no result recorded");
        return Ok(());
    }
    let kills: HashMap<u64, i64> = ev.kills.iter().map(|k| (k.player, i64::from(k.count))).collect();
    let duration_ms = Some(ev.duration_ms);
    let Some(started) = proposals::started(&st.bus, match_id).await? else {
        tracing::debug!(match_id, "closed match not started by matchmaking (or long ago); no result");
        return Ok(());
    };
    crate::chat::match_closed(&st.bus, match_id, started.teams.len()).await;
    let scores: Vec<i64> =
        started.teams.iter().map(|t| t.iter().map(|p| kills.get(p).copied().unwrap_or(0)).sum()).collect();
    record(st, &started, &scores, duration_ms).await.map(drop)
}

/// A game server's result for a match it ran: one score per team, in the order of
/// `MatchStartNtf.teams` (higher is better; equal scores draw). Returns false if the match is
/// unknown (never started here, or older than `match_ttl`) or already has its result.
pub async fn report(st: &State, match_id: &str, scores: &[i64]) -> Result<bool, MmError> {
    let Some(started) = proposals::started(&st.bus, match_id).await? else { return Ok(false) };
    record(st, &started, scores, None).await
}

/// Ranks by score: a team's rank is the number of teams that scored more.
fn ranks(scores: &[i64]) -> Vec<u32> {
    scores.iter().map(|s| scores.iter().filter(|o| *o > s).count() as u32).collect()
}

async fn record(
    st: &State,
    m: &StartedMatch,
    scores: &[i64],
    duration_ms: Option<u64>,
) -> Result<bool, MmError> {
    if scores.len() != m.teams.len() {
        tracing::error!(
            match_id = m.match_id,
            teams = m.teams.len(),
            scores = scores.len(),
            "result refused: one score per team"
        );
        return Ok(false);
    }
    let party: HashMap<u64, u64> = m.parties.iter().copied().collect();
    let ranks = ranks(scores);
    let teams = m
        .teams
        .iter()
        .zip(scores)
        .zip(&ranks)
        .map(|((players, score), rank)| TeamResult {
            rank: *rank,
            score: *score,
            players: players.iter().map(|p| (*p, party.get(p).copied().unwrap_or(0))).collect(),
        })
        .collect();
    let now = mmo_core::clock::now_ms();
    let result = MatchResult {
        match_id: m.match_id.clone(),
        mode: m.mode.clone(),
        instance: m.instance.clone(),
        started_ms: m.started_ms,
        duration_ms: duration_ms.unwrap_or_else(|| now.saturating_sub(m.started_ms)),
        teams,
    };
    match results::record(&st.store, &result).await {
        Ok(Recorded::Written(changes)) => {
            let winners: Vec<u64> = result
                .teams
                .iter()
                .filter(|t| t.rank == 0)
                .flat_map(|t| t.players.iter().map(|(p, _)| *p))
                .collect();
            reward(st, m, &winners).await?;
            // The next join must see the new ratings: until the cache has them, the result is
            // not done (an error here has the result delivered again, and the repeat below
            // writes them through).
            let fresh = changes.iter().map(|c| (c.player, (c.after, c.games))).collect();
            reads::remember(&st.bus, &m.mode, &fresh).await?;
            let detail = mmo_proto::bus::MatchResult {
                match_id: m.match_id.clone(),
                mode: m.mode.clone(),
                teams: result
                    .teams
                    .iter()
                    .map(|t| bus::TeamResult {
                        rank: t.rank,
                        score: t.score,
                        players: t.players.iter().map(|(p, _)| *p).collect(),
                    })
                    .collect(),
                rating_changes: changes
                    .iter()
                    .map(|c| bus::RatingChange {
                        player: c.player,
                        before: c.before.rating,
                        after: c.after.rating,
                    })
                    .collect(),
                duration_ms: result.duration_ms,
            };
            events::emit_typed(&st.bus, "match_result", PlayerId(0), Detail::MatchResult(detail));
            Ok(true)
        }
        Ok(Recorded::AlreadyRecorded) => {
            // Delivered again, maybe because writing the first delivery's ratings through
            // failed: write the players' ratings through from MySQL (an entry only ever gives
            // way to more games, so this cannot undo a newer one).
            reward(st, m, &results::winners(&st.store, &m.match_id).await?).await?;
            let players: Vec<u64> =
                result.teams.iter().flat_map(|t| t.players.iter().map(|(p, _)| *p)).collect();
            let now = ratings::get_versioned(&st.store, &m.mode, &players).await?;
            reads::remember(&st.bus, &m.mode, &now).await?;
            Ok(false)
        }
        Err(e) => match InvalidResult::of(&e) {
            Some(why) => {
                tracing::error!(match_id = m.match_id, error = %why, "result refused");
                Ok(false)
            }
            None => Err(e.into()),
        },
    }
}

/// The mode's rewards to each winner, once per player and match (the grant's key).
async fn reward(st: &State, m: &StartedMatch, winners: &[u64]) -> Result<(), MmError> {
    let Some(rules) = st.rules.mode(&m.mode) else { return Ok(()) };
    if rules.rewards.is_empty() {
        return Ok(());
    }
    for player in winners {
        let g = mmo_shop::Grant {
            player: *player,
            key: format!("match:{}", m.match_id),
            reason: "match_reward".into(),
            reference: format!("{} {}", m.mode, m.match_id),
            currencies: rules.rewards.iter().map(|(c, n)| (c.clone(), *n)).collect(),
            items: Vec::new(),
        };
        match mmo_shop::grant(&st.store, &st.bus, &g).await {
            Ok(_) => {}
            Err(e @ (mmo_shop::ShopError::Refused(..) | mmo_shop::ShopError::Invalid(_))) => {
                tracing::error!(match_id = m.match_id, player, error = %e, "match reward refused");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn equal_scores_share_a_rank() {
        assert_eq!(super::ranks(&[3, 5, 3, 1]), vec![1, 0, 1, 3]);
    }
}
