//! What the swarm measured: the report made of the bots' merged tallies (`tally.rs`), printed for
//! people and serialised as JSON. The `login`, `zone` and `match` scenarios add an object of
//! their own ([`LoginReport`], [`ZoneReport`], [`MatchReport`], [`ChatReport`]) to the figures every
//! scenario has.
//!
//! This file holds the report's figures (serialised as JSON) and the verdict; `text.rs` the
//! report as text; `checks.rs` the `match` scenario's checks over what all its bots saw;
//! `chat.rs` the `chat` scenario's figures, text and loss check; `matches.rs` the `match`
//! scenario's figures; `economy.rs` the `economy` scenario's figures, text and verdict.

mod chat;
mod checks;
mod economy;
mod matches;
mod text;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::LoginPacing;
use crate::login::LoginMethod;
use crate::metrics::ServerZone;
use crate::scenario::{ChatSettings, EconomySettings, MatchSettings, Scenario};
use crate::tally::{FrameCount, MatchTally, Tally, ZoneTally};

pub use chat::ChatReport;
pub use checks::MatchChecks;
pub use economy::EconomyReport;
pub use matches::MatchReport;

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
    /// `match` only.
    pub matches: Option<MatchSettings>,
    /// `chat` only.
    pub chat: Option<ChatSettings>,
    /// `economy` only.
    pub economy: Option<EconomySettings>,
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

pub(super) fn per_s(n: u64, duration_s: f64) -> f64 {
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
    /// The `match` scenario's figures (`null` in other scenarios). Its bots follow a script, not
    /// a schedule: `sent`, `answered`, `lost`, `throughput_per_s` and `latency_ms` stay 0.
    #[serde(rename = "match")]
    pub matches: Option<MatchReport>,
    /// The `chat` scenario's figures (`null` in other scenarios). Its measured requests are the
    /// ChatSendReqs: `sent`, `answered` (ChatSendResp), `lost` (never answered) and `latency_ms`
    /// (to the ChatSendResp) count them; deliveries are here.
    pub chat: Option<ChatReport>,
    /// The `economy` scenario's figures (`null` in other scenarios). Its measured requests are
    /// the purchase intents: `sent` counts them, `answered` those the server answered (a
    /// purchase or a refusal), `lost` those given up, `latency_ms` each answered PurchaseReq.
    pub economy: Option<EconomyReport>,
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
        let matches = facts.matches.map(|m| MatchReport::new(m, &tally.matches, &tally.zone, duration_s));
        let chat = facts.chat.map(|c| ChatReport::new(c, &tally.chat, duration_s));
        let latency_ms = Latency::from_histogram(&tally.latency_us);
        let economy = facts.economy.map(|s| EconomyReport::new(s, &tally.economy, latency_ms, duration_s));
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
            latency_ms,
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
            matches,
            chat,
            economy,
            server_rss_per_session_bytes: facts.server_rss.and_then(|r| r.per_session_bytes),
            server_rss: facts.server_rss,
        }
    }

    /// Why the run counts as failed; empty when it passed (no errors, nothing lost; in `login`,
    /// no failed login and no session lost; in `zone`, besides, every bot entered the world, no
    /// MoveReq was rejected and updates came back; in `match`, every bot entered the world,
    /// every queuer queued, a match started, no step failed and the checks held).
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
        if let Some(m) = &self.matches {
            m.failures(&mut why);
        }
        if let Some(c) = &self.chat {
            c.failures(&mut why);
        }
        if let Some(e) = &self.economy {
            e.failures(&mut why);
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

#[cfg(test)]
mod tests;
