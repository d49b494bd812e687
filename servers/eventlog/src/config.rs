//! The `[eventlog]` section: how the writer batches events into MySQL, how the outbox relay
//! moves staged events to the stream, and how long events are kept.

use std::time::Duration;

use serde::Deserialize;

/// Settings of the event log (the `[eventlog]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventlogConfig {
    /// Rows in one multi-row `INSERT IGNORE` at most. Default 500.
    pub batch_rows: u32,
    /// How long the writer waits for more events before it writes a batch that is not full.
    /// Default 20ms.
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Batches the writer writes to MySQL at once (on connections of the pool). Default 4.
    pub writers: u32,
    /// Stream entries the writer works on at once (read, waiting for their batch to commit);
    /// each is acknowledged once the batch holding its events committed. Default 64.
    pub entries_in_flight: u32,
    /// Outbox rows relayed to the stream in one round. Default 500.
    pub relay_batch: u32,
    /// How often the relay looks for staged rows when it found none. Default 200ms.
    #[serde(with = "humantime_serde")]
    pub relay_interval: Duration,
    /// The relay's lease in Redis: one instance relays at a time; another takes over this long
    /// after it stopped renewing. Default 10s.
    #[serde(with = "humantime_serde")]
    pub relay_lease: Duration,
    /// Longest pause between retries while Redis or MySQL is down. Default 5s.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Events older than this are deleted; 0 keeps them forever. Default 0.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often events past `retention` are deleted. Default 1h.
    #[serde(with = "humantime_serde")]
    pub cleanup_interval: Duration,
    /// Rows one retention `DELETE` removes at most (it repeats until none are left). Default
    /// 5000.
    pub cleanup_batch: u32,
}

impl Default for EventlogConfig {
    fn default() -> Self {
        EventlogConfig {
            batch_rows: 500,
            linger: Duration::from_millis(20),
            writers: 4,
            entries_in_flight: 64,
            relay_batch: 500,
            relay_interval: Duration::from_millis(200),
            relay_lease: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
            retention: Duration::ZERO,
            cleanup_interval: Duration::from_secs(3600),
            cleanup_batch: 5000,
        }
    }
}

impl EventlogConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let counts =
            [self.batch_rows, self.writers, self.entries_in_flight, self.relay_batch, self.cleanup_batch];
        if counts.contains(&0) {
            return Err(
                "eventlog: batch_rows, writers, entries_in_flight, relay_batch and cleanup_batch must be at \
                 least 1"
                    .into(),
            );
        }
        if self.writers > 64 {
            return Err("eventlog: writers must be at most 64".into());
        }
        if self.relay_interval.is_zero() || self.cleanup_interval.is_zero() || self.max_backoff.is_zero() {
            return Err("eventlog: relay_interval, cleanup_interval and max_backoff must be over 0".into());
        }
        if self.relay_lease < Duration::from_secs(1) {
            return Err("eventlog: relay_lease must be at least 1s".into());
        }
        Ok(())
    }
}
