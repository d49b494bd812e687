//! The outbox relay: moves events staged in `event_outbox` (by [`crate::outbox::stage`], in
//! the transaction of the business record they report) to the `events` stream, then deletes
//! their rows.
//!
//! One relay works at a time, the holder of a lease in Redis (renewed every round; another
//! instance takes over once it lapses). Several at once would still be harmless: an event
//! relayed twice is one row in `game_events` (the writer's `INSERT IGNORE`) and every other
//! reader of the stream is idempotent. Rows are read in `seq` order, `relay_batch` at a time,
//! written with XADD and the write confirmed before their rows are deleted (by `seq`, never by
//! range: a transaction that took a lower `seq` may commit later). If Redis is down, or was
//! flushed, the rows stay and the relay backs off; nothing is lost.

use std::time::Duration;

use bytes::Bytes;
use metrics::counter;
use mmo_core::Shutdown;
use mmo_core::backoff::Backoff;
use mmo_core::bus::Bus;
use mmo_proto::bus::{Batch, Command, Envelope, GameEvent};
use prost::Message as _;

use crate::{EventlogConfig, EventlogError, SERVICE};

pub const RELAYED: &str = "mmo_eventlog_relayed_total";
pub const RELAY_ERRORS: &str = "mmo_eventlog_relay_errors_total";

/// Takes the lease, or renews it if this node holds it; true if this node holds it now.
const LEASE: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end \
    return 0";

/// Gives the lease up if this node holds it.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 0";

/// The relay lease's key.
pub fn lease_key(bus: &Bus) -> String {
    bus.keys().owned(SERVICE, "relay")
}

/// Takes or renews the relay lease for `ttl`.
pub async fn lease(bus: &Bus, ttl: Duration) -> Result<bool, EventlogError> {
    let mut conn = bus.conn().await?;
    let held: i64 = bus
        .timed(
            redis::Script::new(LEASE)
                .key(lease_key(bus))
                .arg(bus.node())
                .arg(ttl.as_millis() as u64)
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(held == 1)
}

/// Gives the lease up if this node holds it (on shutdown: another instance takes over at once
/// instead of after `relay_lease`).
pub async fn release(bus: &Bus) -> Result<(), EventlogError> {
    let mut conn = bus.conn().await?;
    let _: i64 = bus
        .timed(redis::Script::new(RELEASE).key(lease_key(bus)).arg(bus.node()).invoke_async(&mut *conn))
        .await?;
    Ok(())
}

/// Relays one round: up to `limit` staged rows, oldest first. Returns how many were relayed.
pub async fn relay_once(
    bus: &Bus,
    store: &mmo_core::store::Store,
    limit: u32,
) -> Result<usize, EventlogError> {
    let rows: Vec<(u64, Vec<u8>)> =
        store.exec("SELECT seq, body FROM event_outbox ORDER BY seq LIMIT ?", (limit,)).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let envelopes: Vec<Envelope> = rows
        .iter()
        .map(|(_, body)| {
            // The player travels beside the body like every emitted event's (`events::send`).
            let player = GameEvent::decode(body.as_slice()).map(|e| e.player).unwrap_or(0);
            Command { player, body: Bytes::from(body.clone()) }.into()
        })
        .collect();
    let cfg = bus.config();
    let stream = bus.keys().events();
    let mut pipe = redis::pipe();
    for chunk in envelopes.chunks(cfg.batch_max.max(1)) {
        let batch = Batch { from: bus.node().to_string(), envelopes: chunk.to_vec() };
        pipe.cmd("XADD")
            .arg(&*stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(cfg.stream_maxlen)
            .arg("*")
            .arg("b")
            .arg(batch.encode_to_vec())
            .ignore();
    }
    {
        let mut conn = bus.conn().await?;
        // Confirmed: the entries are in Redis before the rows go.
        bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    }
    let seqs: Vec<u64> = rows.iter().map(|(seq, _)| *seq).collect();
    let marks = vec!["?"; seqs.len()].join(",");
    store.exec_drop(&format!("DELETE FROM event_outbox WHERE seq IN ({marks})"), seqs).await?;
    counter!(RELAYED).increment(rows.len() as u64);
    Ok(rows.len())
}

/// Relays while this node holds the lease, until shutdown: at once again after a full round,
/// after `relay_interval` after a short one, with backoff (up to `max_backoff`) after an error.
pub async fn run(bus: Bus, store: mmo_core::store::Store, cfg: EventlogConfig, shutdown: Shutdown) {
    let token = shutdown.token();
    let mut backoff = Backoff::new(cfg.relay_interval, cfg.max_backoff);
    loop {
        let round = async {
            if !lease(&bus, cfg.relay_lease).await? {
                return Ok(0);
            }
            relay_once(&bus, &store, cfg.relay_batch).await
        };
        let pause = match round.await {
            Ok(n) if n as u32 >= cfg.relay_batch => {
                backoff.reset();
                Duration::ZERO
            }
            Ok(_) => {
                backoff.reset();
                cfg.relay_interval
            }
            Err(e) => {
                counter!(RELAY_ERRORS).increment(1);
                let pause = backoff.next_pause();
                tracing::warn!(error = %e, retry_in = ?pause, "outbox relay failed; the rows stay staged");
                pause
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = token.cancelled() => break,
        }
    }
    if let Err(e) = release(&bus).await {
        tracing::debug!(error = %e, "relay lease not given up; it lapses");
    }
}
