//! The bot swarm as a library: options, the swarm's phases (ramp-up, measure, hold, release) and
//! the report, so tests drive a whole run in-process without spawning the binary.
//!
//! A run goes like this:
//!
//! 1. **Ramp-up.** Every bot is a task with a connect slot `i / connect_rate` after the start; it
//!    connects, says Hello, then heartbeats while the others connect. In the `login` scenario
//!    the ramp-up is the login phase: each bot connects, says Hello and logs in (or registers)
//!    at its slot `i / login_rate`, or, with `login_concurrency`, as soon as fewer than that many
//!    others are between connecting and logged in; then it heartbeats while the others log in.
//! 2. **Measure.** Once every bot has connected or failed, the window opens for `duration` for
//!    all bots at once: each sends its scenario's request on a fixed schedule and records the
//!    latency from each scheduled send time (or, with `closed_loop`, sends the next request when
//!    the last is answered). A window shared by all bots means the throughput is that of the
//!    whole swarm, not of a swarm still half connecting.
//! 3. **Drain.** After the window, each bot waits up to [`DRAIN`] for its last answers; what is
//!    still unanswered then is lost. Each bot reports its tally; the tallies are merged.
//! 4. **Hold** (optional). Bots keep their connections open with heartbeats only, until
//!    [`Swarm::release`].
//!
//! In `login` the measured requests of the window are the heartbeats (Pings at the server's
//! heartbeat interval, or `--ping-interval`): the window is the idle phase of sessions that are
//! logged in, and a session the server closes in it counts as lost.
//!
//! In `zone` the ramp-up logs in as `login` does and then enters the world (EnterWorldReq,
//! retried after UNAVAILABLE); a bot is ready once placed. In the window each bot random-walks
//! (`zone.rs`): a one-way MoveReq on each slot of its schedule (`--move-hz`), nothing to wait
//! for, so there is no drain; what is measured is what the zone pushes back inside the window.
//! With `metrics_url`, the server's metrics page is read as the window opens and again as it
//! closes, and the report has the server's own tick and update figures over the window
//! (`metrics.rs`).
//!
//! With `server_pid`, the server's resident memory is read before the first connection and again
//! once every bot has settled (plus `rss_settle`), for the memory each session costs the server.

mod bot;
pub mod login;
pub mod metrics;
pub mod report;
pub mod scenario;
pub mod zone;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use metrics::{MetricsUrl, ServerZone, ZoneCounters};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use login::LoginMethod;
pub use report::{Errors, Latency, LoginReport, Report, ServerRss, Tally, ZoneReport};
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
    /// How long to measure once every bot has connected (in `login`, logged in: the idle phase;
    /// in `zone`, entered the world: the walk), e.g. "20s", "1m", "500ms".
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// What each bot does.
    #[arg(long, value_enum, default_value_t = Scenario::Ping)]
    pub scenario: Scenario,
    /// `ping`: interval between one bot's Pings, on a fixed schedule (open loop); at most the
    /// server's heartbeat interval, since the heartbeat is a Ping too. Default 1s. `login`: the
    /// interval of the idle sessions' Pings; default the heartbeat interval the server asks for.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ping_interval: Option<Duration>,
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
    /// New connections per second during ramp-up (not in `login` and `zone`: see --login-rate).
    #[arg(long, default_value_t = 2000)]
    pub connect_rate: u32,
    /// `login`, `zone`: how the bots log in.
    #[arg(long, value_enum, default_value_t = LoginMethod::Device)]
    pub login: LoginMethod,
    /// `login`, `zone`: names the bots' accounts (device ids `mmo-bots-<tag>-<index>` with the
    /// index in 6 digits, usernames `b<tag>-<index>`), so a rerun with the same tag reuses them
    /// (in `zone`, with the positions they were saved at). "random" draws a new tag.
    #[arg(long, value_name = "TAG", default_value = login::DEFAULT_RUN_TAG)]
    pub run_tag: String,
    /// `login`, `zone`: logins started per second, each on a fixed slot (connect, Hello, login;
    /// in `zone`, then enter the world). Default 500. Password logins from one address are
    /// limited by the account server (max_failed_logins_per_address counts logins in progress
    /// too): prefer --login-concurrency under that limit for them.
    #[arg(long, value_name = "PER_S", conflicts_with = "login_concurrency")]
    pub login_rate: Option<f64>,
    /// `login`, `zone`: no schedule; at most this many bots between connecting and logged in (in
    /// `zone`, placed in the world) at once, each starting as soon as another is done (closed
    /// loop: the most logins/s the server can give).
    #[arg(long, value_name = "N")]
    pub login_concurrency: Option<usize>,
    /// `zone`: MoveReqs per second and bot, on a fixed schedule (open loop) with a random phase
    /// per bot; the direction changes every 1-3 s. Default 10. The zone allows 30 per second and
    /// stops a player after 1 s without one (the protocol asks for one every 250 ms).
    #[arg(long, value_name = "PER_S")]
    pub move_hz: Option<f64>,
    /// `zone`: the zone server's Prometheus endpoint, e.g. http://127.0.0.1:9100/metrics. Read
    /// as the window opens and as it closes, for the server's tick p50/p99, overruns and
    /// updates sent per second over the window (per instance; the headline is the instance
    /// with the most players).
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// Process id of the server (on this machine): its resident memory (VmRSS) is read before the
    /// first connection and once every bot has settled, for the memory per session.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// With --server-pid: how long after the last bot settled the second reading waits.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub rss_settle: Duration,
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
            ping_interval: None,
            rate: None,
            payload: 32,
            closed_loop: false,
            connect_rate: 2000,
            login: LoginMethod::Device,
            run_tag: login::DEFAULT_RUN_TAG.to_owned(),
            login_rate: None,
            login_concurrency: None,
            move_hz: None,
            metrics_url: None,
            server_pid: None,
            rss_settle: Duration::from_secs(2),
            hold: false,
        }
    }
}

impl Options {
    pub fn validate(&self) -> anyhow::Result<()> {
        ensure!(self.bots > 0, "--bots must be at least 1");
        ensure!(self.ping_interval.is_none_or(|i| !i.is_zero()), "--ping-interval must be more than 0");
        ensure!(self.connect_rate > 0, "--connect-rate must be at least 1");
        if self.scenario != Scenario::Echo {
            let name = self.scenario.name();
            ensure!(self.rate.is_none(), "--rate is for echo; {name}'s schedule is --ping-interval");
            ensure!(!self.closed_loop, "--closed-loop is for echo");
        }
        if !self.scenario.logs_in() {
            ensure!(
                self.login_rate.is_none() && self.login_concurrency.is_none(),
                "--login-rate and --login-concurrency are for the login and zone scenarios"
            );
        }
        if self.scenario != Scenario::Zone {
            ensure!(
                self.move_hz.is_none() && self.metrics_url.is_none(),
                "--move-hz and --metrics-url are for the zone scenario"
            );
        }
        if self.scenario.logs_in() {
            login::check_run_tag(&self.run_tag, self.login, self.bots)?;
            if let Some(rate) = self.login_rate {
                ensure!(rate.is_finite() && rate > 0.0, "--login-rate must be more than 0");
            }
            ensure!(self.login_concurrency != Some(0), "--login-concurrency must be at least 1");
        }
        match self.scenario {
            Scenario::Ping | Scenario::Login => {}
            Scenario::Zone => {
                ensure!(
                    self.ping_interval.is_none(),
                    "--ping-interval is not for zone; its schedule is --move-hz"
                );
                let hz = self.move_hz();
                ensure!(hz.is_finite() && hz > 0.0, "--move-hz must be more than 0");
                ensure!(
                    self.zone_interval().is_some_and(|i| (MIN_INTERVAL..=MAX_INTERVAL).contains(&i)),
                    "--move-hz {hz} gives each bot one MoveReq every {:?}; it must be between {MIN_INTERVAL:?} \
                     and {MAX_INTERVAL:?}",
                    Duration::try_from_secs_f64(1.0 / hz).unwrap_or(Duration::MAX)
                );
                if let Some(url) = &self.metrics_url {
                    MetricsUrl::parse(url)?;
                }
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
    /// loop, and in `login` without `--ping-interval`: then the server decides). For `ping` and
    /// `login`, before the cap at the server's heartbeat rate.
    pub fn total_rate(&self) -> Option<f64> {
        match self.scenario {
            Scenario::Ping | Scenario::Login => self.interval().map(|i| self.bots as f64 / i.as_secs_f64()),
            Scenario::Zone => Some(self.bots as f64 * self.move_hz()),
            Scenario::Echo if self.closed_loop => None,
            Scenario::Echo => Some(self.rate.unwrap_or(self.bots as f64 * DEFAULT_ECHO_RATE_PER_BOT)),
        }
    }

    /// Per bot, the interval between measured requests as asked (`None` in closed loop, and in
    /// `login` without `--ping-interval`: the server's heartbeat interval then).
    pub fn interval(&self) -> Option<Duration> {
        match self.scenario {
            Scenario::Ping => Some(self.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL)),
            Scenario::Echo => self.echo_interval(),
            Scenario::Login => self.ping_interval,
            Scenario::Zone => self.zone_interval(),
        }
    }

    /// `zone`: MoveReqs per second and bot.
    pub fn move_hz(&self) -> f64 {
        self.move_hz.unwrap_or(zone::DEFAULT_MOVE_HZ)
    }

    fn zone_interval(&self) -> Option<Duration> {
        Duration::try_from_secs_f64(1.0 / self.move_hz()).ok()
    }

    /// How logins are started (`None` in scenarios that do not log in).
    pub fn login_pacing(&self) -> Option<LoginPacing> {
        self.scenario.logs_in().then(|| match self.login_concurrency {
            Some(n) => LoginPacing::Concurrency(n),
            None => LoginPacing::Rate(self.login_rate.unwrap_or(login::DEFAULT_LOGIN_RATE)),
        })
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

/// `ping`'s interval without `--ping-interval`.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(1);

/// How the `login` scenario starts its logins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoginPacing {
    /// Open loop: bot `i` starts `i / rate` seconds after the start.
    Rate(f64),
    /// Closed loop: at most this many bots between connecting and logged in.
    Concurrency(usize),
}

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
    /// With `login_concurrency`: a permit per bot between connecting and logged in.
    pub login_slots: Option<Semaphore>,
}

/// Counters the swarm reads while bots run.
pub(crate) struct Progress {
    bots: usize,
    /// Bots whose connect attempt (in `login`, whose login) has ended, either way.
    settled: AtomicUsize,
    connected: AtomicUsize,
    /// Bots that logged in (`login`, `zone`).
    logged_in: AtomicUsize,
    /// Bots that are ready for the window: connected, in `login` logged in, in `zone` placed in
    /// the world.
    ready: AtomicUsize,
    /// The heartbeat interval the server asked for in its HelloResp, in ms (0 before the first).
    pub heartbeat_ms: AtomicU32,
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
            logged_in: AtomicUsize::new(0),
            ready: AtomicUsize::new(0),
            heartbeat_ms: AtomicU32::new(0),
            all_settled: Notify::new(),
            held: AtomicUsize::new(0),
            hold_errors: Mutex::new(Errors::default()),
        }
    }

    /// A bot's start has ended: it `connected` (said Hello) or not, `logged_in` or not, and is
    /// `ready` for the window or not.
    pub fn settle(&self, connected: bool, logged_in: bool, ready: bool) {
        if connected {
            self.connected.fetch_add(1, Ordering::Relaxed);
        }
        if logged_in {
            self.logged_in.fetch_add(1, Ordering::Relaxed);
        }
        if ready {
            self.ready.fetch_add(1, Ordering::Relaxed);
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
    /// In `login` and `zone`, the bots that logged in (`None` in other scenarios).
    pub logged_in: Option<usize>,
    /// In `zone`, the bots placed in the world (`None` in other scenarios).
    pub entered: Option<usize>,
    pub elapsed: Duration,
}

impl RampUp {
    /// Sessions open after the ramp-up: bots in the world (`zone`), logged in (`login`), or in
    /// other scenarios connected. (A bot that cannot enter the world closes its session.)
    pub fn sessions(&self) -> usize {
        self.entered.or(self.logged_in).unwrap_or(self.connected)
    }
}

/// Reads and parses the zone's counters on a blocking thread (the scrape is blocking I/O).
async fn read_zone_metrics(url: MetricsUrl) -> Result<ZoneCounters, String> {
    let what = url.to_string();
    let page = tokio::task::spawn_blocking(move || metrics::scrape(&url, metrics::SCRAPE_TIMEOUT))
        .await
        .map_err(|e| format!("the scrape of {what} failed: {e}"))?;
    page.and_then(|text| ZoneCounters::parse(&text)).map_err(|e| format!("{what}: {e:#}"))
}

/// The reading of the server's VmRSS in `/proc/<pid>/status`, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .with_context(|| format!("no VmRSS in {path}"))?;
    let kib: u64 = line
        .trim()
        .strip_suffix("kB")
        .map(str::trim)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unreadable VmRSS in {path}: {line:?}"))?;
    Ok(kib * 1024)
}

/// When ramp-up, and with it the server memory readings, ended.
struct Settled {
    ramp: RampUp,
    /// The second reading of the server's memory, or why it failed.
    rss_after: Option<Result<u64, String>>,
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
    settled: Option<Settled>,
    /// The server's memory before the first connection (with `server_pid`).
    rss_before: Option<u64>,
    /// With `metrics_url`: the server's metrics over the window, read once it has closed.
    server_metrics: Option<tokio::task::JoinHandle<Result<ServerZone, String>>>,
}

impl Swarm {
    /// Spawns the bots on the current runtime; they connect at `connect_rate` from now (in
    /// `login`, at `login_rate` or `login_concurrency` at once).
    pub async fn start(mut opts: Options) -> anyhow::Result<Swarm> {
        opts.validate()?;
        if opts.run_tag == login::RANDOM_RUN_TAG {
            opts.run_tag = login::random_tag();
        }
        let rss_before = opts.server_pid.map(rss_bytes).transpose()?;
        let pacing = opts.login_pacing();
        let login_slots = match pacing {
            Some(LoginPacing::Concurrency(n)) => Some(Semaphore::new(n.min(Semaphore::MAX_PERMITS))),
            _ => None,
        };
        let shared = Arc::new(Shared {
            progress: Progress::new(opts.bots),
            stop: CancellationToken::new(),
            login_slots,
            opts,
        });
        let opts = &shared.opts;
        let (window_tx, window_rx) = watch::channel(None);
        let (results_tx, results) = mpsc::channel(opts.bots.min(RESULTS_QUEUE));
        let started = Instant::now();
        // Closed loop: every bot may start at once; the permits let them through.
        let rate = match pacing {
            None => Some(f64::from(opts.connect_rate)),
            Some(LoginPacing::Rate(rate)) => Some(rate),
            Some(LoginPacing::Concurrency(_)) => None,
        };
        let mut tasks = JoinSet::new();
        for i in 0..opts.bots {
            let connect_at = rate.map_or(started, |r| started + Duration::from_secs_f64(i as f64 / r));
            tasks.spawn(bot::run(shared.clone(), i, connect_at, window_rx.clone(), results_tx.clone()));
        }
        // From here only the bots hold senders: the results channel closes when all have reported.
        drop(results_tx);
        Ok(Swarm {
            shared,
            window_tx,
            window: None,
            results,
            tasks,
            started,
            settled: None,
            rss_before,
            server_metrics: None,
        })
    }

    /// The options as run (a random run tag drawn).
    pub fn options(&self) -> &Options {
        &self.shared.opts
    }

    /// A token that interrupts the run when cancelled: the measurement ends early (with the usual
    /// drain), a hold ends.
    pub fn stop_token(&self) -> CancellationToken {
        self.shared.stop.clone()
    }

    /// Waits until every bot has connected (in `login`, logged in) or failed, or the run is
    /// interrupted; with `server_pid`, waits `rss_settle` more and reads the server's memory;
    /// then opens the measurement window. Calling it again returns the same figures.
    pub async fn ramp_up(&mut self) -> RampUp {
        if let Some(settled) = &self.settled {
            return settled.ramp;
        }
        let stop = &self.shared.stop;
        tokio::select! {
            () = self.shared.progress.all_settled.notified() => {}
            () = stop.cancelled() => {}
        }
        let progress = &self.shared.progress;
        let opts = &self.shared.opts;
        let ramp = RampUp {
            bots: opts.bots,
            connected: progress.connected.load(Ordering::Relaxed),
            logged_in: opts.scenario.logs_in().then(|| progress.logged_in.load(Ordering::Relaxed)),
            entered: (opts.scenario == Scenario::Zone).then(|| progress.ready.load(Ordering::Relaxed)),
            elapsed: self.started.elapsed(),
        };
        let rss_after = match opts.server_pid {
            Some(pid) if !stop.is_cancelled() => {
                tokio::select! {
                    () = tokio::time::sleep(opts.rss_settle) => {}
                    () = stop.cancelled() => {}
                }
                Some(rss_bytes(pid).map_err(|e| format!("{e:#}")))
            }
            _ => None,
        };
        self.settled = Some(Settled { ramp, rss_after });
        // The first reading just before the window opens, so the server's figures cover it.
        let metrics =
            self.shared.opts.metrics_url.as_deref().map(|url| (url.to_owned(), MetricsUrl::parse(url)));
        let before = match &metrics {
            Some((_, Ok(url))) => Some(read_zone_metrics(url.clone()).await),
            _ => None,
        };
        let start = Instant::now();
        let end = start + self.shared.opts.duration;
        let window = Window { start, end, drain_until: end + DRAIN };
        self.window = Some(window);
        self.window_tx.send_replace(Some(window));
        if let Some((text, url)) = metrics {
            let stop = self.shared.stop.clone();
            self.server_metrics = Some(tokio::spawn(async move {
                let url = url.map_err(|e| format!("{e:#}"))?;
                let before = before.unwrap_or_else(|| Err("not read".to_owned()))?;
                // The second reading as the window closes, early or not.
                tokio::select! {
                    () = tokio::time::sleep_until(end) => {}
                    () = stop.cancelled() => {}
                }
                let span = start.elapsed();
                let after = read_zone_metrics(url).await?;
                Ok(ServerZone::new(&text, &before, &after, span))
            }));
        }
        ramp
    }

    /// The server's memory per session, once [`Swarm::ramp_up`] has read it (with `server_pid`).
    pub fn server_rss(&self) -> Option<ServerRss> {
        let pid = self.shared.opts.server_pid?;
        let before = self.rss_before?;
        let settled = self.settled.as_ref()?;
        let after = settled.rss_after.as_ref()?.as_ref().ok().copied()?;
        Some(ServerRss::new(pid, before, after, settled.ramp.sessions()))
    }

    /// Waits for every bot's tally (the window, then the drain) and merges them. Call once.
    pub async fn measure(&mut self) -> Report {
        let ramp = self.ramp_up().await;
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
        if let Some(Some(Err(why))) = self.settled.as_ref().map(|s| &s.rss_after) {
            // The server is gone, most likely: that is worth failing the run for.
            total.errors.record("server_rss", why);
        }
        let server = match self.server_metrics.take() {
            None => None,
            Some(task) => match task.await {
                Ok(Ok(server)) => {
                    if server.instance.is_none() {
                        let why = format!("no {} on the page at {}", metrics::TICK_SECONDS, server.url);
                        total.errors.record("metrics", why);
                    }
                    Some(server)
                }
                // Asked for and not had: the run did not measure what it was asked to.
                Ok(Err(why)) => {
                    total.errors.record("metrics", why);
                    None
                }
                Err(e) => {
                    total.errors.record("metrics", e);
                    None
                }
            },
        };
        let duration = match self.window {
            Some(w) => {
                interrupted_at.map_or(w.end, |t: Instant| t.min(w.end)).saturating_duration_since(w.start)
            }
            None => Duration::ZERO,
        };
        let opts = &self.shared.opts;
        let heartbeat = match self.shared.progress.heartbeat_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms.into())),
        };
        // In `login` without --ping-interval, the heartbeats go at the server's interval.
        let interval = opts.interval().or(heartbeat.filter(|_| opts.scenario == Scenario::Login));
        let facts = report::RunFacts {
            scenario: opts.scenario,
            bots: opts.bots,
            interval,
            rate: opts.total_rate().or_else(|| {
                interval
                    .filter(|_| opts.scenario == Scenario::Login)
                    .map(|i| opts.bots as f64 / i.as_secs_f64())
            }),
            payload: opts.payload_len(),
            closed_loop: opts.closed_loop,
            duration,
            ramp_up: ramp.elapsed,
            interrupted: interrupted_at.is_some(),
            login: opts.login_pacing().map(|pacing| report::LoginFacts {
                method: opts.login,
                run_tag: opts.run_tag.clone(),
                pacing,
            }),
            zone: (opts.scenario == Scenario::Zone)
                .then(|| report::ZoneFacts { move_hz: opts.move_hz(), server }),
            server_rss: self.server_rss(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_memory_of_a_live_process_is_read_and_of_a_missing_one_refused() {
        let rss = rss_bytes(std::process::id()).expect("our own VmRSS");
        // Some memory, counted in whole KiB.
        assert!(rss > 0 && rss.is_multiple_of(1024), "{rss}");
        // Pids above the kernel's limit (at most 2^22) never exist.
        let missing = rss_bytes(u32::MAX).expect_err("no such process");
        assert!(format!("{missing:#}").contains("/proc/4294967295/status"), "{missing:#}");
    }
}
