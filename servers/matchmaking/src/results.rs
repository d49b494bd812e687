//! Match results, history and rating changes in MySQL, once per match id.
//!
//! When a match instance ends it reports a [`MatchResult`]; [`record`] writes it in one
//! transaction: the match row (`mm_matches`), one row per player with their rating before and
//! after (`mm_match_players`), and each player's new rating and win/loss/draw counters in the
//! match's mode (`mm_ratings`). Delivery is at least once (the instance retries until told the
//! result is in), so recording is exactly once: the match id is the primary key of
//! `mm_matches`, the transaction inserts that row first, and a duplicate key means an earlier
//! delivery committed, so nothing else is done. Two deliveries racing each other meet on that
//! row: the second insert waits for the first transaction and fails with a duplicate key once
//! it commits (or goes ahead, if it rolled back).
//!
//! After the match row, the players' rating rows are locked in player id order (created first
//! if missing, so that no gap locks are taken), so two matches sharing a player are rated one
//! after the other, the second from the first's result. A deadlock or lock wait timeout that
//! still happens is retried by [`Store::in_tx`], the whole transaction again.
//!
//! Counters: a team that alone has the best rank won; one sharing the best rank drew; every
//! other team lost (so the second of three teams lost). Ratings use the finer rule of
//! [`ratings`](crate::ratings): a result against each opposing team.

use std::collections::HashMap;
use std::sync::Arc;

use mmo_core::store::{Store, StoreError};
use mysql_async::prelude::Queryable;
use mysql_async::{Transaction, Value};

use crate::ratings::{self, Rating, TeamOutcome, placeholders};

/// The longest match id, in characters (`mm_matches.match_id`).
pub const MAX_MATCH_ID_CHARS: usize = 64;
/// The longest mode name, in characters.
pub const MAX_MODE_CHARS: usize = 64;
/// The longest instance name, in characters.
pub const MAX_INSTANCE_CHARS: usize = 128;
/// Players in one result, all teams together: bounds the statements one result makes.
pub const MAX_PLAYERS: usize = 200;
/// The most entries [`history`] returns, whatever `limit` asks for.
pub const MAX_HISTORY: u32 = 100;

/// MySQL's "duplicate entry for key": the match was already recorded.
const ER_DUP_ENTRY: u16 = 1062;

/// What a match instance reports when the match ends.
#[derive(Clone, Debug)]
pub struct MatchResult {
    /// Unique per match: the idempotency key of [`record`].
    pub match_id: String,
    /// Ratings are kept per mode.
    pub mode: String,
    /// The instance that ran the match (kept for support and debugging).
    pub instance: String,
    /// Wall-clock start, milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub duration_ms: u64,
    /// At least two teams, each with at least one player, no player twice.
    pub teams: Vec<TeamResult>,
}

#[derive(Clone, Debug)]
pub struct TeamResult {
    /// Place of the team, 0 the best; equal ranks drew.
    pub rank: u32,
    pub score: i64,
    /// Each player with the party they queued in (0 = solo).
    pub players: Vec<(u64, u64)>,
}

/// What [`record`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// The result is now recorded; every player's rating change, in the order of the teams
    /// and of their players.
    Written(Vec<RatingChange>),
    /// This match id was recorded before; nothing was changed.
    AlreadyRecorded,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatingChange {
    pub player: u64,
    pub before: Rating,
    pub after: Rating,
    /// The player's games in the mode, this one included: the version of `after` (see
    /// [`crate::reads`]).
    pub games: u64,
}

/// Why a [`MatchResult`] cannot be recorded. [`record`] returns it inside a [`StoreError`]
/// (see [`InvalidResult::of`]); call [`validate`] first to tell it apart without digging.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidResult {
    #[error("the match id is empty")]
    EmptyMatchId,
    #[error("the match id is longer than {MAX_MATCH_ID_CHARS} characters")]
    MatchIdTooLong,
    #[error("the mode is empty")]
    EmptyMode,
    #[error("the mode is longer than {MAX_MODE_CHARS} characters")]
    ModeTooLong,
    #[error("the instance name is longer than {MAX_INSTANCE_CHARS} characters")]
    InstanceTooLong,
    #[error("a match needs at least two teams, this one has {0}")]
    TooFewTeams(usize),
    #[error("team {0} has no players")]
    EmptyTeam(usize),
    #[error("more than {MAX_PLAYERS} players")]
    TooManyPlayers,
    #[error("player {0} is listed more than once")]
    DuplicatePlayer(u64),
    #[error("start plus duration is past the end of time")]
    EndOverflow,
}

impl InvalidResult {
    /// The rejection inside an error returned by [`record`], if that is what it is.
    pub fn of(err: &StoreError) -> Option<&InvalidResult> {
        match err {
            StoreError::Mysql(mysql_async::Error::Other(e)) => e.downcast_ref(),
            _ => None,
        }
    }
}

/// Checks what [`record`] checks before touching the database.
pub fn validate(result: &MatchResult) -> Result<(), InvalidResult> {
    if result.match_id.is_empty() {
        return Err(InvalidResult::EmptyMatchId);
    }
    if result.match_id.chars().count() > MAX_MATCH_ID_CHARS {
        return Err(InvalidResult::MatchIdTooLong);
    }
    if result.mode.is_empty() {
        return Err(InvalidResult::EmptyMode);
    }
    if result.mode.chars().count() > MAX_MODE_CHARS {
        return Err(InvalidResult::ModeTooLong);
    }
    if result.instance.chars().count() > MAX_INSTANCE_CHARS {
        return Err(InvalidResult::InstanceTooLong);
    }
    if result.teams.len() < 2 {
        return Err(InvalidResult::TooFewTeams(result.teams.len()));
    }
    if let Some(t) = result.teams.iter().position(|t| t.players.is_empty()) {
        return Err(InvalidResult::EmptyTeam(t));
    }
    if result.teams.iter().map(|t| t.players.len()).sum::<usize>() > MAX_PLAYERS {
        return Err(InvalidResult::TooManyPlayers);
    }
    let mut seen = std::collections::HashSet::new();
    for &(player, _) in result.teams.iter().flat_map(|t| &t.players) {
        if !seen.insert(player) {
            return Err(InvalidResult::DuplicatePlayer(player));
        }
    }
    result.started_ms.checked_add(result.duration_ms).ok_or(InvalidResult::EndOverflow)?;
    Ok(())
}

/// Writes the match, its players and every rating change in one transaction, exactly once per
/// match id: a second delivery, even concurrent with the first, returns
/// [`Recorded::AlreadyRecorded`] and changes nothing. An invalid result is an error (see
/// [`InvalidResult::of`]) and writes nothing.
///
/// After [`StoreError::Timeout`] the result may or may not have been written: deliver it again,
/// and the answer says which.
pub async fn record(store: &Store, result: &MatchResult) -> Result<Recorded, StoreError> {
    validate(result).map_err(|e| StoreError::Mysql(mysql_async::Error::Other(Box::new(e))))?;
    let result = Arc::new(result.clone());
    store
        .in_tx(|tx| {
            let result = result.clone();
            Box::pin(async move { write(tx, &result).await })
        })
        .await
}

type Tx = Transaction<'static>;

/// One attempt at [`record`], inside its transaction.
async fn write(tx: &mut Tx, r: &MatchResult) -> Result<Recorded, mysql_async::Error> {
    // Validated: cannot overflow.
    let ended_ms = r.started_ms.saturating_add(r.duration_ms);

    // The match row first: it is the claim on the match id.
    let inserted = tx
        .exec_drop(
            "INSERT INTO mm_matches (match_id, mode, instance, started_ms, duration_ms, ended_ms, teams) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            (&r.match_id, &r.mode, &r.instance, r.started_ms, r.duration_ms, ended_ms, r.teams.len() as u64),
        )
        .await;
    match inserted {
        Ok(()) => {}
        // Recorded before: the failed statement wrote nothing, so the transaction that
        // commits after this is empty.
        Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_ENTRY => return Ok(Recorded::AlreadyRecorded),
        Err(e) => return Err(e),
    }

    // Lock every player's rating row, creating it (at the default rating, no games) when the
    // player has none, in player id order (every writer locks in the same order). Making the
    // rows exist first matters: a locking read of a missing row would lock the gap where it
    // would go, and two matches of new players locking one gap and then inserting into it
    // deadlock each other. Inserts and exclusive locks on existing primary keys lock records
    // only. The `ON DUPLICATE KEY UPDATE` is a no-op whose point is to take the exclusive lock
    // on a row that exists.
    let mut players: Vec<u64> = r.teams.iter().flat_map(|t| t.players.iter().map(|&(p, _)| p)).collect();
    players.sort_unstable();
    let fresh = Rating::default();
    let mut params: Vec<Value> = Vec::with_capacity(players.len() * 5);
    for &p in &players {
        params.extend([
            p.into(),
            r.mode.as_str().into(),
            fresh.rating.into(),
            fresh.deviation.into(),
            fresh.volatility.into(),
        ]);
    }
    let sql = format!(
        "INSERT INTO mm_ratings \
         (player_id, mode, rating, deviation, volatility, games, wins, losses, draws, updated_ms) \
         VALUES {} ON DUPLICATE KEY UPDATE player_id = player_id",
        rows_of("(?, ?, ?, ?, ?, 0, 0, 0, 0, 0)", players.len())
    );
    tx.exec_drop(sql.as_str(), params).await?;

    // Their current ratings (a locking read sees the latest committed rows).
    let sql = format!(
        "SELECT player_id, rating, deviation, volatility, games FROM mm_ratings \
         WHERE mode = ? AND player_id IN ({}) ORDER BY player_id FOR UPDATE",
        placeholders(players.len())
    );
    let mut params: Vec<Value> = vec![r.mode.as_str().into()];
    params.extend(players.iter().map(|&p| Value::from(p)));
    let rows: Vec<(u64, f64, f64, f64, u64)> = tx.exec(sql.as_str(), params).await?;
    let games: HashMap<u64, u64> = rows.iter().map(|r| (r.0, r.4)).collect();
    let current: HashMap<u64, Rating> = rows
        .into_iter()
        .map(|(p, rating, deviation, volatility, _)| (p, Rating { rating, deviation, volatility }))
        .collect();

    let outcomes: Vec<TeamOutcome> = r
        .teams
        .iter()
        .map(|t| TeamOutcome {
            rank: t.rank,
            players: t
                .players
                .iter()
                .map(|&(p, party)| (p, party, current.get(&p).copied().unwrap_or_default()))
                .collect(),
        })
        .collect();
    let changes: Vec<RatingChange> = ratings::rate(&outcomes)
        .into_iter()
        .map(|(player, before, after)| RatingChange {
            player,
            before,
            after,
            games: games.get(&player).copied().unwrap_or(0) + 1,
        })
        .collect();

    // `rate` answers in the order of the teams and their players: walk them alongside.
    let best = r.teams.iter().map(|t| t.rank).min().unwrap_or(0);
    let best_count = r.teams.iter().filter(|t| t.rank == best).count();
    let slots =
        r.teams.iter().enumerate().flat_map(|(i, t)| {
            t.players.iter().enumerate().map(move |(slot, &(_, party))| (i, t, slot, party))
        });

    let mut rating_rows: Vec<Value> = Vec::with_capacity(changes.len() * 10);
    let mut player_rows: Vec<Value> = Vec::with_capacity(changes.len() * 14);
    for (change, (team_index, team, slot, party)) in changes.iter().zip(slots) {
        let (win, loss, draw) = match (team.rank == best, best_count) {
            (true, 1) => (1u32, 0u32, 0u32),
            (true, _) => (0, 0, 1),
            (false, _) => (0, 1, 0),
        };
        let (b, a) = (change.before, change.after);
        rating_rows.extend([
            change.player.into(),
            r.mode.as_str().into(),
            a.rating.into(),
            a.deviation.into(),
            a.volatility.into(),
            win.into(),
            loss.into(),
            draw.into(),
            ended_ms.into(),
        ]);
        player_rows.extend([
            r.match_id.as_str().into(),
            change.player.into(),
            (team_index as u64).into(),
            (slot as u64).into(),
            party.into(),
            team.rank.into(),
            team.score.into(),
            ended_ms.into(),
            b.rating.into(),
            b.deviation.into(),
            b.volatility.into(),
            a.rating.into(),
            a.deviation.into(),
            a.volatility.into(),
        ]);
    }

    let n = changes.len();
    let sql = format!(
        "INSERT INTO mm_ratings \
         (player_id, mode, rating, deviation, volatility, games, wins, losses, draws, updated_ms) \
         VALUES {} ON DUPLICATE KEY UPDATE rating = VALUES(rating), deviation = VALUES(deviation), \
         volatility = VALUES(volatility), games = games + 1, wins = wins + VALUES(wins), \
         losses = losses + VALUES(losses), draws = draws + VALUES(draws), updated_ms = VALUES(updated_ms)",
        rows_of("(?, ?, ?, ?, ?, 1, ?, ?, ?, ?)", n)
    );
    tx.exec_drop(sql.as_str(), rating_rows).await?;

    let sql = format!(
        "INSERT INTO mm_match_players (match_id, player_id, team, slot, party_id, team_rank, score, \
         ended_ms, rating_before, deviation_before, volatility_before, rating_after, deviation_after, \
         volatility_after) VALUES {}",
        rows_of("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n)
    );
    tx.exec_drop(sql.as_str(), player_rows).await?;

    Ok(Recorded::Written(changes))
}

/// `row, row, row`: `n` copies of one row of placeholders for a multi-row insert.
fn rows_of(row: &str, n: usize) -> String {
    vec![row; n].join(", ")
}

/// One match in a player's history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    pub match_id: String,
    pub mode: String,
    /// `started_ms + duration_ms` of the match.
    pub ended_ms: u64,
    pub duration_ms: u64,
    /// The player's team: an index into `teams`.
    pub team: u32,
    /// The player's team's rank (0 the best) and score.
    pub rank: u32,
    pub score: i64,
    pub rating_before: f64,
    pub rating_after: f64,
    /// Every team's players, in the order reported.
    pub teams: Vec<Vec<u64>>,
}

/// The player's last `limit` matches (at most [`MAX_HISTORY`]), newest first.
/// The players of the teams ranked first in a recorded match.
pub async fn winners(store: &Store, match_id: &str) -> Result<Vec<u64>, StoreError> {
    store
        .exec("SELECT player_id FROM mm_match_players WHERE match_id = ? AND team_rank = 0", (match_id,))
        .await
}

pub async fn history(store: &Store, player: u64, limit: u32) -> Result<Vec<HistoryEntry>, StoreError> {
    let limit = limit.min(MAX_HISTORY);
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Ties on the end time are broken by match id so that pages are stable.
    type Row = (String, String, u64, u64, u32, u32, i64, f64, f64);
    let rows: Vec<Row> = store
        .exec(
            "SELECT p.match_id, m.mode, m.ended_ms, m.duration_ms, p.team, p.team_rank, p.score, \
             p.rating_before, p.rating_after \
             FROM mm_match_players p JOIN mm_matches m ON m.match_id = p.match_id \
             WHERE p.player_id = ? ORDER BY p.ended_ms DESC, p.match_id DESC LIMIT ?",
            (player, limit),
        )
        .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }

    // Every player of those matches. A recorded match never changes, so reading this outside
    // the first statement's snapshot sees the same matches.
    let sql = format!(
        "SELECT match_id, team, player_id FROM mm_match_players WHERE match_id IN ({}) \
         ORDER BY match_id, team, slot",
        placeholders(rows.len())
    );
    let ids: Vec<Value> = rows.iter().map(|row| row.0.as_str().into()).collect();
    let roster: Vec<(String, u16, u64)> = store.exec(&sql, ids).await?;
    let mut teams: HashMap<String, Vec<Vec<u64>>> = HashMap::new();
    for (match_id, team, p) in roster {
        let team = usize::from(team);
        let t = teams.entry(match_id).or_default();
        if t.len() <= team {
            t.resize_with(team + 1, Vec::new);
        }
        t[team].push(p);
    }

    Ok(rows
        .into_iter()
        .map(|(match_id, mode, ended_ms, duration_ms, team, rank, score, rating_before, rating_after)| {
            let teams = teams.get(&match_id).cloned().unwrap_or_default();
            HistoryEntry {
                match_id,
                mode,
                ended_ms,
                duration_ms,
                team,
                rank,
                score,
                rating_before,
                rating_after,
                teams,
            }
        })
        .collect())
}
