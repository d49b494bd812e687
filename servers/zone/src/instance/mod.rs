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

use crate::commands::{
    AddPlayersCmd, EnterCmd, HandOffCmd, PullCmd, Seat as SeatMsg, ZoneCommand, zone_command,
};
use bytes::Bytes;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use mmo_core::bus::{Bus, events, node, reply};
use mmo_core::clock::now_ms;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Envelope, FanOut, Kind, MatchClosed, PlayerCount, Push, Request};
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
use crate::shared::Shared;
use crate::store::{self, Back, Claim, Place, PlayerRow, ProgressRow};
use crate::table::{Action, Cx, Dispatched};
use crate::{
    EntityId, ItemStack, POSITIONS_KEY, PlayerId, PlayerSave, SERVICE, TickOutput, Vec2, World, WorldEvent,
    ZoneError,
};

mod answers;
mod entering;
mod grants;
mod handoff;
mod inbox;
mod io;
mod roster;
mod tick;

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
    /// A grant answered while the claim was in flight: the inventory the claim read may be
    /// older than that; read it again once the player is placed.
    stale_inventory: bool,
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
    /// A loot grant's (or an inventory read's) answer.
    Granted {
        player: PlayerId,
        result: grants::GrantResult,
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
    /// Loot grants and inventory reads, per player.
    loot: grants::Loot,
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
            loot: grants::Loot::new(&incarnation),
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
        let grants = self.take_queued_grants();
        let result = self.match_state.as_ref().filter(|_| closed).map(|m| {
            let list = |v: &HashMap<PlayerId, u32>| {
                let mut v: Vec<PlayerCount> =
                    v.iter().map(|(p, n)| PlayerCount { player: p.0, count: *n }).collect();
                v.sort_by_key(|c| c.player);
                v
            };
            let mut players: Vec<u64> = m.entered.iter().map(|p| p.0).collect();
            players.sort_unstable();
            MatchClosed {
                match_id: m.id.clone(),
                instance: self.key.to_string(),
                map: m.map.clone(),
                players,
                duration_ms: u64::try_from(m.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                kills: list(&m.kills),
                deaths: list(&m.deaths),
            }
        });
        // Stop reading the stream first: a closed match's stream is deleted below, and a reader
        // still running would create it again.
        self.sh.forget(&self.key, &self.incarnation);
        let (sh, key, incarnation) = (self.sh.clone(), self.key.clone(), self.incarnation.clone());
        let stream = self.stream.clone();
        let work = self.sh.io.spawn(async move {
            // Loot still queued: once more each (the key keeps a grant that did land once).
            let mut lost = 0;
            for g in &grants {
                if let Err(e) = mmo_shop::grant(&sh.store, &sh.bus, g).await {
                    tracing::warn!(player = g.player, key = g.key, error = %e, "loot not granted at stop");
                    lost += 1;
                }
            }
            if lost > 0 {
                tracing::error!(instance = %key, lost, "loot grants lost at stop (MySQL unavailable)");
            }
            if let Err(e) = sh.progress.flush(&sh.store).await {
                tracing::error!(instance = %key, error = %e, "final save failed; players keep their last flushed state");
            }
            match store::release_all(&sh.store, &incarnation).await {
                Ok(n) => tracing::info!(instance = %key, saved = saves, released = n, "instance stopped"),
                Err(e) => tracing::warn!(instance = %key, error = %e, "releasing players failed; they are free once the lease expires"),
            }
            if let Some(closed) = result {
                events::emit_typed(&sh.bus, "match_closed", PlayerId(0), Detail::MatchClosed(closed));
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
