//! The producer side: buffer envelopes per destination, write them as batches.
//!
//! One flusher task per process owns the writing. When it is idle, the first envelope wakes it
//! and it writes at once; while that write (one pipelined round trip for every destination) is
//! in flight, new envelopes pile up and go together in the next one. Under light load an
//! envelope waits for nothing; under heavy load batches grow up to `batch_max` envelopes per
//! entry. Order per destination is kept: one writer, batches written in the order they formed.
//! A failed write is retried with backoff, keeping its place ahead of newer envelopes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use metrics::{counter, histogram};
use mmo_proto::bus::{Batch, Envelope};
use parking_lot::Mutex;
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError};
use crate::backoff::Backoff;

pub const BUS_ENVELOPES_SENT: &str = "mmo_bus_envelopes_sent_total";
pub const BUS_ENTRIES_SENT: &str = "mmo_bus_entries_sent_total";
pub const BUS_SEND_ERRORS: &str = "mmo_bus_send_errors_total";
pub const BUS_SEND_REJECTED: &str = "mmo_bus_send_rejected_total";
pub const BUS_FLUSH_SECONDS: &str = "mmo_bus_flush_duration_seconds";

pub struct Producer {
    state: Mutex<Pending>,
    wake: Notify,
    flushed: Notify,
    max_pending: usize,
}

#[derive(Default)]
struct Pending {
    /// Destinations in first-use order, each with its envelopes in send order.
    streams: Vec<(Arc<str>, Vec<Envelope>)>,
    index: HashMap<Arc<str>, usize>,
    count: usize,
    /// Envelopes taken by the flusher and not yet confirmed written.
    in_flight: usize,
    /// Incremented after each successful write: lets `wait_flushed` know its envelopes are out.
    generation: u64,
}

impl Producer {
    pub(crate) fn new(max_pending: usize) -> Producer {
        Producer { state: Mutex::default(), wake: Notify::new(), flushed: Notify::new(), max_pending }
    }

    pub(crate) fn push(&self, stream: &Arc<str>, env: Envelope) -> Result<(), BusError> {
        self.push_all(stream, vec![env])
    }

    /// Queues `envs` for `stream` under one lock, so the flusher takes all of them or none.
    pub(crate) fn push_all(&self, stream: &Arc<str>, envs: Vec<Envelope>) -> Result<(), BusError> {
        let mut st = self.state.lock();
        if st.count + st.in_flight + envs.len() > self.max_pending {
            counter!(BUS_SEND_REJECTED).increment(envs.len() as u64);
            return Err(BusError::Full(st.count + st.in_flight));
        }
        let idx = match st.index.get(stream) {
            Some(i) => *i,
            None => {
                st.streams.push((stream.clone(), Vec::new()));
                let i = st.streams.len() - 1;
                st.index.insert(stream.clone(), i);
                i
            }
        };
        st.count += envs.len();
        st.streams[idx].1.extend(envs);
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    fn take(&self) -> Vec<(Arc<str>, Vec<Envelope>)> {
        let mut st = self.state.lock();
        st.index.clear();
        st.in_flight += st.count;
        st.count = 0;
        std::mem::take(&mut st.streams)
    }

    /// Puts a batch that could not be written back in front of anything newer.
    fn restore(&self, mut failed: Vec<(Arc<str>, Vec<Envelope>)>) {
        let mut st = self.state.lock();
        let n: usize = failed.iter().map(|(_, v)| v.len()).sum();
        st.in_flight -= n;
        let newer = std::mem::take(&mut st.streams);
        for (stream, envs) in newer {
            match failed.iter_mut().find(|(s, _)| *s == stream) {
                Some((_, v)) => v.extend(envs),
                None => failed.push((stream, envs)),
            }
        }
        st.index = failed.iter().enumerate().map(|(i, (s, _))| (s.clone(), i)).collect();
        st.count += n;
        st.streams = failed;
    }

    fn written(&self, n: usize) {
        let mut st = self.state.lock();
        st.in_flight -= n;
        st.generation += 1;
        drop(st);
        self.flushed.notify_waiters();
    }

    pub(crate) async fn wait_flushed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.flushed.notified();
            {
                let st = self.state.lock();
                if st.count == 0 && st.in_flight == 0 {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

/// The flusher: runs until shutdown, then writes what is left (bounded by the command timeout).
pub(crate) async fn run_flusher(bus: Bus, token: CancellationToken) {
    let producer = bus.producer();
    let closed = bus.closed();
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        if closed.is_cancelled() {
            // A closed bus writes nothing more (what is left was for readers that are gone).
            return;
        }
        let batches = producer.take();
        if batches.is_empty() {
            if token.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = producer.wake.notified() => continue,
                _ = token.cancelled() => continue,
                _ = closed.cancelled() => return,
            }
        }
        let n: usize = batches.iter().map(|(_, v)| v.len()).sum();
        let started = std::time::Instant::now();
        match write(&bus, &batches).await {
            Ok(entries) => {
                histogram!(BUS_FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
                counter!(BUS_ENVELOPES_SENT).increment(n as u64);
                counter!(BUS_ENTRIES_SENT).increment(entries as u64);
                producer.written(n);
                backoff.reset();
            }
            Err(e) => {
                counter!(BUS_SEND_ERRORS).increment(1);
                let pause = backoff.next_pause();
                tracing::warn!(error = %e, envelopes = n, retry_in = ?pause, "bus write failed");
                producer.restore(batches);
                if token.is_cancelled() && backoff.at_max() {
                    tracing::error!(envelopes = n, "bus write still failing at shutdown; giving up");
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Encodes each destination's envelopes into entries of at most `batch_max` and XADDs them all
/// in one pipeline. Returns the number of entries written.
async fn write(bus: &Bus, batches: &[(Arc<str>, Vec<Envelope>)]) -> Result<usize, BusError> {
    let cfg = bus.config();
    let mut pipe = redis::pipe();
    let mut entries = 0;
    let from = bus.node().to_string();
    for (stream, envs) in batches {
        for chunk in envs.chunks(cfg.batch_max.max(1)) {
            let batch = Batch { from: from.clone(), envelopes: chunk.to_vec() };
            let blob = Bytes::from(batch.encode_to_vec());
            pipe.cmd("XADD")
                .arg(&**stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(cfg.stream_maxlen)
                .arg("*")
                .arg("b")
                .arg(blob.as_ref())
                .ignore();
            entries += 1;
        }
    }
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    Ok(entries)
}
