//! The transactional outbox: an event written in the same MySQL transaction as the business
//! record it reports, so it exists exactly when the record does. The relay moves staged rows
//! to the `events` stream and deletes them.

use mmo_core::clock::now_ms;
use mmo_proto::bus::GameEvent;
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;
use prost::Message as _;

/// Stages `ev` in the caller's transaction: it is relayed to the events stream once the
/// transaction commits, and never if it rolls back.
pub async fn stage(tx: &mut Transaction<'_>, ev: &GameEvent) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO event_outbox (event_id, body, created_ms) VALUES (?, ?, ?)",
        (&ev.id, ev.encode_to_vec(), now_ms()),
    )
    .await
}
