//! The swarm: spawns the bots (`bot.rs`, one task each), paces their start, opens one measurement
//! window for all of them, merges their tallies into the report, and holds or releases them.
//!
//! A run goes like this:
//!
//! 1. **Ramp-up.** Every bot is a task with a connect slot `i / connect_rate` after the start; it
//!    connects, says Hello, then heartbeats while the others connect. In a scenario whose bots
//!    log in (`login`, `zone`) the ramp-up is the login phase: each bot connects, says Hello and
//!    logs in (or registers) at its slot `i / login_rate`, or, with `login_concurrency`, as soon
//!    as fewer than that many others are between connecting and ready; then it heartbeats while
//!    the others log in. In `zone` a bot is ready once the zone has placed it in the world.
//! 2. **Measure.** Once every bot is ready or has failed, the window opens for `duration` for
//!    all bots at once: each sends its scenario's request on a fixed schedule and records the
//!    latency from each scheduled send time (or, with `closed_loop`, sends the next request when
//!    the last is answered). A window shared by all bots means the throughput is that of the
//!    whole swarm, not of a swarm still half connecting. In a scripted scenario (`match`) the
//!    bots follow the scenario's script through the window instead of a schedule.
//! 3. **Drain.** After the window, each bot waits up to [`DRAIN`] for its last answers; what is
//!    still unanswered then is lost (one-way requests, as in `zone`, have nothing to wait for).
//!    Each bot reports its tally; the tallies are merged.
//! 4. **Hold** (optional). Bots keep their connections open with heartbeats only, until
//!    [`Swarm::release`].
//!
//! With `metrics_url` (`zone`), the server's metrics page is read as the window opens and again
//! as it closes, and the report has the server's own tick and update figures over the window
//! (`metrics.rs`).
//!
//! With `server_pid`, the server's resident memory is read before the first connection and again
//! once every bot has settled (plus `rss_settle`), for the memory each session costs the server.

mod bot;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::{self, MetricsUrl, ServerZone, ZoneCounters};
use crate::report::{self, Report, ServerRss};
use crate::scenario::{Scenario, Script, Stage};
use crate::tally::{Errors, Tally};
use crate::window::{DRAIN, Window};
use crate::{LoginPacing, Options, login};

/// Tallies queued from bots to the merge: bounded, and the merge is quick, so bots finishing
/// together wait a moment instead of the queue holding every histogram at once.
const RESULTS_QUEUE: usize = 1024;

/// What the bots share with each other and the swarm.
pub(crate) struct Shared {
    pub opts: Options,
    /// Cancelled to interrupt the measurement or end the hold.
    pub stop: CancellationToken,
    pub progress: Progress,
    /// With `login_concurrency`: a permit per bot between connecting and logged in.
    pub login_slots: Option<Semaphore>,
    /// A scripted scenario's script (`match`), which its bots follow through the window.
    pub script: Option<Box<dyn Script>>,
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
            script: opts.scenario.workload().script(&opts),
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
            entered: (opts.scenario.stage() >= Stage::InWorld)
                .then(|| progress.ready.load(Ordering::Relaxed)),
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
        if let Some(script) = &self.shared.script {
            script.finish(&mut total).await;
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
        // With no interval asked for (`login` without --ping-interval), the bots went at the
        // server's heartbeat interval, unless in closed loop.
        // A script's bots send no measured requests at all.
        let scripted = self.shared.script.is_some();
        let interval = opts.interval().or(heartbeat.filter(|_| !opts.closed_loop && !scripted));
        let facts = report::RunFacts {
            scenario: opts.scenario,
            bots: opts.bots,
            interval,
            rate: opts.total_rate().or_else(|| interval.map(|i| opts.bots as f64 / i.as_secs_f64())),
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
            matches: (opts.scenario == Scenario::Match).then(|| opts.match_settings()),
            chat: (opts.scenario == Scenario::Chat).then(|| opts.chat_settings()),
            economy: (opts.scenario == Scenario::Economy).then(|| opts.economy_settings()),
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
