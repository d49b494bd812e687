//! The `game_events` table: multi-row `INSERT IGNORE` keyed by the event's id (an event
//! delivered twice is one row), a player's recent events, pages in time order for the export,
//! and retention.

use mmo_core::store::{Store, StoreError};
use mmo_proto::bus::GameEvent;
use mysql_async::Value;
use prost::Message as _;

/// Columns of one row, in the order of [`INSERT_COLUMNS`].
const COLUMNS: usize = 6;
const INSERT_COLUMNS: &str = "INSERT IGNORE INTO game_events (id, kind, player, at_ms, node, body) VALUES ";

/// Longest `kind` and `node` the columns hold; longer ones are cut (the body keeps them whole).
const KIND_MAX: usize = 32;
const NODE_MAX: usize = 64;
const ID_MAX: usize = 96;

fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Writes `events` in one statement (autocommit: all or none); returns the rows that were
/// new (events stored before are skipped). Events with an id too long for the key are left
/// out (never emitted by this framework).
pub async fn insert(store: &Store, events: &[GameEvent]) -> Result<u64, StoreError> {
    let events: Vec<&GameEvent> =
        events.iter().filter(|e| !e.id.is_empty() && e.id.len() <= ID_MAX).collect();
    if events.is_empty() {
        return Ok(0);
    }
    let mut sql = String::with_capacity(INSERT_COLUMNS.len() + events.len() * 20);
    sql.push_str(INSERT_COLUMNS);
    let mut params: Vec<Value> = Vec::with_capacity(events.len() * COLUMNS);
    for (i, e) in events.iter().enumerate() {
        sql.push_str(if i == 0 { "(?,?,?,?,?,?)" } else { ",(?,?,?,?,?,?)" });
        params.push(e.id.clone().into());
        params.push(cut(&e.kind, KIND_MAX).into());
        params.push(e.player.into());
        params.push(e.at_ms.into());
        params.push(cut(&e.node, NODE_MAX).into());
        params.push(e.encode_to_vec().into());
    }
    let mut conn = store.conn().await?;
    let r = store
        .timed("eventlog_insert", async {
            use mysql_async::prelude::Queryable as _;
            conn.exec_drop(sql, params).await?;
            Ok(conn.affected_rows())
        })
        .await;
    drop(conn);
    r
}

/// An event as stored: its row's body decoded.
fn decode(body: Vec<u8>) -> Option<GameEvent> {
    GameEvent::decode(body.as_slice()).ok()
}

/// `player`'s newest `limit` events, newest first.
pub async fn of_player(store: &Store, player: u64, limit: u32) -> Result<Vec<GameEvent>, StoreError> {
    let rows: Vec<Vec<u8>> = store
        .exec(
            "SELECT body FROM game_events WHERE player = ? ORDER BY at_ms DESC, id DESC LIMIT ?",
            (player, limit),
        )
        .await?;
    Ok(rows.into_iter().filter_map(decode).collect())
}

/// Where a page of [`page`] starts: after this event (time, then id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub at_ms: u64,
    pub id: String,
}

/// Up to `limit` events with `since_ms <= at_ms < until_ms` after `after` (if given), in time
/// order (ties by id), and the cursor for the next page (`None` at the end).
pub async fn page(
    store: &Store,
    since_ms: u64,
    until_ms: u64,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<(Vec<GameEvent>, Option<Cursor>), StoreError> {
    let rows: Vec<(u64, String, Vec<u8>)> = match after {
        None => {
            store
                .exec(
                    "SELECT at_ms, id, body FROM game_events WHERE at_ms >= ? AND at_ms < ? \
                     ORDER BY at_ms, id LIMIT ?",
                    (since_ms, until_ms, limit),
                )
                .await?
        }
        Some(c) => {
            store
                .exec(
                    "SELECT at_ms, id, body FROM game_events WHERE at_ms < ? AND \
                     (at_ms > ? OR (at_ms = ? AND id > ?)) ORDER BY at_ms, id LIMIT ?",
                    (until_ms, c.at_ms, c.at_ms, c.id.as_str(), limit),
                )
                .await?
        }
    };
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|(at_ms, id, _)| Cursor { at_ms: *at_ms, id: id.clone() }))
        .flatten();
    Ok((rows.into_iter().filter_map(|(_, _, body)| decode(body)).collect(), next))
}

/// Deletes up to `limit` events older than `before_ms`; returns how many went.
pub async fn delete_older(store: &Store, before_ms: u64, limit: u32) -> Result<u64, StoreError> {
    let mut conn = store.conn().await?;
    store
        .timed("eventlog_retention", async {
            use mysql_async::prelude::Queryable as _;
            conn.exec_drop(
                "DELETE FROM game_events WHERE at_ms < ? ORDER BY at_ms LIMIT ?",
                (before_ms, limit),
            )
            .await?;
            Ok(conn.affected_rows())
        })
        .await
}
