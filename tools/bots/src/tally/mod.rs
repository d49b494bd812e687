//! Each bot's tally of what it saw (answers, latencies, errors, zone updates, matchmaking) and
//! how tallies of many bots merge into one; `economy.rs` the `economy` scenario's part.

mod economy;

pub use economy::{EconomyAck, EconomyTally};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

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
    /// `zone`: entering the world, move rejections and what the zone pushed. `match`: entering
    /// the world.
    pub zone: ZoneTally,
    /// `match`: queues, ready checks, matches, and what the checks run on.
    pub matches: MatchTally,
    /// `chat`: joins, messages sent and delivered, and what the loss check runs on.
    pub chat: ChatTally,
    /// `economy`: purchases, their retries and replays, scores, and what the final check runs on.
    pub economy: EconomyTally,
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
            matches: MatchTally::default(),
            chat: ChatTally::default(),
            economy: EconomyTally::default(),
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
        self.matches.merge(other.matches);
        self.chat.merge(other.chat);
        self.economy.merge(other.economy);
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

/// One bot's `match` counts; merged, the swarm's. Everything is counted inside the window only.
/// Ticket figures (joins, time to match, ticket notices) are counted by the bot that queued the
/// ticket (a solo bot or a party's leader); the ready check and the match by every player.
#[derive(Debug, Default)]
pub struct MatchTally {
    /// Bots that queue tickets: solo bots and party leaders.
    pub queuers: u64,
    /// Queuers that never got a ticket in the window, by the last refusal of their QueueJoinReq
    /// (`QUEUE_COOLDOWN`: a penalty lasting beyond the window) or by why they never asked.
    pub never_queued: Errors,
    /// Tickets opened: QueueJoinResps.
    pub tickets: u64,
    /// QueueJoinReqs refused QUEUE_COOLDOWN (a decline penalty, the bot's own or a member's).
    pub cooldowns: u64,
    /// Parties formed: created, and joined by every member invited.
    pub parties: u64,
    /// Players in the parties formed, leaders included.
    pub party_players: u64,
    /// Ready checks: MatchProposalNtfs received, and how each was answered.
    pub proposals: u64,
    pub accepted: u64,
    pub declined: u64,
    /// MatchAcceptReqs answered PROPOSAL_NOT_FOUND: the check had failed already (another
    /// player declined first, or time ran out).
    pub proposals_gone: u64,
    /// TicketNtf REQUEUED: the ticket went back to the queue after another player declined.
    pub requeued: u64,
    /// Other TicketNtfs by reason (`DECLINED`, `NO_SERVER`, `EXPIRED`, ...).
    pub ticket_notices: BTreeMap<String, u64>,
    /// MatchStartNtfs received: one per player and match.
    pub starts: u64,
    /// Of those, backfills: the player joined a match in progress, in a leaver's place.
    pub backfills: u64,
    /// Matches a bot was placed in and left with LeaveInstanceReq.
    pub played: u64,
    /// Per ticket, from its QueueJoinResp to the MatchStartNtf, in µs (a requeued ticket keeps
    /// counting across its failed checks).
    pub time_to_match_us: Option<Histogram<u64>>,
    /// From MatchStartNtf to placed in the match's instance (its ZoneEnterNtf, or an
    /// EnterWorldResp there), in µs.
    pub enter_match_us: Option<Histogram<u64>>,
    /// Steps that went wrong, by kind (`join.UNAVAILABLE`, `party.incomplete`,
    /// `match.not_placed`, ...).
    pub failed: Errors,
    /// What the swarm-wide checks run on.
    pub ledger: Ledger,
}

impl MatchTally {
    pub fn record_time_to_match(&mut self, wait: Duration) {
        record(self.time_to_match_us.get_or_insert_with(new_histogram), wait);
    }

    pub fn record_enter_match(&mut self, latency: Duration) {
        record(self.enter_match_us.get_or_insert_with(new_histogram), latency);
    }

    pub fn merge(&mut self, other: MatchTally) {
        self.queuers += other.queuers;
        self.never_queued.merge(other.never_queued);
        self.tickets += other.tickets;
        self.cooldowns += other.cooldowns;
        self.parties += other.parties;
        self.party_players += other.party_players;
        self.proposals += other.proposals;
        self.accepted += other.accepted;
        self.declined += other.declined;
        self.proposals_gone += other.proposals_gone;
        self.requeued += other.requeued;
        for (reason, n) in other.ticket_notices {
            *self.ticket_notices.entry(reason).or_default() += n;
        }
        self.starts += other.starts;
        self.backfills += other.backfills;
        self.played += other.played;
        merge_optional(&mut self.time_to_match_us, other.time_to_match_us, "time to match");
        merge_optional(&mut self.enter_match_us, other.enter_match_us, "enter match");
        self.failed.merge(other.failed);
        self.ledger.merge(other.ledger);
    }
}

/// What the bots saw of tickets and matches, for the checks that need the whole swarm's view: no
/// ticket matched twice, no player in two matches at once, every player of a match told the
/// same teams.
#[derive(Debug, Default)]
pub struct Ledger {
    /// A ticket and a match it was started in, one per MatchStartNtf its queuer received (a
    /// start that came with no ticket open counts against the last ticket).
    pub tickets: Vec<(u64, String)>,
    /// One player's stay in one match.
    pub stays: Vec<Stay>,
    /// Each match's teams (player ids) as the first of its players was told.
    pub rosters: BTreeMap<String, Roster>,
    /// Matches whose players were told different teams, or whose MatchStartNtf did not list its
    /// receiver in its own team: the first few descriptions.
    pub disagreements: Vec<String>,
    /// How many such MatchStartNtfs in all.
    pub disagreeing: u64,
}

/// Disagreements described at most; the count goes on.
const MAX_DESCRIBED: usize = 10;

/// A match's teams and when its first player was told of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Roster {
    /// The teams its start told (empty while only backfilled players' notices are known).
    pub teams: Vec<Vec<u64>>,
    pub told: Instant,
    /// Teams told to backfilled players, not yet compared with `teams`: each must hold every
    /// player of `teams` in the same team (teams only grow).
    pub backfills: Vec<Vec<Vec<u64>>>,
}

/// One player's stay in one match: from its MatchStartNtf to its LeaveInstanceResp (or to when it
/// gave up on being placed, or the window's end). `until` is `None` for a stay that another
/// MatchStartNtf cut short: the player was never let out of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stay {
    pub player: u64,
    pub match_id: String,
    pub from: Instant,
    pub until: Option<Instant>,
}

impl Ledger {
    /// A MatchStartNtf as `player` received it at `at`, with `teams`, saying the player is in
    /// team `team`; `backfill`: it joins the match in progress, whose teams have grown.
    pub fn told(
        &mut self,
        player: u64,
        match_id: &str,
        teams: Vec<Vec<u64>>,
        team: u32,
        backfill: bool,
        at: Instant,
    ) {
        let listed = teams.get(team as usize).is_some_and(|t| t.contains(&player));
        if !listed {
            self.disagree(format!(
                "match {match_id}: player {player} told it is in team {team} of {teams:?}"
            ));
        }
        let mut all: Vec<u64> = teams.iter().flatten().copied().collect();
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            self.disagree(format!("match {match_id}: a player listed twice in {teams:?}"));
        }
        let roster = if backfill {
            Roster { teams: Vec::new(), told: at, backfills: vec![teams] }
        } else {
            Roster { teams, told: at, backfills: Vec::new() }
        };
        self.add_roster(match_id.to_owned(), roster);
    }

    fn add_roster(&mut self, match_id: String, roster: Roster) {
        let known = self.rosters.entry(match_id.clone()).or_insert_with(|| Roster {
            teams: Vec::new(),
            told: roster.told,
            backfills: Vec::new(),
        });
        known.told = known.told.min(roster.told);
        let mut whys = Vec::new();
        if known.teams.is_empty() {
            known.teams = roster.teams;
        } else if !roster.teams.is_empty() && known.teams != roster.teams {
            whys.push(format!("match {match_id}: teams {:?} and {:?}", known.teams, roster.teams));
        }
        known.backfills.extend(roster.backfills);
        if !known.teams.is_empty() {
            for grown in std::mem::take(&mut known.backfills) {
                let kept = grown.len() == known.teams.len()
                    && known.teams.iter().zip(&grown).all(|(t, g)| t.iter().all(|p| g.contains(p)));
                if !kept {
                    whys.push(format!("match {match_id}: teams {:?} backfilled as {grown:?}", known.teams));
                }
            }
        }
        for why in whys {
            self.disagree(why);
        }
    }

    fn disagree(&mut self, why: String) {
        self.disagreeing += 1;
        if self.disagreements.len() < MAX_DESCRIBED {
            self.disagreements.push(why);
        }
    }

    pub fn merge(&mut self, other: Ledger) {
        self.tickets.extend(other.tickets);
        self.stays.extend(other.stays);
        for (match_id, roster) in other.rosters {
            self.add_roster(match_id, roster);
        }
        self.disagreeing += other.disagreeing;
        for why in other.disagreements {
            if self.disagreements.len() < MAX_DESCRIBED {
                self.disagreements.push(why);
            }
        }
    }
}

/// One bot's `chat` counts; merged, the swarm's. Deliveries are counted from the window's start
/// to the end of its drain.
#[derive(Debug, Default)]
pub struct ChatTally {
    /// Bots in the channel (a join or create answered, or the world channel listed).
    pub joined: u64,
    /// Bots that never got in, by the last refusal (or `timeout`).
    pub join_failed: Errors,
    /// ChatSendReqs written, and those answered with a ChatSendResp.
    pub sent: u64,
    pub acked: u64,
    /// ChatSendReqs refused, by code (`CHAT_SLOW_MODE`: over the server's rate limit).
    pub refused: Errors,
    /// This run's messages received (each id once), and those received again.
    pub deliveries: u64,
    pub duplicated: u64,
    /// Channel messages that are not this run's bots' (other players, another run).
    pub other: u64,
    /// From the time a message was scheduled (in its text) to its receipt, in µs.
    pub delivery_latency_us: Option<Histogram<u64>>,
    /// Anything else that went wrong (kicked out of the channel, an answer without a message).
    pub failed: Errors,
    pub ledger: ChatLedger,
}

impl ChatTally {
    pub fn record_delivery_latency(&mut self, latency: Duration) {
        record(self.delivery_latency_us.get_or_insert_with(new_histogram), latency);
    }

    pub fn merge(&mut self, other: ChatTally) {
        self.joined += other.joined;
        self.join_failed.merge(other.join_failed);
        self.sent += other.sent;
        self.acked += other.acked;
        self.refused.merge(other.refused);
        self.deliveries += other.deliveries;
        self.duplicated += other.duplicated;
        self.other += other.other;
        merge_optional(&mut self.delivery_latency_us, other.delivery_latency_us, "delivery latency");
        self.failed.merge(other.failed);
        self.ledger.acks.extend(other.ledger.acks);
        self.ledger.members.extend(other.ledger.members);
        self.ledger.received.extend(other.ledger.received);
    }
}

/// What the loss check needs from every bot: the messages acknowledged to their senders, who was
/// in the channel from when, and what each received.
#[derive(Debug, Default)]
pub struct ChatLedger {
    pub acks: Vec<ChatAck>,
    pub members: Vec<ChatMember>,
    /// Per bot, the message ids it received.
    pub received: Vec<(usize, Vec<u64>)>,
}

impl ChatLedger {
    pub fn member(&mut self, index: usize, joined_at: Option<Instant>, stayed: bool) {
        self.members.push(ChatMember { index, joined_at, stayed });
    }

    pub fn received(&mut self, index: usize, ids: Vec<u64>) {
        self.received.push((index, ids));
    }
}

/// A message the server acknowledged: its id, the bot that sent it and when it was scheduled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChatAck {
    pub id: u64,
    pub sender: usize,
    pub at: Instant,
}

/// A bot in the channel from `joined_at` (`None`: never), and whether its connection lasted to
/// the end of the window's drain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChatMember {
    pub index: usize,
    pub joined_at: Option<Instant>,
    pub stayed: bool,
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
