//! Chat in MySQL: every message (a bounded queue written in batches by one task, so a slow
//! database never slows chat down), the retention cleanup, the moderators' audit trail, and
//! looking messages up for reports and deletes.

use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::clock::now_ms;
use mmo_core::store::{Store, StoreError};
use tokio::sync::mpsc;

/// Messages dropped because the write queue was full.
pub const STORE_DROPPED: &str = "mmo_chat_store_dropped_total";
/// Messages written to MySQL.
pub const STORE_WRITTEN: &str = "mmo_chat_store_written_total";

/// Rows per INSERT.
const BATCH: usize = 500;

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub id: u64,
    /// The channel key; empty for a whisper.
    pub channel: String,
    pub sender: u64,
    /// A whisper's recipient (0 for a channel message).
    pub recipient: u64,
    pub text: String,
    pub sent_ms: u64,
}

/// The queue to the writer task.
#[derive(Clone, Debug)]
pub struct Writer(mpsc::Sender<Row>);

impl Writer {
    /// Starts the writer task: it drains the queue in batches until shutdown.
    pub fn start(store: Store, capacity: usize, shutdown: &Shutdown) -> Writer {
        let (tx, mut rx) = mpsc::channel::<Row>(capacity.max(1));
        let token = shutdown.token();
        shutdown.spawn(async move {
            loop {
                let first = tokio::select! {
                    r = rx.recv() => r,
                    _ = token.cancelled() => { rx.close(); rx.recv().await }
                };
                let Some(first) = first else { return };
                let mut rows = vec![first];
                while rows.len() < BATCH {
                    match rx.try_recv() {
                        Ok(r) => rows.push(r),
                        Err(_) => break,
                    }
                }
                if let Err(e) = insert(&store, &rows).await {
                    metrics::counter!(STORE_DROPPED).increment(rows.len() as u64);
                    tracing::warn!(error = %e, rows = rows.len(), "chat messages not stored");
                } else {
                    metrics::counter!(STORE_WRITTEN).increment(rows.len() as u64);
                }
            }
        });
        Writer(tx)
    }

    /// Queues a row; a full queue drops it (counted).
    pub fn push(&self, row: Row) {
        if self.0.try_send(row).is_err() {
            metrics::counter!(STORE_DROPPED).increment(1);
        }
    }
}

async fn insert(store: &Store, rows: &[Row]) -> Result<(), StoreError> {
    let marks = vec!["(?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
    let sql = format!(
        "INSERT IGNORE INTO chat_messages (id, channel, sender, recipient, text, sent_ms) VALUES {marks}"
    );
    let mut params: Vec<mysql_async::Value> = Vec::with_capacity(rows.len() * 6);
    for r in rows {
        params.extend([
            r.id.into(),
            r.channel.clone().into(),
            r.sender.into(),
            r.recipient.into(),
            r.text.clone().into(),
            r.sent_ms.into(),
        ]);
    }
    store.exec_drop(&sql, params).await
}

/// Deletes messages older than `retention`, every `every`, until shutdown.
pub fn cleanup_loop(store: Store, retention: Duration, every: Duration, shutdown: &Shutdown) {
    let token = shutdown.token();
    shutdown.spawn(async move {
        loop {
            match cleanup(&store, retention).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old chat messages deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "chat cleanup failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = token.cancelled() => return,
            }
        }
    });
}

/// Deletes the messages sent before `retention` ago, in batches; returns how many.
pub async fn cleanup(store: &Store, retention: Duration) -> Result<u64, StoreError> {
    let before = now_ms().saturating_sub(retention.as_millis() as u64);
    let mut total = 0;
    loop {
        let ids: Vec<u64> =
            store.exec("SELECT id FROM chat_messages WHERE sent_ms < ? LIMIT 1000", (before,)).await?;
        if ids.is_empty() {
            return Ok(total);
        }
        let marks = vec!["?"; ids.len()].join(",");
        let params: Vec<mysql_async::Value> = ids.iter().map(|i| (*i).into()).collect();
        store.exec_drop(&format!("DELETE FROM chat_messages WHERE id IN ({marks})"), params).await?;
        total += ids.len() as u64;
    }
}

/// The stored messages among `ids` (not deleted by a moderator).
pub async fn lookup(store: &Store, ids: &[u64]) -> Result<Vec<Row>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; ids.len()].join(",");
    let params: Vec<mysql_async::Value> = ids.iter().map(|i| (*i).into()).collect();
    let rows: Vec<(u64, String, u64, u64, String, u64)> = store
        .exec(
            &format!(
                "SELECT id, channel, sender, recipient, text, sent_ms FROM chat_messages \
                 WHERE id IN ({marks}) AND deleted = 0 ORDER BY id"
            ),
            params,
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, channel, sender, recipient, text, sent_ms)| Row {
            id,
            channel,
            sender,
            recipient,
            text,
            sent_ms,
        })
        .collect())
}

/// Marks a message deleted; its channel key if it was stored.
pub async fn mark_deleted(store: &Store, id: u64) -> Result<Option<String>, StoreError> {
    let ch: Option<String> =
        store.exec_first("SELECT channel FROM chat_messages WHERE id = ?", (id,)).await?;
    store.exec_drop("UPDATE chat_messages SET deleted = 1 WHERE id = ?", (id,)).await?;
    Ok(ch)
}

/// One moderator action, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct Audit<'a> {
    pub moderator: &'a str,
    pub action: &'a str,
    pub player: u64,
    pub channel: &'a str,
    pub message_id: u64,
    pub detail: &'a str,
}

/// Writes an audit row.
pub async fn audit(store: &Store, a: &Audit<'_>) -> Result<(), StoreError> {
    let detail: String = a.detail.chars().take(255).collect();
    store
        .exec_drop(
            "INSERT INTO chat_audit (at_ms, moderator, action, player, channel, message_id, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now_ms(), a.moderator, a.action, a.player, a.channel, a.message_id, detail),
        )
        .await
}
