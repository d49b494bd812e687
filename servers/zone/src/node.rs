//! A zone node: the process part of the zone server. It
//!
//! - runs its instances on `worker_threads` threads of their own (one current-thread runtime
//!   each), away from the runtime that does the node's I/O;
//! - holds their leases (see [`directory`]), renewing them and stopping an instance whose lease
//!   it lost; takes the configured persistent maps, and match instances nobody runs, whenever
//!   their lease is free;
//! - reads the zone's shared stream (`<prefix>:svc:zone`, one consumer group for all zone
//!   nodes): EnterWorldReq from sessions not yet bound to an instance, which it routes to the
//!   instance that holds or should hold the player, and requests to create match instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::commands::{CreateInstanceCmd, EnterCmd, Seat, ZoneCommand, zone_command};
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::serve::EnvelopeSlots;
use mmo_core::bus::serve::handle_request;
use mmo_core::bus::{Bus, BusError, reply, routes};
use mmo_core::clock::now_ms;
use mmo_core::store::{Store, WriteBehind, WriteBehindConfig};
use mmo_core::{Ctx, HandlerError, PassedOn, Router, Shutdown};
use mmo_proto::bus::{Batch, Envelope, Kind};
use mmo_proto::{EnterReason, EnterWorldReq, ErrorCode};
use mmo_wire::MsgId;
use parking_lot::Mutex;
use prost::Message as _;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::SERVICE;
use crate::directory::{self, MatchSpec};
use crate::instance::{Instance, MatchState};
use crate::shared::{Local, Shared};
use crate::store;
use crate::{MapDef, PlayerId, Table, World, ZoneServerConfig};

/// A handle on a running zone node.
#[derive(Clone)]
pub struct ZoneNode {
    sh: Arc<Shared>,
}

impl std::fmt::Debug for ZoneNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneNode")
            .field("node", &self.sh.bus.node())
            .field("instances", &self.instances())
            .finish()
    }
}

/// Why a zone node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("zone config: {0}")]
    Config(String),
    #[error("map: {0}")]
    Map(#[from] crate::MapError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("store: {0}")]
    Store(#[from] mmo_core::store::StoreError),
    #[error("worker thread: {0}")]
    Thread(#[from] std::io::Error),
}

impl ZoneNode {
    /// Loot grants that failed (MySQL unavailable) and were queued for a retry, so far.
    pub fn loot_retries(&self) -> u64 {
        self.sh.loot_retries.load(Ordering::Relaxed)
    }

    /// The instances this node runs now, sorted.
    pub fn instances(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sh.local.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// The incarnation of a local instance.
    pub fn incarnation(&self, instance: &str) -> Option<String> {
        self.sh.local.lock().get(instance).map(|l| l.incarnation.clone())
    }

    /// Waits until the node runs `instance` (or `timeout`).
    pub async fn wait_for(&self, instance: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.sh.local.lock().contains_key(instance) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

/// Loads the built-in maps and those of `maps_dir`.
pub fn load_maps(cfg: &ZoneServerConfig) -> Result<HashMap<String, MapDef>, StartError> {
    let mut maps: HashMap<String, MapDef> =
        crate::map::builtin()?.into_iter().map(|m| (m.name.clone(), m)).collect();
    if !cfg.maps_dir.is_empty() {
        let dir = std::fs::read_dir(&cfg.maps_dir)
            .map_err(|e| StartError::Config(format!("zone.maps_dir {}: {e}", cfg.maps_dir)))?;
        for entry in dir {
            let path = entry?.path();
            if path.extension().is_some_and(|x| x == "toml") {
                let map = MapDef::load(&path)?;
                maps.insert(map.name.clone(), map);
            }
        }
    }
    for name in cfg.maps.iter().chain(std::iter::once(&cfg.start_map)) {
        if !maps.contains_key(name) {
            return Err(StartError::Config(format!("zone: no map named {name:?}")));
        }
    }
    Ok(maps)
}

/// Starts a zone node with `table` as the instances' handler table: publishes the routes,
/// starts the worker threads, the write-behind, the shared stream's reader and the lease loop.
/// Must be called on the runtime that is to do the node's I/O. `store` must have the tables of
/// [`crate::tables`] (the launcher applies them for [`crate::server_with`]).
pub async fn start(
    bus: &Bus,
    store: Store,
    cfg: ZoneServerConfig,
    write_behind: WriteBehindConfig,
    table: Table,
    shutdown: &Shutdown,
) -> Result<ZoneNode, StartError> {
    cfg.validate().map_err(StartError::Config)?;
    let maps = load_maps(&cfg)?;
    // Items are the shop's (its `inventory` table, its grants and ledger, the event log's
    // outbox; the launcher applied their tables): the one-time move of the zone's old JSON
    // inventories into them.
    match crate::loot::move_json_inventories(&store, bus).await {
        Ok(m) if m == crate::loot::Moved::default() => {}
        Ok(m) => tracing::info!(
            granted = m.granted,
            again = m.again,
            failed = m.failed,
            "JSON inventories moved to the shop's inventory"
        ),
        Err(e) => tracing::warn!(error = %e, "JSON inventories not moved; tried again at the next start"),
    }
    let progress = WriteBehind::new(write_behind)?;
    progress.spawn_flusher(store.clone(), shutdown);
    let specs = table.specs();
    routes::publish(bus, SERVICE, &specs).await?;
    tokio::spawn(routes::keep_published(bus.clone(), SERVICE.into(), specs, shutdown.token()));

    let tracker = TaskTracker::new();
    let mut workers = Vec::with_capacity(cfg.worker_threads);
    for i in 0..cfg.worker_threads {
        let (tx, rx) = std::sync::mpsc::channel();
        let (token, tracker) = (shutdown.token(), tracker.clone());
        std::thread::Builder::new().name(format!("zone-worker-{i}")).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(rt.handle().clone()));
            // Lives until the node has stopped and every instance on it has finished.
            rt.block_on(async move {
                token.cancelled().await;
                tracker.close();
                tracker.wait().await;
            });
        })?;
        let handle = rx.recv().map_err(|e| std::io::Error::other(e.to_string()))??;
        workers.push(handle);
    }
    let sh = Arc::new(Shared {
        bus: bus.clone(),
        store,
        cfg,
        maps,
        table,
        progress,
        io: Handle::current(),
        workers,
        next_worker: AtomicUsize::new(0),
        loot_retries: Default::default(),
        local: Mutex::new(HashMap::new()),
        tracker: tracker.clone(),
        shutdown: shutdown.token(),
    });
    // The drain waits for every instance's final saves.
    shutdown.spawn({
        let (token, tracker) = (shutdown.token(), tracker);
        async move {
            token.cancelled().await;
            tracker.close();
            tracker.wait().await;
        }
    });

    // Enters of different sessions and instance creations need no order among them.
    let consumer = GroupConsumer::for_service(bus, bus.keys().service(SERVICE), SERVICE);
    consumer.ensure_group().await?;
    let sh2 = sh.clone();
    let slots = EnvelopeSlots::new(bus);
    let router = Arc::new(crate::shared_router());
    let handler: EntryHandler = Arc::new(move |batch| {
        let (sh, slots, router) = (sh2.clone(), slots.clone(), router.clone());
        Box::pin(async move {
            on_service_batch(&sh, &router, &slots, batch).await;
            Handled::Ack
        })
    });
    shutdown.spawn(consumer.run(handler, shutdown.token()));

    // Take what is ours before returning, so a caller can rely on the maps being up.
    sweep(&sh).await;
    shutdown.spawn(lease_loop(sh.clone()));
    Ok(ZoneNode { sh })
}

/// Renews the leases of local instances, stops those whose lease was lost, and starts the
/// configured maps and orphaned match instances that nobody holds.
async fn lease_loop(sh: Arc<Shared>) {
    let every = sh.cfg.lease_ttl / 3;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = sh.shutdown.cancelled() => return,
        }
        let local: Vec<(String, String, CancellationToken)> =
            sh.local.lock().iter().map(|(k, l)| (k.clone(), l.incarnation.clone(), l.stop.clone())).collect();
        for (instance, incarnation, stop) in local {
            match directory::renew(&sh.bus, &instance, &incarnation, sh.cfg.lease_ttl).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        instance,
                        "lease lost (another node took the instance over); stopping it"
                    );
                    stop.cancel();
                }
                // Not renewed this time; the next try may work before the lease runs out. If it
                // does run out, another node takes over and this instance's saves are fenced off.
                Err(e) => tracing::warn!(instance, error = %e, "lease renewal failed"),
            }
        }
        sweep(&sh).await;
    }
}

/// Starts the configured maps and the open match instances that no live node holds.
async fn sweep(sh: &Arc<Shared>) {
    if sh.shutdown.is_cancelled() {
        return;
    }
    for map in sh.cfg.maps.clone() {
        if !sh.local.lock().contains_key(&map) {
            start_instance(sh, &map, None).await;
        }
    }
    match directory::open_matches(&sh.bus).await {
        Ok(matches) => {
            for (instance, spec) in matches {
                if sh.local.lock().contains_key(&instance) {
                    continue;
                }
                if let Ok(None) = directory::holder(&sh.bus, &instance).await {
                    start_instance(sh, &instance, Some(spec)).await;
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "match instances not listed"),
    }
}

/// Takes the lease of `instance` and starts it on a worker thread; false if another node holds
/// it, this node is full, or the map is unknown.
async fn start_instance(sh: &Arc<Shared>, instance: &str, spec: Option<MatchSpec>) -> bool {
    let map_name = spec.as_ref().map_or(instance, |s| s.map.as_str());
    let Some(map) = sh.maps.get(map_name).cloned() else {
        tracing::error!(instance, map = map_name, "no such map; instance not started");
        if spec.is_some() {
            let _ = directory::close_match(&sh.bus, instance).await;
        }
        return false;
    };
    if spec.is_some() {
        let matches = sh.local.lock().values().filter(|l| l.is_match).count();
        if matches >= sh.cfg.max_match_instances {
            return false;
        }
    }
    let incarnation = format!("{instance}#{}#{}#{:08x}", sh.bus.node(), now_ms(), rand::random::<u32>());
    match directory::acquire(&sh.bus, instance, &incarnation, sh.cfg.lease_ttl).await {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(instance, error = %e, "lease not taken");
            return false;
        }
    }
    // Instance numbers: 0 for a persistent map, the counter's value for a match instance.
    let number: u32 = instance.rsplit_once('.').and_then(|(_, n)| n.parse().ok()).unwrap_or(0);
    let seed = incarnation
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let world = match World::new(map, sh.cfg.world.clone(), number, seed) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(instance, error = %e, "instance not started");
            let _ = directory::release(&sh.bus, instance, &incarnation).await;
            return false;
        }
    };
    let stream = directory::stream(&sh.bus, instance);
    let consumer = GroupConsumer::new(sh.bus.clone(), stream, SERVICE);
    if let Err(e) = consumer.ensure_group().await {
        tracing::warn!(instance, error = %e, "instance stream not ready");
        let _ = directory::release(&sh.bus, instance, &incarnation).await;
        return false;
    }
    let stop = sh.shutdown.child_token();
    let (tx, rx) = mpsc::channel::<Batch>(sh.cfg.inbox_capacity);
    let handler: EntryHandler = Arc::new(move |batch| {
        let tx = tx.clone();
        Box::pin(async move {
            // A full inbox makes the reader wait: the stream holds the rest. A stopped instance
            // leaves the entry pending, for its next incarnation to take over.
            if tx.send(batch).await.is_ok() { Handled::Ack } else { Handled::Retry }
        })
    });
    sh.tracker.spawn(consumer.run(handler, stop.clone()));
    let is_match = spec.is_some();
    sh.local.lock().insert(
        instance.to_string(),
        Local { incarnation: incarnation.clone(), stop: stop.clone(), is_match },
    );
    metrics::gauge!(crate::metrics::INSTANCES).increment(1.0);
    let match_state = spec.as_ref().map(MatchState::new);
    let inst = Instance::new(sh.clone(), instance.into(), incarnation, world, match_state);
    let worker = sh.next_worker.fetch_add(1, Ordering::Relaxed) % sh.workers.len();
    sh.tracker.spawn_on(inst.run(rx, stop), &sh.workers[worker]);
    tracing::info!(instance, node = sh.bus.node(), "instance started");
    true
}

/// The shared stream: enters of sessions not bound to an instance yet, and instance creation.
async fn on_service_batch(sh: &Arc<Shared>, router: &Router<Placing>, slots: &EnvelopeSlots, batch: Batch) {
    // Once per batch: every envelope in it came from the same gateway.
    let inbox = sh.bus.keys().inbox(&batch.from);
    let state = Arc::new(Placing { sh: sh.clone(), gateway: batch.from });
    slots.for_each(batch.envelopes, |env| on_service_envelope(&state, router, &inbox, env)).await;
}

async fn on_service_envelope(
    state: &Arc<Placing>,
    router: &Router<Placing>,
    inbox: &Arc<str>,
    env: Envelope,
) {
    let sh = &state.sh;
    let env = match env.kind {
        Some(Kind::Request(req)) => req,
        Some(Kind::Command(c)) => {
            if let Ok(ZoneCommand { command: Some(zone_command::Command::CreateInstance(c)) }) =
                ZoneCommand::decode(c.body)
            {
                create_here(sh, c).await;
            }
            return;
        }
        // A session bound to no instance has nothing here to end.
        _ => return,
    };
    let id = MsgId(env.msg_id as u16);
    if !router.handles(id) {
        // An instance's message before EnterWorldReq: the session is in no instance yet.
        let oneway = sh.table.spec(id).is_some_and(|s| s.oneway);
        let rejection = reply::rejection(env.session, env.seq, id, oneway, ErrorCode::NotInZone, "", None);
        let _ = sh.bus.send(inbox, rejection.into());
        return;
    }
    for out in handle_request(router, state, env).await {
        let _ = sh.bus.send(inbox, out);
    }
}

/// What the shared stream's handlers see: the node, and the gateway the request came from.
pub(crate) struct Placing {
    sh: Arc<Shared>,
    gateway: String,
}

/// EnterWorldReq from a session in no instance yet: passed on to the instance that holds or
/// should hold the player, which claims it and answers.
pub(crate) async fn place(ctx: Ctx<Placing>, _: EnterWorldReq) -> Result<PassedOn, HandlerError> {
    let Placing { sh, gateway } = ctx.state();
    let unavailable = |detail| {
        HandlerError::refuse(ErrorCode::Unavailable, detail, Some(mmo_core::error::UNAVAILABLE_RETRY_AFTER))
    };
    let player = ctx.session().player().ok_or_else(|| unavailable("no player"))?;
    let instance =
        pick_instance(sh, player).await.ok_or_else(|| unavailable("no instance for the player runs"))?;
    let cmd = ZoneCommand {
        command: Some(zone_command::Command::Enter(EnterCmd {
            seat: Some(Seat { gateway: gateway.clone(), session: ctx.session().id().0, player: player.0 }),
            seq: ctx.seq().0,
            reason: EnterReason::Login as i32,
            hops: 0,
        })),
    };
    let fwd = cmd.envelope(player.0);
    sh.bus.send(&directory::stream(&sh.bus, &instance), fwd).map_err(|_| unavailable("bus buffer full"))?;
    Ok(PassedOn)
}

/// The instance a player's enter goes to: the live instance holding it; else the first that
/// runs of its saved map, its return place, the start map. `None` when none of them runs.
async fn pick_instance(sh: &Shared, player: PlayerId) -> Option<String> {
    let row = match store::load(&sh.store, player).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(player = player.0, error = %e, "enter: player row not loaded");
            return None;
        }
    };
    let mut candidates = Vec::new();
    if let Some(row) = &row {
        if !row.owner.is_empty() {
            let holder = store::incarnation_of(&row.owner);
            if directory::alive(&sh.bus, holder).await {
                return Some(directory::instance_of(holder).to_string());
            }
        }
        candidates.push(row.save.map.clone());
        if let Some(b) = &row.back {
            candidates.push(b.map.clone());
        }
    }
    candidates.push(sh.cfg.start_map.clone());
    for c in candidates {
        if let Ok(Some(_)) = directory::holder(&sh.bus, &c).await {
            return Some(c);
        }
    }
    None
}

/// A request to create a match instance reached this node: start it unless it runs already.
async fn create_here(sh: &Arc<Shared>, c: CreateInstanceCmd) {
    if sh.local.lock().contains_key(&c.instance) {
        return;
    }
    let spec = MatchSpec { map: c.map, roster: c.roster, match_id: c.match_id, created_ms: now_ms() };
    if !start_instance(sh, &c.instance, Some(spec)).await {
        tracing::debug!(instance = c.instance, "match instance not started here (full, or held elsewhere)");
    }
}
