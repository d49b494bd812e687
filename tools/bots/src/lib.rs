//! The bot swarm as a library: options, the swarm's phases (ramp-up, measure, hold, release) and
//! the report, so tests drive a whole run in-process without spawning the binary.
//!
//! A run goes like this:
//!
//! 1. **Ramp-up.** Every bot is a task with a connect slot `i / connect_rate` after the start; it
//!    connects, says Hello, then heartbeats while the others connect.
//! 2. **Measure.** Once every bot has connected or failed, the window opens for `duration` for
//!    all bots at once: each sends its scenario's request on a fixed schedule and records the
//!    latency from each scheduled send time (or, with `closed_loop`, sends the next request when
//!    the last is answered). A window shared by all bots means the throughput is that of the
//!    whole swarm, not of a swarm still half connecting.
//! 3. **Drain.** After the window, each bot waits up to [`DRAIN`] for its last answers; what is
//!    still unanswered then is lost. Each bot reports its tally; the tallies are merged.
//! 4. **Hold** (optional). Bots keep their connections open with heartbeats only, until
//!    [`Swarm::release`].

mod bot;
pub mod report;
pub mod scenario;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::ensure;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use report::{Errors, Latency, Report, Tally};
pub use scenario::Scenario;

/// After the window closes, how long answers to measured requests are still awaited before the
/// rest count as lost.
pub const DRAIN: Duration = Duration::from_secs(2);

/// Tallies queued from bots to the merge: bounded, and the merge is quick, so bots finishing
/// together wait a moment instead of the queue holding every histogram at once.
const RESULTS_QUEUE: usize = 1024;

/// What the swarm does. The doc comments are the `--help` text; [`Options::default`] and the
/// CLI's defaults agree (a test in the binary checks it).
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct Options {
    /// Address of the gateway.
    #[arg(long, default_value = "127.0.0.1:7777")]
    pub addr: SocketAddr,
    /// Number of bots, one connection each.
    #[arg(long, default_value_t = 100)]
    pub bots: usize,
    /// How long to measure once every bot has connected, e.g. "20s", "1m", "500ms".
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// What each bot does.
    #[arg(long, value_enum, default_value_t = Scenario::Ping)]
    pub scenario: Scenario,
    /// `ping`: interval between one bot's Pings, on a fixed schedule (open loop); at most the
    /// server's heartbeat interval, since the heartbeat is a Ping too.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,
    /// `echo`: EchoReqs per second across all bots, on a fixed schedule (open loop): each bot sends
    /// one every `bots / rate` seconds and latency counts from that schedule. Default: 10 per bot.
    #[arg(long, value_name = "PER_S", conflicts_with = "closed_loop")]
    pub rate: Option<f64>,
    /// `echo`: bytes of payload in each EchoReq (checked against the EchoResp).
    #[arg(long, value_name = "BYTES", default_value_t = 32)]
    pub payload: usize,
    /// `echo`: no schedule; each bot sends its next EchoReq as soon as the previous one is
    /// answered (but at most 1000 per second, the server's limit per session), to find the most
    /// the path can carry. Latency counts from when each could go (answer in, limit allowing).
    #[arg(long)]
    pub closed_loop: bool,
    /// New connections per second during ramp-up.
    #[arg(long, default_value_t = 2000)]
    pub connect_rate: u32,
    /// After the measurement, keep the connections open (heartbeats only) until stopped.
    #[arg(long)]
    pub hold: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            addr: SocketAddr::from(([127, 0, 0, 1], 7777)),
            bots: 100,
            duration: Duration::from_secs(10),
            scenario: Scenario::Ping,
            ping_interval: Duration::from_secs(1),
            rate: None,
            payload: 32,
            closed_loop: false,
            connect_rate: 2000,
            hold: false,
        }
    }
}

impl Options {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.bots > 0, "--bots must be at least 1");
        ensure!(!self.ping_interval.is_zero(), "--ping-interval must be more than 0");
        ensure!(self.connect_rate > 0, "--connect-rate must be at least 1");
        match self.scenario {
            Scenario::Ping => {
                ensure!(self.rate.is_none(), "--rate is for echo; ping's schedule is --ping-interval");
                ensure!(!self.closed_loop, "--closed-loop is for echo");
            }
            Scenario::Echo => {
                if let Some(rate) = self.rate {
                    ensure!(rate.is_finite() && rate > 0.0, "--rate must be more than 0");
                }
                ensure!(
                    self.payload <= scenario::MAX_PAYLOAD,
                    "--payload must be at most {} bytes (one frame)",
                    scenario::MAX_PAYLOAD
                );
                if let Some(interval) = self.echo_interval() {
                    ensure!(
                        interval >= MIN_INTERVAL && interval <= MAX_INTERVAL,
                        "--rate gives each bot one request every {interval:?}; it must be between \
                         {MIN_INTERVAL:?} and {MAX_INTERVAL:?}"
                    );
                }
            }
        }
        Ok(())
    }

    /// Measured requests per second across all bots that the schedule asks for (`None` in closed
    /// loop). For `ping`, before the cap at the server's heartbeat rate.
    pub fn total_rate(&self) -> Option<f64> {
        match self.scenario {
            Scenario::Ping => Some(self.bots as f64 / self.ping_interval.as_secs_f64()),
            Scenario::Echo if self.closed_loop => None,
            Scenario::Echo => Some(self.rate.unwrap_or(self.bots as f64 * DEFAULT_ECHO_RATE_PER_BOT)),
        }
    }

    /// Per bot, the interval between measured requests as asked (`None` in closed loop).
    pub fn interval(&self) -> Option<Duration> {
        match self.scenario {
            Scenario::Ping => Some(self.ping_interval),
            Scenario::Echo => self.echo_interval(),
        }
    }

    fn echo_interval(&self) -> Option<Duration> {
        let rate = self.total_rate()?;
        // Unrepresentable only for rates so small that `validate` refuses the result anyway.
        Some(Duration::try_from_secs_f64(self.bots as f64 / rate).unwrap_or(Duration::MAX))
    }

    /// The echo payload in bytes (`None` for scenarios without one).
    pub fn payload_len(&self) -> Option<usize> {
        self.scenario.has_payload().then_some(self.payload)
    }
}

/// EchoReqs per second and bot without `--rate`.
pub const DEFAULT_ECHO_RATE_PER_BOT: f64 = 10.0;

/// Bounds of one bot's interval: shorter would spin, longer would never send in a run.
const MIN_INTERVAL: Duration = Duration::from_micros(10);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// The measurement window, the same for every bot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub start: Instant,
    pub end: Instant,
    /// After this, measured requests still unanswered are lost.
    pub drain_until: Instant,
}

/// What the bots share with each other and the swarm.
pub(crate) struct Shared {
    pub opts: Options,
    /// Cancelled to interrupt the measurement or end the hold.
    pub stop: CancellationToken,
    pub progress: Progress,
}

/// Counters the swarm reads while bots run.
pub(crate) struct Progress {
    bots: usize,
    /// Bots whose connect attempt has ended, either way.
    settled: AtomicUsize,
    connected: AtomicUsize,
    /// Signalled once every bot has settled.
    all_settled: Notify,
    /// Connections currently holding.
    pub held: AtomicUsize,
    /// Errors of held connections (their bots have already reported).
    pub hold_errors: Mutex<Errors>,
}

impl Progress {
    fn new(bots: usize) -> Progress {
        Progress {
            bots,
            settled: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            all_settled: Notify::new(),
            held: AtomicUsize::new(0),
            hold_errors: Mutex::new(Errors::default()),
        }
    }

    pub fn settle(&self, connected: bool) {
        if connected {
            self.connected.fetch_add(1, Ordering::Relaxed);
        }
        if self.settled.fetch_add(1, Ordering::AcqRel) + 1 == self.bots {
            // `notify_one` keeps a permit if the swarm is not waiting yet.
            self.all_settled.notify_one();
        }
    }
}

/// How ramp-up went.
#[derive(Clone, Copy, Debug)]
pub struct RampUp {
    pub bots: usize,
    pub connected: usize,
    pub elapsed: Duration,
}

/// How holding went.
#[derive(Clone, Debug)]
pub struct HoldOutcome {
    /// Connections still open when released.
    pub released: usize,
    /// Errors while holding, one per dropped connection plus any error answers.
    pub errors: Errors,
}

/// A running swarm. Call [`Swarm::ramp_up`], [`Swarm::measure`], then [`Swarm::release`].
pub struct Swarm {
    shared: Arc<Shared>,
    window_tx: watch::Sender<Option<Window>>,
    window: Option<Window>,
    results: mpsc::Receiver<Tally>,
    tasks: JoinSet<()>,
    started: Instant,
    ramp_up: Duration,
}

impl Swarm {
    /// Spawns the bots on the current runtime; they connect at `connect_rate` from now.
    pub async fn start(opts: Options) -> anyhow::Result<Swarm> {
        opts.validate()?;
        let shared =
            Arc::new(Shared { progress: Progress::new(opts.bots), stop: CancellationToken::new(), opts });
        let opts = &shared.opts;
        let (window_tx, window_rx) = watch::channel(None);
        let (results_tx, results) = mpsc::channel(opts.bots.min(RESULTS_QUEUE));
        let started = Instant::now();
        let rate = f64::from(opts.connect_rate);
        let mut tasks = JoinSet::new();
        for i in 0..opts.bots {
            let connect_at = started + Duration::from_secs_f64(i as f64 / rate);
            tasks.spawn(bot::run(shared.clone(), connect_at, window_rx.clone(), results_tx.clone()));
        }
        // From here only the bots hold senders: the results channel closes when all have reported.
        drop(results_tx);
        Ok(Swarm { shared, window_tx, window: None, results, tasks, started, ramp_up: Duration::ZERO })
    }

    /// A token that interrupts the run when cancelled: the measurement ends early (with the usual
    /// drain), a hold ends.
    pub fn stop_token(&self) -> CancellationToken {
        self.shared.stop.clone()
    }

    /// Waits until every bot has connected or failed (or the run is interrupted), then opens the
    /// measurement window. Calling it again returns the same figures.
    pub async fn ramp_up(&mut self) -> RampUp {
        if self.window.is_none() {
            tokio::select! {
                () = self.shared.progress.all_settled.notified() => {}
                () = self.shared.stop.cancelled() => {}
            }
            let start = Instant::now();
            self.ramp_up = start - self.started;
            let end = start + self.shared.opts.duration;
            let window = Window { start, end, drain_until: end + DRAIN };
            self.window = Some(window);
            self.window_tx.send_replace(Some(window));
        }
        RampUp {
            bots: self.shared.opts.bots,
            connected: self.shared.progress.connected.load(Ordering::Relaxed),
            elapsed: self.ramp_up,
        }
    }

    /// Waits for every bot's tally (the window, then the drain) and merges them. Call once.
    pub async fn measure(&mut self) -> Report {
        self.ramp_up().await;
        let mut total = Tally::new();
        let mut reported = 0usize;
        let mut interrupted_at = None;
        loop {
            tokio::select! {
                tally = self.results.recv() => match tally {
                    Some(tally) => {
                        total.merge(tally);
                        reported += 1;
                    }
                    None => break,
                },
                () = self.shared.stop.cancelled(), if interrupted_at.is_none() => {
                    interrupted_at = Some(Instant::now());
                }
            }
        }
        let missing = self.shared.opts.bots.saturating_sub(reported) as u64;
        if missing > 0 {
            // Only a panic in a bot task can get here; its connection's figures are unknown.
            total.errors.record_n("bot_panicked", missing, "a bot task ended without reporting");
        }
        let duration = match self.window {
            Some(w) => {
                interrupted_at.map_or(w.end, |t: Instant| t.min(w.end)).saturating_duration_since(w.start)
            }
            None => Duration::ZERO,
        };
        let opts = &self.shared.opts;
        let facts = report::RunFacts {
            scenario: opts.scenario,
            bots: opts.bots,
            interval: opts.interval(),
            rate: opts.total_rate(),
            payload: opts.payload_len(),
            closed_loop: opts.closed_loop,
            duration,
            ramp_up: self.ramp_up,
            interrupted: interrupted_at.is_some(),
        };
        Report::new(facts, total)
    }

    /// Connections holding right now.
    pub fn held(&self) -> usize {
        self.shared.progress.held.load(Ordering::Relaxed)
    }

    /// Stops every bot, closes their connections and waits for the tasks to end.
    pub async fn release(mut self) -> HoldOutcome {
        let released = self.held();
        self.shared.stop.cancel();
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined {
                tracing::warn!(error = %e, "bot task failed");
            }
        }
        let errors = std::mem::take(
            &mut *self.shared.progress.hold_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        HoldOutcome { released, errors }
    }
}

/// A whole run: ramp-up, measure, drain, close. `opts.hold` has no effect here, since nobody
/// could end the hold; the binary drives [`Swarm`] itself for that.
pub async fn run(opts: Options) -> anyhow::Result<Report> {
    let mut swarm = Swarm::start(opts).await?;
    swarm.ramp_up().await;
    let report = swarm.measure().await;
    swarm.release().await;
    Ok(report)
}
