//! The leaderboard's MySQL tables: `lb_scores` (every entry, the record boards are rebuilt
//! from), `lb_results` (a season's final ranks, rewards granted) and `lb_seasons` (seasons
//! rolled over).

use mmo_core::store::{Store, StoreError};

use crate::config::{BoardConfig, Direction, Mode};

/// One stored entry: (player, score, achieved ms).
pub type Row = (u64, i64, u64);

/// Writes a changed entry. Best boards keep the better score (a straggling older write cannot
/// undo a newer better one); cumulative boards keep the later sum.
pub async fn save(
    store: &Store,
    board: &str,
    cfg: &BoardConfig,
    season: u64,
    (player, score, achieved): Row,
) -> Result<(), StoreError> {
    // The score column is assigned second, so both conditions still see its old value.
    let sql = match (cfg.mode, cfg.direction) {
        (Mode::Best, Direction::Descending) => {
            "INSERT INTO lb_scores (board, season, player, score, achieved_ms) VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE achieved_ms = IF(VALUES(score) > score, VALUES(achieved_ms), achieved_ms), \
             score = IF(VALUES(score) > score, VALUES(score), score)"
        }
        (Mode::Best, Direction::Ascending) => {
            "INSERT INTO lb_scores (board, season, player, score, achieved_ms) VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE achieved_ms = IF(VALUES(score) < score, VALUES(achieved_ms), achieved_ms), \
             score = IF(VALUES(score) < score, VALUES(score), score)"
        }
        (Mode::Cumulative, _) => {
            "INSERT INTO lb_scores (board, season, player, score, achieved_ms) VALUES (?, ?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE score = IF(VALUES(achieved_ms) >= achieved_ms, VALUES(score), score), \
             achieved_ms = GREATEST(achieved_ms, VALUES(achieved_ms))"
        }
    };
    store.exec_drop(sql, (board, season, player, score, achieved)).await
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
