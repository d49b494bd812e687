//! `chat`: channel chat as players use it. Every bot logs in as `login` does and joins one
//! channel: a custom channel (`--chat-channel NAME`; the first bot to find it missing creates
//! it, the others join it) or the world channel (`--chat-channel world`, joined by the server at
//! login: the bot asks ChannelListReq until the world channel is among its channels). Through
//! the window each bot sends a ChatSendReq to it at `--chat-rate` on a fixed schedule (open
//! loop, a phase of its own), and counts every ChatMessageNtf it gets.
//!
//! Each text says who sent it and when it was scheduled: `mmo-bots <run tag> <bot>.<seq>
//! <wall clock µs>`. The server's answer (ChatSendResp) gives the message its id, unique in the
//! cluster; a bot that gets an id twice has a duplicate. Latency runs from the scheduled time in
//! the text to the receipt (same machine, same wall clock).
//!
//! Lost deliveries need every bot's view: each bot writes down the messages it had acknowledged,
//! when it joined, whether it stayed to the end, and the ids it received (the tally's
//! `ChatLedger`). A message acknowledged to its sender and scheduled after a bot joined must
//! reach that bot if it stayed connected; the report (`report/chat.rs`) counts those that did not.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::ensure;
use mmo_proto::{
    ChannelCreateReq, ChannelEvent, ChannelJoinReq, ChannelKind, ChannelListReq, ChannelListResp, ChannelNtf,
    ChannelRef, ChatMessageNtf, ChatSendReq, ChatSendResp, DisconnectNtf, ErrorCode, ErrorResp, PingReq,
    PingResp, ZoneEnterNtf,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};
use tokio::time::{Instant, sleep_until};

use super::{Heartbeat, Script, Scripted, Stage, Traffic, Workload, wall_us};
use crate::Options;
use crate::conn::{self, Fail, code_name};
use crate::tally::ChatAck;
use crate::window::Window;

/// ChatSendReqs per second and bot without `--chat-rate`.
pub const DEFAULT_CHAT_RATE: f64 = 1.0;
/// The channel joined without `--chat-channel`.
pub const DEFAULT_CHAT_CHANNEL: &str = "mmo-bots";
/// `--chat-channel` for the world channel.
pub const WORLD: &str = "world";
/// The chat server's default limit per player: faster and it answers CHAT_SLOW_MODE.
pub const CHAT_LIMIT_PER_S: f64 = 5.0;
/// The fastest schedule asked for (the gateway allows 20 a second per session anyway).
const MAX_CHAT_RATE: f64 = 1000.0;
/// How long an answer may take: beyond the gateway's request timeout (10 s by default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Tries at joining (or finding the world channel among the bot's channels) before giving up;
/// the n-th retry waits n times [`JOIN_RETRY`], at most a second (ChannelListReq is allowed once
/// a second after a burst of 5).
const JOIN_ATTEMPTS: u32 = 12;
const JOIN_RETRY: Duration = Duration::from_millis(250);

/// The `chat` options with their defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatSettings {
    /// A custom channel's name, or [`WORLD`].
    pub channel: String,
    /// ChatSendReqs per second and bot.
    pub rate: f64,
}

impl ChatSettings {
    pub fn new(opts: &Options) -> ChatSettings {
        ChatSettings {
            channel: opts.chat_channel.clone().unwrap_or_else(|| DEFAULT_CHAT_CHANNEL.to_owned()),
            rate: opts.chat_rate.unwrap_or(DEFAULT_CHAT_RATE),
        }
    }

    fn world(&self) -> bool {
        self.channel.eq_ignore_ascii_case(WORLD)
    }

    /// The channel as the protocol names it (custom names are kept in lower case).
    fn channel_ref(&self) -> ChannelRef {
        if self.world() {
            ChannelRef { kind: ChannelKind::World as i32, name: String::new() }
        } else {
            ChannelRef { kind: ChannelKind::Custom as i32, name: self.channel.to_lowercase() }
        }
    }
}

pub(super) struct Chat;

impl Workload for Chat {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn stage(&self) -> Stage {
        Stage::LoggedIn
    }

    fn validate(&self, opts: &Options) -> anyhow::Result<()> {
        ensure!(
            opts.ping_interval.is_none(),
            "--ping-interval is not for chat: its bots ping only as heartbeat"
        );
        let s = ChatSettings::new(opts);
        ensure!(
            s.rate.is_finite() && s.rate > 0.0 && s.rate <= MAX_CHAT_RATE,
            "--chat-rate must be more than 0 and at most {MAX_CHAT_RATE}"
        );
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        ensure!(
            s.world() || ((1..=32).contains(&s.channel.len()) && s.channel.chars().all(valid)),
            "--chat-channel must be \"world\" or 1-32 of a-z, A-Z, 0-9, '_', '-'"
        );
        Ok(())
    }

    /// No schedule of the swarm's: the script sends on its own (`--chat-rate`).
    fn interval(&self, _: &Options) -> Option<Duration> {
        None
    }

    fn traffic(&self, _: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Heartbeat)
    }

    fn script(&self, opts: &Options) -> Option<Box<dyn Script>> {
        Some(Box::new(Chatters { settings: ChatSettings::new(opts), tag: opts.run_tag.clone() }))
    }
}

/// The run's script: the settings, and the run tag that marks the bots' texts.
struct Chatters {
    settings: ChatSettings,
    tag: String,
}

impl Script for Chatters {
    fn seat(&self, _index: usize, _player: Option<u64>) {}

    fn play<'a>(&'a self, bot: Scripted<'a>) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(Chatter::new(self, bot).play())
    }
}

/// A request waiting for its answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ask {
    Ping,
    Join,
    Create,
    List,
    /// The bot's message `seq`, scheduled at `at`.
    Send {
        seq: u32,
        at: Instant,
    },
}

struct Asked {
    seq: u32,
    ask: Ask,
    deadline: Instant,
}

/// One bot playing the script.
struct Chatter<'a> {
    settings: &'a ChatSettings,
    tag: &'a str,
    channel: ChannelRef,
    bot: Scripted<'a>,
    window: Option<Window>,
    pending: Vec<Asked>,
    /// When the last request went out: the heartbeat counts from it.
    last_sent: Instant,
    /// When the bot was in the channel (its join answered), or gave up (`None` and no retry).
    joined_at: Option<Instant>,
    join_attempts: u32,
    /// When to try joining again.
    join_due: Option<Instant>,
    /// The next message's scheduled time, while the window is open.
    next_send: Option<Instant>,
    interval: Duration,
    msg_seq: u32,
    /// Message ids received.
    seen: HashSet<u64>,
}

impl<'a> Chatter<'a> {
    fn new(script: &'a Chatters, bot: Scripted<'a>) -> Chatter<'a> {
        Chatter {
            settings: &script.settings,
            tag: &script.tag,
            channel: script.settings.channel_ref(),
            interval: Duration::from_secs_f64(1.0 / script.settings.rate),
            window: None,
            pending: Vec::new(),
            last_sent: Instant::now(),
            joined_at: None,
            join_attempts: 0,
            join_due: Some(Instant::now()),
            next_send: None,
            msg_seq: 0,
            seen: HashSet::new(),
            bot,
        }
    }

    /// Plays until the window and its drain are over, or the run is interrupted. Returns whether
    /// the connection is still usable.
    async fn play(mut self) -> bool {
        let result = self.run().await;
        let alive = match result {
            Ok(()) => true,
            Err(fail) => {
                tracing::debug!(error = %fail, "chat bot connection ended");
                self.bot.tally.errors.record(fail.kind(), &fail);
                false
            }
        };
        let unanswered = self.pending.iter().filter(|a| matches!(a.ask, Ask::Send { .. })).count();
        self.bot.tally.lost += unanswered as u64;
        let c = &mut self.bot.tally.chat;
        c.ledger.member(self.bot.index, self.joined_at, alive && !self.bot.stop.is_cancelled());
        c.ledger.received(self.bot.index, self.seen.drain().collect());
        if self.joined_at.is_some() {
            c.joined += 1;
        }
        alive
    }

    async fn run(&mut self) -> Result<(), Fail> {
        // Frames may have come in with the last answer before the script.
        self.read_buffered()?;
        loop {
            let now = Instant::now();
            if let Some(w) = self.window
                && now >= w.drain_until
            {
                return Ok(());
            }
            let wake = self.wake_at();
            tokio::select! {
                biased;
                () = self.bot.stop.cancelled() => return Ok(()),
                changed = self.bot.window.changed(), if self.window.is_none() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let opened = *self.bot.window.borrow_and_update();
                    if let Some(w) = opened {
                        self.open(w);
                    }
                }
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

    /// The window opened: the first message at a phase of the bot's own within one interval.
    fn open(&mut self, w: Window) {
        self.window = Some(w);
        // Spread evenly over the interval by the golden ratio, whatever the number of bots.
        let phase = (self.bot.index as f64 * 0.618_033_988_75).fract();
        self.next_send = Some(w.start + self.interval.mul_f64(phase));
    }

    fn wake_at(&self) -> Instant {
        let mut wake = self.last_sent + self.bot.heartbeat;
        let mut at = |t: Instant| wake = wake.min(t);
        self.pending.iter().for_each(|a| at(a.deadline));
        self.join_due.into_iter().chain(self.next_send).for_each(&mut at);
        if let Some(w) = self.window {
            at(w.drain_until);
        }
        wake
    }

    fn on_timer(&mut self, now: Instant) -> Result<(), Fail> {
        if now >= self.last_sent + self.bot.heartbeat {
            self.send(&PingReq { client_time_ms: wall_us() / 1000 }, Ask::Ping, now)?;
        }
        let (expired, pending): (Vec<Asked>, Vec<Asked>) =
            std::mem::take(&mut self.pending).into_iter().partition(|a| a.deadline <= now);
        self.pending = pending;
        for a in expired {
            match a.ask {
                Ask::Send { .. } => self.bot.tally.lost += 1,
                Ask::Ping => self.bot.tally.errors.record("ping.no_answer", "no PingResp in time"),
                Ask::Join | Ask::Create | Ask::List => self.retry_join(now, "timeout", "no answer in time"),
            }
        }
        if self.join_due.is_some_and(|d| now >= d) {
            self.join_due = None;
            self.join_attempts += 1;
            if self.settings.world() {
                self.send(&ChannelListReq {}, Ask::List, now)?;
            } else {
                let join = self.join_req();
                self.send(&join, Ask::Join, now)?;
            }
        }
        while let (Some(at), Some(w)) = (self.next_send, self.window) {
            if at > now {
                break;
            }
            if at >= w.end {
                self.next_send = None;
                break;
            }
            self.next_send = Some(at + self.interval);
            if self.joined_at.is_some() {
                self.send_message(at, now)?;
            }
        }
        Ok(())
    }

    fn join_req(&self) -> ChannelJoinReq {
        ChannelJoinReq { name: self.channel.name.clone(), password: String::new() }
    }

    /// Sends message `msg_seq + 1`, scheduled at `at`.
    fn send_message(&mut self, at: Instant, now: Instant) -> Result<(), Fail> {
        self.msg_seq += 1;
        let lag = now.saturating_duration_since(at);
        let scheduled_us = wall_us().saturating_sub(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
        let text = format!("mmo-bots {} {}.{} {scheduled_us}", self.tag, self.bot.index, self.msg_seq);
        let req = ChatSendReq { channel: Some(self.channel.clone()), text: text.into_bytes().into() };
        self.send(&req, Ask::Send { seq: self.msg_seq, at }, now)?;
        self.bot.tally.sent += 1;
        self.bot.tally.chat.sent += 1;
        self.bot.tally.record_send_lag(lag);
        Ok(())
    }

    /// Joining failed this time: try again later, or give up.
    fn retry_join(&mut self, now: Instant, kind: &str, example: impl std::fmt::Display) {
        if self.join_attempts >= JOIN_ATTEMPTS {
            self.bot.tally.chat.join_failed.record(kind, example);
            return;
        }
        self.join_due = Some(now + (JOIN_RETRY * self.join_attempts).min(Duration::from_secs(1)));
    }

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
            self.on_push(&frame);
            return Ok(());
        }
        let Some(i) = self.pending.iter().position(|a| a.seq == h.seq.0) else {
            self.bot.tally.duplicated += 1;
            return Ok(());
        };
        let ask = self.pending.remove(i).ask;
        if h.id == ErrorResp::ID {
            let refusal = conn::decode::<ErrorResp>(&frame)?;
            return self.on_refusal(ask, refusal, now);
        }
        match ask {
            Ask::Ping => {
                conn::expect::<PingResp>(&frame)?;
            }
            Ask::Join | Ask::Create => {
                // ChannelJoinResp or ChannelCreateResp: in the channel either way.
                self.joined_at = Some(now);
            }
            Ask::List => {
                let list = conn::expect::<ChannelListResp>(&frame)?;
                let channel = Some(self.channel.clone());
                if list.joined.iter().any(|c| c.channel == channel) {
                    self.joined_at = Some(now);
                } else {
                    self.retry_join(
                        now,
                        "world.not_joined",
                        "the world channel is not among the bot's channels",
                    );
                }
            }
            Ask::Send { at, .. } => {
                let resp = conn::expect::<ChatSendResp>(&frame)?;
                self.bot.tally.answered += 1;
                self.bot.tally.record_latency(now.saturating_duration_since(at));
                match resp.message {
                    Some(m) => {
                        self.bot.tally.chat.acked += 1;
                        self.bot.tally.chat.ledger.acks.push(ChatAck {
                            id: m.id,
                            sender: self.bot.index,
                            at,
                        });
                    }
                    None => {
                        self.bot.tally.chat.failed.record("send.no_message", "ChatSendResp without a message")
                    }
                }
            }
        }
        Ok(())
    }

    fn on_refusal(&mut self, ask: Ask, e: ErrorResp, now: Instant) -> Result<(), Fail> {
        let code = ErrorCode::try_from(e.code).ok();
        let why = Fail::Rejected(e.clone());
        match ask {
            // Nobody made the channel yet: make it. Somebody made it meanwhile: join it. Each
            // turn is a try, so a channel that keeps ending cannot keep the bot at it forever.
            Ask::Join | Ask::Create
                if self.join_attempts < JOIN_ATTEMPTS
                    && matches!(
                        code,
                        Some(ErrorCode::ChatChannelNotFound | ErrorCode::ChatChannelExists)
                    ) =>
            {
                self.join_attempts += 1;
                if ask == Ask::Join {
                    let create =
                        ChannelCreateReq { name: self.channel.name.clone(), password: String::new() };
                    self.send(&create, Ask::Create, now)?;
                } else {
                    let join = self.join_req();
                    self.send(&join, Ask::Join, now)?;
                }
            }
            Ask::Join | Ask::Create | Ask::List => self.retry_join(now, &code_name(e.code), &why),
            Ask::Send { .. } => self.bot.tally.chat.refused.record(code_name(e.code), &why),
            Ask::Ping => self.bot.tally.errors.record(why.kind(), &why),
        }
        Ok(())
    }

    fn on_push(&mut self, frame: &Frame) {
        match frame.header.id {
            ChatMessageNtf::ID => match conn::decode::<ChatMessageNtf>(frame) {
                Ok(ntf) => self.on_message(ntf),
                Err(fail) => self.bot.tally.errors.record(fail.kind(), &fail),
            },
            ChannelNtf::ID => {
                if let Ok(ntf) = conn::decode::<ChannelNtf>(frame)
                    && ntf.channel.as_ref() == Some(&self.channel)
                    && matches!(ntf.event(), ChannelEvent::Kicked | ChannelEvent::Removed)
                {
                    self.bot.tally.chat.failed.record("channel.left", format_args!("{:?}", ntf.event()));
                }
            }
            _ => {}
        }
    }

    fn on_message(&mut self, ntf: ChatMessageNtf) {
        let c = &mut self.bot.tally.chat;
        let Some(m) = ntf.message.filter(|_| ntf.channel.as_ref() == Some(&self.channel)) else {
            c.other += 1;
            return;
        };
        // `mmo-bots <tag> <bot>.<seq> <µs>`: another run's or a player's message is not counted.
        let mut words = m.text.split(' ');
        let ours = words.next() == Some("mmo-bots") && words.next() == Some(self.tag);
        let scheduled_us = words.nth(1).and_then(|w| w.parse::<u64>().ok());
        let Some(scheduled_us) = scheduled_us.filter(|_| ours) else {
            c.other += 1;
            return;
        };
        if !self.seen.insert(m.id) {
            c.duplicated += 1;
            return;
        }
        c.deliveries += 1;
        c.record_delivery_latency(Duration::from_micros(wall_us().saturating_sub(scheduled_us)));
    }
}
