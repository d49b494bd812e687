//! What the swarm measured: each bot's tally, how tallies merge, and the report printed for people
//! and serialised as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::scenario::Scenario;

/// Significant figures of the latency histograms. Two (1% resolution) rather than the usual three,
/// because every bot owns a histogram: at two figures one covering loopback latencies takes ~5 KB
/// instead of ~16 KB, the difference between ~50 MB and ~160 MB for 10,000 bots. 1% of a p99 is
/// well below the run-to-run noise of the machines this runs on.
const SIGFIG: u8 = 2;

/// Latencies above an hour are recorded as an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Errors counted by kind, with the first message seen for each kind, so a report says *why*
/// ("connect: Connection refused") and not only how many.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Errors {
    pub by_kind: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, String>,
}

impl Errors {
    /// Counts `n` errors of `kind`; `example` is kept if it is the first of its kind.
    pub fn record_n(&mut self, kind: impl Into<String>, n: u64, example: impl fmt::Display) {
        let kind = kind.into();
        if !self.examples.contains_key(&kind) {
            self.examples.insert(kind.clone(), example.to_string());
        }
        *self.by_kind.entry(kind).or_default() += n;
    }

    pub fn record(&mut self, kind: impl Into<String>, example: impl fmt::Display) {
        self.record_n(kind, 1, example);
    }

    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    pub fn merge(&mut self, other: Errors) {
        for (kind, n) in other.by_kind {
            *self.by_kind.entry(kind).or_default() += n;
        }
        for (kind, example) in other.examples {
            self.examples.entry(kind).or_insert(example);
        }
    }
}

/// One bot's counts; merged, the swarm's.
///
/// Only *measured* requests (scheduled inside the measurement window) are counted in `sent`,
/// `answered` and `lost`; heartbeats before the window or while holding are not.
#[derive(Debug)]
pub struct Tally {
    /// Bots that completed the handshake (0 or 1 for one bot).
    pub connected: u64,
    /// Measured requests written.
    pub sent: u64,
    /// Measured requests answered with the expected response.
    pub answered: u64,
    /// Measured requests never answered: in flight when the connection died, or still in flight
    /// when the drain after the window ran out.
    pub lost: u64,
    /// Responses to a seq that was already answered or never sent.
    pub duplicated: u64,
    pub errors: Errors,
    /// Latency of answered measured requests, from the *scheduled* send time to receipt, in µs.
    pub latency_us: Histogram<u64>,
    /// Over measured requests sent: how long after its scheduled time each was written, in µs
    /// (the bots' own lateness, which the latency includes), summed and at most.
    pub send_lag_us_sum: u64,
    pub send_lag_us_max: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            connected: 0,
            sent: 0,
            answered: 0,
            lost: 0,
            duplicated: 0,
            errors: Errors::default(),
            // `new` auto-resizes: a bot pays only for the range of latencies it has seen.
            latency_us: Histogram::new(SIGFIG).expect("2 significant figures is a valid precision"),
            send_lag_us_sum: 0,
            send_lag_us_max: 0,
        }
    }

    pub fn record_latency(&mut self, latency: Duration) {
        // `record`, not `saturating_record`: only `record` grows an auto-resizing histogram; the
        // saturating one clamps to the range seen so far. The cap keeps a wild value (a bot
        // suspended for days) from growing the histogram without bound.
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).min(MAX_LATENCY_US);
        if self.latency_us.record(us).is_err() {
            self.latency_us.saturating_record(us);
        }
    }

    /// Counts one measured request written `lag` after its scheduled time.
    pub fn record_send_lag(&mut self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.send_lag_us_sum = self.send_lag_us_sum.saturating_add(us);
        self.send_lag_us_max = self.send_lag_us_max.max(us);
    }

    pub fn merge(&mut self, other: Tally) {
        self.connected += other.connected;
        self.send_lag_us_sum = self.send_lag_us_sum.saturating_add(other.send_lag_us_sum);
        self.send_lag_us_max = self.send_lag_us_max.max(other.send_lag_us_max);
        self.sent += other.sent;
        self.answered += other.answered;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.errors.merge(other.errors);
        // Both histograms resize themselves, so adding cannot run out of range; if it ever did,
        // the counts above are still right and only the percentiles would be missing samples.
        if let Err(e) = self.latency_us.add(&other.latency_us) {
            tracing::warn!(error = %e, "latency histogram merge failed");
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn from_histogram(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// How late the bots wrote their measured requests, against their schedule, in milliseconds.
/// Part of every latency; a large mean says the bots, not the server, were the bottleneck.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SendLag {
    pub mean: f64,
    pub max: f64,
}

/// The run's settings that the report repeats, so a JSON file says what was measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunFacts {
    pub scenario: Scenario,
    pub bots: usize,
    /// Per bot, between measured requests (`None` in closed loop).
    pub interval: Option<Duration>,
    /// Across all bots, measured requests per second asked for (`None` in closed loop).
    pub rate: Option<f64>,
    /// Echo payload in bytes (`None` without one).
    pub payload: Option<usize>,
    pub closed_loop: bool,
    pub duration: Duration,
    pub ramp_up: Duration,
    pub interrupted: bool,
}

/// The summary of one run. The JSON form is this struct; its field names are the contract
/// scripts read.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub bots: usize,
    /// Length of the measurement window: as asked, or up to the interrupt.
    pub duration_s: f64,
    /// Bots that completed the handshake.
    pub connected: u64,
    /// From the first connect to the last bot's handshake (or failure).
    pub ramp_up_s: f64,
    /// The requested interval between measured requests of one bot (`null` in closed loop). Named
    /// for the first scenario; in `echo` it is `bots / rate`.
    pub ping_interval_ms: Option<f64>,
    /// Measured requests per second across all bots that the schedule asked for (`null` in closed
    /// loop). In `ping`, before the cap at the server's heartbeat rate.
    pub rate: Option<f64>,
    /// Bytes of payload per request (`null` for scenarios without one).
    pub payload: Option<usize>,
    /// Each bot sent its next request when the previous was answered, instead of on a schedule.
    pub closed_loop: bool,
    pub sent: u64,
    pub answered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Total of `errors_by_kind`.
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The first message seen for each kind of error.
    pub error_examples: BTreeMap<String, String>,
    /// Answered measured requests per second of the window.
    pub throughput_per_s: f64,
    pub latency_ms: Latency,
    pub send_lag_ms: SendLag,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

impl Report {
    pub(crate) fn new(facts: RunFacts, tally: Tally) -> Report {
        let duration_s = facts.duration.as_secs_f64();
        let throughput_per_s = if duration_s > 0.0 { tally.answered as f64 / duration_s } else { 0.0 };
        Report {
            scenario: facts.scenario,
            bots: facts.bots,
            duration_s,
            connected: tally.connected,
            ramp_up_s: facts.ramp_up.as_secs_f64(),
            ping_interval_ms: facts.interval.map(|i| i.as_secs_f64() * 1000.0),
            rate: facts.rate,
            payload: facts.payload,
            closed_loop: facts.closed_loop,
            sent: tally.sent,
            answered: tally.answered,
            lost: tally.lost,
            duplicated: tally.duplicated,
            errors: tally.errors.total(),
            latency_ms: Latency::from_histogram(&tally.latency_us),
            send_lag_ms: SendLag {
                mean: if tally.sent > 0 {
                    tally.send_lag_us_sum as f64 / tally.sent as f64 / 1000.0
                } else {
                    0.0
                },
                max: tally.send_lag_us_max as f64 / 1000.0,
            },
            errors_by_kind: tally.errors.by_kind,
            error_examples: tally.errors.examples,
            throughput_per_s,
            interrupted: facts.interrupted,
        }
    }

    /// Why the run counts as failed; empty when it passed (no errors, nothing lost).
    pub fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.errors > 0 {
            let kinds: Vec<String> =
                self.errors_by_kind.iter().map(|(kind, n)| format!("{kind} x{n}")).collect();
            why.push(format!("{} errors ({})", self.errors, kinds.join(", ")));
        }
        if self.lost > 0 {
            why.push(format!("{} of {} requests lost", self.lost, self.sent));
        }
        why
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        write!(f, "scenario     {}", self.scenario.name())?;
        if let Some(payload) = self.payload {
            write!(f, ", payload {payload} B")?;
        }
        match self.rate {
            _ if self.closed_loop => writeln!(f, ", closed loop")?,
            Some(rate) => writeln!(f, ", {rate:.0} requests/s scheduled")?,
            None => writeln!(f)?,
        }
        writeln!(
            f,
            "bots         {} (connected {}, ramp-up {:.2} s)",
            self.bots, self.connected, self.ramp_up_s
        )?;
        let note = if self.interrupted { " (interrupted)" } else { "" };
        writeln!(f, "duration     {:.2} s{note}", self.duration_s)?;
        writeln!(f, "sent         {}", self.sent)?;
        writeln!(f, "answered     {}", self.answered)?;
        writeln!(f, "lost         {}", self.lost)?;
        writeln!(f, "duplicated   {}", self.duplicated)?;
        writeln!(f, "errors       {}", self.errors)?;
        for (kind, n) in &self.errors_by_kind {
            let example = self.error_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        writeln!(f, "throughput   {:.1} answered/s", self.throughput_per_s)?;
        writeln!(
            f,
            "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
            l.p50, l.p90, l.p99, l.max, l.mean
        )?;
        write!(f, "send lag ms  mean {:.3}  max {:.3}", self.send_lag_ms.mean, self.send_lag_ms.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RunFacts {
        RunFacts {
            scenario: Scenario::Ping,
            bots: 2,
            interval: Some(Duration::from_secs(1)),
            rate: Some(2.0),
            payload: None,
            closed_loop: false,
            duration: Duration::from_secs(2),
            ramp_up: Duration::from_millis(5),
            interrupted: false,
        }
    }

    #[test]
    fn merged_tallies_add_up_and_keep_the_first_example() {
        let mut a = Tally::new();
        a.connected = 1;
        a.sent = 3;
        a.answered = 3;
        a.record_latency(Duration::from_millis(1));
        a.errors.record("connect", "first");
        let mut b = Tally::new();
        b.connected = 1;
        b.sent = 2;
        b.answered = 1;
        b.lost = 1;
        b.record_latency(Duration::from_millis(3));
        b.errors.record("connect", "second");

        a.merge(b);
        let r = Report::new(facts(), a);
        assert_eq!((r.connected, r.sent, r.answered, r.lost), (2, 5, 4, 1));
        assert_eq!(r.errors, 2);
        assert_eq!(r.error_examples["connect"], "first");
        assert!((r.throughput_per_s - 2.0).abs() < 1e-9);
        // Two samples, 1 ms and 3 ms, within the histogram's 1%.
        assert!((r.latency_ms.max - 3.0).abs() < 0.05, "{:?}", r.latency_ms);
        assert!((r.latency_ms.p50 - 1.0).abs() < 0.02, "{:?}", r.latency_ms);
    }

    #[test]
    fn a_run_fails_on_errors_or_loss_and_says_why() {
        let mut t = Tally::new();
        t.sent = 10;
        t.answered = 10;
        assert!(Report::new(facts(), t).passed());

        let mut t = Tally::new();
        t.sent = 10;
        t.answered = 9;
        t.lost = 1;
        t.errors.record("eof", "closed");
        let why = Report::new(facts(), t).failures();
        assert_eq!(why, ["1 errors (eof x1)", "1 of 10 requests lost"]);
    }
}
