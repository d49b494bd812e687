//! The leaderboard's MySQL tables: `lb_scores` (every entry, the record boards are rebuilt
//! from), `lb_results` (a season's final ranks, rewards granted) and `lb_seasons` (seasons
//! rolled over).

use std::sync::Arc;

use mmo_core::store::{Store, StoreError, Upsert};
use mysql_async::Value;

use crate::config::{BoardConfig, Direction, Mode};

/// One stored entry: (player, score, achieved ms).
pub type Row = (u64, i64, u64);

/// A changed entry on its way to `lb_scores`, through the scores' write-behind
/// ([`crate::submitter`]): several instances write the same rows, so each carries a version
/// and a row never goes back to an older state ([`Upsert::VERSION`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoreRow {
    pub board: Arc<str>,
    pub season: u64,
    pub player: u64,
    pub score: i64,
    pub achieved_ms: u64,
    pub version: i64,
}

/// A row's key in the write-behind: (board, season, player).
pub type ScoreKey = (Arc<str>, u64, u64);

impl ScoreRow {
    /// The row of an entry as the submit script left it. Its version: on best boards the
    /// score as "higher is better" (the submit only moves an entry to a better score), on
    /// cumulative boards the achieved time (the later sum wins; within one millisecond, which
    /// of two instances writes last).
    pub fn new(
        board: Arc<str>,
        cfg: &BoardConfig,
        season: u64,
        (player, score, achieved_ms): Row,
    ) -> ScoreRow {
        let version = match (cfg.mode, cfg.direction) {
            (Mode::Best, Direction::Descending) => score,
            (Mode::Best, Direction::Ascending) => score.saturating_neg(),
            (Mode::Cumulative, _) => i64::try_from(achieved_ms).unwrap_or(i64::MAX),
        };
        ScoreRow { board, season, player, score, achieved_ms, version }
    }

    pub fn key(&self) -> ScoreKey {
        (self.board.clone(), self.season, self.player)
    }
}

impl Upsert for ScoreRow {
    const TABLE: &'static str = "lb_scores";
    const COLUMNS: &'static [&'static str] =
        &["board", "season", "player", "score", "achieved_ms", "version"];
    const KEY_COLUMNS: &'static [&'static str] = &["board", "season", "player"];
    const VERSION: Option<&'static str> = Some("version");
    fn version(&self) -> Option<i64> {
        Some(self.version)
    }
    fn write_params(&self, out: &mut Vec<Value>) {
        out.extend([
            Value::from(&*self.board),
            self.season.into(),
            self.player.into(),
            self.score.into(),
            self.achieved_ms.into(),
            self.version.into(),
        ]);
    }
}

/// Up to `limit` entries of a season with a player id over `after` (a rebuild's pages).
pub async fn page(
    store: &Store,
    board: &str,
    season: u64,
    after: u64,
    limit: u32,
) -> Result<Vec<Row>, StoreError> {
    store
        .exec(
            "SELECT player, score, achieved_ms FROM lb_scores WHERE board = ? AND season = ? AND player > ? \
             ORDER BY player LIMIT ?",
            (board, season, after, limit),
        )
        .await
}

/// Whether a season has any stored entry.
pub async fn any(store: &Store, board: &str, season: u64) -> Result<bool, StoreError> {
    let one: Option<u8> = store
        .exec_first("SELECT 1 FROM lb_scores WHERE board = ? AND season = ? LIMIT 1", (board, season))
        .await?;
    Ok(one.is_some())
}

/// Every entry of a season in board order (score, then earlier achieved, then player).
pub async fn season_rows(
    store: &Store,
    board: &str,
    cfg: &BoardConfig,
    season: u64,
) -> Result<Vec<Row>, StoreError> {
    let order = match cfg.direction {
        Direction::Descending => "score DESC",
        Direction::Ascending => "score ASC",
    };
    store
        .exec(
            &format!(
                "SELECT player, score, achieved_ms FROM lb_scores WHERE board = ? AND season = ? \
                 ORDER BY {order}, achieved_ms, player"
            ),
            (board, season),
        )
        .await
}

/// Whether a season's rollover has finished.
pub async fn finished(store: &Store, board: &str, season: u64) -> Result<bool, StoreError> {
    let done: Option<u8> = store
        .exec_first("SELECT done FROM lb_seasons WHERE board = ? AND season = ?", (board, season))
        .await?;
    Ok(done == Some(1))
}

/// The seasons before `current` with entries whose rollover has not finished.
pub async fn unfinished(store: &Store, board: &str, current: u64) -> Result<Vec<u64>, StoreError> {
    store
        .exec(
            "SELECT DISTINCT s.season FROM lb_scores s LEFT JOIN lb_seasons d \
             ON d.board = s.board AND d.season = s.season \
             WHERE s.board = ? AND s.season < ? AND (d.done IS NULL OR d.done = 0) ORDER BY s.season",
            (board, current),
        )
        .await
}
