//! The writer: reads the `events` stream through the `eventlog` consumer group and stores
//! every event in `game_events`, in multi-row batches.
//!
//! Each stream entry (a batch of envelopes, each an event) is handled in a task of its own, up
//! to `entries_in_flight` at once: it hands its events to the batcher and waits for the batch
//! that holds them to commit; only then is the entry acknowledged. The batcher writes when it
//! has `batch_rows` rows or `linger` has passed since the first. A failed write fails every
//! entry of the batch, which stays pending and is delivered again (the core consumer: a
//! retry after `claim_idle`, taken over by another writer if this one died, dead-lettered
//! after `max_deliveries`). A writer that dies between the commit and the acknowledgement
//! has its entries written again by whoever takes them over: `INSERT IGNORE` keyed by the
//! event id keeps that to one row per event.

use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, histogram};
use mmo_core::Shutdown;
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::{Bus, BusError, events};
use mmo_core::store::{Store, StoreError};
use mmo_proto::bus::GameEvent;
use tokio::sync::{mpsc, oneshot};

use crate::{EventlogConfig, SERVICE, rows};

pub const EVENTS_WRITTEN: &str = "mmo_eventlog_rows_written_total";
pub const EVENTS_DUPLICATE: &str = "mmo_eventlog_rows_duplicate_total";
pub const WRITE_ERRORS: &str = "mmo_eventlog_write_errors_total";
pub const BATCH_ROWS: &str = "mmo_eventlog_batch_rows";

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
        shutdown.spawn(run(store, rx, cfg.batch_rows as usize, cfg.linger));
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

/// Collects jobs into batches of up to `max_rows` rows (or what came within `linger`), writes
/// each, and answers every job of it.
async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max_rows: usize, linger: Duration) {
    while let Some(first) = rx.recv().await {
        let deadline = tokio::time::Instant::now() + linger;
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
        let ok = write_jobs(&store, &jobs, max_rows).await;
        for job in jobs {
            let _ = job.done.send(ok);
        }
    }
}

/// Writes the jobs' events in statements of at most `max_rows` rows.
async fn write_jobs(store: &Store, jobs: &[Job], max_rows: usize) -> bool {
    let all: Vec<GameEvent> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
    for chunk in all.chunks(max_rows.max(1)) {
        match write_chunk(store, chunk).await {
            Ok(()) => {}
            Err(e) => {
                counter!(WRITE_ERRORS).increment(1);
                tracing::warn!(error = %e, rows = chunk.len(), "events not written; their entries are delivered again");
                return false;
            }
        }
    }
    true
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
