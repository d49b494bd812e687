//! A consumer-group reader of one stream, at-least-once.
//!
//! Each entry is handed to the handler and acknowledged (XACK) only when the handler says it is
//! done. Entries are handled in stream order, one after the other, or, for a stream whose entries
//! are independent (a service's: the gateway keeps one request per session in flight), each in a
//! task of its own, up to [`GroupConsumer::with_entry_concurrency`] at once, while reading goes
//! on: a slow entry then holds up nothing read after it.
//!
//! An entry that is read and never acknowledged is taken over (XCLAIM) after `claim_idle` by
//! whichever consumer of the group looks first, so work survives a crashed instance, but only
//! when nobody is working on it: its consumer's node has no live heartbeat (it died), its
//! consumer stopped and handed it back (see below), or it is this consumer's own and not being
//! handled here (its handler asked for a retry). An entry that is merely slow, because its
//! consumer is overloaded, is never handled twice: taking it over would double the work of a
//! server that is already behind, and turn a backlog into a collapse. A consumer that stops
//! while its node lives on (a zone instance moving away) hands what it leaves unacknowledged to
//! a consumer name no node has (`<node>:left`), for the others to take over.
//!
//! An entry delivered `max_deliveries` times goes to the dead-letter stream (`<stream>:dead`) and
//! is acknowledged: a poison entry cannot block the group. When Redis answers NOGROUP (it
//! restarted empty, or was flushed), the group is created again from the start of the stream and
//! reading goes on.

use std::collections::HashSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use metrics::{counter, gauge};
use mmo_proto::bus::Batch;
use parking_lot::Mutex;
use prost::Message as _;
use redis::Value;
use redis::streams::{StreamInfoGroupsReply, StreamPendingCountReply, StreamPendingId, StreamPendingReply};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use self::entries::{Entry, entries, id_less, read_reply};
use super::{Bus, BusError, node};
use crate::backoff::Backoff;

mod entries;

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
    /// The consumer's name in the group: its node's id, so that whether it is alive can be
    /// told from the node's heartbeat.
    pub consumer: String,
    /// Entries handled at once: 1 handles them in stream order.
    entry_concurrency: usize,
    /// With entry concurrency, one permit per entry task running.
    slots: Option<Arc<Semaphore>>,
    /// With entry concurrency: ids of entries handled and not yet acknowledged.
    done: Arc<Mutex<Vec<String>>>,
    /// Ids of the entries being handled, or handled and not yet acknowledged, by this node's
    /// consumers of this stream and group ([`Bus`] keeps one set for them all).
    in_flight: InFlight,
    /// The connection the blocking reads use: this consumer's own, not the pool's (see
    /// [`Bus::dedicated`]); opened on the first read, dropped after any error or timeout.
    reader: Arc<tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>>,
}

/// Ids of stream entries being handled.
pub(crate) type InFlight = Arc<Mutex<HashSet<String>>>;

impl GroupConsumer {
    pub fn new(bus: Bus, stream: Arc<str>, group: impl Into<String>) -> GroupConsumer {
        let (consumer, group) = (bus.node().to_string(), group.into());
        let in_flight = bus.in_flight(&stream, &group);
        GroupConsumer {
            bus,
            stream,
            group,
            consumer,
            entry_concurrency: 1,
            slots: None,
            done: Arc::default(),
            in_flight,
            reader: Arc::default(),
        }
    }

    /// A consumer of a service's stream: the gateway keeps one request per session in flight, so
    /// its entries need no order among them and a whole read is handled at once (bound the
    /// envelopes with [`super::serve::EnvelopeSlots`]).
    pub fn for_service(bus: &Bus, stream: Arc<str>, group: impl Into<String>) -> GroupConsumer {
        let n = bus.config().read_count;
        GroupConsumer::new(bus.clone(), stream, group).with_entry_concurrency(n)
    }

    /// Handles each entry in a task of its own, up to `n` at once, and keeps reading meanwhile;
    /// each is acknowledged once it is done. For streams whose entries need no order among them.
    pub fn with_entry_concurrency(mut self, n: usize) -> GroupConsumer {
        self.entry_concurrency = n.clamp(1, Semaphore::MAX_PERMITS);
        self.slots = (self.entry_concurrency > 1).then(|| Arc::new(Semaphore::new(self.entry_concurrency)));
        self
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
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
        // Acknowledgements of the last batch travel with the next read: one round trip per cycle.
        let mut to_ack: Vec<String> = Vec::new();
        while !token.is_cancelled() {
            let read = tokio::select! {
                r = self.room_then_read(&to_ack) => r,
                _ = token.cancelled() => break,
            };
            // Acknowledged, or (on an error) pending again for whoever reclaims them.
            self.forget(&std::mem::take(&mut to_ack));
            match read {
                Ok(entries) => {
                    backoff.reset();
                    to_ack = self.dispatch(entries, &handler).await;
                    counter!(BUS_ENTRIES_HANDLED).increment(to_ack.len() as u64);
                }
                Err(_) if token.is_cancelled() => break,
                Err(e) => {
                    // Whether those acks landed is unknown; unacknowledged entries come back
                    // through the reclaimer (their ids have left `in_flight` above).
                    if !self.recover(&e).await {
                        counter!(BUS_READ_ERRORS).increment(1);
                        let pause = backoff.next_pause();
                        tracing::warn!(stream = %self.stream, error = %e, retry_in = ?pause, "bus read failed");
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = token.cancelled() => break,
                        }
                    }
                }
            }
        }
        // Entry tasks still running finish (within the shutdown's grace) and are acknowledged.
        if let Some(slots) = &self.slots {
            let _all = slots.acquire_many(u32::try_from(self.entry_concurrency).unwrap_or(u32::MAX)).await;
            to_ack.append(&mut self.done.lock());
        }
        if let Err(e) = self.ack(&to_ack).await {
            tracing::debug!(stream = %self.stream, error = %e, "final ack failed");
        }
        self.forget(&to_ack);
        let _ = reclaimer.await;
        if let Err(e) = self.release_pending().await {
            tracing::debug!(stream = %self.stream, error = %e, "pending entries not released");
        }
        self.bus.drop_in_flight(&self.stream, &self.group, &self.in_flight);
    }

    /// Hands the entries this consumer leaves unacknowledged to a consumer name that no node
    /// has, so that the group's other consumers take them over after `claim_idle`. They never
    /// take over a live node's entries, and this node may live on having given up only this
    /// stream (a zone instance that moved to another node).
    async fn release_pending(&self) -> Result<(), BusError> {
        let left = format!("{}:left", self.consumer);
        let count = self.bus.config().read_count.max(1);
        // Bounded: what is left beyond this many reads waits for this node's heartbeat to lapse.
        for _ in 0..16 {
            let pending = self.pending(0, count, Some(&self.consumer)).await?;
            let read = pending.len();
            // Not what another consumer of this node (the instance's next incarnation) is
            // working on.
            let ids: Vec<String> = {
                let in_flight = self.in_flight.lock();
                pending.into_iter().map(|p| p.id).filter(|id| !in_flight.contains(id)).collect()
            };
            if ids.is_empty() {
                return Ok(());
            }
            let mut conn = self.bus.conn().await?;
            // JUSTID: a hand-over is not a delivery, so it does not count towards max_deliveries.
            self.bus
                .timed(
                    redis::cmd("XCLAIM")
                        .arg(&*self.stream)
                        .arg(&self.group)
                        .arg(&left)
                        .arg(0)
                        .arg(&ids)
                        .arg("JUSTID")
                        .query_async::<Vec<String>>(&mut *conn),
                )
                .await?;
            if read < count {
                return Ok(());
            }
        }
        Ok(())
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

    /// Waits until an entry task could start (with entry concurrency), then acknowledges
    /// `to_ack` and reads as many entries as there is room for.
    async fn room_then_read(&self, to_ack: &[String]) -> Result<Vec<Entry>, BusError> {
        let count = match &self.slots {
            None => self.bus.config().read_count,
            Some(slots) => {
                // Never closed; only this loop waits here.
                drop(slots.acquire().await);
                slots.available_permits().clamp(1, self.bus.config().read_count)
            }
        };
        self.ack_and_read(to_ack, count).await
    }

    /// Handles what was read: in order, returning the ids to acknowledge; or, with entry
    /// concurrency, each in a task of its own, returning the ids of the tasks done so far.
    async fn dispatch(&self, entries: Vec<Entry>, handler: &EntryHandler) -> Vec<String> {
        let Some(slots) = &self.slots else { return self.handle_entries(entries, handler).await };
        for entry in entries {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                // Not reached: no more entries are read than there are permits.
                Err(_) => match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            self.in_flight.lock().insert(entry.id.clone());
            let (me, handler) = (self.clone(), handler.clone());
            tokio::spawn(async move {
                let id = entry.id.clone();
                match me.handle_entry(entry, &handler).await {
                    Some(id) => me.done.lock().push(id),
                    None => me.forget(&[id]),
                }
                drop(permit);
            });
        }
        std::mem::take(&mut *self.done.lock())
    }

    async fn ack_and_read(&self, to_ack: &[String], count: usize) -> Result<Vec<Entry>, BusError> {
        let cfg = self.bus.config();
        let mut reader = self.reader.lock().await;
        let conn = match &mut *reader {
            Some(conn) => conn,
            slot => slot.insert(self.bus.dedicated().await?),
        };
        let mut pipe = redis::pipe();
        if !to_ack.is_empty() {
            pipe.cmd("XACK").arg(&*self.stream).arg(&self.group).arg(to_ack).ignore();
        }
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(cfg.block.as_millis() as u64)
            .arg("STREAMS")
            .arg(&*self.stream)
            .arg(">");
        let limit = cfg.block + cfg.command_timeout;
        let result = match tokio::time::timeout(limit, pipe.query_async::<(Value,)>(conn)).await {
            Ok(Ok((reply,))) => return Ok(read_reply(reply)),
            Ok(Err(e)) => Err(BusError::from(e)),
            Err(_) => Err(BusError::Timeout(limit)),
        };
        // Whatever went wrong, the next read starts on a fresh connection (a timed-out one may
        // still deliver the late reply).
        *reader = None;
        result
    }

    /// Handles entries in order; returns the ids to acknowledge. Their ids are in `in_flight`
    /// from now until [`Self::forget`] after the acknowledgement (those not to be acknowledged
    /// leave it at once), so the reclaimer never takes over an entry that is being handled or is
    /// done.
    async fn handle_entries(&self, entries: Vec<Entry>, handler: &EntryHandler) -> Vec<String> {
        self.in_flight.lock().extend(entries.iter().map(|e| e.id.clone()));
        let mut done = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry.id.clone();
            match self.handle_entry(entry, handler).await {
                Some(id) => done.push(id),
                None => self.forget(&[id]),
            }
        }
        done
    }

    /// Takes ids out of `in_flight`: acknowledged, or left for a retry.
    fn forget(&self, ids: &[String]) {
        let mut in_flight = self.in_flight.lock();
        for id in ids {
            in_flight.remove(id);
        }
    }

    /// Handles one entry; returns its id if it is to be acknowledged. A handler that panics
    /// leaves its entry for a retry, and so, in the end, for the dead-letter stream.
    async fn handle_entry(&self, entry: Entry, handler: &EntryHandler) -> Option<String> {
        let batch = entry.blob.as_ref().and_then(|b| Batch::decode(b.clone()).ok());
        let Some(batch) = batch else {
            // Not a batch at all: no number of retries will help.
            self.dead_letter(&entry.id, entry.blob, 1, "undecodable entry").await;
            return Some(entry.id);
        };
        match AssertUnwindSafe(handler(batch)).catch_unwind().await {
            Ok(handled) => (handled == Handled::Ack).then_some(entry.id),
            Err(_) => {
                tracing::error!(stream = %self.stream, id = entry.id, "entry handler panicked; the entry will be retried");
                None
            }
        }
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

    /// Of the entries idle for `claim_idle`, those nobody is working on: dead-letters the ones
    /// delivered too often, then takes over and handles the others.
    pub async fn reclaim_once(&self, handler: &EntryHandler) -> Result<usize, BusError> {
        let cfg = self.bus.config().clone();
        let idle_ms = cfg.claim_idle.as_millis() as u64;
        let pending = self.pending(idle_ms, cfg.read_count, None).await?;
        let pending = self.abandoned(pending).await?;
        let mut poisoned = Vec::new();
        let mut claim = Vec::new();
        for (id, deliveries) in pending {
            if deliveries >= cfg.max_deliveries {
                let blob = self.entry_blob(&id).await?;
                self.dead_letter(&id, blob, deliveries, "too many deliveries").await;
                poisoned.push(id);
            } else {
                claim.push(id);
            }
        }
        self.ack(&poisoned).await?;
        if claim.is_empty() {
            return Ok(0);
        }
        let mut conn = self.bus.conn().await?;
        // XCLAIM key group consumer min-idle id...: [[id, [f, v]]...]. The min-idle makes it
        // atomic: an entry another consumer claimed (or read again) meanwhile is not idle any
        // more and stays with it.
        let claimed: Value = self
            .bus
            .timed(
                redis::cmd("XCLAIM")
                    .arg(&*self.stream)
                    .arg(&self.group)
                    .arg(&self.consumer)
                    .arg(idle_ms)
                    .arg(&claim)
                    .query_async(&mut *conn),
            )
            .await?;
        drop(conn);
        let entries = entries(claimed);
        let n = entries.len();
        if n > 0 {
            counter!(BUS_ENTRIES_RECLAIMED).increment(n as u64);
            tracing::info!(stream = %self.stream, entries = n, "took over entries of an unresponsive consumer");
            let done = self.handle_entries(entries, handler).await;
            counter!(BUS_ENTRIES_HANDLED).increment(done.len() as u64);
            let acked = self.ack(&done).await;
            self.forget(&done);
            acked?;
        }
        Ok(n)
    }

    /// Up to `count` pending entries idle for at least `idle_ms`, of `consumer` or of all.
    async fn pending(
        &self,
        idle_ms: u64,
        count: usize,
        consumer: Option<&str>,
    ) -> Result<Vec<StreamPendingId>, BusError> {
        let mut conn = self.bus.conn().await?;
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&*self.stream).arg(&self.group).arg("IDLE").arg(idle_ms).arg("-").arg("+").arg(count);
        if let Some(c) = consumer {
            cmd.arg(c);
        }
        let reply: StreamPendingCountReply = self.bus.timed(cmd.query_async(&mut *conn)).await?;
        Ok(reply.ids)
    }

    /// Of `pending`, the entries nobody is working on, with their deliveries: this consumer's
    /// own that it is not handling, and those of consumers whose node has no live heartbeat.
    async fn abandoned(&self, pending: Vec<StreamPendingId>) -> Result<Vec<(String, u64)>, BusError> {
        let others = pending.iter().any(|p| p.consumer != self.consumer);
        let live: HashSet<String> =
            if others { node::live_nodes(&self.bus).await?.into_iter().collect() } else { HashSet::new() };
        let in_flight = self.in_flight.lock();
        Ok(pending
            .into_iter()
            .filter(|p| {
                if p.consumer == self.consumer {
                    !in_flight.contains(&p.id)
                } else {
                    !live.contains(&p.consumer)
                }
            })
            .map(|p| (p.id, p.times_delivered as u64))
            .collect())
    }

    async fn entry_blob(&self, id: &str) -> Result<Option<Bytes>, BusError> {
        let mut conn = self.bus.conn().await?;
        let range: Value = self
            .bus
            .timed(redis::cmd("XRANGE").arg(&*self.stream).arg(id).arg(id).query_async(&mut *conn))
            .await?;
        Ok(entries(range).into_iter().next().and_then(|e| e.blob))
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
        let info: StreamInfoGroupsReply = self
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
        let first_id = entries(first).into_iter().next().map(|e| e.id);
        let Some(group) = info.groups.iter().find(|g| g.name == self.group) else { return Ok(()) };
        let labels = [("stream", self.stream.to_string())];
        if let Some(lag) = group.lag {
            gauge!(BUS_LAG, &labels).set(lag as f64);
        }
        gauge!(BUS_PENDING, &labels).set(group.pending as f64);
        let last = &group.last_delivered_id;
        if let Some(first) = first_id.as_deref()
            && id_less(last, first)
            && last != "0-0"
        {
            counter!(BUS_TRIMMED_UNREAD, &labels).increment(1);
            tracing::error!(stream = %self.stream, group = %self.group, "entries were trimmed before the group read them");
        }
        // Only when this group is the stream's only reader: another group's progress is not ours
        // to judge.
        if info.groups.len() == 1 {
            let mut safe = last.clone();
            let summary: StreamPendingReply = self
                .bus
                .timed(redis::cmd("XPENDING").arg(&*self.stream).arg(&self.group).query_async(&mut *conn))
                .await?;
            if let StreamPendingReply::Data(pending) = summary
                && id_less(&pending.start_id, &safe)
            {
                safe = pending.start_id;
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
