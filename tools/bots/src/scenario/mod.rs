//! The scenarios a bot can play: one file each, and [`Scenario`], the table that names them.
//!
//! Every scenario runs on the same skeleton (`swarm/bot.rs`): connect, Hello, the steps up to the
//! scenario's `Stage` (`session.rs`), then requests on a schedule with a Ping as heartbeat. A
//! scenario decides only what differs, in two parts:
//!
//! - `Workload`, for the whole swarm: its name, its stage, its own options and the schedule
//!   they ask for;
//! - `Traffic`, for each bot: what its *measured* request is, and how the bot reads the
//!   answers and what the server pushes.
//!
//! `ping` measures the gateway's round trip with the heartbeat's own Ping (`ping.rs`); `echo` an
//! EchoReq through the bus (`echo.rs`); `login` logs in first and measures the heartbeats of the
//! logged-in sessions (`login.rs`); `zone` enters the world, walks with one-way MoveReqs and
//! measures what the zone pushes back (`zone.rs`).
//!
//! A scenario whose bots act on what the server tells them rather than on a schedule has a
//! `Script` instead of a `Traffic`: for the window the bot hands its connection to the script,
//! one per run, which also holds what its bots share (who plays with whom). `match` is one
//! (`match.rs`): parties and solos queue, answer the ready check, play a short match, requeue.
//! So is `chat` (`chat.rs`): join a channel, send on a schedule of its own, count deliveries.
//! And `economy` (`economy.rs`): buy under idempotency keys through injected disconnects, submit
//! scores, then check every acknowledged purchase against MySQL in the script's `finish`.
//!
//! Adding a scenario is adding a file here with a unit struct implementing `Workload` (and a
//! `Traffic` for its bots, unless it measures heartbeats, or a `Script`), then its variant of
//! [`Scenario`] (whose doc comment is its `--help` text) and its line in `Scenario::workload`.
//! Options of its own are fields of [`Options`], refused for the other scenarios in
//! [`Options::validate`].

mod chat;
mod echo;
mod economy;
mod login;
mod r#match;
mod ping;
mod zone;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mmo_proto::{ErrorResp, PingResp, ZoneEnterNtf};
use mmo_wire::{Frame, MsgId, MsgType, Seq};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Options;
use crate::conn::{Conn, msg_name};
use crate::tally::{Errors, Tally};
use crate::window::Window;

pub use chat::{CHAT_LIMIT_PER_S, ChatSettings, DEFAULT_CHAT_CHANNEL, DEFAULT_CHAT_RATE, WORLD};
pub use echo::{DEFAULT_ECHO_RATE_PER_BOT, ECHO_LIMIT_PER_S, MAX_PAYLOAD};
pub use economy::{
    DEFAULT_BOARD, DEFAULT_BUY_RATE, DEFAULT_DISCONNECT_RATE, DEFAULT_MYSQL_URL, DEFAULT_SCORE_RATE,
    EconomySettings,
};
pub use r#match::{
    DEFAULT_DECLINE_RATE, DEFAULT_MATCH_MODE, DEFAULT_MATCH_SECS, DEFAULT_PARTY_SHARE, MatchSettings,
    TEAM_PARTY_SIZE,
};
pub use ping::DEFAULT_PING_INTERVAL;
pub(crate) use ping::Heartbeat;
pub use zone::{DEFAULT_MOVE_HZ, MOVE_KEEPALIVE, MOVE_LIMIT_PER_S};

/// Bounds of one bot's interval: shorter would spin, longer would never send in a run.
const MIN_INTERVAL: Duration = Duration::from_micros(10);
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 3600);

/// A workload, chosen with `--scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hello, then PingReq on the schedule: the gateway's own round trip, no other server involved.
    Ping,
    /// Hello, then EchoReq on the schedule: client -> gateway -> bus -> diagnostics server -> bus ->
    /// gateway -> client. Needs a gateway with a bus and a diagnostics server behind it.
    Echo,
    /// Hello, then log in (--login device or password, paced by --login-rate or
    /// --login-concurrency), then idle with a Ping at the server's heartbeat interval until the
    /// window ends: logins/s, login latency, sessions held. Needs the account server (`mmo all`).
    Login,
    /// Hello, log in as `login` does, EnterWorldReq, then a random walk: a MoveReq at --move-hz
    /// on the schedule, a new direction every couple of seconds. Measures the entity updates the
    /// zone pushes back (per second, by kind, bytes) and their latency from the server's tick
    /// (`server_time_ms`) to receipt; with --metrics-url, the server's tick p50/p99. Needs the
    /// zone server (`mmo all`).
    Zone,
    /// Hello, log in, EnterWorldReq, then matchmaking until the window ends: some bots form
    /// parties (--party-share, --party-size), each party's leader or solo bot queues for
    /// --match-mode, every bot answers its ready checks (declining --decline-rate of them, then
    /// waiting out the penalty), plays --match-secs in the match instance, leaves it and queues
    /// again. Measures time to match (QueueJoinResp to MatchStartNtf), matches/s, declines and
    /// requeues, and checks that no ticket was matched twice and no player was in two matches at
    /// once. Needs the matchmaking server (`mmo all`).
    Match,
    /// Hello, log in, then join --chat-channel (a custom channel the first bot to find it
    /// missing creates, or `world`) and send a ChatSendReq to it at --chat-rate per bot on the
    /// schedule until the window ends, each text carrying the bot, its own sequence number and
    /// the scheduled time. Every bot counts the ChatMessageNtfs it gets: deliveries/s, latency
    /// from the scheduled send to receipt, and lost (a message acknowledged by ChatSendResp that
    /// a bot in the channel since before it was sent never got) and duplicated deliveries (a
    /// message id received twice). Needs the chat server (`mmo all`).
    Chat,
    /// Hello, log in with a device id, read the wallet (the shop grants `[shop] starter` on a
    /// player's first request) and the catalog, then buy at --buy-rate per bot on the schedule: a
    /// random affordable item under a new idempotency key. With probability --disconnect-rate an
    /// attempt drops the connection right after the PurchaseReq, reconnects, logs in again and
    /// retries the same key (the answer must be the same purchase, replayed or not);
    /// SHOP_STORE_UNAVAILABLE is retried with the same key; SHOP_INSUFFICIENT_FUNDS is counted,
    /// not an error. Scores go to --board at --score-rate. After the window every acknowledged
    /// purchase is looked up in the shop's tables (--mysql-url): purchases/s, latency, replays,
    /// disconnects, insufficient funds, lost and duplicated; lost or duplicated fail the run.
    /// Needs the shop (with a catalog) and leaderboard servers (`mmo all`).
    Economy,
}

impl Scenario {
    /// What the scenario does: the one place that maps a scenario to its file.
    pub(crate) fn workload(self) -> &'static dyn Workload {
        match self {
            Scenario::Ping => &ping::Ping,
            Scenario::Echo => &echo::Echo,
            Scenario::Login => &login::Login,
            Scenario::Zone => &zone::Zone,
            Scenario::Match => &r#match::Match,
            Scenario::Chat => &chat::Chat,
            Scenario::Economy => &economy::Economy,
        }
    }

    /// The name on the command line and in the report.
    pub fn name(self) -> &'static str {
        self.workload().name()
    }

    /// How far each bot goes before the window.
    pub(crate) fn stage(self) -> Stage {
        self.workload().stage()
    }

    /// Whether each bot logs in before the window (and the `--login*` options apply).
    pub fn logs_in(self) -> bool {
        self.stage() >= Stage::LoggedIn
    }
}

/// How far a bot goes before the measurement window; each stage takes the steps of the one before
/// it and one more (`session.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    /// Connected, Hello answered.
    Connected,
    /// Logged in: a device login, or a registration (a login when the name is taken).
    LoggedIn,
    /// Placed in the world by the zone.
    InWorld,
}

/// A scenario as the swarm sees it: a unit struct per scenario file.
pub(crate) trait Workload: Sync {
    /// The name on the command line and in the report, as clap and serde spell the variant.
    fn name(&self) -> &'static str;

    /// How far each bot goes before the window.
    fn stage(&self) -> Stage {
        Stage::Connected
    }

    /// Checks the scenario's own options; [`Options::validate`] checks the others and calls this
    /// last.
    fn validate(&self, _opts: &Options) -> anyhow::Result<()> {
        Ok(())
    }

    /// Per bot, the interval between measured requests as asked (`None` when the options ask for
    /// none: closed loop, or the server's heartbeat interval).
    fn interval(&self, opts: &Options) -> Option<Duration>;

    /// Measured requests per second across all bots that the schedule asks for (`None` when it
    /// asks for no interval).
    fn total_rate(&self, opts: &Options) -> Option<f64> {
        self.interval(opts).map(|i| opts.bots as f64 / i.as_secs_f64())
    }

    /// One bot's interval between measured requests, now that the server has said its heartbeat
    /// interval: as asked, or the heartbeat's when nothing was. In closed loop, the least time
    /// between two.
    fn bot_interval(&self, opts: &Options, heartbeat: Duration) -> Duration {
        self.interval(opts).unwrap_or(heartbeat)
    }

    /// Bytes of payload in each measured request (`None` for scenarios without one).
    fn payload_len(&self, _opts: &Options) -> Option<usize> {
        None
    }

    /// The traffic of one bot that has reached [`Workload::stage`]; `placed` is where the zone put
    /// it, at [`Stage::InWorld`]. With a [`Script`], only the heartbeats before and after the
    /// window.
    fn traffic(&self, opts: &Options, placed: Option<&ZoneEnterNtf>) -> Box<dyn Traffic>;

    /// The run's script, for a scenario whose bots follow one through the window instead of a
    /// schedule of measured requests (`None`: they follow the schedule).
    fn script(&self, _opts: &Options) -> Option<Box<dyn Script>> {
        None
    }
}

/// What a scripted scenario's bots do in the window, and what they share: one per run.
pub(crate) trait Script: Send + Sync {
    /// Bot `index` has reached the scenario's stage as `player`, or could not (`None`). Called
    /// for every bot before the window opens.
    fn seat(&self, index: usize, player: Option<u64>);

    /// One bot's part: heartbeats until the window opens, the script through it, then (bounded
    /// by the window's drain) whatever leaves the server tidy. Returns whether the connection is
    /// still usable.
    fn play<'a>(&'a self, bot: Scripted<'a>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

    /// After every bot has reported: checks over the merged tally that need the outside world
    /// (`economy` reads MySQL). Nothing by default.
    fn finish<'a>(&'a self, _tally: &'a mut Tally) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async {})
    }
}

/// A bot handed to its scenario's [`Script`] for the window.
pub(crate) struct Scripted<'a> {
    pub index: usize,
    pub player: u64,
    /// Where the zone placed the bot, at [`Stage::InWorld`].
    pub placed: Option<&'a ZoneEnterNtf>,
    pub conn: &'a mut Conn,
    /// The last seq used.
    pub seq: &'a mut u32,
    /// The server's heartbeat interval: the most a bot may stay silent.
    pub heartbeat: Duration,
    /// Cancelled to interrupt the run.
    pub stop: &'a CancellationToken,
    pub window: &'a mut watch::Receiver<Option<Window>>,
    pub tally: &'a mut Tally,
}

/// One bot's side of a scenario: its measured requests, and what it makes of what comes back.
/// A request/response scenario needs only `request` and, unless its answer is a PingResp,
/// `check_answer`.
pub(crate) trait Traffic: Send {
    /// The measured request of the slot scheduled at `slot`, as a whole frame with header `seq`.
    fn request(&mut self, seq: Seq, slot: Instant) -> Bytes;

    /// Checks the answer to the measured request of the frame's seq: its id, then its body. By
    /// default the answer is a PingResp, as it is to a heartbeat.
    fn check_answer(&self, frame: &Frame) -> Result<(), Check> {
        expect::<PingResp>(frame).map(drop)
    }

    /// Whether measured requests are one-way: no answer comes to one that is accepted, so none
    /// is pending and none can be lost.
    fn one_way(&self) -> bool {
        false
    }

    /// Whether the bot measures what the server pushes: then it reads until the window closes,
    /// not only until its last answer, stamps each read with the wall clock ([`wall_us`]), and
    /// every frame it reads inside the window goes to [`Traffic::on_window_frame`].
    fn listens(&self) -> bool {
        false
    }

    /// A frame read inside the window by a bot that [`listens`](Traffic::listens), before it is
    /// handled.
    fn on_window_frame(&mut self, _frame: &Frame, _tally: &mut Tally) {}

    /// A frame the server pushed. `received` is when (wall clock, µs) for a bot that listens,
    /// inside the window; `None` otherwise. An error is counted as one, by its kind.
    fn on_push(&mut self, frame: &Frame, _received: Option<u64>, _tally: &mut Tally) -> Result<(), Check> {
        // A push answers no request, and only a scenario that listens subscribes to anything.
        tracing::debug!(id = %frame.header.id, "push ignored");
        Ok(())
    }

    /// An ErrorResp that answers no pending request: the refusal of a one-way request, if the
    /// scenario counts those, goes to the errors returned (by code). `None` counts it as an error.
    fn refusals<'t>(&self, _refusal: &ErrorResp, _tally: &'t mut Tally) -> Option<&'t mut Errors> {
        None
    }
}

/// Wall clock now, in µs since the Unix epoch (0 if the clock is before it).
pub(crate) fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Why an answer is not the one expected.
#[derive(Debug)]
pub enum Check {
    /// An answer of another message than the request's.
    Unexpected { got: MsgId, seq: Seq, expected: MsgId },
    /// The body does not decode.
    Decode(&'static str, prost::DecodeError),
    /// An echo came back with other bytes than were sent.
    Mismatch(String),
}

impl Check {
    /// The key under `errors_by_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Unexpected { .. } => "unexpected_message",
            Check::Decode(..) => "decode",
            Check::Mismatch(_) => "echo.mismatch",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Unexpected { got, seq, expected } => {
                write!(f, "{} for seq {}, expected {}", msg_name(*got), seq.0, msg_name(*expected))
            }
            Check::Decode(name, e) => write!(f, "undecodable {name}: {e}"),
            Check::Mismatch(what) => f.write_str(what),
        }
    }
}

/// Decodes an answer that must be an `M`.
fn expect<M: MsgType>(frame: &Frame) -> Result<M, Check> {
    let h = frame.header;
    if h.id != M::ID {
        return Err(Check::Unexpected { got: h.id, seq: h.seq, expected: M::ID });
    }
    decode(frame)
}

/// Decodes a frame's body as an `M`, whatever its id.
fn decode<M: MsgType>(frame: &Frame) -> Result<M, Check> {
    frame.decode_body::<M>().map_err(|e| Check::Decode(M::NAME, e))
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum as _;

    use super::*;

    #[test]
    fn every_scenario_is_named_alike_on_the_command_line_in_the_report_and_in_its_file() {
        for scenario in Scenario::value_variants() {
            let cli = scenario.to_possible_value().expect("no hidden scenario");
            let json = serde_json::to_value(scenario).expect("serialise");
            assert_eq!(cli.get_name(), scenario.name());
            assert_eq!(json, scenario.name());
        }
    }
}
