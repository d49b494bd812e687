//! What the swarm measured: each bot's tally, how tallies merge, and the report printed for people
//! and serialised as JSON. The `login` and `zone` scenarios add an object of their own
//! ([`LoginReport`], [`ZoneReport`]) to the figures every scenario has.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::LoginPacing;
use crate::login::LoginMethod;
use crate::metrics::ServerZone;
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
/// `answered` and `lost`; heartbeats before the window or while holding are not. In `zone` the
/// measured requests are one-way MoveReqs: counted in `sent`, never answered nor lost.
#[derive(Debug)]
pub struct Tally {
    /// Bots that completed the handshake (0 or 1 for one bot).
    pub connected: u64,
    /// Measured requests written (in `zone`, MoveReqs).
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
    /// `login`: bots that sent their first login request (RegisterReq or LoginReq).
    pub login_attempted: u64,
    /// `login`: bots that got a session.
    pub login_ok: u64,
    /// `login`: of `login_ok`, accounts created with RegisterReq.
    pub registered: u64,
    /// `login`: logins that failed, by error code (or by what became of the connection).
    pub login_failed: Errors,
    /// `login`: from the first login request written to the session granted, in µs. Made at the
    /// first sample: a bot logs in once, and most tallies are one bot's.
    pub login_latency_us: Option<Histogram<u64>>,
    /// Bots whose connection was still open when the window (and its drain) ended.
    pub held: u64,
    /// `zone`: entering the world, move rejections and what the zone pushed.
    pub zone: ZoneTally,
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
            latency_us: new_histogram(),
            send_lag_us_sum: 0,
            send_lag_us_max: 0,
            login_attempted: 0,
            login_ok: 0,
            registered: 0,
            login_failed: Errors::default(),
            login_latency_us: None,
            held: 0,
            zone: ZoneTally::default(),
        }
    }

    pub fn record_latency(&mut self, latency: Duration) {
        record(&mut self.latency_us, latency);
    }

    pub fn record_login_latency(&mut self, latency: Duration) {
        record(self.login_latency_us.get_or_insert_with(new_histogram), latency);
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
        self.login_attempted += other.login_attempted;
        self.login_ok += other.login_ok;
        self.registered += other.registered;
        self.login_failed.merge(other.login_failed);
        self.held += other.held;
        self.zone.merge(other.zone);
        // Both histograms resize themselves, so adding cannot run out of range; if it ever did,
        // the counts above are still right and only the percentiles would be missing samples.
        if let Err(e) = self.latency_us.add(&other.latency_us) {
            tracing::warn!(error = %e, "latency histogram merge failed");
        }
        merge_optional(&mut self.login_latency_us, other.login_latency_us, "login latency");
    }
}

/// Adds `theirs` to `ours`, either of which may not have been made yet.
fn merge_optional(ours: &mut Option<Histogram<u64>>, theirs: Option<Histogram<u64>>, what: &str) {
    let Some(theirs) = theirs else { return };
    match ours {
        None => *ours = Some(theirs),
        Some(ours) => {
            if let Err(e) = ours.add(&theirs) {
                tracing::warn!(error = %e, "{what} histogram merge failed");
            }
        }
    }
}

/// Frames of one kind received in the window, and their bytes on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameCount {
    pub frames: u64,
    pub bytes: u64,
}

impl FrameCount {
    pub fn add(&mut self, bytes: u64) {
        self.frames += 1;
        self.bytes += bytes;
    }

    fn merge(&mut self, other: FrameCount) {
        self.frames += other.frames;
        self.bytes += other.bytes;
    }
}

/// One bot's `zone` counts; merged, the swarm's. What the zone pushed is counted only when it
/// arrived inside the window.
#[derive(Debug, Default)]
pub struct ZoneTally {
    /// Bots that sent EnterWorldReq.
    pub enter_attempted: u64,
    /// Bots placed in the world.
    pub entered: u64,
    /// EnterWorldReqs sent again after an UNAVAILABLE answer.
    pub enter_retries: u64,
    /// Enters that failed, by error code (or by what became of the connection).
    pub enter_failed: Errors,
    /// From the first EnterWorldReq written to the EnterWorldResp (retries included), in µs.
    pub enter_latency_us: Option<Histogram<u64>>,
    /// MoveReqs answered with an ErrorResp, by code.
    pub moves_rejected: Errors,
    /// ZonePositionsNtf, ZoneTickNtf and ZoneEnterNtf pushes.
    pub positions: FrameCount,
    pub ticks: FrameCount,
    pub enter_ntfs: FrameCount,
    /// Bytes of every frame received in the window, of any kind.
    pub bytes: u64,
    /// Entity updates: ZonePositionsNtf.moves, ZoneTickNtf.enters, .leaves and .stops entries.
    pub moves: u64,
    pub enters: u64,
    pub leaves: u64,
    pub stops: u64,
    /// Of each ZonePositionsNtf and ZoneTickNtf: receive wall clock minus its `server_time_ms`,
    /// in µs.
    pub update_latency_us: Option<Histogram<u64>>,
}

impl ZoneTally {
    pub fn record_enter_latency(&mut self, latency: Duration) {
        record(self.enter_latency_us.get_or_insert_with(new_histogram), latency);
    }

    /// A frame stamped `server_time_ms` arrived at `received_us` (both wall clock, since the
    /// Unix epoch). Unstamped frames (0) have no latency.
    pub fn record_update_latency(&mut self, received_us: u64, server_time_ms: u64) {
        if server_time_ms == 0 {
            return;
        }
        let us = received_us.saturating_sub(server_time_ms.saturating_mul(1000));
        record(self.update_latency_us.get_or_insert_with(new_histogram), Duration::from_micros(us));
    }

    pub fn updates(&self) -> u64 {
        self.moves + self.enters + self.leaves + self.stops
    }

    pub fn merge(&mut self, other: ZoneTally) {
        self.enter_attempted += other.enter_attempted;
        self.entered += other.entered;
        self.enter_retries += other.enter_retries;
        self.enter_failed.merge(other.enter_failed);
        merge_optional(&mut self.enter_latency_us, other.enter_latency_us, "enter latency");
        self.moves_rejected.merge(other.moves_rejected);
        self.positions.merge(other.positions);
        self.ticks.merge(other.ticks);
        self.enter_ntfs.merge(other.enter_ntfs);
        self.bytes += other.bytes;
        self.moves += other.moves;
        self.enters += other.enters;
        self.leaves += other.leaves;
        self.stops += other.stops;
        merge_optional(&mut self.update_latency_us, other.update_latency_us, "update latency");
    }
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // `new` auto-resizes: a histogram pays only for the range of latencies it has seen.
    Histogram::new(SIGFIG).expect("2 significant figures is a valid precision")
}

fn record(h: &mut Histogram<u64>, latency: Duration) {
    // `record`, not `saturating_record`: only `record` grows an auto-resizing histogram; the
    // saturating one clamps to the range seen so far. The cap keeps a wild value (a bot
    // suspended for days) from growing the histogram without bound.
    let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).min(MAX_LATENCY_US);
    if h.record(us).is_err() {
        h.saturating_record(us);
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
#[derive(Clone, Debug)]
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
    /// `login` and `zone`.
    pub login: Option<LoginFacts>,
    /// `zone` only.
    pub zone: Option<ZoneFacts>,
    pub server_rss: Option<ServerRss>,
}

/// How the `zone` scenario ran.
#[derive(Clone, Debug)]
pub(crate) struct ZoneFacts {
    pub move_hz: f64,
    /// With `--metrics-url`: the server's figures over the window (`None` if the scrape failed;
    /// the error is in the tally).
    pub server: Option<ServerZone>,
}

/// How the `login` scenario ran.
#[derive(Clone, Debug)]
pub(crate) struct LoginFacts {
    pub method: LoginMethod,
    pub run_tag: String,
    pub pacing: LoginPacing,
}

/// The `login` scenario's figures (the `login` object of the JSON report).
#[derive(Clone, Debug, Serialize)]
pub struct LoginReport {
    pub method: LoginMethod,
    /// The run tag the accounts are named by (drawn, if "random" was asked).
    pub run_tag: String,
    /// Logins started per second, as scheduled (`null` with `concurrency`).
    pub rate: Option<f64>,
    /// Most bots between connecting and logged in at once (`null` with `rate`).
    pub concurrency: Option<usize>,
    /// Bots that sent a login request (those that could not connect did not).
    pub attempted: u64,
    /// Bots that got a session.
    pub ok: u64,
    /// Of `ok`, accounts the bots registered (a `password` run on new names).
    pub registered: u64,
    pub failed: u64,
    /// Failed logins by error code (e.g. `INVALID_CREDENTIALS`), or by what became of the
    /// connection (`timeout`, `eof`, `disconnect.<CODE>`, ...).
    pub failed_by_kind: BTreeMap<String, u64>,
    /// The first message seen for each kind of failure.
    pub failed_examples: BTreeMap<String, String>,
    /// The login phase: from the first connect until every bot has logged in or failed.
    pub phase_s: f64,
    /// Successful logins per second of the login phase.
    pub per_s: f64,
    /// From the first login request written (RegisterReq or LoginReq) to the session granted; a
    /// rerun of `password` includes the refused RegisterReq before its LoginReq.
    pub latency_ms: Latency,
    /// Sessions still open when the idle phase (the window and its drain) ended.
    pub sessions_held: u64,
    /// Sessions logged in but closed before the end (their reasons are in `errors_by_kind`).
    pub sessions_lost: u64,
}

/// Frames of one kind received in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct FrameRate {
    pub frames: u64,
    pub per_s: f64,
    /// On the wire, length prefix and header included.
    pub bytes: u64,
    pub bytes_per_s: f64,
}

impl FrameRate {
    fn new(c: FrameCount, duration_s: f64) -> FrameRate {
        FrameRate {
            frames: c.frames,
            per_s: per_s(c.frames, duration_s),
            bytes: c.bytes,
            bytes_per_s: per_s(c.bytes, duration_s),
        }
    }
}

/// The zone's pushes received in the window, by message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ZoneFrames {
    /// ZonePositionsNtf (droppable).
    pub positions: FrameRate,
    /// ZoneTickNtf (reliable).
    pub tick: FrameRate,
    /// ZoneEnterNtf (placed in another instance).
    pub enter: FrameRate,
}

/// Entity updates received in the window, by where they came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct UpdateCounts {
    /// ZonePositionsNtf.moves entries.
    pub moves: u64,
    /// ZoneTickNtf.enters entries.
    pub enters: u64,
    /// ZoneTickNtf.leaves entries.
    pub leaves: u64,
    /// ZoneTickNtf.stops entries.
    pub stops: u64,
}

/// The `zone` scenario's figures (the `zone` object of the JSON report).
#[derive(Clone, Debug, Serialize)]
pub struct ZoneReport {
    /// MoveReqs per second and bot, as scheduled.
    pub move_hz: f64,
    /// Bots that sent EnterWorldReq (those whose login failed did not).
    pub enter_attempted: u64,
    /// Bots placed in the world.
    pub entered: u64,
    pub enter_failed: u64,
    /// Failed enters by error code (`UNAVAILABLE` once the retries ran out), or by what became
    /// of the connection (`timeout`, `eof`, ...).
    pub enter_failed_by_kind: BTreeMap<String, u64>,
    pub enter_failed_examples: BTreeMap<String, String>,
    /// EnterWorldReqs sent again after an UNAVAILABLE answer.
    pub enter_retries: u64,
    /// From the first EnterWorldReq written to the EnterWorldResp, retries included.
    pub enter_latency_ms: Latency,
    /// MoveReqs written in the window (the report's `sent`).
    pub moves_sent: u64,
    pub moves_per_s: f64,
    /// MoveReqs answered with an ErrorResp.
    pub moves_rejected: u64,
    pub moves_rejected_by_code: BTreeMap<String, u64>,
    pub moves_rejected_examples: BTreeMap<String, String>,
    /// Entity updates received in the window: `updates_by_kind` summed.
    pub updates: u64,
    /// `updates` per second of the window, across the swarm.
    pub updates_per_s: f64,
    pub updates_by_kind: UpdateCounts,
    pub frames: ZoneFrames,
    /// Bytes of every frame received in the window (zone pushes and anything else).
    pub bytes: u64,
    pub bytes_per_s: f64,
    /// Receive wall clock minus `server_time_ms` of each ZonePositionsNtf and ZoneTickNtf received
    /// in the window (the server stamps whole ms, so up to 1 ms high).
    pub update_latency_ms: Latency,
    /// Frames behind `update_latency_ms`.
    pub update_latency_samples: u64,
    /// With `--metrics-url`: the server's tick and updates over the window (`null` without, or
    /// when the scrape failed: see `errors_by_kind`).
    pub server: Option<ServerZone>,
}

impl ZoneReport {
    fn new(facts: ZoneFacts, sent: u64, z: &ZoneTally, duration_s: f64) -> ZoneReport {
        let latency = z.update_latency_us.as_ref();
        ZoneReport {
            move_hz: facts.move_hz,
            enter_attempted: z.enter_attempted,
            entered: z.entered,
            enter_failed: z.enter_failed.total(),
            enter_failed_by_kind: z.enter_failed.by_kind.clone(),
            enter_failed_examples: z.enter_failed.examples.clone(),
            enter_retries: z.enter_retries,
            enter_latency_ms: z.enter_latency_us.as_ref().map(Latency::from_histogram).unwrap_or_default(),
            moves_sent: sent,
            moves_per_s: per_s(sent, duration_s),
            moves_rejected: z.moves_rejected.total(),
            moves_rejected_by_code: z.moves_rejected.by_kind.clone(),
            moves_rejected_examples: z.moves_rejected.examples.clone(),
            updates: z.updates(),
            updates_per_s: per_s(z.updates(), duration_s),
            updates_by_kind: UpdateCounts {
                moves: z.moves,
                enters: z.enters,
                leaves: z.leaves,
                stops: z.stops,
            },
            frames: ZoneFrames {
                positions: FrameRate::new(z.positions, duration_s),
                tick: FrameRate::new(z.ticks, duration_s),
                enter: FrameRate::new(z.enter_ntfs, duration_s),
            },
            bytes: z.bytes,
            bytes_per_s: per_s(z.bytes, duration_s),
            update_latency_ms: latency.map(Latency::from_histogram).unwrap_or_default(),
            update_latency_samples: latency.map_or(0, Histogram::len),
            server: facts.server,
        }
    }
}

fn per_s(n: u64, duration_s: f64) -> f64 {
    if duration_s > 0.0 { n as f64 / duration_s } else { 0.0 }
}

/// The server's resident memory before the first connection and once every bot has settled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ServerRss {
    pub pid: u32,
    pub before_bytes: u64,
    pub after_bytes: u64,
    /// Sessions open at the second reading: in `login` the bots logged in, else those connected.
    pub sessions: usize,
    /// `(after - before) / sessions` (`null` without sessions).
    pub per_session_bytes: Option<f64>,
}

impl ServerRss {
    pub fn new(pid: u32, before_bytes: u64, after_bytes: u64, sessions: usize) -> ServerRss {
        let grown = after_bytes as f64 - before_bytes as f64;
        let per_session_bytes = (sessions > 0).then(|| grown / sessions as f64);
        ServerRss { pid, before_bytes, after_bytes, sessions, per_session_bytes }
    }
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
    /// The login phase's figures (`null` in scenarios without one). In `login`, the measured
    /// requests (`sent`, `answered`, `latency_ms`) are the heartbeats of the idle phase.
    pub login: Option<LoginReport>,
    /// The `zone` scenario's figures (`null` in other scenarios). Its measured requests (`sent`)
    /// are one-way MoveReqs, so `answered`, `throughput_per_s` and `latency_ms` stay 0.
    pub zone: Option<ZoneReport>,
    /// With `--server-pid`: the server's memory growth per session, in bytes (`null` without).
    pub server_rss_per_session_bytes: Option<f64>,
    /// With `--server-pid`: the readings behind it (`null` without).
    pub server_rss: Option<ServerRss>,
}

impl Report {
    pub(crate) fn new(facts: RunFacts, tally: Tally) -> Report {
        let duration_s = facts.duration.as_secs_f64();
        let throughput_per_s = if duration_s > 0.0 { tally.answered as f64 / duration_s } else { 0.0 };
        let login = facts.login.map(|l| {
            let phase_s = facts.ramp_up.as_secs_f64();
            let (rate, concurrency) = match l.pacing {
                LoginPacing::Rate(r) => (Some(r), None),
                LoginPacing::Concurrency(n) => (None, Some(n)),
            };
            LoginReport {
                method: l.method,
                run_tag: l.run_tag,
                rate,
                concurrency,
                attempted: tally.login_attempted,
                ok: tally.login_ok,
                registered: tally.registered,
                failed: tally.login_failed.total(),
                failed_by_kind: tally.login_failed.by_kind.clone(),
                failed_examples: tally.login_failed.examples.clone(),
                phase_s,
                per_s: if phase_s > 0.0 { tally.login_ok as f64 / phase_s } else { 0.0 },
                latency_ms: tally.login_latency_us.as_ref().map(Latency::from_histogram).unwrap_or_default(),
                sessions_held: tally.held,
                // A bot that could not enter the world closed its session itself.
                sessions_lost: tally.login_ok.saturating_sub(tally.held + tally.zone.enter_failed.total()),
            }
        });
        let zone = facts.zone.map(|z| ZoneReport::new(z, tally.sent, &tally.zone, duration_s));
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
            login,
            zone,
            server_rss_per_session_bytes: facts.server_rss.and_then(|r| r.per_session_bytes),
            server_rss: facts.server_rss,
        }
    }

    /// Why the run counts as failed; empty when it passed (no errors, nothing lost; in `login`,
    /// no failed login and no session lost; in `zone`, besides, every bot entered the world, no
    /// MoveReq was rejected and updates came back).
    pub fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(l) = &self.login {
            if l.failed > 0 {
                let kinds: Vec<String> = l.failed_by_kind.iter().map(|(k, n)| format!("{k} x{n}")).collect();
                why.push(format!("{} of {} logins failed ({})", l.failed, l.attempted, kinds.join(", ")));
            }
            if l.sessions_lost > 0 {
                why.push(format!("{} of {} sessions lost before the end", l.sessions_lost, l.ok));
            }
        }
        if let Some(z) = &self.zone {
            if z.enter_failed > 0 {
                let kinds: Vec<String> =
                    z.enter_failed_by_kind.iter().map(|(k, n)| format!("{k} x{n}")).collect();
                why.push(format!(
                    "{} of {} bots could not enter the world ({})",
                    z.enter_failed,
                    z.enter_attempted,
                    kinds.join(", ")
                ));
            }
            if z.moves_rejected > 0 {
                let kinds: Vec<String> =
                    z.moves_rejected_by_code.iter().map(|(k, n)| format!("{k} x{n}")).collect();
                why.push(format!(
                    "{} of {} moves rejected ({})",
                    z.moves_rejected,
                    z.moves_sent,
                    kinds.join(", ")
                ));
            }
            if z.moves_sent > 0 && z.updates == 0 {
                // Every walking bot sees at least itself move.
                why.push(format!("{} moves sent but no entity update came back", z.moves_sent));
            }
        }
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
            Some(rate) => {
                let what = if self.scenario == Scenario::Zone { "MoveReqs" } else { "requests" };
                writeln!(f, ", {rate:.0} {what}/s scheduled")?;
            }
            None => writeln!(f)?,
        }
        writeln!(
            f,
            "bots         {} (connected {}, ramp-up {:.2} s)",
            self.bots, self.connected, self.ramp_up_s
        )?;
        if let Some(login) = &self.login {
            write!(f, "{login}")?;
            if self.scenario == Scenario::Login {
                writeln!(f, "heartbeats   (the measured requests below)")?;
            }
        }
        let note = if self.interrupted { " (interrupted)" } else { "" };
        writeln!(f, "duration     {:.2} s{note}", self.duration_s)?;
        if let Some(zone) = &self.zone {
            // MoveReqs are one-way: nothing is answered, lost or timed by the request.
            write!(f, "{zone}")?;
        } else {
            writeln!(f, "sent         {}", self.sent)?;
            writeln!(f, "answered     {}", self.answered)?;
            writeln!(f, "lost         {}", self.lost)?;
            writeln!(f, "duplicated   {}", self.duplicated)?;
        }
        writeln!(f, "errors       {}", self.errors)?;
        for (kind, n) in &self.errors_by_kind {
            let example = self.error_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        if self.zone.is_none() {
            writeln!(f, "throughput   {:.1} answered/s", self.throughput_per_s)?;
            writeln!(
                f,
                "latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
                l.p50, l.p90, l.p99, l.max, l.mean
            )?;
        }
        write!(f, "send lag ms  mean {:.3}  max {:.3}", self.send_lag_ms.mean, self.send_lag_ms.max)?;
        if let Some(rss) = &self.server_rss {
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            write!(
                f,
                "\nserver rss   {:.1} MiB before, {:.1} MiB after, {} sessions (pid {}): ",
                mib(rss.before_bytes),
                mib(rss.after_bytes),
                rss.sessions,
                rss.pid
            )?;
            match rss.per_session_bytes {
                Some(b) => write!(f, "{b:.0} B per session")?,
                None => f.write_str("no sessions")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for LoginReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pacing = match (self.rate, self.concurrency) {
            (_, Some(n)) => format!("at most {n} at once"),
            (Some(r), None) => format!("{r:.0}/s scheduled"),
            (None, None) => String::new(),
        };
        writeln!(f, "login        {}, run tag {}, {pacing}", self.method.name(), self.run_tag)?;
        let registered =
            if self.registered > 0 { format!(" ({} registered)", self.registered) } else { String::new() };
        writeln!(
            f,
            "  logins     {} ok{registered}, {} failed of {} in {:.2} s: {:.1} logins/s",
            self.ok, self.failed, self.attempted, self.phase_s, self.per_s
        )?;
        for (kind, n) in &self.failed_by_kind {
            let example = self.failed_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "    {kind:<30} {n:>8}  e.g. {example}")?;
        }
        let l = &self.latency_ms;
        writeln!(
            f,
            "  latency ms p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3})",
            l.p50, l.p90, l.p99, l.max, l.mean
        )?;
        writeln!(f, "  sessions   {} held at the end, {} lost", self.sessions_held, self.sessions_lost)
    }
}

impl fmt::Display for ZoneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retries =
            if self.enter_retries > 0 { format!(" ({} retries)", self.enter_retries) } else { String::new() };
        let l = &self.enter_latency_ms;
        writeln!(
            f,
            "enter        {} ok, {} failed of {}{retries}; latency ms p50 {:.3}  p99 {:.3}  max {:.3}",
            self.entered, self.enter_failed, self.enter_attempted, l.p50, l.p99, l.max
        )?;
        for (kind, n) in &self.enter_failed_by_kind {
            let example = self.enter_failed_examples.get(kind).map_or("", String::as_str);
            writeln!(f, "  {kind:<32} {n:>8}  e.g. {example}")?;
        }
        writeln!(
            f,
            "moves        {} sent ({:.0}/s, {} per bot and s), {} rejected",
            self.moves_sent, self.moves_per_s, self.move_hz, self.moves_rejected
        )?;
        for (code, n) in &self.moves_rejected_by_code {
            let example = self.moves_rejected_examples.get(code).map_or("", String::as_str);
            writeln!(f, "  {code:<32} {n:>8}  e.g. {example}")?;
        }
        let k = &self.updates_by_kind;
        writeln!(
            f,
            "updates      {} ({:.0}/s): {} moves, {} enters, {} leaves, {} stops",
            self.updates, self.updates_per_s, k.moves, k.enters, k.leaves, k.stops
        )?;
        let fr = &self.frames;
        writeln!(
            f,
            "frames/s     positions {:.0}, tick {:.0}, enter {:.0}; {:.2} MB/s received ({} bytes)",
            fr.positions.per_s,
            fr.tick.per_s,
            fr.enter.per_s,
            self.bytes_per_s / 1e6,
            self.bytes
        )?;
        let u = &self.update_latency_ms;
        writeln!(
            f,
            "update ms    p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}  (mean {:.3}; {} frames, tick to receipt)",
            u.p50, u.p90, u.p99, u.max, u.mean, self.update_latency_samples
        )?;
        if let Some(server) = &self.server {
            let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            match server.headline() {
                Some((name, s)) => {
                    let ratio = if server.updates_per_s > 0.0 {
                        format!(" (bots received {:.2}x)", self.updates_per_s / server.updates_per_s)
                    } else {
                        String::new()
                    };
                    writeln!(
                        f,
                        "server tick  instance {name} ({} players): {} ticks ({:.1}/s), p50 {} ms  p90 {} ms  \
                         p99 {} ms  (mean {} ms), {} overruns",
                        s.players,
                        s.ticks,
                        s.ticks_per_s,
                        ms(s.tick_p50_ms),
                        ms(s.tick_p90_ms),
                        ms(s.tick_p99_ms),
                        ms(s.tick_mean_ms),
                        s.overruns
                    )?;
                    writeln!(f, "server sent  {:.0} updates/s, all instances{ratio}", server.updates_per_s)?;
                }
                None => writeln!(f, "server tick  no zone instance at {}", server.url)?,
            }
        }
        Ok(())
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
            login: None,
            zone: None,
            server_rss: None,
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
    fn memory_per_session_is_the_growth_over_the_sessions() {
        let rss = ServerRss::new(7, 100 << 20, 150 << 20, 10_000);
        assert_eq!(rss.per_session_bytes, Some(f64::from(50 << 20) / 10_000.0));
        // It may shrink (memory given back); without sessions there is no figure.
        assert_eq!(ServerRss::new(7, 2048, 1024, 2).per_session_bytes, Some(-512.0));
        assert_eq!(ServerRss::new(7, 1024, 2048, 0).per_session_bytes, None);
    }

    #[test]
    fn a_login_run_fails_on_failed_logins_or_lost_sessions() {
        let login = || LoginFacts {
            method: LoginMethod::Password,
            run_tag: "t".into(),
            pacing: LoginPacing::Concurrency(4),
        };
        let bot = |ok: bool, held: bool| {
            let mut t = Tally::new();
            t.connected = 1;
            t.login_attempted = 1;
            if ok {
                t.login_ok = 1;
                t.record_login_latency(Duration::from_millis(20));
            } else {
                t.login_failed.record("INVALID_CREDENTIALS", "INVALID_CREDENTIALS for LoginReq");
            }
            t.held = u64::from(held);
            t
        };
        let mut all = Tally::new();
        for t in [bot(true, true), bot(true, true)] {
            all.merge(t);
        }
        let facts = RunFacts { scenario: Scenario::Login, login: Some(login()), ..facts() };
        let report = Report::new(facts.clone(), all);
        assert!(report.passed(), "{report}");
        let l = report.login.as_ref().unwrap();
        assert_eq!((l.ok, l.sessions_held, l.concurrency, l.rate), (2, 2, Some(4), None));
        assert!((l.per_s - 400.0).abs() < 1e-6, "2 logins in the 5 ms ramp-up: {}", l.per_s);
        assert!((l.latency_ms.p50 - 20.0).abs() < 0.2, "{:?}", l.latency_ms);
        assert!(report.to_string().contains("2 ok, 0 failed of 2"), "{report}");

        let mut all = Tally::new();
        for t in [bot(true, true), bot(true, false), bot(false, false)] {
            all.merge(t);
        }
        let report = Report::new(facts, all);
        assert_eq!(
            report.failures(),
            ["1 of 3 logins failed (INVALID_CREDENTIALS x1)", "1 of 2 sessions lost before the end"]
        );
        assert!(report.to_string().contains("INVALID_CREDENTIALS"), "{report}");
    }

    #[test]
    fn zone_tallies_merge_into_rates_over_the_window() {
        let bot = |moves: u64, latency_ms: u64| {
            let mut t = Tally::new();
            t.connected = 1;
            t.login_ok = 1;
            t.held = 1;
            t.sent = 20;
            let z = &mut t.zone;
            (z.enter_attempted, z.entered) = (1, 1);
            z.record_enter_latency(Duration::from_millis(5));
            z.positions.add(100);
            z.ticks.add(50);
            z.bytes = 200;
            (z.moves, z.enters, z.leaves, z.stops) = (moves, 1, 1, 1);
            z.record_update_latency(1_000_000 + latency_ms * 1000, 1_000);
            t
        };
        let mut all = bot(10, 1);
        all.merge(bot(30, 3));
        let facts = RunFacts {
            scenario: Scenario::Zone,
            login: Some(LoginFacts {
                method: LoginMethod::Device,
                run_tag: "t".into(),
                pacing: LoginPacing::Rate(500.0),
            }),
            zone: Some(ZoneFacts { move_hz: 10.0, server: None }),
            ..facts()
        };
        let r = Report::new(facts, all);
        let z = r.zone.as_ref().unwrap();
        assert_eq!((z.entered, z.moves_sent, z.updates), (2, 40, 46));
        // Over the 2 s window.
        assert!((z.updates_per_s - 23.0).abs() < 1e-9 && (z.moves_per_s - 20.0).abs() < 1e-9);
        assert_eq!((z.frames.positions.frames, z.frames.positions.bytes, z.bytes), (2, 200, 400));
        assert!((z.frames.tick.bytes_per_s - 50.0).abs() < 1e-9);
        assert_eq!(z.update_latency_samples, 2);
        assert!((z.update_latency_ms.max - 3.0).abs() < 0.05, "{:?}", z.update_latency_ms);
        assert!((z.enter_latency_ms.p50 - 5.0).abs() < 0.05, "{:?}", z.enter_latency_ms);
        assert!(r.passed(), "{r}");
        assert!(r.to_string().contains("46 (23/s): 40 moves, 2 enters, 2 leaves, 2 stops"), "{r}");
        // Nothing answers MoveReqs: the request/response lines would only show zeros.
        assert!(!r.to_string().contains("throughput"), "{r}");
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
