//! The bot swarm as a library: the options of a run and [`run`], so tests drive a whole run
//! in-process without spawning the binary; [`Swarm`] for a run driven phase by phase.
//!
//! Where things are:
//!
//! - `swarm/`: the run's phases (ramp-up, measure, drain, hold) in `mod.rs`, and one bot's life
//!   and schedule in `bot.rs`.
//! - `conn.rs`: a bot's framed connection (frames out and in, a request and its answer).
//! - `session.rs`: the steps from a TCP connect to where a scenario starts (Hello, log in, enter
//!   the world).
//! - `scenario/`: one file per scenario (`ping`, `echo`, `login`, `zone`, `match`, `chat`,
//!   `economy`), and the
//!   table that names them.
//! - `login.rs`: who each bot is (device ids, usernames) when it logs in.
//! - `tally.rs`: what each bot counts; `report/`: the merged figures, the verdict and the text.
//! - `metrics.rs`: the zone server's own figures, read from its metrics page.
//! - `shop_check.rs`: the `economy` scenario's final check of its purchases against MySQL.

mod conn;
pub mod login;
pub mod metrics;
pub mod report;
pub mod scenario;
mod session;
mod shop_check;
mod swarm;
pub mod tally;
mod window;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::ensure;

pub use login::LoginMethod;
pub use report::{
    ChatReport, EconomyReport, Latency, LoginReport, MatchChecks, MatchReport, Report, ServerRss, ZoneReport,
};
pub use scenario::{ChatSettings, EconomySettings, MatchSettings, Scenario};
pub use swarm::{HoldOutcome, RampUp, Swarm, rss_bytes};
pub use tally::{Errors, Tally};
pub use window::DRAIN;

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
    /// `login`, `zone`, `match`, `chat`, `economy`: how the bots log in.
    #[arg(long, value_enum, default_value_t = LoginMethod::Device)]
    pub login: LoginMethod,
    /// `login`, `zone`, `match`, `chat`: names the bots' accounts (device ids `mmo-bots-<tag>-<index>`
    /// with the index in 6 digits, usernames `b<tag>-<index>`), so a rerun with the same tag
    /// reuses them (in `zone`, with the positions they were saved at; in `match`, with their
    /// ratings and decline penalties). "random" draws a new tag.
    #[arg(long, value_name = "TAG", default_value = login::DEFAULT_RUN_TAG)]
    pub run_tag: String,
    /// `login`, `zone`, `match`, `chat`: logins started per second, each on a fixed slot (connect,
    /// Hello, login; in `zone` and `match`, then enter the world). Default 500. Password logins
    /// from one address are limited by the account server (max_failed_logins_per_address counts
    /// logins in progress too): prefer --login-concurrency under that limit for them.
    #[arg(long, value_name = "PER_S", conflicts_with = "login_concurrency")]
    pub login_rate: Option<f64>,
    /// `login`, `zone`, `match`, `chat`: no schedule; at most this many bots between connecting and
    /// logged in (in `zone` and `match`, placed in the world) at once, each starting as soon as
    /// another is done (closed loop: the most logins/s the server can give).
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
    /// `match`: the queue the bots join (a mode of the server's `[matchmaking.modes]`). Default
    /// "team".
    #[arg(long, value_name = "MODE")]
    pub match_mode: Option<String>,
    /// `match`: the fraction of bots that play in parties, 0 to 1; the others queue solo. A
    /// party's leader creates it, invites the others and queues it. Default 0.5.
    #[arg(long, value_name = "FRACTION")]
    pub party_share: Option<f64>,
    /// `match`: the largest party, its leader included; parties take the sizes from this down to
    /// 2 in turn. At most the mode's `max_party`. Default 3 in `team` (its `max_party` in
    /// config.example.toml), else 1 (no parties).
    #[arg(long, value_name = "N")]
    pub party_size: Option<u32>,
    /// `match`: the fraction of ready checks (MatchProposalNtf) each bot declines, 0 to 1: every
    /// 1/fraction-th, from a point of its own. The server penalises a decliner with a cooldown
    /// (QUEUE_COOLDOWN on its next QueueJoinReq), which it waits out if the window lasts that
    /// long. Default 0.1.
    #[arg(long, value_name = "FRACTION")]
    pub decline_rate: Option<f64>,
    /// `match`: seconds a bot stays in its match instance before LeaveInstanceReq (then it
    /// queues again). Default 2.
    #[arg(long, value_name = "SECS")]
    pub match_secs: Option<f64>,
    /// `chat`: the channel the bots join and talk in: a custom channel's name (1-32 of a-z, A-Z,
    /// 0-9, '_', '-'; the first bot to find it missing creates it) or "world" (joined at login).
    /// Default "mmo-bots".
    #[arg(long, value_name = "NAME")]
    pub chat_channel: Option<String>,
    /// `chat`: ChatSendReqs per second and bot, on a fixed schedule (open loop) with a phase per
    /// bot. Default 1. The chat server allows 5 per second and player by default (slow mode
    /// beyond: CHAT_SLOW_MODE refusals fail the run).
    #[arg(long, value_name = "PER_S")]
    pub chat_rate: Option<f64>,
    /// `economy`: purchase intents per second and bot, on a fixed schedule with a phase per bot
    /// (each a new idempotency key; its retries do not count). Default 1. The shop allows 5
    /// PurchaseReqs per second and session.
    #[arg(long, value_name = "PER_S")]
    pub buy_rate: Option<f64>,
    /// `economy`: the fraction of purchase attempts after which the bot drops its connection
    /// right after sending the PurchaseReq, reconnects, logs in again and retries the same key.
    /// 0 to 1. Default 0.05.
    #[arg(long, value_name = "FRACTION")]
    pub disconnect_rate: Option<f64>,
    /// `economy`: ScoreSubmitReqs per second and bot to --board (0: none). Default 0.2. A board
    /// allows one a second per player on average by default.
    #[arg(long, value_name = "PER_S")]
    pub score_rate: Option<f64>,
    /// `economy`: the leaderboard the scores go to. Default "weekly_points" (the first board of
    /// config.example.toml).
    #[arg(long, value_name = "NAME")]
    pub board: Option<String>,
    /// `economy`: the shop's database, read after the window to check every acknowledged
    /// purchase (lost, duplicated). Default: $MMO_MYSQL_URL, else mysql://root@127.0.0.1:3306/mmo.
    #[arg(long, value_name = "URL")]
    pub mysql_url: Option<String>,
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
            match_mode: None,
            party_share: None,
            party_size: None,
            decline_rate: None,
            match_secs: None,
            chat_channel: None,
            chat_rate: None,
            buy_rate: None,
            disconnect_rate: None,
            score_rate: None,
            board: None,
            mysql_url: None,
            server_pid: None,
            rss_settle: Duration::from_secs(2),
            hold: false,
        }
    }
}

impl Options {
    /// Checks the options together: each within its bounds, and none given that the scenario
    /// would not read. The options of one scenario are refused here for the other scenarios,
    /// next to where they are declared; the scenario's own file checks their values last.
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
                "--login-rate and --login-concurrency are for the login, zone, match and chat scenarios"
            );
        }
        if self.scenario != Scenario::Zone {
            ensure!(
                self.move_hz.is_none() && self.metrics_url.is_none(),
                "--move-hz and --metrics-url are for the zone scenario"
            );
        }
        if self.scenario != Scenario::Match {
            ensure!(
                self.match_mode.is_none()
                    && self.party_share.is_none()
                    && self.party_size.is_none()
                    && self.decline_rate.is_none()
                    && self.match_secs.is_none(),
                "--match-mode, --party-share, --party-size, --decline-rate and --match-secs are for the \
                 match scenario"
            );
        }
        if self.scenario != Scenario::Chat {
            ensure!(
                self.chat_channel.is_none() && self.chat_rate.is_none(),
                "--chat-channel and --chat-rate are for the chat scenario"
            );
        }
        if self.scenario != Scenario::Economy {
            ensure!(
                self.buy_rate.is_none()
                    && self.disconnect_rate.is_none()
                    && self.score_rate.is_none()
                    && self.board.is_none()
                    && self.mysql_url.is_none(),
                "--buy-rate, --disconnect-rate, --score-rate, --board and --mysql-url are for the \
                 economy scenario"
            );
        }
        if self.scenario.logs_in() {
            login::check_run_tag(&self.run_tag, self.login, self.bots)?;
            if let Some(rate) = self.login_rate {
                ensure!(rate.is_finite() && rate > 0.0, "--login-rate must be more than 0");
            }
            ensure!(self.login_concurrency != Some(0), "--login-concurrency must be at least 1");
        }
        self.scenario.workload().validate(self)
    }

    /// Measured requests per second across all bots that the schedule asks for (`None` in closed
    /// loop, and in `login` without `--ping-interval`: then the server decides). For `ping` and
    /// `login`, before the cap at the server's heartbeat rate.
    pub fn total_rate(&self) -> Option<f64> {
        self.scenario.workload().total_rate(self)
    }

    /// Per bot, the interval between measured requests as asked (`None` in closed loop, and in
    /// `login` without `--ping-interval`: the server's heartbeat interval then).
    pub fn interval(&self) -> Option<Duration> {
        self.scenario.workload().interval(self)
    }

    /// `zone`: MoveReqs per second and bot.
    pub fn move_hz(&self) -> f64 {
        self.move_hz.unwrap_or(scenario::DEFAULT_MOVE_HZ)
    }

    /// `match`: the queue, the parties, the declines and the length of a match, defaults filled
    /// in.
    pub fn match_settings(&self) -> MatchSettings {
        MatchSettings::new(self)
    }

    /// `chat`: the channel and the rate, defaults filled in.
    pub fn chat_settings(&self) -> ChatSettings {
        ChatSettings::new(self)
    }

    /// `economy`: the rates, the board and the database, defaults filled in.
    pub fn economy_settings(&self) -> EconomySettings {
        EconomySettings::new(self)
    }

    /// How logins are started (`None` in scenarios that do not log in).
    pub fn login_pacing(&self) -> Option<LoginPacing> {
        self.scenario.logs_in().then(|| match self.login_concurrency {
            Some(n) => LoginPacing::Concurrency(n),
            None => LoginPacing::Rate(self.login_rate.unwrap_or(login::DEFAULT_LOGIN_RATE)),
        })
    }

    /// The echo payload in bytes (`None` for scenarios without one).
    pub fn payload_len(&self) -> Option<usize> {
        self.scenario.workload().payload_len(self)
    }
}

/// How the `login` scenario starts its logins.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LoginPacing {
    /// Open loop: bot `i` starts `i / rate` seconds after the start.
    Rate(f64),
    /// Closed loop: at most this many bots between connecting and logged in.
    Concurrency(usize),
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
