//! `match`: matchmaking as players go through it. Every bot logs in as `login` does and enters the
//! world; then, through the window, it plays rounds of queue, ready check, match, requeue.
//!
//! Who plays with whom is fixed before the run ([`Lobby`]): the first `--party-share` of the bots
//! form parties of `--party-size`, one less, ... down to 2 members in turn, each led by its first
//! bot; the others play solo. As the window opens a leader creates its party (PartyCreateReq) and
//! invites its members by the player ids they logged in with (PartyInviteReq); each member
//! accepts its leader's invite (PartyInviteNtf, PartyRespondReq). Once all have joined (PartyNtf),
//! or after [`PARTY_WAIT`], the leader queues the party.
//!
//! A round, for a solo bot or a leader (the queuer):
//!
//! 1. QueueJoinReq for `--match-mode`: a ticket (QueueJoinResp), from which time to match counts.
//!    QUEUE_COOLDOWN (a decline penalty) is waited out (its `retry_after_ms`) if the window lasts
//!    that long; otherwise the bot sits the rest of the window out.
//! 2. Every player of the ticket gets the ready check (MatchProposalNtf) and answers it
//!    (MatchAcceptReq), declining `--decline-rate` of them. A failed check comes back as a
//!    TicketNtf: REQUEUED (back in the queue, wait kept), or DECLINED (the ticket is over; the
//!    queuer queues again at once, which for the decliner's own ticket must be refused
//!    QUEUE_COOLDOWN, else the penalty was not applied).
//! 3. MatchStartNtf: every player is in the match. The zone moves each into the match instance
//!    (a ZoneEnterNtf with the match id; if none comes within [`ENTER_MATCH_WAIT`] the bot asks
//!    with EnterWorldReq), where it stays `--match-secs`, then sends LeaveInstanceReq. The queuer
//!    queues again once its party's members are out of the match too.
//!
//! As the window closes a bot leaves its queue (QueueLeaveReq) and its match (LeaveInstanceReq),
//! so that no ticket outlives the run, and waits for the answers until the drain ends.
//!
//! Each bot writes down its tickets, the matches they started in and its stays in matches (the
//! tally's `Ledger`); the report puts all of them together for the checks (`report/checks.rs`):
//! no ticket matched twice, no player in two matches at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::ensure;
use mmo_proto::{
    DisconnectNtf, EnterWorldReq, EnterWorldResp, ErrorCode, ErrorResp, LeaveInstanceReq, LeaveInstanceResp,
    MatchAcceptReq, MatchProposalNtf, MatchStartNtf, PartyCreateReq, PartyCreateResp, PartyEvent,
    PartyInviteNtf, PartyInviteReq, PartyLeaveReq, PartyNtf, PartyRespondReq, PartyRespondResp, PingReq,
    PingResp, QueueJoinReq, QueueJoinResp, QueueLeaveReq, TicketEndReason, TicketNtf, ZoneEnterNtf,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::{Heartbeat, Script, Scripted, Stage, Traffic, Workload};
use crate::Options;
use crate::conn::{self, Fail, code_name};
use crate::tally::Stay;
use crate::window::{DRAIN, Window};

/// The queue joined without `--match-mode`.
pub const DEFAULT_MATCH_MODE: &str = "team";
/// The mode whose parties `--party-size` fills by default: `team` in config.example.toml.
const TEAM_MODE: &str = "team";
/// The default largest party in [`TEAM_MODE`]: its `max_party` in config.example.toml.
pub const TEAM_PARTY_SIZE: u32 = 3;
/// The fraction of bots in parties without `--party-share`.
pub const DEFAULT_PARTY_SHARE: f64 = 0.5;
/// The fraction of ready checks declined without `--decline-rate`.
pub const DEFAULT_DECLINE_RATE: f64 = 0.1;
/// Seconds in a match without `--match-secs`.
pub const DEFAULT_MATCH_SECS: f64 = 2.0;

/// The largest party asked for: the server's own limit (`max_party_size`, default 5) is far
/// below; this only keeps the option sane.
const MAX_PARTY_SIZE: u32 = 100;
/// The longest match asked for.
const MAX_MATCH_SECS: f64 = 3600.0;
/// How long an answer may take: beyond the gateway's request timeout (10 s by default), so the
/// server's own answer (UNAVAILABLE) is what a bot sees.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a leader waits for its members to join, and a member for its leader's invite.
pub const PARTY_WAIT: Duration = Duration::from_secs(5);
/// After MatchStartNtf, how long a bot waits for the zone to move it into the match instance
/// before asking (EnterWorldReq), and between two asks (the zone allows 2 per second).
pub const ENTER_MATCH_WAIT: Duration = Duration::from_secs(2);
const ENTER_MATCH_RETRY: Duration = Duration::from_secs(1);
/// After MatchStartNtf, how long a bot tries to get into the match instance before giving up.
const ENTER_MATCH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a leader out of its match waits for its members to be out of it too.
const MEMBERS_WAIT: Duration = Duration::from_secs(20);
/// The least wait before queueing again after a refusal.
const RETRY: Duration = Duration::from_millis(500);

/// The `match` options with their defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchSettings {
    pub mode: String,
    pub party_share: f64,
    pub party_size: u32,
    pub decline_rate: f64,
    pub match_secs: f64,
}

impl MatchSettings {
    pub fn new(opts: &Options) -> MatchSettings {
        let mode = opts.match_mode.clone().unwrap_or_else(|| DEFAULT_MATCH_MODE.to_owned());
        let party_size = opts.party_size.unwrap_or(if mode == TEAM_MODE { TEAM_PARTY_SIZE } else { 1 });
        MatchSettings {
            mode,
            party_share: opts.party_share.unwrap_or(DEFAULT_PARTY_SHARE),
            party_size,
            decline_rate: opts.decline_rate.unwrap_or(DEFAULT_DECLINE_RATE),
            match_secs: opts.match_secs.unwrap_or(DEFAULT_MATCH_SECS),
        }
    }

    fn match_time(&self) -> Duration {
        Duration::try_from_secs_f64(self.match_secs).unwrap_or(Duration::MAX)
    }
}

pub(super) struct Match;

impl Workload for Match {
    fn name(&self) -> &'static str {
        "match"
    }

    fn stage(&self) -> Stage {
        Stage::InWorld
    }

    fn validate(&self, opts: &Options) -> anyhow::Result<()> {
        ensure!(
            opts.ping_interval.is_none(),
            "--ping-interval is not for match: its bots ping only as heartbeat"
        );
        let s = opts.match_settings();
        ensure!(!s.mode.trim().is_empty(), "--match-mode must name a mode");
        let fraction = |f: f64| f.is_finite() && (0.0..=1.0).contains(&f);
        ensure!(fraction(s.party_share), "--party-share must be between 0 and 1");
        ensure!(fraction(s.decline_rate), "--decline-rate must be between 0 and 1");
        ensure!(
            (1..=MAX_PARTY_SIZE).contains(&s.party_size),
            "--party-size must be between 1 and {MAX_PARTY_SIZE}"
        );
        ensure!(
            s.match_secs.is_finite() && (0.0..=MAX_MATCH_SECS).contains(&s.match_secs),
            "--match-secs must be between 0 and {MAX_MATCH_SECS}"
        );
        Ok(())
    }

    /// No schedule: the bots act on what the server tells them.
    fn interval(&self, _: &Options) -> Option<Duration> {
        None
    }

    fn traffic(&self, _: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Heartbeat)
    }

    fn script(&self, opts: &Options) -> Option<Box<dyn Script>> {
        let settings = opts.match_settings();
        let lobby = Lobby::new(opts.bots, &settings);
        Some(Box::new(Matches { settings, lobby }))
    }
}

/// The run's script: the settings, and who plays with whom.
struct Matches {
    settings: MatchSettings,
    lobby: Lobby,
}

impl Script for Matches {
    fn seat(&self, index: usize, player: Option<u64>) {
        self.lobby.seat(index, player);
    }

    fn play<'a>(&'a self, bot: Scripted<'a>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(Player::new(self, bot).play())
    }
}

/// The sizes of the parties for `bots` bots of which a fraction `share` play in parties of at
/// most `largest`: from `largest` down to 2 in turn, while at least 2 bots for parties remain
/// (a last one left over plays solo).
fn party_sizes(bots: usize, share: f64, largest: u32) -> Vec<usize> {
    let largest = largest as usize;
    let mut left = ((bots as f64 * share).round() as usize).min(bots);
    let mut sizes = Vec::new();
    if largest < 2 {
        return sizes;
    }
    let mut next = largest;
    while left >= 2 {
        let size = next.min(left);
        sizes.push(size);
        left -= size;
        next = if next <= 2 { largest } else { next - 1 };
    }
    sizes
}

/// Who plays with whom: the parties by bot index, fixed before the run, and what the bots of a
/// party tell each other in the process (the server tells them nothing of each other's ids or
/// whereabouts).
struct Lobby {
    parties: Vec<PartyLink>,
    /// Per bot: its party and its place in it (0: the leader); `None` for a solo bot.
    seats: Vec<Option<(usize, usize)>>,
}

/// What the bots of one party share.
struct PartyLink {
    /// Each bot's player id by place, once it is ready for the window (`None`: it is not, or
    /// could not be).
    players: Mutex<Vec<Option<u64>>>,
    /// Each bot's last match left (its id) by place: the leader queues again once every member
    /// has left the match it just played.
    left: watch::Sender<Vec<String>>,
}

impl Lobby {
    fn new(bots: usize, settings: &MatchSettings) -> Lobby {
        let mut seats = vec![None; bots];
        let mut parties = Vec::new();
        let mut index = 0;
        for size in party_sizes(bots, settings.party_share, settings.party_size) {
            for place in 0..size {
                seats[index + place] = Some((parties.len(), place));
            }
            index += size;
            parties.push(PartyLink {
                players: Mutex::new(vec![None; size]),
                left: watch::Sender::new(vec![String::new(); size]),
            });
        }
        Lobby { parties, seats }
    }

    fn seat(&self, index: usize, player: Option<u64>) {
        if let Some(Some((party, place))) = self.seats.get(index) {
            self.parties[*party].players.lock().unwrap_or_else(PoisonError::into_inner)[*place] = player;
        }
    }

    /// What bot `index` is, as the window opens: a party's leader with the members that are
    /// ready, a member whose leader is ready, or else solo.
    fn role(&self, index: usize) -> Role<'_> {
        let Some(Some((party, place))) = self.seats.get(index).copied() else { return Role::Solo };
        let link = &self.parties[party];
        let players = link.players.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match (place, players[0]) {
            (0, _) => {
                let members: Vec<u64> = players[1..].iter().flatten().copied().collect();
                if members.is_empty() {
                    Role::Solo
                } else {
                    Role::Leader { link, invited: members, joined: Vec::new() }
                }
            }
            (_, Some(leader)) => Role::Member { link, place, leader },
            (_, None) => Role::Solo,
        }
    }
}

impl PartyLink {
    /// The place of `player` in the party.
    fn place_of(&self, player: u64) -> Option<usize> {
        self.players.lock().unwrap_or_else(PoisonError::into_inner).iter().position(|p| *p == Some(player))
    }
}

/// What a bot is in its party.
enum Role<'a> {
    Solo,
    /// Queues its party. `invited`: the members it invited (less those whose invite was
    /// refused); `joined`: those in the party now.
    Leader {
        link: &'a PartyLink,
        invited: Vec<u64>,
        joined: Vec<u64>,
    },
    /// Follows its leader's queue.
    Member {
        link: &'a PartyLink,
        place: usize,
        leader: u64,
    },
}

impl Role<'_> {
    /// Whether the bot queues tickets itself (solo, or a leader).
    fn queues(&self) -> bool {
        !matches!(self, Role::Member { .. })
    }
}

/// Where a bot is in its round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The window has not opened.
    Waiting,
    /// Leader: the party is being created and its members invited, until `due` at most.
    Forming,
    /// Member: waiting for its leader's invite (until `due`), then for its join to be answered.
    Invited,
    /// Member: in the party, which its leader queues.
    InParty,
    /// Queuer: QueueJoinReq due at `due` (`None`: sitting the window out).
    Idle,
    /// Queuer: QueueJoinReq sent.
    Joining,
    /// Queuer: the ticket is open (searching, in a ready check, or accepted).
    Queued,
    /// In a match.
    Playing,
    /// Leader: out of its match; waiting for its members to be out (until `due` at most).
    Regrouping,
    /// The window is over: out of the queue and the match, waiting for the answers until `due`.
    Closing,
}

/// A request waiting for its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ask {
    Ping,
    PartyCreate,
    /// Out of a party left over from an earlier run, to create or join one.
    PartyLeave,
    PartyInvite(u64),
    /// Joining this party.
    PartyRespond(u64),
    Join,
    Leave,
    Accept,
    EnterWorld,
    LeaveInstance,
}

impl Ask {
    /// The step's name in failure kinds.
    fn step(self) -> &'static str {
        match self {
            Ask::Ping => "ping",
            Ask::PartyCreate => "party.create",
            Ask::PartyLeave => "party.leave",
            Ask::PartyInvite(_) => "party.invite",
            Ask::PartyRespond(_) => "party.respond",
            Ask::Join => "join",
            Ask::Leave => "queue_leave",
            Ask::Accept => "accept",
            Ask::EnterWorld => "match.enter",
            Ask::LeaveInstance => "match.leave",
        }
    }
}

struct Asked {
    seq: u32,
    ask: Ask,
    deadline: Instant,
}

/// What came of a request.
enum Answer {
    Ok(Frame),
    Refused(ErrorResp),
    /// No answer within [`REQUEST_TIMEOUT`], or one that is not the request's.
    Missing(String),
}

impl Answer {
    /// The failure kind's last part: the error code, or why there was no answer.
    fn kind(&self) -> String {
        match self {
            Answer::Ok(_) => "ok".into(),
            Answer::Refused(e) => code_name(e.code),
            Answer::Missing(_) => "no_answer".into(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Answer::Ok(_) => "answered".into(),
            Answer::Refused(e) => Fail::Rejected(e.clone()).to_string(),
            Answer::Missing(why) => why.clone(),
        }
    }

    fn refused_with(&self, code: ErrorCode) -> bool {
        matches!(self, Answer::Refused(e) if e.code == code as i32)
    }
}

/// A queuer's open ticket.
struct OpenTicket {
    id: u64,
    /// When its QueueJoinResp arrived: time to match counts from here.
    joined: Instant,
}

/// The match being played.
struct Playing {
    match_id: String,
    /// When its MatchStartNtf arrived.
    told: Instant,
    /// When the bot was placed in the match's instance.
    placed: Option<Instant>,
    leave_sent: bool,
    /// When to ask for the instance (EnterWorldReq) if not placed by then.
    ask_at: Instant,
    /// When to stop trying to get in.
    give_up: Instant,
}

/// One bot playing the script.
struct Player<'a> {
    settings: &'a MatchSettings,
    lobby: &'a Lobby,
    bot: Scripted<'a>,
    role: Role<'a>,
    phase: Phase,
    /// When the phase's next step is due.
    due: Option<Instant>,
    pending: Vec<Asked>,
    /// When the last request went out: the heartbeat counts from it.
    last_sent: Instant,
    window: Option<Window>,
    ticket: Option<OpenTicket>,
    /// The queuer's last ticket, which a MatchStartNtf arriving with no ticket open counts
    /// against.
    last_ticket: Option<u64>,
    playing: Option<Playing>,
    /// The match id of the zone instance the bot is in ("": not a match instance).
    zone_match: String,
    /// Leader: the match its members must have left before it queues again.
    regroup_after: String,
    /// Leader: its members' last matches left.
    left_rx: Option<watch::Receiver<Vec<String>>>,
    /// Leader or member: a stale party was left once already (a second ALREADY_IN_PARTY fails).
    left_stale_party: bool,
    /// Member: the party its leader invited it to.
    invited_to: u64,
    /// A QueueLeaveReq refused PROPOSAL_NOT_FOUND was sent again.
    left_again: bool,
    /// Member: an invite read before the bot saw the window open (the leader saw it first).
    early_invite: Option<PartyInviteNtf>,
    /// Queuer: QueueJoinReqs sent, whether one was ever answered with a ticket, and the last
    /// refusal (for a queuer that never got one).
    joins_sent: u64,
    queued_once: bool,
    last_refusal: Option<(String, String)>,
    /// When the bot last declined a ready check.
    declined_at: Option<Instant>,
    /// Queuer: its own decline was penalised until at least then (the decline's sending plus
    /// the cooldown), so a QueueJoinReq answered before must have been refused.
    penalised_until: Option<Instant>,
    /// Queuer: while its QueueJoinReq is in flight, a MatchStartNtf that overtook the answer
    /// (the bot answered the ready check the server sent before it), and the TicketNtfs: theirs
    /// is the ticket the answer will name.
    early_start: Option<String>,
    early_notices: Vec<TicketNtf>,
    /// See [`declines`].
    decline_credit: f64,
}

impl<'a> Player<'a> {
    fn new(script: &'a Matches, bot: Scripted<'a>) -> Player<'a> {
        let zone_match = bot.placed.map(|p| p.match_id.clone()).unwrap_or_default();
        Player {
            settings: &script.settings,
            lobby: &script.lobby,
            role: Role::Solo,
            phase: Phase::Waiting,
            due: None,
            pending: Vec::new(),
            last_sent: Instant::now(),
            window: None,
            ticket: None,
            last_ticket: None,
            playing: None,
            zone_match,
            regroup_after: String::new(),
            left_rx: None,
            left_stale_party: false,
            invited_to: 0,
            left_again: false,
            early_invite: None,
            joins_sent: 0,
            queued_once: false,
            last_refusal: None,
            declined_at: None,
            penalised_until: None,
            early_start: None,
            early_notices: Vec::new(),
            decline_credit: first_credit(bot.index),
            bot,
        }
    }

    /// Plays until the window and its drain are over, or the run is interrupted. Returns whether
    /// the connection is still usable.
    async fn play(mut self) -> bool {
        let result = self.run().await;
        let now = Instant::now();
        let alive = match result {
            Ok(()) => true,
            Err(fail) => {
                tracing::debug!(error = %fail, "match bot connection ended");
                self.bot.tally.errors.record(fail.kind(), &fail);
                false
            }
        };
        self.finish(now);
        alive
    }

    async fn run(&mut self) -> Result<(), Fail> {
        let opened = *self.bot.window.borrow_and_update();
        if let Some(w) = opened {
            self.open(w, Instant::now())?;
        }
        // Frames may have come in with the last answer before the window.
        self.read_buffered()?;
        let mut stopping = false;
        loop {
            if self.phase == Phase::Closing && (!self.awaiting_answers() || self.due_now(Instant::now())) {
                return Ok(());
            }
            let wake = self.wake_at();
            let regrouping = self.phase == Phase::Regrouping;
            tokio::select! {
                biased;
                () = self.bot.stop.cancelled(), if !stopping => {
                    stopping = true;
                    let now = Instant::now();
                    match self.window {
                        None => return Ok(()),
                        Some(w) => self.close(now, w.drain_until.min(now + DRAIN))?,
                    }
                }
                changed = self.bot.window.changed(), if self.window.is_none() => {
                    if changed.is_err() {
                        // The swarm is gone.
                        return Ok(());
                    }
                    let opened = *self.bot.window.borrow_and_update();
                    if let Some(w) = opened {
                        self.open(w, Instant::now())?;
                    }
                }
                () = members_moved(&mut self.left_rx), if regrouping => self.regroup_check(Instant::now()),
                ready = self.bot.conn.readable() => {
                    ready.map_err(Fail::Io)?;
                    self.bot.conn.read_some()?;
                    self.read_buffered()?;
                }
                ready = self.bot.conn.writable(), if self.bot.conn.writing() => {
                    ready.and_then(|()| self.bot.conn.flush()).map_err(Fail::Io)?;
                }
                () = sleep_until(wake) => self.on_timer(Instant::now())?,
            }
        }
    }

    /// Counts what is counted once per bot, and ends a stay still open.
    fn finish(&mut self, now: Instant) {
        self.end_stay(now);
        if self.window.is_none() || !self.role.queues() {
            return;
        }
        let m = &mut self.bot.tally.matches;
        m.queuers += 1;
        if !self.queued_once {
            match &self.last_refusal {
                Some((kind, example)) => m.never_queued.record(kind.clone(), example),
                None if self.joins_sent == 0 => m.never_queued.record(
                    "never_asked",
                    format_args!("no QueueJoinReq in the window (ended {:?})", self.phase),
                ),
                None => m.never_queued.record("unanswered", "no answer to QueueJoinReq"),
            }
        }
    }

    // ---- the window ----

    /// The window opened: the bot takes its role and starts its first round.
    fn open(&mut self, window: Window, now: Instant) -> Result<(), Fail> {
        self.window = Some(window);
        let lobby: &'a Lobby = self.lobby;
        self.role = lobby.role(self.bot.index);
        match &self.role {
            Role::Solo => self.queue_at(now),
            Role::Leader { link, .. } => {
                self.left_rx = Some(link.left.subscribe());
                self.phase = Phase::Forming;
                self.due = Some(now + PARTY_WAIT);
                self.send(&PartyCreateReq {}, Ask::PartyCreate, now)?;
            }
            Role::Member { .. } => {
                self.phase = Phase::Invited;
                self.due = Some(now + PARTY_WAIT);
                if let Some(invite) = self.early_invite.take() {
                    self.on_invite(&invite, now)?;
                }
            }
        }
        Ok(())
    }

    /// The window closed (or the run was interrupted): out of the queue and the match; the
    /// answers are awaited until `until`.
    fn close(&mut self, now: Instant, until: Instant) -> Result<(), Fail> {
        if self.phase == Phase::Closing {
            self.due = self.due.map(|d| d.min(until));
            return Ok(());
        }
        // A QueueJoinReq in flight is left once answered (see `on_join`): a QueueLeaveReq sent
        // now could be handled first and leave nothing.
        if self.ticket.take().is_some() {
            self.send(&QueueLeaveReq {}, Ask::Leave, now)?;
        }
        if let Some(p) = &self.playing
            && !p.leave_sent
        {
            self.send(&LeaveInstanceReq {}, Ask::LeaveInstance, now)?;
        }
        self.end_stay(now);
        self.phase = Phase::Closing;
        self.due = Some(until);
        Ok(())
    }

    /// Whether answers other than heartbeats are still awaited.
    fn awaiting_answers(&self) -> bool {
        self.pending.iter().any(|a| a.ask != Ask::Ping)
    }

    fn due_now(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| now >= d)
    }

    /// The next time something must happen without the server: a heartbeat, an answer's
    /// deadline, the window's end, the phase's own step.
    fn wake_at(&self) -> Instant {
        let mut wake = self.last_sent + self.bot.heartbeat;
        let mut at = |t: Instant| wake = wake.min(t);
        self.pending.iter().for_each(|a| at(a.deadline));
        if let Some(due) = self.due {
            at(due);
        }
        if let Some(w) = &self.window
            && self.phase != Phase::Closing
        {
            at(w.end);
        }
        if let Some(p) = &self.playing
            && self.phase == Phase::Playing
        {
            match p.placed {
                Some(placed) if !p.leave_sent => at(placed + self.settings.match_time()),
                Some(_) => {}
                None => {
                    at(p.give_up);
                    if !self.asked(Ask::EnterWorld) {
                        at(p.ask_at);
                    }
                }
            }
        }
        wake
    }

    fn asked(&self, ask: Ask) -> bool {
        self.pending.iter().any(|a| a.ask == ask)
    }

    fn on_timer(&mut self, now: Instant) -> Result<(), Fail> {
        if now >= self.last_sent + self.bot.heartbeat {
            self.send(&PingReq { client_time_ms: super::wall_us() / 1000 }, Ask::Ping, now)?;
        }
        let (expired, pending): (Vec<Asked>, Vec<Asked>) =
            std::mem::take(&mut self.pending).into_iter().partition(|a| a.deadline <= now);
        self.pending = pending;
        for a in expired {
            let why = format!("no answer within {REQUEST_TIMEOUT:?}");
            self.on_answer(a.ask, Answer::Missing(why), now)?;
        }
        if let Some(w) = self.window
            && now >= w.end
            && self.phase != Phase::Closing
        {
            return self.close(now, w.drain_until);
        }
        match self.phase {
            Phase::Forming if self.due_now(now) => {
                // Queued as it is, with the members that joined.
                let short = match &mut self.role {
                    Role::Leader { invited, joined, .. } => {
                        let (missing, of) = (invited.len().saturating_sub(joined.len()), invited.len());
                        *invited = joined.clone();
                        Some(format!("{missing} of {of} members not in the party after {PARTY_WAIT:?}"))
                    }
                    _ => None,
                };
                if let Some(example) = short {
                    self.failed("party.incomplete", example);
                }
                self.queue_at(now);
            }
            Phase::Invited if self.due_now(now) => {
                self.failed(
                    "party.no_invite",
                    format_args!("no invite from the leader within {PARTY_WAIT:?}"),
                );
                self.role = Role::Solo;
                self.queue_at(now);
            }
            Phase::Idle if self.due_now(now) => {
                self.due = None;
                self.phase = Phase::Joining;
                self.joins_sent += 1;
                let join = QueueJoinReq { mode: self.settings.mode.clone(), ..Default::default() };
                self.send(&join, Ask::Join, now)?;
            }
            Phase::Playing => self.play_step(now)?,
            Phase::Regrouping if self.due_now(now) => {
                self.failed(
                    "party.members_late",
                    format_args!("members still in the match after {MEMBERS_WAIT:?}"),
                );
                self.queue_at(now);
            }
            _ => {}
        }
        Ok(())
    }

    /// In a match: ask to be placed, give up on being placed, or leave once the match is over.
    fn play_step(&mut self, now: Instant) -> Result<(), Fail> {
        let Some(p) = &self.playing else { return Ok(()) };
        let match_time = self.settings.match_time();
        match p.placed {
            Some(placed) if !p.leave_sent && now >= placed + match_time => {
                if let Some(p) = &mut self.playing {
                    p.leave_sent = true;
                }
                self.send(&LeaveInstanceReq {}, Ask::LeaveInstance, now)?;
            }
            Some(_) => {}
            None if now >= p.give_up => {
                let example =
                    format!("not placed in match {}'s instance within {ENTER_MATCH_TIMEOUT:?}", p.match_id);
                self.failed("match.not_placed", example);
                self.end_stay(now);
                self.after_match(now);
            }
            None if now >= p.ask_at && !self.asked(Ask::EnterWorld) => {
                if let Some(p) = &mut self.playing {
                    p.ask_at = now + ENTER_MATCH_RETRY;
                }
                self.send(&EnterWorldReq {}, Ask::EnterWorld, now)?;
            }
            None => {}
        }
        Ok(())
    }

    /// A queuer queues (again) at `at`.
    fn queue_at(&mut self, at: Instant) {
        self.phase = Phase::Idle;
        self.due = Some(at);
    }

    // ---- the connection ----

    fn send<M: MsgType>(&mut self, msg: &M, ask: Ask, now: Instant) -> Result<(), Fail> {
        *self.bot.seq = self.bot.seq.wrapping_add(1);
        let seq = *self.bot.seq;
        self.bot.conn.send(msg.to_frame_bytes(Seq(seq), Flags::NONE)).map_err(Fail::Io)?;
        self.pending.push(Asked { seq, ask, deadline: now + REQUEST_TIMEOUT });
        self.last_sent = now;
        Ok(())
    }

    fn read_buffered(&mut self) -> Result<(), Fail> {
        let now = Instant::now();
        while let Some(frame) = self.bot.conn.next_frame()? {
            self.handle(frame, now)?;
        }
        Ok(())
    }

    fn handle(&mut self, frame: Frame, now: Instant) -> Result<(), Fail> {
        let h = frame.header;
        if h.id == DisconnectNtf::ID {
            return Err(conn::disconnected(&frame));
        }
        if h.flags.contains(Flags::PUSH) {
            return self.on_push(&frame, now);
        }
        let Some(i) = self.pending.iter().position(|a| a.seq == h.seq.0) else {
            self.bot.tally.duplicated += 1;
            return Ok(());
        };
        let ask = self.pending.remove(i).ask;
        let answer = if h.id == ErrorResp::ID {
            match conn::decode::<ErrorResp>(&frame) {
                Ok(e) => Answer::Refused(e),
                Err(fail) => Answer::Missing(fail.to_string()),
            }
        } else {
            Answer::Ok(frame)
        };
        self.on_answer(ask, answer, now)
    }

    /// The body of an answer that must be an `M`; anything else is counted as an error, and the
    /// answer as missing.
    fn body<M: MsgType>(&mut self, answer: Answer) -> Result<M, Answer> {
        match answer {
            Answer::Ok(frame) => conn::expect::<M>(&frame).map_err(|fail| {
                self.bot.tally.errors.record(fail.kind(), &fail);
                Answer::Missing(fail.to_string())
            }),
            other => Err(other),
        }
    }

    fn failed(&mut self, kind: impl Into<String>, example: impl std::fmt::Display) {
        self.bot.tally.matches.failed.record(kind, example);
    }

    /// A step failed on `answer`: counted as `<step>.<code>`.
    fn step_failed(&mut self, ask: Ask, answer: &Answer) {
        self.failed(format!("{}.{}", ask.step(), answer.kind()), answer.describe());
    }

    // ---- answers ----

    fn on_answer(&mut self, ask: Ask, answer: Answer, now: Instant) -> Result<(), Fail> {
        match ask {
            Ask::Ping => match self.body::<PingResp>(answer) {
                Ok(_) => {}
                Err(Answer::Refused(e)) => {
                    let fail = Fail::Rejected(e);
                    self.bot.tally.errors.record(fail.kind(), &fail);
                }
                Err(missing) => self.bot.tally.errors.record("ping.no_answer", missing.describe()),
            },
            Ask::PartyCreate => self.on_party_created(answer, now)?,
            Ask::PartyLeave => match (&self.role, self.phase) {
                // Out of the stale party: try again.
                (Role::Leader { .. }, Phase::Forming) => {
                    self.send(&PartyCreateReq {}, Ask::PartyCreate, now)?
                }
                (Role::Member { .. }, Phase::Invited) => self.respond_again(now)?,
                _ => {}
            },
            Ask::PartyInvite(member) => {
                if self
                    .body::<mmo_proto::PartyInviteResp>(answer)
                    .map_err(|a| self.step_failed(ask, &a))
                    .is_err()
                    && let Role::Leader { invited, .. } = &mut self.role
                {
                    invited.retain(|p| *p != member);
                    self.check_formed(now);
                }
            }
            Ask::PartyRespond(party) => self.on_party_joined(party, answer, now)?,
            Ask::Join => self.on_join(answer, now)?,
            Ask::Leave => match self.body::<mmo_proto::QueueLeaveResp>(answer) {
                Ok(_) => {}
                Err(a) if a.refused_with(ErrorCode::NotQueued) => {}
                Err(a) => {
                    self.step_failed(ask, &a);
                    // The ticket's ready check failed as it was being left (PROPOSAL_NOT_FOUND):
                    // it may be searching again, so it is left again, once.
                    if a.refused_with(ErrorCode::ProposalNotFound) && !self.left_again {
                        self.left_again = true;
                        self.send(&QueueLeaveReq {}, Ask::Leave, now)?;
                    }
                }
            },
            Ask::Accept => match self.body::<mmo_proto::MatchAcceptResp>(answer) {
                Ok(_) => {}
                Err(a) if a.refused_with(ErrorCode::ProposalNotFound) => {
                    self.bot.tally.matches.proposals_gone += 1
                }
                Err(a) => self.step_failed(ask, &a),
            },
            Ask::EnterWorld => match self.body::<EnterWorldResp>(answer) {
                Ok(resp) => {
                    if let Some(zone) = resp.zone {
                        self.zone_match = zone.match_id;
                        self.check_placed(now);
                    }
                }
                // Not running right now: asked again later.
                Err(a) if a.refused_with(ErrorCode::Unavailable) => {}
                Err(a) => self.step_failed(ask, &a),
            },
            Ask::LeaveInstance => {
                let left = self.body::<LeaveInstanceResp>(answer);
                if self.phase == Phase::Closing {
                    return Ok(());
                }
                match left {
                    Ok(_) => self.bot.tally.matches.played += 1,
                    Err(a) => self.step_failed(ask, &a),
                }
                self.end_stay(now);
                self.after_match(now);
            }
        }
        Ok(())
    }

    fn on_party_created(&mut self, answer: Answer, now: Instant) -> Result<(), Fail> {
        match self.body::<PartyCreateResp>(answer) {
            Ok(_) => {
                if let Role::Leader { invited, .. } = &self.role {
                    for member in invited.clone() {
                        self.send(&PartyInviteReq { player: member }, Ask::PartyInvite(member), now)?;
                    }
                }
            }
            // In a party from an earlier run (whose session has not ended yet): leave it first.
            Err(a) if a.refused_with(ErrorCode::AlreadyInParty) && !self.left_stale_party => {
                self.left_stale_party = true;
                self.send(&PartyLeaveReq {}, Ask::PartyLeave, now)?;
            }
            Err(a) => {
                self.step_failed(Ask::PartyCreate, &a);
                self.role = Role::Solo;
                self.queue_at(now);
            }
        }
        Ok(())
    }

    fn on_party_joined(&mut self, party: u64, answer: Answer, now: Instant) -> Result<(), Fail> {
        match self.body::<PartyRespondResp>(answer) {
            Ok(_) => {
                self.phase = Phase::InParty;
                self.due = None;
            }
            Err(a) if a.refused_with(ErrorCode::AlreadyInParty) && !self.left_stale_party => {
                self.left_stale_party = true;
                self.due = Some(now + PARTY_WAIT);
                self.send(&PartyLeaveReq {}, Ask::PartyLeave, now)?;
            }
            Err(a) => {
                self.step_failed(Ask::PartyRespond(party), &a);
                self.role = Role::Solo;
                self.queue_at(now);
            }
        }
        Ok(())
    }
}

/// Whether to decline the next ready check: `rate` is added to `credit` for each, and a check
/// is declined each time the credit reaches 1. So a bot declines exactly `rate` of its checks
/// (every fifth at 0.2), which makes runs and tests repeatable, from a point of its own (the
/// credit it starts with) so that the swarm's declines are spread over the run.
fn declines(credit: &mut f64, rate: f64) -> bool {
    *credit += rate;
    if *credit >= 1.0 {
        *credit -= 1.0;
        true
    } else {
        false
    }
}

/// Where bot `index`'s decline credit starts: spread over [0, 1) by the golden ratio.
fn first_credit(index: usize) -> f64 {
    (index as f64 * 0.618_033_988_749_895).fract()
}

/// Resolves when a party member has left a match (never without a party).
async fn members_moved(rx: &mut Option<watch::Receiver<Vec<String>>>) {
    match rx {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

impl Player<'_> {
    // ---- answers, continued ----

    /// A member out of a stale party answers its leader's invite again.
    fn respond_again(&mut self, now: Instant) -> Result<(), Fail> {
        let party = self.invited_to;
        self.send(&PartyRespondReq { party, accept: true }, Ask::PartyRespond(party), now)
    }

    fn on_join(&mut self, answer: Answer, now: Instant) -> Result<(), Fail> {
        let penalised = self.penalised_until.take().is_some_and(|until| now < until);
        let early_start = self.early_start.take();
        let early_notices = std::mem::take(&mut self.early_notices);
        match self.body::<QueueJoinResp>(answer) {
            Ok(resp) => {
                let Some(ticket) = resp.ticket else {
                    self.failed("join.no_ticket", "QueueJoinResp without a ticket");
                    self.queue_at(now + RETRY);
                    return Ok(());
                };
                self.queued_once = true;
                self.bot.tally.matches.tickets += 1;
                if penalised {
                    self.failed(
                        "decline.not_penalised",
                        format_args!("ticket {} opened while the bot's decline penalty ran", ticket.id),
                    );
                }
                let m = &mut self.bot.tally.matches;
                if let Some(match_id) = early_start {
                    // Matched before the answer came: the start was this ticket's.
                    m.record_time_to_match(Duration::ZERO);
                    m.ledger.tickets.push((ticket.id, match_id));
                    self.last_ticket = Some(ticket.id);
                    return Ok(());
                }
                if self.phase == Phase::Closing {
                    // Too late to play: out of the queue again.
                    return self.send(&QueueLeaveReq {}, Ask::Leave, now);
                }
                self.ticket = Some(OpenTicket { id: ticket.id, joined: now });
                self.phase = Phase::Queued;
                for n in &early_notices {
                    self.on_ticket_notice(n, now)?;
                }
            }
            Err(a) => {
                let refusal = match &a {
                    Answer::Refused(e) => Some(e.clone()),
                    _ => None,
                };
                self.last_refusal = Some((a.kind(), a.describe()));
                if self.phase == Phase::Closing {
                    return Ok(());
                }
                let retry_after =
                    refusal.as_ref().map_or(Duration::ZERO, |e| Duration::from_millis(e.retry_after_ms));
                let code = refusal.as_ref().map(|e| e.code);
                let end = self.window.map_or(now, |w| w.end);
                if code == Some(ErrorCode::QueueCooldown as i32) {
                    // A decline penalty: waited out if the window lasts that long.
                    self.bot.tally.matches.cooldowns += 1;
                    let at = now + retry_after.max(RETRY);
                    self.queue_at(at);
                    if at >= end {
                        self.due = None;
                    }
                } else if code == Some(ErrorCode::AlreadyQueued as i32) {
                    // A ticket left over (an earlier run's, or a join that timed out): out of it.
                    self.step_failed(Ask::Join, &a);
                    self.send(&QueueLeaveReq {}, Ask::Leave, now)?;
                    self.queue_at(now + RETRY);
                } else if code.is_none() || code == Some(ErrorCode::Unavailable as i32) {
                    self.step_failed(Ask::Join, &a);
                    self.queue_at(now + retry_after.max(RETRY));
                } else {
                    // The server will not take this ticket (UNKNOWN_MODE, PARTY_TOO_LARGE, ...):
                    // the bot sits the window out.
                    self.step_failed(Ask::Join, &a);
                    self.phase = Phase::Idle;
                    self.due = None;
                }
            }
        }
        Ok(())
    }

    /// Leader: every member still invited has joined; the party is formed and queues.
    fn check_formed(&mut self, now: Instant) {
        let Role::Leader { invited, joined, .. } = &self.role else { return };
        if self.phase != Phase::Forming || invited.iter().any(|p| !joined.contains(p)) {
            return;
        }
        if !joined.is_empty() {
            self.bot.tally.matches.parties += 1;
            self.bot.tally.matches.party_players += 1 + joined.len() as u64;
        }
        self.queue_at(now);
    }

    /// Placed in the match's instance, if the zone says so.
    fn check_placed(&mut self, now: Instant) {
        let Some(p) = &mut self.playing else { return };
        if p.placed.is_none() && !self.zone_match.is_empty() && self.zone_match == p.match_id {
            p.placed = Some(now);
            self.bot.tally.matches.record_enter_match(now.saturating_duration_since(p.told));
        }
    }

    /// The stay in the current match is over (left, given up, or the window closed).
    fn end_stay(&mut self, now: Instant) {
        if let Some(p) = self.playing.take() {
            let stay = Stay {
                player: self.bot.player,
                match_id: p.match_id.clone(),
                from: p.told,
                until: Some(now),
            };
            self.bot.tally.matches.ledger.stays.push(stay);
            self.regroup_after = p.match_id;
        }
    }

    /// Out of a match: a member tells its leader, a leader waits for its members, a solo bot
    /// queues again.
    fn after_match(&mut self, now: Instant) {
        let left = self.regroup_after.clone();
        match &self.role {
            Role::Member { link, place, .. } => {
                let place = *place;
                link.left.send_modify(|l| l[place] = left);
                self.phase = Phase::InParty;
                self.due = None;
            }
            Role::Leader { joined, .. } if !joined.is_empty() => {
                self.phase = Phase::Regrouping;
                self.due = Some(now + MEMBERS_WAIT);
                self.regroup_check(now);
            }
            Role::Leader { .. } | Role::Solo => self.queue_at(now),
        }
    }

    /// Leader: once every member has left the match just played, the party queues again.
    fn regroup_check(&mut self, now: Instant) {
        let Role::Leader { link, joined, .. } = &self.role else { return };
        if self.phase != Phase::Regrouping {
            return;
        }
        let left = link.left.borrow();
        let out =
            joined.iter().all(|m| link.place_of(*m).is_some_and(|place| left[place] == self.regroup_after));
        drop(left);
        if out {
            self.queue_at(now);
        }
    }

    // ---- pushes ----

    fn on_push(&mut self, frame: &Frame, now: Instant) -> Result<(), Fail> {
        let id = frame.header.id;
        if self.phase == Phase::Waiting && id == PartyInviteNtf::ID {
            // The leader saw the window open first: kept for when this bot does.
            match conn::decode::<PartyInviteNtf>(frame) {
                Ok(invite) => self.early_invite = Some(invite),
                Err(fail) => self.bot.tally.errors.record(fail.kind(), &fail),
            }
            return Ok(());
        }
        // Outside the window nothing is counted, and nothing started.
        if matches!(self.phase, Phase::Waiting | Phase::Closing) {
            return Ok(());
        }
        let result = if id == MatchProposalNtf::ID {
            conn::decode::<MatchProposalNtf>(frame).map(|p| self.on_proposal(&p, now))
        } else if id == MatchStartNtf::ID {
            conn::decode::<MatchStartNtf>(frame).map(|s| self.on_start(s, now))
        } else if id == TicketNtf::ID {
            conn::decode::<TicketNtf>(frame).map(|t| self.on_ticket_notice(&t, now))
        } else if id == ZoneEnterNtf::ID {
            conn::decode::<ZoneEnterNtf>(frame).map(|z| {
                self.zone_match = z.match_id;
                self.check_placed(now);
                Ok(())
            })
        } else if id == PartyInviteNtf::ID {
            conn::decode::<PartyInviteNtf>(frame).map(|i| self.on_invite(&i, now))
        } else if id == PartyNtf::ID {
            conn::decode::<PartyNtf>(frame).map(|n| {
                self.on_party_notice(&n, now);
                Ok(())
            })
        } else {
            // The zone's ticks and positions, chat, ...: not this scenario's business.
            Ok(Ok(()))
        };
        match result {
            Ok(sent) => sent,
            Err(fail) => {
                self.bot.tally.errors.record(fail.kind(), &fail);
                Ok(())
            }
        }
    }

    /// A ready check: accepted, or declined (see [`declines`]).
    fn on_proposal(&mut self, p: &MatchProposalNtf, now: Instant) -> Result<(), Fail> {
        let accept = !declines(&mut self.decline_credit, self.settings.decline_rate);
        let m = &mut self.bot.tally.matches;
        m.proposals += 1;
        if accept {
            m.accepted += 1;
        } else {
            m.declined += 1;
            self.declined_at = Some(now);
        }
        self.send(&MatchAcceptReq { proposal: p.proposal, accept }, Ask::Accept, now)
    }

    /// The match started: written down for the checks, then played.
    fn on_start(&mut self, s: MatchStartNtf, now: Instant) -> Result<(), Fail> {
        let player = self.bot.player;
        let m = &mut self.bot.tally.matches;
        m.starts += 1;
        m.backfills += u64::from(s.backfill);
        let teams = s.teams.into_iter().map(|t| t.players).collect();
        m.ledger.told(player, &s.match_id, teams, s.team, s.backfill, now);
        if self.role.queues() {
            let ticket = match self.ticket.take() {
                Some(t) => {
                    m.record_time_to_match(now.saturating_duration_since(t.joined));
                    Some(t.id)
                }
                // Its QueueJoinResp is still on the way (see `on_join`).
                None if self.phase == Phase::Joining && self.early_start.is_none() => {
                    self.early_start = Some(s.match_id.clone());
                    None
                }
                // No ticket open: the start counts against the last one (a second start of it).
                None => {
                    if self.last_ticket.is_none() {
                        let why = format!("match {}", s.match_id);
                        m.failed.record("match.start_without_ticket", why);
                    }
                    self.last_ticket
                }
            };
            if let Some(id) = ticket {
                m.ledger.tickets.push((id, s.match_id.clone()));
                self.last_ticket = Some(id);
            }
        }
        if let Some(old) = self.playing.take() {
            // Started in another match while still in this one: the stay never ended.
            let stay = Stay { player, match_id: old.match_id, from: old.told, until: None };
            self.bot.tally.matches.ledger.stays.push(stay);
        }
        self.playing = Some(Playing {
            match_id: s.match_id,
            told: now,
            placed: None,
            leave_sent: false,
            ask_at: now + ENTER_MATCH_WAIT,
            give_up: now + ENTER_MATCH_TIMEOUT,
        });
        self.phase = Phase::Playing;
        self.due = None;
        // The zone's ZoneEnterNtf may have come first.
        self.check_placed(now);
        Ok(())
    }

    /// A change to a ticket the bot did not ask for. Only the queuer acts on (and counts) its
    /// ticket's notices; its members get the same.
    fn on_ticket_notice(&mut self, n: &TicketNtf, now: Instant) -> Result<(), Fail> {
        let Some(t) = &n.ticket else { return Ok(()) };
        if !self.role.queues() {
            return Ok(());
        }
        if self.phase == Phase::Joining {
            // Perhaps about the ticket being opened: read once its QueueJoinResp names it.
            self.early_notices.push(n.clone());
            return Ok(());
        }
        if self.ticket.as_ref().is_none_or(|o| o.id != t.id) {
            return Ok(());
        }
        let reason = n.reason();
        let m = &mut self.bot.tally.matches;
        if reason == TicketEndReason::Requeued {
            m.requeued += 1;
            return Ok(());
        }
        let name = reason.as_str_name().trim_start_matches("TICKET_END_REASON_").to_owned();
        *m.ticket_notices.entry(name).or_default() += 1;
        if reason == TicketEndReason::NoServer {
            // Back in the queue, as after a requeue.
            return Ok(());
        }
        // The ticket is over: queue again at once (a decliner is refused QUEUE_COOLDOWN).
        self.last_ticket = Some(t.id);
        self.ticket = None;
        if reason == TicketEndReason::Declined && n.cooldown_ms > 0 {
            // Penalised from when the server took the decline, which was after it was sent.
            self.penalised_until = self.declined_at.map(|at| at + Duration::from_millis(n.cooldown_ms));
        }
        if self.phase == Phase::Queued {
            self.queue_at(now);
        }
        Ok(())
    }

    /// Member: its leader's invite is accepted.
    fn on_invite(&mut self, i: &PartyInviteNtf, now: Instant) -> Result<(), Fail> {
        match &self.role {
            Role::Member { leader, .. } if *leader == i.from_player && self.phase == Phase::Invited => {
                self.invited_to = i.party;
                self.respond_again(now)
            }
            _ => Ok(()),
        }
    }

    /// The party changed: a leader counts its members in; a member dropped from its party
    /// plays solo.
    fn on_party_notice(&mut self, n: &PartyNtf, now: Instant) {
        let event = n.event();
        match &mut self.role {
            Role::Leader { invited, joined, .. } => {
                if event == PartyEvent::Joined && invited.contains(&n.player) && !joined.contains(&n.player) {
                    joined.push(n.player);
                    self.check_formed(now);
                } else if matches!(event, PartyEvent::Left | PartyEvent::Kicked | PartyEvent::Disconnected)
                    && joined.contains(&n.player)
                {
                    joined.retain(|p| *p != n.player);
                    invited.retain(|p| *p != n.player);
                    let why = format!("member {} {}", n.player, event.as_str_name());
                    self.failed("party.lost_member", why);
                    self.regroup_check(now);
                }
            }
            Role::Member { .. } if n.party.is_none() => {
                self.failed("party.dropped", format_args!("out of the party: {}", event.as_str_name()));
                self.role = Role::Solo;
                if self.phase == Phase::InParty {
                    self.queue_at(now);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_take_sizes_from_the_largest_down_to_two_and_leave_the_rest_solo() {
        assert_eq!(party_sizes(12, 0.5, 3), [3, 2]);
        assert_eq!(party_sizes(20, 1.0, 3), [3, 2, 3, 2, 3, 2, 3, 2]);
        assert_eq!(party_sizes(10, 1.0, 4), [4, 3, 2]);
        // A last bot on its own is solo; a last pair a party of two.
        assert_eq!(party_sizes(10, 0.6, 5), [5]);
        assert_eq!(party_sizes(11, 0.64, 5), [5, 2]);
        // No parties: a size of 1, no share, or too few bots.
        assert!(party_sizes(100, 0.5, 1).is_empty());
        assert!(party_sizes(100, 0.0, 3).is_empty());
        assert!(party_sizes(1, 1.0, 3).is_empty());
    }

    fn settings(share: f64, size: u32) -> MatchSettings {
        MatchSettings {
            mode: "team".into(),
            party_share: share,
            party_size: size,
            decline_rate: 0.0,
            match_secs: 1.0,
        }
    }

    #[test]
    fn roles_are_taken_from_who_is_ready_as_the_window_opens() {
        // Bots 0-2 one party, 3-4 another, 5 solo.
        let lobby = Lobby::new(6, &settings(0.9, 3));
        for (i, player) in [(0, 100), (1, 101), (2, 102), (4, 104), (5, 105)] {
            lobby.seat(i, Some(player));
        }
        // Bot 3 (the second party's leader) never got ready.
        lobby.seat(3, None);
        match lobby.role(0) {
            Role::Leader { invited, joined, .. } => assert_eq!((invited, joined), (vec![101, 102], vec![])),
            _ => panic!("bot 0 leads"),
        }
        assert!(matches!(lobby.role(2), Role::Member { place: 2, leader: 100, .. }));
        // Without its leader, a member plays solo; so does a leader without members.
        assert!(matches!(lobby.role(4), Role::Solo));
        assert!(matches!(lobby.role(5), Role::Solo));
        let lonely = Lobby::new(2, &settings(1.0, 2));
        lonely.seat(0, Some(1));
        lonely.seat(1, None);
        assert!(matches!(lonely.role(0), Role::Solo));
        assert_eq!(lobby.parties[0].place_of(102), Some(2));
    }

    #[test]
    fn a_bot_declines_exactly_its_share_of_checks_from_a_point_of_its_own() {
        let mut credit = first_credit(0);
        let pattern: Vec<bool> = (0..10).map(|_| declines(&mut credit, 0.2)).collect();
        assert_eq!(pattern.iter().filter(|d| **d).count(), 2, "{pattern:?}");
        assert!(pattern[4] && pattern[9], "every fifth, from 0: {pattern:?}");
        // Other bots start elsewhere, so their first declines differ.
        let first = |index| {
            let mut credit = first_credit(index);
            (0..5).position(|_| declines(&mut credit, 0.2))
        };
        let firsts: std::collections::BTreeSet<_> = (0..10).map(first).collect();
        assert!(firsts.len() >= 4, "{firsts:?}");
        // None, and all.
        let mut credit = first_credit(3);
        assert!((0..100).all(|_| !declines(&mut credit, 0.0)));
        assert!((0..100).all(|_| declines(&mut credit, 1.0)));
    }

    #[test]
    fn the_party_size_defaults_to_the_modes() {
        let opts = |mode: Option<&str>| Options {
            scenario: crate::Scenario::Match,
            match_mode: mode.map(str::to_owned),
            ..Options::default()
        };
        let team = MatchSettings::new(&opts(None));
        assert_eq!((team.mode.as_str(), team.party_size, team.party_share), ("team", 3, 0.5));
        assert_eq!((team.decline_rate, team.match_time()), (0.1, Duration::from_secs(2)));
        assert_eq!(MatchSettings::new(&opts(Some("duel"))).party_size, 1);
    }
}
