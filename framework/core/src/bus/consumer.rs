//! A consumer-group reader of one stream, at-least-once.
//!
//! Each entry is handed to the handler and acknowledged (XACK) only when the handler says it is
//! done. An entry that is read and never acknowledged (its consumer died, or its handler asked
//! for a retry) is taken over after `claim_idle` by whichever consumer of the group looks first
//! (XAUTOCLAIM), so work survives a crashed instance. An entry delivered `max_deliveries` times
//! goes to the dead-letter stream (`<stream>:dead`) and is acknowledged: a poison entry cannot
//! block the group. When Redis answers NOGROUP (it restarted empty, or was flushed), the group is
//! created again from the start of the stream and reading goes on.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metrics::{counter, gauge};
use mmo_proto::bus::Batch;
use prost::Message as _;
use redis::Value;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError};

pub const BUS_ENTRIES_HANDLED: &str = "mmo_bus_entries_handled_total";
pub const BUS_ENTRIES_RECLAIMED: &str = "mmo_bus_entries_reclaimed_total";
pub const BUS_DEAD_LETTERS: &str = "mmo_bus_dead_letters_total";
pub const BUS_GROUPS_RECREATED: &str = "mmo_bus_groups_recreated_total";
pub const BUS_READ_ERRORS: &str = "mmo_bus_read_errors_total";
pub const BUS_LAG: &str = "mmo_bus_lag_entries";
pub const BUS_PENDING: &str = "mmo_bus_pending_entries";
pub const BUS_TRIMMED_UNREAD: &str = "mmo_bus_trimmed_unread_total";

/// What the handler decided about an entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Handled {
    /// Done: acknowledge.
    Ack,
    /// Not done: leave it pending; it is delivered again after `claim_idle`.
    Retry,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Handles one entry's batch. Must be idempotent where it matters: delivery is at least once.
pub type EntryHandler = Arc<dyn Fn(Batch) -> BoxFuture<Handled> + Send + Sync>;

#[derive(Clone)]
pub struct GroupConsumer {
    pub bus: Bus,
    pub stream: Arc<str>,
    pub group: String,
    pub consumer: String,
}

/// One entry as read: its id and its raw batch blob.
struct Entry {
    id: String,
    blob: Option<Bytes>,
}

impl GroupConsumer {
    pub fn new(bus: Bus, stream: Arc<str>, group: impl Into<String>) -> GroupConsumer {
        let consumer = bus.node().to_string();
        GroupConsumer { bus, stream, group: group.into(), consumer }
    }

    /// Creates the group (from the start of the stream, creating the stream) unless it exists.
    pub async fn ensure_group(&self) -> Result<(), BusError> {
        let mut conn = self.bus.conn().await?;
        let r: Result<(), redis::RedisError> = self
            .bus
            .timed(
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&*self.stream)
                    .arg(&self.group)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async(&mut *conn),
            )
            .await
            .map_err(|e| match e {
                BusError::Redis(e) => e,
                other => redis::RedisError::from((redis::ErrorKind::IoError, "xgroup", other.to_string())),
            });
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads and handles entries until `token` is cancelled; a second task reclaims entries
    /// abandoned by dead consumers and dead-letters poison ones.
    pub async fn run(self, handler: EntryHandler, token: CancellationToken) {
        // Stops on `token` or when the bus is closed, whichever comes first.
        let token = {
            let (merged, outer, closed) = (CancellationToken::new(), token, self.bus.closed());
            let m = merged.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = outer.cancelled() => {}
                    _ = closed.cancelled() => {}
                }
                m.cancel();
            });
            merged
        };
        let reclaimer = tokio::spawn(self.clone().reclaim_loop(handler.clone(), token.clone()));
        let mut backoff = Duration::from_millis(50);
        // Acknowledgements of the last batch travel with the next read: one round trip per cycle.
        let mut to_ack: Vec<String> = Vec::new();
        while !token.is_cancelled() {
            let read = tokio::select! {
                r = self.ack_and_read(&to_ack) => r,
                _ = token.cancelled() => break,
            };
            match read {
                Ok(entries) => {
                    backoff = Duration::from_millis(50);
                    to_ack = self.handle_entries(entries, &handler).await;
                    counter!(BUS_ENTRIES_HANDLED).increment(to_ack.len() as u64);
                }
                Err(_) if token.is_cancelled() => break,
                Err(e) => {
                    // Whether those acks landed is unknown; unacknowledged entries come back.
                    to_ack.clear();
                    if !self.recover(&e).await {
                        counter!(BUS_READ_ERRORS).increment(1);
                        tracing::warn!(stream = %self.stream, error = %e, retry_in = ?backoff, "bus read failed");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = token.cancelled() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                    }
                }
            }
        }
        if let Err(e) = self.ack(&to_ack).await {
            tracing::debug!(stream = %self.stream, error = %e, "final ack failed");
        }
        let _ = reclaimer.await;
    }

    /// On NOGROUP, re-creates the group and returns true (read again at once).
    async fn recover(&self, e: &BusError) -> bool {
        let BusError::Redis(re) = e else { return false };
        if re.code() != Some("NOGROUP") {
            return false;
        }
        match self.ensure_group().await {
            Ok(()) => {
                counter!(BUS_GROUPS_RECREATED).increment(1);
                tracing::warn!(stream = %self.stream, group = %self.group, "consumer group was missing; recreated");
                true
            }
            Err(_) => false,
        }
    }

    async fn ack_and_read(&self, to_ack: &[String]) -> Result<Vec<Entry>, BusError> {
        let cfg = self.bus.config();
        let mut conn = self.bus.conn().await?;
        let mut pipe = redis::pipe();
        if !to_ack.is_empty() {
            pipe.cmd("XACK").arg(&*self.stream).arg(&self.group).arg(to_ack).ignore();
        }
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(cfg.read_count)
            .arg("BLOCK")
            .arg(cfg.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&*self.stream)
            .arg(">");
        let limit = cfg.block + cfg.command_timeout;
        let (value,): (Value,) = match tokio::time::timeout(limit, pipe.query_async(&mut *conn)).await {
            Ok(r) => r?,
            Err(_) => return Err(BusError::Timeout(limit)),
        };
        Ok(parse_read_reply(value))
    }

    /// Handles entries in order; returns the ids to acknowledge.
    async fn handle_entries(&self, entries: Vec<Entry>, handler: &EntryHandler) -> Vec<String> {
        let mut done = Vec::with_capacity(entries.len());
        for entry in entries {
            let batch = entry.blob.as_ref().and_then(|b| Batch::decode(b.clone()).ok());
            let Some(batch) = batch else {
                // Not a batch at all: no number of retries will help.
                self.dead_letter(&entry.id, entry.blob, 1, "undecodable entry").await;
                done.push(entry.id);
                continue;
            };
            if handler(batch).await == Handled::Ack {
                done.push(entry.id);
            }
        }
        done
    }

    async fn ack(&self, ids: &[String]) -> Result<(), BusError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.bus.conn().await?;
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&*self.stream).arg(&self.group).arg(ids);
        self.bus.timed(cmd.query_async::<()>(&mut *conn)).await
    }

    async fn reclaim_loop(self, handler: EntryHandler, token: CancellationToken) {
        let interval = self.bus.config().claim_interval;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = token.cancelled() => return,
            }
            let reclaimed = self.reclaim_once(&handler).await;
            if token.is_cancelled() {
                // Never recover (which creates the stream) once told to stop: the stream may be
                // being deleted.
                return;
            }
            if let Err(e) = reclaimed
                && !self.recover(&e).await
            {
                tracing::debug!(stream = %self.stream, error = %e, "reclaim failed");
            }
            if let Err(e) = self.maintain().await {
                tracing::debug!(stream = %self.stream, error = %e, "stream maintenance failed");
            }
        }
    }

    /// Dead-letters entries delivered too often, then takes over the other idle ones.
    pub async fn reclaim_once(&self, handler: &EntryHandler) -> Result<usize, BusError> {
        let cfg = self.bus.config().clone();
        let idle_ms = cfg.claim_idle.as_millis() as u64;
        let mut conn = self.bus.conn().await?;
        // XPENDING key group IDLE ms - + count: [[id, consumer, idle, deliveries], ...]
        let pending: Vec<(String, String, u64, u64)> = self
            .bus
            .timed(
                redis::cmd("XPENDING")
                    .arg(&*self.stream)
                    .arg(&self.group)
                    .arg("IDLE")
                    .arg(idle_ms)
                    .arg("-")
                    .arg("+")
                    .arg(cfg.read_count)
                    .query_async(&mut *conn),
            )
            .await?;
        drop(conn);
        let mut poisoned = Vec::new();
        for (id, _, _, deliveries) in &pending {
            if *deliveries >= cfg.max_deliveries {
                let blob = self.entry_blob(id).await?;
                self.dead_letter(id, blob, *deliveries, "too many deliveries").await;
                poisoned.push(id.clone());
            }
        }
        self.ack(&poisoned).await?;
        if pending.len() == poisoned.len() {
            return Ok(0);
        }
        let mut conn = self.bus.conn().await?;
        // XAUTOCLAIM key group consumer min-idle start COUNT n: [next, [[id, [f, v]]...], deleted]
        let value: Value = self
            .bus
            .timed(
                redis::cmd("XAUTOCLAIM")
                    .arg(&*self.stream)
                    .arg(&self.group)
                    .arg(&self.consumer)
                    .arg(idle_ms)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(cfg.read_count)
                    .query_async(&mut *conn),
            )
            .await?;
        drop(conn);
        let entries = match value {
            Value::Array(mut parts) if parts.len() >= 2 => parse_entries(parts.swap_remove(1)),
            _ => Vec::new(),
        };
        let n = entries.len();
        if n > 0 {
            counter!(BUS_ENTRIES_RECLAIMED).increment(n as u64);
            tracing::info!(stream = %self.stream, entries = n, "took over entries of an unresponsive consumer");
            let done = self.handle_entries(entries, handler).await;
            counter!(BUS_ENTRIES_HANDLED).increment(done.len() as u64);
            self.ack(&done).await?;
        }
        Ok(n)
    }

    async fn entry_blob(&self, id: &str) -> Result<Option<Bytes>, BusError> {
        let mut conn = self.bus.conn().await?;
        let value: Value = self
            .bus
            .timed(redis::cmd("XRANGE").arg(&*self.stream).arg(id).arg(id).query_async(&mut *conn))
            .await?;
        Ok(parse_entries(value).into_iter().next().and_then(|e| e.blob))
    }

    async fn dead_letter(&self, id: &str, blob: Option<Bytes>, deliveries: u64, reason: &str) {
        counter!(BUS_DEAD_LETTERS).increment(1);
        tracing::error!(stream = %self.stream, id, deliveries, reason, "entry moved to the dead-letter stream");
        let dead = self.bus.keys().dead_letter(&self.stream);
        let Ok(mut conn) = self.bus.conn().await else { return };
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&dead)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.bus.config().stream_maxlen)
            .arg("*")
            .arg("b")
            .arg(blob.as_deref().unwrap_or_default())
            .arg("origin_id")
            .arg(id)
            .arg("group")
            .arg(&self.group)
            .arg("deliveries")
            .arg(deliveries)
            .arg("reason")
            .arg(reason);
        if let Err(e) = self.bus.timed(cmd.query_async::<()>(&mut *conn)).await {
            tracing::error!(error = %e, "could not write the dead letter");
        }
    }

    /// Exports lag and pending counts; counts entries trimmed before this group read them (the
    /// group's last delivered id is older than the stream's first entry); and trims what every
    /// group is done with, so a stream holds only unhandled entries (its length is the backlog,
    /// not history).
    pub async fn maintain(&self) -> Result<(), BusError> {
        let mut conn = self.bus.conn().await?;
        let groups: Value = self
            .bus
            .timed(redis::cmd("XINFO").arg("GROUPS").arg(&*self.stream).query_async(&mut *conn))
            .await?;
        let first: Value = self
            .bus
            .timed(
                redis::cmd("XRANGE")
                    .arg(&*self.stream)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut *conn),
            )
            .await?;
        let first_id = parse_entries(first).into_iter().next().map(|e| e.id);
        let Value::Array(groups) = groups else { return Ok(()) };
        let mut safe_ids = Vec::new();
        let group_count = groups.len();
        for g in groups {
            let fields = map_fields(g);
            if fields.iter().find(|(k, _)| k == "name").map(|(_, v)| v.as_str()) != Some(self.group.as_str())
            {
                continue;
            }
            let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            let labels = [("stream", self.stream.to_string())];
            if let Some(lag) = get("lag").and_then(|v| v.parse::<f64>().ok()) {
                gauge!(BUS_LAG, &labels).set(lag);
            }
            if let Some(p) = get("pending").and_then(|v| v.parse::<f64>().ok()) {
                gauge!(BUS_PENDING, &labels).set(p);
            }
            if let (Some(last), Some(first)) = (get("last-delivered-id"), first_id.as_deref())
                && id_less(&last, first)
                && last != "0-0"
            {
                counter!(BUS_TRIMMED_UNREAD, &labels).increment(1);
                tracing::error!(stream = %self.stream, group = %self.group, "entries were trimmed before the group read them");
            }
            if let Some(last) = get("last-delivered-id") {
                safe_ids.push(last);
            }
        }
        // Only when this group is the stream's only reader: another group's progress is not ours
        // to judge.
        if group_count == 1 && safe_ids.len() == 1 {
            let mut safe = safe_ids.swap_remove(0);
            // XPENDING summary: [count, smallest id, greatest id, consumers].
            let summary: (u64, Option<String>, Option<String>, Value) = self
                .bus
                .timed(redis::cmd("XPENDING").arg(&*self.stream).arg(&self.group).query_async(&mut *conn))
                .await?;
            if let Some(oldest) = summary.1
                && id_less(&oldest, &safe)
            {
                safe = oldest;
            }
            if safe != "0-0" {
                // MINID keeps `safe` itself and everything after it.
                let _: u64 = self
                    .bus
                    .timed(
                        redis::cmd("XTRIM")
                            .arg(&*self.stream)
                            .arg("MINID")
                            .arg("~")
                            .arg(&safe)
                            .query_async(&mut *conn),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}

fn id_less(a: &str, b: &str) -> bool {
    let parse = |s: &str| {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (ms.parse::<u64>().unwrap_or(0), seq.parse::<u64>().unwrap_or(0))
    };
    parse(a) < parse(b)
}

fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Nil => None,
        _ => None,
    }
}

/// XINFO replies: a flat [k, v, k, v...] array (RESP2) or a map (RESP3).
fn map_fields(v: Value) -> Vec<(String, String)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| Some((value_string(&kv[0])?, value_string(kv.get(1)?).unwrap_or_default())))
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((value_string(k)?, value_string(v).unwrap_or_default())))
            .collect(),
        _ => Vec::new(),
    }
}

/// XREADGROUP reply: [[stream, [[id, [field, value, ...]], ...]]] (or nil on timeout).
fn parse_read_reply(v: Value) -> Vec<Entry> {
    match v {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => parse_entries(kv.swap_remove(1)),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().flat_map(|(_, entries)| parse_entries(entries)).collect(),
        _ => Vec::new(),
    }
}

/// [[id, [field, value, ...]], ...] -> entries with their "b" field.
fn parse_entries(v: Value) -> Vec<Entry> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(mut parts) = item else { return None };
            if parts.len() != 2 {
                return None;
            }
            let fields = parts.pop()?;
            let id = value_string(&parts[0])?;
            let blob = match fields {
                Value::Array(fv) => {
                    let mut it = fv.into_iter();
                    let mut blob = None;
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        if value_string(&k).as_deref() == Some("b")
                            && let Value::BulkString(b) = v
                        {
                            blob = Some(Bytes::from(b));
                        }
                    }
                    blob
                }
                // A deleted entry still pending shows as nil fields.
                _ => None,
            };
            Some(Entry { id, blob })
        })
        .collect()
}
