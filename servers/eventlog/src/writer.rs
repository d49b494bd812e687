//! The writer: reads the `events` stream through the `eventlog` consumer group and stores
//! every event in `game_events`, in multi-row batches.
//!
//! Each stream entry (a batch of envelopes, each an event) is handled in a task of its own, up
//! to `entries_in_flight` at once: it hands its events to the batcher and waits for the batch
//! that holds them to commit; only then is the entry acknowledged. The batcher closes a batch
//! when it has `batch_rows` rows or `linger` has passed since the first, and writes up to
//! `writers` batches at once. While MySQL is unavailable
//! (down, timing out, conflicting) the batcher retries the same batch with backoff (up to
//! `max_backoff`), its entries held in flight: an entry being handled is never taken over nor
//! counted towards the dead-letter limit, and reading stops once `entries_in_flight` are
//! waiting, so an outage of any length costs no event. Any other failure (a statement MySQL
//! refuses) fails every entry of the batch after [`OTHER_ATTEMPTS`] tries: they stay pending and
//! are delivered again (the core consumer: a retry after `claim_idle`, dead-lettered after
//! `max_deliveries`). On shutdown a batch not yet written is left pending the same way. A
//! writer that dies between the commit and the acknowledgement has its entries taken over by
//! another writer and written again: `INSERT IGNORE` keyed by the event id keeps that to one
//! row per event.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, histogram};
use mmo_core::Shutdown;
use mmo_core::backoff::Backoff;
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::{Bus, BusError, events};
use mmo_core::store::{Store, StoreError};
use mmo_proto::bus::GameEvent;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::{EventlogConfig, SERVICE, rows};

pub const EVENTS_WRITTEN: &str = "mmo_eventlog_rows_written_total";
pub const EVENTS_DUPLICATE: &str = "mmo_eventlog_rows_duplicate_total";
pub const WRITE_ERRORS: &str = "mmo_eventlog_write_errors_total";
pub const BATCH_ROWS: &str = "mmo_eventlog_batch_rows";

/// Tries of a batch that fails for a reason other than MySQL being unavailable.
pub const OTHER_ATTEMPTS: u32 = 3;

/// One entry's events and where to say whether they were stored.
struct Job {
    events: Vec<GameEvent>,
    done: oneshot::Sender<bool>,
}

/// Hands events to the batcher; cheap to clone.
#[derive(Clone)]
pub struct Batcher(mpsc::Sender<Job>);

impl Batcher {
    /// Starts the batcher task writing to `store`.
    pub fn start(store: Store, cfg: &EventlogConfig, shutdown: &Shutdown) -> Batcher {
        let (tx, rx) = mpsc::channel(cfg.entries_in_flight as usize);
        let limits = Limits {
            max_rows: cfg.batch_rows as usize,
            linger: cfg.linger,
            max_backoff: cfg.max_backoff,
            writers: cfg.writers,
        };
        shutdown.spawn(run(store, rx, limits, shutdown.token()));
        Batcher(tx)
    }

    /// Stores `events`; true once the batch holding them committed.
    pub async fn write(&self, events: Vec<GameEvent>) -> bool {
        if events.is_empty() {
            return true;
        }
        let (done, rx) = oneshot::channel();
        if self.0.send(Job { events, done }).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

#[derive(Clone, Copy)]
struct Limits {
    max_rows: usize,
    linger: Duration,
    max_backoff: Duration,
    writers: u32,
}

/// Collects jobs into batches of up to `max_rows` rows (or what came within `linger`) and
/// writes each in a task of its own, up to `writers` at once (while one batch commits, the
/// next forms and goes; rows need no order among them).
async fn run(store: Store, mut rx: mpsc::Receiver<Job>, limits: Limits, stop: CancellationToken) {
    let max_rows = limits.max_rows;
    let writers = Arc::new(Semaphore::new(limits.writers as usize));
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + limits.linger;
        let mut rows = first.events.len();
        let mut jobs = vec![first];
        while rows < max_rows {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => {
                    rows += job.events.len();
                    jobs.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let Ok(permit) = writers.clone().acquire_owned().await else { break };
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            write_batch(&store, jobs, limits, &stop).await;
            drop(permit);
        });
    }
    // The batches in flight finish (or, on shutdown, give up) before the task ends.
    let _all = writers.acquire_many(limits.writers).await;
}

/// Writes one batch (retrying while MySQL is unavailable, until `stop`) and answers every job
/// of it.
async fn write_batch(store: &Store, jobs: Vec<Job>, limits: Limits, stop: &CancellationToken) {
    let max_rows = limits.max_rows;
    let all: Vec<GameEvent> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
    let mut backoff = Backoff::new(Duration::from_millis(50), limits.max_backoff);
    let mut other_failures = 0;
    let ok = loop {
        let e = match write_all(store, &all, max_rows).await {
            Ok(()) => break true,
            Err(e) => e,
        };
        counter!(WRITE_ERRORS).increment(1);
        if !e.is_unavailable() {
            other_failures += 1;
            if other_failures >= OTHER_ATTEMPTS {
                tracing::error!(error = %e, entries = jobs.len(), "events not written; their entries are delivered again");
                break false;
            }
        }
        let pause = backoff.next_pause();
        tracing::warn!(error = %e, retry_in = ?pause, "events not written yet; retrying");
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            // Left pending: delivered again to this group after the restart, or taken over.
            _ = stop.cancelled() => break false,
        }
    };
    for job in jobs {
        let _ = job.done.send(ok);
    }
}

/// Writes a batch's events in statements of at most `max_rows` rows (a repeat after a failure
/// writes the chunks already written again: `INSERT IGNORE` skips their rows).
async fn write_all(store: &Store, all: &[GameEvent], max_rows: usize) -> Result<(), StoreError> {
    for chunk in all.chunks(max_rows.max(1)) {
        write_chunk(store, chunk).await?;
    }
    Ok(())
}

async fn write_chunk(store: &Store, chunk: &[GameEvent]) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let new = rows::insert(store, chunk).await?;
    histogram!(BATCH_ROWS).record(chunk.len() as f64);
    histogram!("mmo_eventlog_batch_seconds").record(started.elapsed().as_secs_f64());
    counter!(EVENTS_WRITTEN).increment(new);
    counter!(EVENTS_DUPLICATE).increment((chunk.len() as u64).saturating_sub(new));
    Ok(())
}

/// The handler of the writer's consumer: each entry's events go to `batcher`; acknowledged
/// once stored.
pub fn handler(batcher: Batcher) -> EntryHandler {
    Arc::new(move |batch: mmo_proto::bus::Batch| {
        let batcher = batcher.clone();
        Box::pin(async move {
            let events: Vec<GameEvent> = batch.envelopes.iter().filter_map(events::decode).collect();
            if batcher.write(events).await { Handled::Ack } else { Handled::Retry }
        })
    })
}

/// The writer's consumer of the events stream (group `eventlog`), entries handled at once up
/// to `entries_in_flight`.
pub fn consumer(bus: &Bus, cfg: &EventlogConfig) -> GroupConsumer {
    GroupConsumer::new(bus.clone(), bus.keys().events(), SERVICE)
        .with_entry_concurrency(cfg.entries_in_flight as usize)
}

/// Starts the writer: the consumer group (created from the start of the stream if missing),
/// the batcher and the reading task.
pub async fn start(
    bus: &Bus,
    store: Store,
    cfg: &EventlogConfig,
    shutdown: &Shutdown,
) -> Result<(), BusError> {
    // Live for the group: without a heartbeat, the others would take over its entries.
    bus.start_heartbeat(shutdown).await?;
    let consumer = consumer(bus, cfg);
    consumer.ensure_group().await?;
    let batcher = Batcher::start(store, cfg, shutdown);
    shutdown.spawn(consumer.run(handler(batcher), shutdown.token()));
    Ok(())
}
