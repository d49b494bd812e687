//! One zone instance at run time: the task that owns its [`World`] and everything about the
//! players in it. It runs on a zone worker thread and never waits on I/O: MySQL and Redis work
//! is spawned onto the node's I/O runtime and its result comes back as a [`Done`] message, so a
//! slow database delays one player's entry, never the tick.
//!
//! The task's loop, in priority order: stop; the tick (simulate, then send each gateway one
//! stream entry holding every frame of its players); results of I/O; the next batch of
//! envelopes from the instance's stream (client messages of the players bound to it, the
//! gateways' session-ended notices, and commands from other instances).
//!
//! A player is **held** once its claim in MySQL succeeded and it is in the world; messages from
//! its session go through the handler [`Table`](crate::Table). A message from a session the
//! instance does not hold is answered `NOT_IN_ZONE` (a request) and, unless the player was just
//! handed off or is held under another session, starts a re-entry: this is how players come back
//! by themselves after the instance restarted on another node (their sessions stay bound to the
//! instance's stream).
//!
//! **Hand-off** (a portal, a match pulling its roster in, leaving a match): the target's holder
//! is looked up; the player is taken out of the world, its state written to MySQL naming the
//! target as owner (only if this instance still owns it), then the target is told. The target
//! claims it (its own name is on the row), places it, rebinds the session at the gateway and
//! pushes a ZoneEnterNtf. Until the gateway has the new route, the old instance drops what the
//! session still sends it. If the write fails, the player is put back where it was.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commands::{EnterCmd, HandOffCmd, PullCmd, Seat as SeatMsg, ZoneCommand, zone_command};
use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use mmo_core::bus::{Bus, events, node, reply};
use mmo_core::clock::now_ms;
use mmo_proto::bus::{Envelope, FanOut, Kind, Push, Request};
use mmo_proto::{
    EnterReason, EnterWorldReq, EnterWorldResp, ErrorCode, ZoneEnterNtf, ZonePositionsNtf, ZoneTickNtf,
};
use mmo_wire::{Flags, MsgId, MsgType};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::directory::{self, MatchSpec};
use crate::ids::IdMap;
use crate::metrics as m;
use crate::node::Shared;
use crate::store::{self, Back, Claim, Place, PlayerRow, ProgressRow};
use crate::table::{Action, Cx, Dispatched};
use crate::{POSITIONS_KEY, PlayerId, PlayerSave, TickOutput, Vec2, World, WorldEvent, ZoneError};

/// The service name: the zone's routes, its shared stream, and the binding of sessions.
pub const SERVICE: &str = "zone";
/// Enters passed from one instance to another at most this often (a holder that moved on).
const MAX_HOPS: u32 = 3;
/// A player whose session keeps knocking without being held is re-entered at most this often.
const RECOVER_EVERY: Duration = Duration::from_secs(2);

/// Where a session is: its gateway node (for liveness), that node's inbox, the session id.
#[derive(Clone, Debug)]
pub(crate) struct Seat {
    node: Arc<str>,
    inbox: Arc<str>,
    session: u64,
}

impl Seat {
    fn same(&self, other: &Seat) -> bool {
        self.session == other.session && self.node == other.node
    }

    fn to_msg(&self, player: PlayerId) -> SeatMsg {
        SeatMsg { gateway: self.node.to_string(), session: self.session, player: player.0 }
    }
}

/// A held player.
struct Held {
    seat: Seat,
    /// The claim token this instance holds the player under (the fence of its saves).
    claim: String,
    /// In match instances: where the player goes back to.
    back: Option<Place>,
    /// The row named a return place this (world) instance does not use: clear it on leaving.
    clear_back: bool,
}

struct Pending {
    seat: Seat,
    /// The session ended while the claim was in flight: release the player when it lands.
    cancelled: bool,
}

/// What a match instance keeps about its match.
pub(crate) struct MatchState {
    pub id: String,
    pub map: String,
    pub roster: HashSet<PlayerId>,
    started: Instant,
    entered: HashSet<PlayerId>,
    empty_since: Option<Instant>,
    kills: HashMap<PlayerId, u32>,
    deaths: HashMap<PlayerId, u32>,
}

impl MatchState {
    pub(crate) fn new(spec: &MatchSpec) -> MatchState {
        MatchState {
            id: spec.match_id.clone(),
            map: spec.map.clone(),
            roster: spec.roster.iter().map(|p| PlayerId(*p)).collect(),
            started: Instant::now(),
            entered: HashSet::new(),
            empty_since: None,
            kills: HashMap::new(),
            deaths: HashMap::new(),
        }
    }
}

/// Results of I/O done for the instance on the node's I/O runtime.
pub(crate) enum Done {
    Claimed {
        player: PlayerId,
        seq: u32,
        reason: EnterReason,
        row: PlayerRow,
    },
    HeldElsewhere {
        player: PlayerId,
        seq: u32,
        reason: EnterReason,
        hops: u32,
        holder: String,
    },
    ClaimFailed {
        player: PlayerId,
        seq: u32,
        error: String,
    },
    /// The holder of a hand-off's target instance was looked up.
    Target {
        handoff: Handoff,
        holder: Option<String>,
    },
    Passed {
        player: PlayerId,
        ok: Result<bool, String>,
        to: String,
        reason: EnterReason,
        before: PlayerSave,
        held: HeldBox,
    },
    /// The live nodes, and where each held player's session is according to the presence
    /// directory (`None` where a lookup failed).
    Sessions {
        live: Option<HashSet<String>>,
        presence: Option<Vec<(PlayerId, Option<node::Presence>)>>,
    },
}

/// A held player in transit (boxed: `Done` stays small).
pub(crate) struct HeldBox(Box<Held>);

/// A hand-off being prepared: who, to which instance, where there, why, and what becomes of the
/// player's return place.
pub(crate) struct Handoff {
    player: PlayerId,
    to: String,
    position: Option<Vec2>,
    reason: EnterReason,
    back: Back,
}

struct Metrics {
    tick: Histogram,
    aoi: Histogram,
    bytes: Histogram,
    overruns: Counter,
    entities: Gauge,
    players: Gauge,
    pairs: Gauge,
    reliable_bytes: Counter,
    droppable_bytes: Counter,
    updates: Counter,
    violations: Counter,
}

impl Metrics {
    fn new(label: &str) -> Metrics {
        let l = label.to_string();
        Metrics {
            tick: histogram!(m::TICK_SECONDS, "instance" => l.clone()),
            aoi: histogram!(m::TICK_AOI_SECONDS, "instance" => l.clone()),
            bytes: histogram!(m::TICK_BYTES, "instance" => l.clone()),
            overruns: counter!(m::TICK_OVERRUNS, "instance" => l.clone()),
            entities: gauge!(m::ENTITIES, "instance" => l.clone()),
            players: gauge!(m::PLAYERS, "instance" => l.clone()),
            pairs: gauge!(m::AOI_PAIRS, "instance" => l.clone()),
            reliable_bytes: counter!(m::SENT_BYTES, "instance" => l.clone(), "delivery" => "reliable"),
            droppable_bytes: counter!(m::SENT_BYTES, "instance" => l.clone(), "delivery" => "droppable"),
            updates: counter!(m::UPDATES, "instance" => l.clone()),
            violations: counter!(m::VIOLATIONS, "instance" => l),
        }
    }
}

/// Frames of one tick for one gateway.
#[derive(Default)]
struct Out {
    reliable: (Vec<u64>, Vec<Bytes>),
    droppable: (Vec<u64>, Vec<Bytes>),
}

pub(crate) struct Instance {
    sh: Arc<Shared>,
    key: Arc<str>,
    incarnation: String,
    stream: Arc<str>,
    claims: u64,
    world: World,
    held: IdMap<PlayerId, Held>,
    pending: IdMap<PlayerId, Pending>,
    /// Handed off: until then, what the session still sends here is dropped.
    gone: IdMap<PlayerId, Instant>,
    /// Hand-offs whose target is being looked up.
    handing: HashSet<PlayerId>,
    /// Last re-entry started for a player not held.
    recovering: IdMap<PlayerId, Instant>,
    pub(crate) match_state: Option<MatchState>,
    /// Interned gateway nodes and their inboxes.
    gateways: HashMap<String, (Arc<str>, Arc<str>)>,
    /// Gateways found dead once; their players leave if they are still dead at the next check.
    suspects: HashSet<String>,
    /// Players whose session the presence directory did not know at the last check.
    lost: HashSet<PlayerId>,
    done_tx: mpsc::Sender<Done>,
    done_rx: mpsc::Receiver<Done>,
    last_tick: Instant,
    last_save: Instant,
    last_check: Instant,
    metrics: Metrics,
}

fn reason_name(r: EnterReason) -> &'static str {
    match r {
        EnterReason::Login => "login",
        EnterReason::Portal => "portal",
        EnterReason::Match => "match",
        EnterReason::Return => "return",
        EnterReason::Recovered => "recovered",
        EnterReason::Unspecified => "unspecified",
    }
}

impl Instance {
    pub(crate) fn new(
        sh: Arc<Shared>,
        key: Arc<str>,
        incarnation: String,
        world: World,
        match_state: Option<MatchState>,
    ) -> Instance {
        let (done_tx, done_rx) = mpsc::channel(4096);
        let label = match &match_state {
            Some(m) => m.map.clone(),
            None => key.to_string(),
        };
        let now = Instant::now();
        Instance {
            stream: directory::stream(&sh.bus, &key),
            sh,
            key,
            incarnation,
            claims: 0,
            world,
            held: IdMap::default(),
            pending: IdMap::default(),
            gone: IdMap::default(),
            handing: HashSet::new(),
            recovering: IdMap::default(),
            match_state,
            gateways: HashMap::new(),
            suspects: HashSet::new(),
            lost: HashSet::new(),
            done_tx,
            done_rx,
            last_tick: now,
            last_save: now,
            last_check: now,
            metrics: Metrics::new(&label),
        }
    }

    fn bus(&self) -> &Bus {
        &self.sh.bus
    }

    /// Runs the instance until `stop` (shutdown, a lost lease) or, for a match instance, until
    /// it closes; then saves and releases every player and gives the lease up.
    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<mmo_proto::bus::Batch>,
        stop: CancellationToken,
    ) {
        let period = Duration::from_secs_f64(1.0 / f64::from(self.world.config().tick_rate));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        if self.match_state.is_some() {
            self.pull_roster();
        }
        let mut closing = false;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = ticker.tick() => {
                    self.tick(period);
                    if self.match_over() {
                        closing = true;
                        break;
                    }
                }
                Some(done) = self.done_rx.recv() => self.on_done(done),
                batch = inbox.recv() => match batch {
                    Some(batch) => self.on_batch(batch),
                    None => break,
                },
            }
        }
        self.finish(closing).await;
    }

    // ---- the tick ----------------------------------------------------------------------

    fn tick(&mut self, period: Duration) {
        let now = Instant::now();
        // A late tick simulates the time that really passed (bounded), so speeds stay true.
        let dt = now.duration_since(self.last_tick).clamp(period / 2, period * 4);
        self.last_tick = now;
        let out = self.world.tick_at(dt, now_ms());
        let mm = &out.metrics;
        self.metrics.tick.record(mm.total.as_secs_f64());
        self.metrics.aoi.record(mm.aoi.as_secs_f64());
        if mm.total > period {
            self.metrics.overruns.increment(1);
        }
        self.metrics.entities.set(mm.entities as f64);
        self.metrics.players.set(mm.players as f64);
        self.metrics.pairs.set(mm.aoi_pairs as f64);
        self.metrics.bytes.record((mm.frames.reliable_bytes + mm.frames.droppable_bytes) as f64);
        self.metrics.reliable_bytes.increment(mm.frames.reliable_bytes as u64);
        self.metrics.droppable_bytes.increment(mm.frames.droppable_bytes as u64);
        self.metrics.updates.increment((mm.frames.moves + mm.frames.enters + mm.frames.leaves) as u64);
        self.send_frames(out);
        if now.duration_since(self.last_save) >= self.sh.cfg.save_interval {
            self.last_save = now;
            self.save_dirty();
            self.gone.retain(|_, until| *until > now);
            self.recovering.retain(|_, at| now.duration_since(*at) < RECOVER_EVERY);
            // Gateways come and go (node ids are per process): forget those nobody here uses.
            let held = &self.held;
            let pending = &self.pending;
            self.gateways.retain(|node, _| {
                held.values().any(|h| &*h.seat.node == node)
                    || pending.values().any(|p| &*p.seat.node == node)
            });
        }
        if now.duration_since(self.last_check) >= self.sh.cfg.gateway_check_interval {
            self.last_check = now;
            self.check_gateways();
        }
    }

    /// Sends the tick's frames: per gateway, one envelope of reliable bodies and one of
    /// droppable ones, queued together so they travel as one stream entry.
    fn send_frames(&mut self, out: TickOutput) {
        let TickOutput { frames, events, .. } = out;
        let mut outs: Vec<(Arc<str>, Out)> = Vec::new();
        for f in frames {
            let Some(h) = self.held.get(&f.player) else { continue };
            let i = match outs.iter().position(|(inbox, _)| Arc::ptr_eq(inbox, &h.seat.inbox)) {
                Some(i) => i,
                None => {
                    outs.push((h.seat.inbox.clone(), Out::default()));
                    outs.len() - 1
                }
            };
            let o = &mut outs[i].1;
            if let Some(b) = f.reliable {
                o.reliable.0.push(h.seat.session);
                o.reliable.1.push(b);
            }
            if let Some(b) = f.droppable {
                o.droppable.0.push(h.seat.session);
                o.droppable.1.push(b);
            }
        }
        for (inbox, o) in outs {
            let mut envs = Vec::with_capacity(2);
            if !o.reliable.0.is_empty() {
                envs.push(Envelope::from(FanOut {
                    msg_id: u32::from(ZoneTickNtf::ID.0),
                    flags: u32::from(Flags::PUSH.0),
                    sessions: o.reliable.0,
                    bodies: o.reliable.1,
                    ..Default::default()
                }));
            }
            if !o.droppable.0.is_empty() {
                envs.push(Envelope::from(FanOut {
                    msg_id: u32::from(ZonePositionsNtf::ID.0),
                    flags: u32::from(Flags::PUSH.union(Flags::DROPPABLE).0),
                    key: POSITIONS_KEY,
                    sessions: o.droppable.0,
                    bodies: o.droppable.1,
                    ..Default::default()
                }));
            }
            if let Err(e) = self.sh.bus.send_all(&inbox, envs) {
                tracing::warn!(error = %e, instance = %self.key, "tick frames dropped: bus buffer full");
            }
        }
        for ev in events {
            self.on_world_event(ev);
        }
    }

    fn on_world_event(&mut self, ev: WorldEvent) {
        match ev {
            WorldEvent::PortalReached { player, to_map, to, .. } => {
                // Out of a match instance through a portal: the return place is used up.
                let back = if self.match_state.is_some() { Back::Clear } else { Back::Keep };
                self.start_handoff(player, to_map, Some(to), EnterReason::Portal, back);
            }
            WorldEvent::LevelUp { player, level } => {
                let level = level.to_string();
                events::emit(self.bus(), "level_up", player, &[("level", &level), ("instance", &self.key)]);
            }
            WorldEvent::NpcKilled { player, .. } => {
                if let Some(m) = &mut self.match_state {
                    *m.kills.entry(player).or_default() += 1;
                }
            }
            WorldEvent::PlayerDied { player, .. } => {
                if let Some(m) = &mut self.match_state {
                    *m.deaths.entry(player).or_default() += 1;
                }
            }
            WorldEvent::Violation { player, total } => {
                self.metrics.violations.increment(1);
                if total.is_power_of_two() {
                    tracing::info!(player = player.0, total, instance = %self.key, "movement rule broken (clamped)");
                }
            }
        }
    }

    /// Hands the players that changed to the write-behind, fenced on their claims.
    fn save_dirty(&mut self) {
        for mut save in self.world.take_dirty() {
            let Some(h) = self.held.get(&save.player) else { continue };
            save.map = self.key.to_string();
            let row = ProgressRow { save, owner: h.claim.clone() };
            if self.sh.progress.mark(row.save.player.0, row).is_err() {
                counter!(m::SAVES_DEFERRED).increment(1);
            }
        }
    }

    /// Looks up whether the players' gateways are alive and their sessions still exist. A
    /// session-end notice can be lost (a gateway that crashed, a bus buffer that was full); this
    /// is what keeps such players from staying in the world for good.
    fn check_gateways(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let players: Vec<PlayerId> = self.held.keys().copied().collect();
        let (bus, tx) = (self.sh.bus.clone(), self.done_tx.clone());
        self.sh.io.spawn(async move {
            let live = node::live_nodes(&bus).await.ok().map(|v| v.into_iter().collect());
            let mut presence = Some(Vec::with_capacity(players.len()));
            for chunk in players.chunks(500) {
                let ids: Vec<PlayerId> = chunk.to_vec();
                match (node::presence_many(&bus, &ids).await, presence.as_mut()) {
                    (Ok(found), Some(all)) => all.extend(chunk.iter().copied().zip(found)),
                    _ => presence = None,
                }
            }
            let _ = tx.send(Done::Sessions { live, presence }).await;
        });
    }

    fn match_over(&mut self) -> bool {
        let (linger, start_timeout) = (self.sh.cfg.match_linger, self.sh.cfg.match_start_timeout);
        let empty = self.held.is_empty() && self.pending.is_empty() && self.handing.is_empty();
        let Some(m) = &mut self.match_state else { return false };
        if !empty {
            m.empty_since = None;
            return false;
        }
        let now = Instant::now();
        let since = *m.empty_since.get_or_insert(now);
        if m.entered.is_empty() {
            now.duration_since(m.started) >= start_timeout
        } else {
            now.duration_since(since) >= linger
        }
    }

    // ---- envelopes from the stream -----------------------------------------------------

    fn on_batch(&mut self, batch: mmo_proto::bus::Batch) {
        let from = batch.from;
        for env in batch.envelopes {
            self.on_envelope(&from, env);
        }
    }

    fn seat(&mut self, node: &str, session: u64) -> Seat {
        if let Some((node, inbox)) = self.gateways.get(node) {
            return Seat { node: node.clone(), inbox: inbox.clone(), session };
        }
        let entry = (Arc::<str>::from(node), self.sh.bus.keys().inbox(node));
        self.gateways.insert(node.to_string(), entry.clone());
        Seat { node: entry.0, inbox: entry.1, session }
    }

    fn on_envelope(&mut self, from: &str, env: Envelope) {
        match env.kind {
            Some(Kind::Request(req)) => self.on_request(from, req),
            Some(Kind::Ended(ended)) => {
                let seat = self.seat(from, ended.session);
                self.session_ended(PlayerId(ended.player), &seat);
            }
            Some(Kind::Command(c)) => match ZoneCommand::decode(c.body) {
                Ok(cmd) => self.on_command(cmd),
                Err(e) => tracing::warn!(error = %e, instance = %self.key, "undecodable zone command"),
            },
            _ => {
                tracing::warn!(instance = %self.key, "envelope of a kind an instance does not take; ignored")
            }
        }
    }

    /// A message of a player's session: to its handler if the player is held here under that
    /// session; an EnterWorldReq enters it; anything else says it is not here.
    fn on_request(&mut self, from: &str, env: Request) {
        let player = PlayerId(env.player);
        let id = MsgId(env.msg_id as u16);
        let seat = self.seat(from, env.session);
        if self.held.get(&player).is_some_and(|h| h.seat.same(&seat)) {
            self.dispatch(player, &seat, id, env.seq, env.body);
            return;
        }
        if id == EnterWorldReq::ID {
            self.enter(seat, player, env.seq, EnterReason::Login, 0);
            return;
        }
        // Not held under this session: the player is not here, or not any more. A request is
        // answered; one-way input (movement) is dropped.
        let oneway = self.sh.table.spec(id).is_some_and(|s| s.oneway);
        if !oneway {
            self.reply_error(&seat, env.seq, id, false, &ZoneError::NotInZone);
        }
        if self.gone.contains_key(&player) || self.held.contains_key(&player) || player.0 == 0 {
            return; // handed off, or held under a newer session: stale traffic
        }
        let now = Instant::now();
        if self.recovering.get(&player).is_some_and(|at| now.duration_since(*at) < RECOVER_EVERY) {
            return;
        }
        self.recovering.insert(player, now);
        // Its session is bound here, so it was held here: the instance restarted. Bring it back.
        self.enter(seat, player, 0, EnterReason::Recovered, 0);
    }

    fn on_command(&mut self, cmd: ZoneCommand) {
        match cmd.command {
            Some(zone_command::Command::Enter(EnterCmd { seat: Some(s), seq, reason, hops })) => {
                let (player, seat) = (PlayerId(s.player), self.seat(&s.gateway, s.session));
                let reason = EnterReason::try_from(reason).unwrap_or(EnterReason::Login);
                self.enter(seat, player, seq, reason, hops);
            }
            Some(zone_command::Command::HandOff(HandOffCmd { seat: Some(s), reason, .. })) => {
                let (player, seat) = (PlayerId(s.player), self.seat(&s.gateway, s.session));
                self.gone.remove(&player);
                let reason = EnterReason::try_from(reason).unwrap_or(EnterReason::Portal);
                self.enter(seat, player, 0, reason, 0);
            }
            Some(zone_command::Command::Pull(PullCmd { player, to_instance })) => {
                let player = PlayerId(player);
                let Some(at) = self.world.player_state(player).and_then(|s| s.position) else { return };
                let back = Back::Set(Place { map: self.key.to_string(), position: Some(at) });
                self.start_handoff(player, to_instance, None, EnterReason::Match, back);
            }
            _ => tracing::debug!(instance = %self.key, "zone command ignored"),
        }
    }

    fn dispatch(&mut self, player: PlayerId, seat: &Seat, id: MsgId, seq: u32, body: Bytes) {
        let oneway = self.sh.table.spec(id).is_some_and(|s| s.oneway);
        let mut actions = Vec::new();
        let sh = self.sh.clone();
        let match_id = self.match_state.as_ref().map(|m| m.id.as_str());
        let mut cx = Cx { world: &mut self.world, player, match_id, actions: &mut actions };
        match sh.table.dispatch(&mut cx, id, body) {
            Dispatched::Reply(rid, body) => self.complete(seat, seq, Some((rid, body)), false),
            Dispatched::Done if !oneway => self.complete(seat, seq, None, false),
            Dispatched::Done => {}
            Dispatched::Rejected(e) => self.reply_error(seat, seq, id, oneway, &e),
            Dispatched::Malformed => self.reply_code(seat, seq, id, oneway, ErrorCode::MalformedBody),
            Dispatched::Unknown => self.reply_code(seat, seq, id, oneway, ErrorCode::UnknownMessage),
        }
        for action in actions {
            match action {
                Action::Return => self.return_player(player),
            }
        }
    }

    // ---- answers to gateways -----------------------------------------------------------

    fn send(&self, inbox: &Arc<str>, env: Envelope) {
        if let Err(e) = self.sh.bus.send(inbox, env) {
            tracing::warn!(error = %e, instance = %self.key, "answer dropped: bus buffer full");
        }
    }

    /// Completes the request `seq` (if not 0) with its answer; `bind` routes the session's zone
    /// messages to this instance from now on.
    fn complete(&self, seat: &Seat, seq: u32, answer: Option<(MsgId, Bytes)>, bind: bool) {
        let mut env = match answer {
            Some((id, body)) => reply::response(seat.session, seq, id, body),
            None => reply::answer(seat.session, seq, false),
        };
        if bind {
            env.bind_service = SERVICE.into();
            env.bind_stream = self.stream.to_string();
        }
        self.send(&seat.inbox, env.into());
    }

    fn push_enter(&self, seat: &Seat, ntf: &ZoneEnterNtf) {
        let push = Push {
            session: seat.session,
            msg_id: u32::from(ZoneEnterNtf::ID.0),
            flags: u32::from(Flags::PUSH.0),
            body: ntf.encode_to_vec().into(),
            bind_service: SERVICE.into(),
            bind_stream: self.stream.to_string(),
            ..Default::default()
        };
        self.send(&seat.inbox, push.into());
    }

    fn reply_error(&self, seat: &Seat, seq: u32, id: MsgId, oneway: bool, e: &ZoneError) {
        self.reject(seat, seq, id, oneway, e.code(), &e.to_string(), e.retry_after());
    }

    fn reply_code(&self, seat: &Seat, seq: u32, id: MsgId, oneway: bool, code: ErrorCode) {
        self.reject(seat, seq, id, oneway, code, "", None);
    }

    #[allow(clippy::too_many_arguments)]
    fn reject(
        &self,
        seat: &Seat,
        seq: u32,
        id: MsgId,
        oneway: bool,
        code: ErrorCode,
        detail: &str,
        retry: Option<Duration>,
    ) {
        if seq == 0 && oneway {
            return;
        }
        self.send(&seat.inbox, reply::rejection(seat.session, seq, id, oneway, code, detail, retry).into());
    }

    fn enter_ntf(&self, player: PlayerId, reason: EnterReason) -> Option<ZoneEnterNtf> {
        let mut ntf = self.world.enter_ntf(player)?;
        ntf.reason = reason as i32;
        if let Some(m) = &self.match_state {
            ntf.match_id = m.id.clone();
        }
        Some(ntf)
    }

    /// Tells the session where it is: EnterWorldResp for a request, else a ZoneEnterNtf push.
    fn announce(&self, seat: &Seat, player: PlayerId, seq: u32, reason: EnterReason) {
        let Some(ntf) = self.enter_ntf(player, reason) else { return };
        if seq != 0 {
            let body = EnterWorldResp { zone: Some(ntf) }.encode_to_vec().into();
            self.complete(seat, seq, Some((EnterWorldResp::ID, body)), true);
        } else {
            self.push_enter(seat, &ntf);
        }
    }

    fn unavailable(&self, seat: &Seat, seq: u32, detail: &str) {
        if seq == 0 {
            return;
        }
        let retry = Some(mmo_core::error::UNAVAILABLE_RETRY_AFTER);
        self.reject(seat, seq, EnterWorldReq::ID, false, ErrorCode::Unavailable, detail, retry);
    }

    // ---- entering and leaving ----------------------------------------------------------

    /// Places `player` here for `seat`: at once if it is held already, else after a claim.
    fn enter(&mut self, seat: Seat, player: PlayerId, seq: u32, reason: EnterReason, hops: u32) {
        if player.0 == 0 {
            return;
        }
        if let Some(h) = self.held.get_mut(&player) {
            if h.seat.same(&seat) || reason == EnterReason::Login {
                // Told where it is again (a client resynchronising, a redelivered command), or
                // logged in again on a new session, which takes the entity over. Either way the
                // client starts its picture afresh, so the next tick announces the whole view.
                h.seat = seat.clone();
                self.world.resend_view(player);
                self.announce(&seat, player, seq, reason);
            } else {
                // A stale session's automatic re-entry: the player is here under another one.
                self.unavailable(&seat, seq, "held under another session");
            }
            return;
        }
        if self.pending.contains_key(&player) || self.handing.contains(&player) {
            self.unavailable(&seat, seq, "entering already");
            return;
        }
        if let Some(m) = &self.match_state
            && !m.roster.contains(&player)
        {
            self.reply_error(&seat, seq, EnterWorldReq::ID, false, &ZoneError::NotInZone);
            return;
        }
        self.pending.insert(player, Pending { seat, cancelled: false });
        let token = format!("{}/{}", self.incarnation, self.claims);
        self.claims += 1;
        let (sh, tx, incarnation) = (self.sh.clone(), self.done_tx.clone(), self.incarnation.clone());
        self.sh.io.spawn(async move {
            let bus = sh.bus.clone();
            let alive = |inc: String| {
                let bus = bus.clone();
                async move { directory::alive(&bus, &inc).await }
            };
            let claim = store::claim(&sh.store, player, &incarnation, &token, &sh.cfg.start_map, alive).await;
            let done = match claim {
                Ok(Claim::Taken(row)) => Done::Claimed { player, seq, reason, row },
                Ok(Claim::Held(holder)) => Done::HeldElsewhere { player, seq, reason, hops, holder },
                Err(e) => Done::ClaimFailed { player, seq, error: e.to_string() },
            };
            let _ = tx.send(done).await;
        });
    }

    fn claimed(&mut self, player: PlayerId, seq: u32, reason: EnterReason, row: PlayerRow) {
        let Some(p) = self.pending.remove(&player) else { return };
        let PlayerRow { mut save, back, owner } = row;
        if p.cancelled {
            self.release(save, owner, Back::Keep);
            return;
        }
        // Where in this instance: its own position if it was saved here, the return place if this
        // is where it returns to, else the spawn area.
        let had_back = back.is_some();
        if save.map != *self.key {
            save.position = match &back {
                Some(b) if b.map == *self.key => b.position,
                _ => None,
            };
        }
        save.map = self.key.to_string();
        match self.world.spawn_player(save.clone()) {
            Ok(_) => {
                let in_match = self.match_state.is_some();
                if let Some(m) = &mut self.match_state {
                    m.entered.insert(player);
                }
                let held = Held {
                    seat: p.seat.clone(),
                    claim: owner,
                    back: if in_match { back } else { None },
                    clear_back: !in_match && had_back,
                };
                self.held.insert(player, held);
                self.recovering.remove(&player);
                counter!(m::ENTERS, "reason" => reason_name(reason)).increment(1);
                self.announce(&p.seat, player, seq, reason);
            }
            Err(e) => {
                tracing::warn!(error = %e, player = player.0, instance = %self.key, "could not place a claimed player");
                self.unavailable(&p.seat, seq, "the instance is full");
                self.release(save, owner, Back::Keep);
            }
        }
    }

    /// Writes a player's state and lets it go (its session ended, or it could not be placed).
    fn release(&self, save: PlayerSave, claim: String, back: Back) {
        let sh = self.sh.clone();
        self.sh.io.spawn(async move {
            match store::save_and_pass(&sh.store, &save, &claim, "", back).await {
                Ok(true) => store::update_profile(&sh.store, &save).await,
                Ok(false) => {
                    tracing::warn!(player = save.player.0, "leave not saved: the player was taken over")
                }
                Err(e) => {
                    // Its progress since the last flush waits in the write-behind; the claim
                    // stays until this instance stops (then it is released with the others).
                    tracing::warn!(player = save.player.0, error = %e, "leave save failed");
                    let _ = sh.progress.mark(save.player.0, ProgressRow { save, owner: claim });
                }
            }
        });
    }

    fn session_ended(&mut self, player: PlayerId, seat: &Seat) {
        if let Some(p) = self.pending.get_mut(&player)
            && p.seat.same(seat)
        {
            p.cancelled = true;
        }
        if self.held.get(&player).is_some_and(|h| h.seat.same(seat)) {
            self.leave(player);
        }
    }

    /// Takes a held player out and saves it (it logged out, or its gateway died).
    fn leave(&mut self, player: PlayerId) {
        let Some(h) = self.held.remove(&player) else { return };
        let Some(mut save) = self.world.remove_player(player) else { return };
        save.map = self.key.to_string();
        let back = if h.clear_back { Back::Clear } else { Back::Keep };
        self.release(save, h.claim, back);
    }

    // ---- hand-off ----------------------------------------------------------------------

    fn return_player(&mut self, player: PlayerId) {
        let Some(h) = self.held.get(&player) else { return };
        let (to, position) = match &h.back {
            Some(b) => (b.map.clone(), b.position),
            None => (self.sh.cfg.start_map.clone(), None),
        };
        self.start_handoff(player, to, position, EnterReason::Return, Back::Clear);
    }

    fn start_handoff(
        &mut self,
        player: PlayerId,
        to: String,
        position: Option<Vec2>,
        reason: EnterReason,
        back: Back,
    ) {
        if !self.held.contains_key(&player) || self.handing.contains(&player) || to == *self.key {
            return;
        }
        self.handing.insert(player);
        let (bus, tx) = (self.sh.bus.clone(), self.done_tx.clone());
        self.sh.io.spawn(async move {
            let holder = directory::holder(&bus, &to).await.ok().flatten();
            let handoff = Handoff { player, to, position, reason, back };
            let _ = tx.send(Done::Target { handoff, holder }).await;
        });
    }

    fn target_found(&mut self, handoff: Handoff, holder: Option<String>) {
        let Handoff { player, to, position, reason, back } = handoff;
        self.handing.remove(&player);
        if !self.held.contains_key(&player) {
            return;
        }
        let Some(holder) = holder else {
            counter!(m::HANDOFFS, "result" => "target_down").increment(1);
            tracing::info!(player = player.0, to, instance = %self.key, "hand-off target not running; the player stays");
            if reason == EnterReason::Return && to != self.sh.cfg.start_map {
                let start = self.sh.cfg.start_map.clone();
                self.start_handoff(player, start, None, reason, back);
            }
            return;
        };
        let (Some(h), Some(mut before)) = (self.held.remove(&player), self.world.remove_player(player))
        else {
            return;
        };
        before.map = self.key.to_string();
        let after = PlayerSave { map: to.clone(), position, ..before.clone() };
        self.gone.insert(player, Instant::now() + self.sh.cfg.handoff_timeout);
        let (sh, tx) = (self.sh.clone(), self.done_tx.clone());
        let held = HeldBox(Box::new(h));
        self.sh.io.spawn(async move {
            let next = format!("{holder}/in");
            let ok = store::save_and_pass(&sh.store, &after, &held.0.claim, &next, back)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(Done::Passed { player, ok, to, reason, before, held }).await;
        });
    }

    fn passed(
        &mut self,
        player: PlayerId,
        ok: Result<bool, String>,
        to: String,
        reason: EnterReason,
        before: PlayerSave,
        held: Held,
    ) {
        match ok {
            Ok(true) => {
                counter!(m::HANDOFFS, "result" => "ok").increment(1);
                let cmd = ZoneCommand {
                    command: Some(zone_command::Command::HandOff(HandOffCmd {
                        seat: Some(held.seat.to_msg(player)),
                        from_instance: self.key.to_string(),
                        reason: reason as i32,
                    })),
                };
                let env = cmd.envelope(player.0);
                self.send(&directory::stream(&self.sh.bus, &to), env);
            }
            Ok(false) => {
                counter!(m::HANDOFFS, "result" => "failed").increment(1);
                tracing::warn!(player = player.0, instance = %self.key, "hand-off: the player was no longer ours");
            }
            Err(e) => {
                // Nothing was written: the player is still ours. Put it back where it was.
                counter!(m::HANDOFFS, "result" => "failed").increment(1);
                tracing::warn!(player = player.0, error = e, instance = %self.key, "hand-off failed; the player stays");
                self.gone.remove(&player);
                if self.world.spawn_player(before).is_ok() {
                    let seat = held.seat.clone();
                    self.held.insert(player, held);
                    self.announce(&seat, player, 0, EnterReason::Recovered);
                }
            }
        }
    }

    // ---- results of I/O ----------------------------------------------------------------

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Claimed { player, seq, reason, row } => self.claimed(player, seq, reason, row),
            Done::HeldElsewhere { player, seq, reason, hops, holder } => {
                let Some(p) = self.pending.remove(&player) else { return };
                if p.cancelled {
                    return;
                }
                if hops >= MAX_HOPS {
                    self.unavailable(&p.seat, seq, "the player is moving between instances");
                    return;
                }
                // Alive and holding the player: pass the enter on to it.
                let cmd = ZoneCommand {
                    command: Some(zone_command::Command::Enter(EnterCmd {
                        seat: Some(p.seat.to_msg(player)),
                        seq,
                        reason: reason as i32,
                        hops: hops + 1,
                    })),
                };
                let env = cmd.envelope(player.0);
                let to =
                    directory::stream(&self.sh.bus, directory::instance_of(store::incarnation_of(&holder)));
                self.send(&to, env);
            }
            Done::ClaimFailed { player, seq, error } => {
                let Some(p) = self.pending.remove(&player) else { return };
                tracing::warn!(player = player.0, error, instance = %self.key, "claim failed");
                self.unavailable(&p.seat, seq, "the player's state could not be loaded");
            }
            Done::Target { handoff, holder } => self.target_found(handoff, holder),
            Done::Passed { player, ok, to, reason, before, held } => {
                self.passed(player, ok, to, reason, before, *held.0)
            }
            Done::Sessions { live, presence } => {
                if let Some(live) = live {
                    self.sweep_dead_gateways(&live);
                }
                if let Some(presence) = presence {
                    self.sweep_lost_sessions(presence);
                }
            }
        }
    }

    /// Players whose gateway has been missing from the live nodes twice in a row leave.
    fn sweep_dead_gateways(&mut self, live: &HashSet<String>) {
        let dead: HashSet<String> = self
            .held
            .values()
            .filter(|h| !live.contains(&*h.seat.node))
            .map(|h| h.seat.node.to_string())
            .collect();
        // Twice in a row, so a Redis that lost its node list does not empty the world.
        let confirmed: HashSet<String> = dead.intersection(&self.suspects).cloned().collect();
        self.suspects = dead;
        let gone: Vec<PlayerId> =
            self.held.iter().filter(|(_, h)| confirmed.contains(&*h.seat.node)).map(|(p, _)| *p).collect();
        for player in gone {
            tracing::info!(player = player.0, instance = %self.key, "the player's gateway is gone; leaving");
            self.leave(player);
        }
    }

    /// Players whose session the presence directory has not named twice in a row (it ended and
    /// its notice never came) leave.
    fn sweep_lost_sessions(&mut self, presence: Vec<(PlayerId, Option<node::Presence>)>) {
        let mut lost = HashSet::new();
        for (player, at) in presence {
            let Some(h) = self.held.get(&player) else { continue };
            let here = at.is_some_and(|p| p.session.0 == h.seat.session && *p.node == *h.seat.node);
            if !here {
                lost.insert(player);
            }
        }
        let confirmed: Vec<PlayerId> = lost.intersection(&self.lost).copied().collect();
        self.lost = lost;
        for player in confirmed {
            tracing::info!(player = player.0, instance = %self.key, "the player's session is gone; leaving");
            self.leave(player);
        }
    }

    // ---- match instances ---------------------------------------------------------------

    /// Asks the holders of the roster's players to hand them over; offline players are pointed
    /// here, so they enter here when they come back.
    fn pull_roster(&self) {
        let Some(m) = &self.match_state else { return };
        let (sh, key, incarnation) = (self.sh.clone(), self.key.to_string(), self.incarnation.clone());
        let roster: Vec<PlayerId> = m.roster.iter().copied().collect();
        self.sh.io.spawn(async move {
            for player in roster {
                let row = match store::load(&sh.store, player).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(player = player.0, error = %e, "match roster: player not loaded");
                        continue;
                    }
                };
                let owner = row.as_ref().map(|r| r.owner.clone()).unwrap_or_default();
                let holder = store::incarnation_of(&owner);
                if !owner.is_empty() && holder != incarnation && directory::alive(&sh.bus, holder).await {
                    let cmd = ZoneCommand {
                        command: Some(zone_command::Command::Pull(PullCmd { player: player.0, to_instance: key.clone() })),
                    };
                    let env = cmd.envelope(player.0);
                    let to = directory::stream(&sh.bus, directory::instance_of(holder));
                    let _ = sh.bus.send(&to, env);
                } else if (owner.is_empty() || holder != incarnation)
                    && let Err(e) = store::point_to(&sh.store, player, &owner, &key, &sh.cfg.start_map).await
                {
                    tracing::warn!(player = player.0, error = %e, "match roster: offline player not pointed here");
                }
            }
        });
    }

    /// Saves and releases every player, gives the lease up; a closed match reports its result.
    async fn finish(mut self, closed: bool) {
        let held: Vec<(PlayerId, Held)> = self.held.drain().collect();
        let mut saves = 0;
        for (player, h) in held {
            if let Some(mut save) = self.world.remove_player(player) {
                save.map = self.key.to_string();
                if self.sh.progress.mark(player.0, ProgressRow { save, owner: h.claim }).is_ok() {
                    saves += 1;
                }
            }
        }
        let result = self.match_state.as_ref().filter(|_| closed).map(|m| {
            let list = |v: &HashMap<PlayerId, u32>| {
                let mut v: Vec<String> = v.iter().map(|(p, n)| format!("{}:{n}", p.0)).collect();
                v.sort();
                v.join(",")
            };
            let mut entered: Vec<String> = m.entered.iter().map(|p| p.0.to_string()).collect();
            entered.sort();
            vec![
                ("instance".to_string(), self.key.to_string()),
                ("map".to_string(), m.map.clone()),
                ("match_id".to_string(), m.id.clone()),
                ("players".to_string(), entered.join(",")),
                ("duration_ms".to_string(), m.started.elapsed().as_millis().to_string()),
                ("kills".to_string(), list(&m.kills)),
                ("deaths".to_string(), list(&m.deaths)),
            ]
        });
        // Stop reading the stream first: a closed match's stream is deleted below, and a reader
        // still running would create it again.
        self.sh.forget(&self.key, &self.incarnation);
        let (sh, key, incarnation) = (self.sh.clone(), self.key.clone(), self.incarnation.clone());
        let stream = self.stream.clone();
        let work = self.sh.io.spawn(async move {
            if let Err(e) = sh.progress.flush(&sh.store).await {
                tracing::error!(instance = %key, error = %e, "final save failed; players keep their last flushed state");
            }
            match store::release_all(&sh.store, &incarnation).await {
                Ok(n) => tracing::info!(instance = %key, saved = saves, released = n, "instance stopped"),
                Err(e) => tracing::warn!(instance = %key, error = %e, "releasing players failed; they are free once the lease expires"),
            }
            if let Some(attrs) = result {
                let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                events::emit(&sh.bus, "match_closed", PlayerId(0), &attrs);
                if let Err(e) = directory::close_match(&sh.bus, &key).await {
                    tracing::warn!(instance = %key, error = %e, "closed match still listed");
                }
                // Nobody will read it again: it must not stay in Redis.
                if let Err(e) = directory::delete_stream(&sh.bus, &stream).await {
                    tracing::warn!(instance = %key, error = %e, "closed match's stream not deleted");
                }
            }
            if let Err(e) = directory::release(&sh.bus, &key, &incarnation).await {
                tracing::warn!(instance = %key, error = %e, "lease not released; it expires");
            }
        });
        let _ = work.await;
    }
}
