//! The world of one zone instance and its tick.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mmo_proto::{ItemList, SelfStats, SelfUpdate, ZoneEnterNtf, self_update::Correction};

use crate::aoi::{Aoi, NOTIFY};
use crate::encode::{Context, Encoder, FrameStats, PendingEvent, PlayerFrames};
use crate::entity::{Entity, EntityInfo, EntityKind, Notify, Npc, Player, PlayerSave, Role, Slab};
use crate::ids::IdMap;
use crate::map::{MapDef, MapError, NpcType};
use crate::rng::Rng;
use crate::{EntityId, PlayerId, Vec2, ZoneConfig, ZoneError};

/// Something the server around the world should act on (log, persist, hand off, kick).
#[derive(Clone, Debug, PartialEq)]
pub enum WorldEvent {
    /// The player stepped into a portal: hand it off to `to_map` at `to`.
    PortalReached {
        player: PlayerId,
        portal: usize,
        to_map: String,
        to: Vec2,
    },
    LevelUp {
        player: PlayerId,
        level: u32,
    },
    NpcKilled {
        player: PlayerId,
        npc_type: String,
    },
    /// A kill's loot, already in the player's view (not pushed): the wiring grants it in the
    /// shop's ledger and sets the inventory the grant answers ([`World::set_inventory`]).
    Looted {
        player: PlayerId,
        /// The NPC killed.
        npc: EntityId,
        npc_type: String,
        items: Vec<crate::ItemStack>,
    },
    PlayerDied {
        player: PlayerId,
        killer: Option<EntityId>,
    },
    /// A MoveReq broke the movement rules; `total` counts this player's so far in this instance.
    Violation {
        player: PlayerId,
        total: u32,
    },
}

/// Where one tick's time went.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickMetrics {
    pub inputs: Duration,
    pub movement: Duration,
    /// Respawns and NPC behaviour.
    pub ai: Duration,
    /// Rebuilding the grid and updating every player's view.
    pub aoi: Duration,
    /// Writing the frames.
    pub encode: Duration,
    pub total: Duration,
    pub entities: usize,
    pub players: usize,
    /// (player, entity in view) pairs after the tick.
    pub aoi_pairs: usize,
    pub frames: FrameStats,
}

/// What a tick produced.
#[derive(Debug, Default)]
pub struct TickOutput {
    pub tick: u64,
    /// One entry per player that has something to receive.
    pub frames: Vec<PlayerFrames>,
    pub events: Vec<WorldEvent>,
    pub metrics: TickMetrics,
}

/// A player placed in the world.
#[derive(Clone, Debug)]
pub struct Spawned {
    pub entity: EntityId,
    /// Push it to the player reliably before the next tick's frames.
    pub enter: ZoneEnterNtf,
}

pub(crate) struct NpcKind {
    pub name: String,
    pub def: NpcType,
}

/// One zone instance: a map, the entities on it, and their rules. Owned by one task, which
/// feeds it requests and calls [`World::tick`] at `tick_rate`; nothing in it blocks or locks.
pub struct World {
    pub(crate) config: ZoneConfig,
    pub(crate) map: MapDef,
    pub(crate) instance: u32,
    pub(crate) npc_types: Vec<NpcKind>,
    pub(crate) npc_type_names: Vec<String>,
    pub(crate) entities: Slab,
    pub(crate) players: IdMap<PlayerId, EntityId>,
    pub(crate) rng: Rng,
    /// Kills drop no loot ([`World::set_loot_paused`]).
    pub(crate) loot_paused: bool,
    /// Seconds since the instance started.
    pub(crate) now: f64,
    pub(crate) tick: u64,
    /// The owner's clock for the tick being run (ms since the epoch), told to clients; 0 when
    /// the owner gives none (tests, benchmarks).
    pub(crate) server_time_ms: u64,
    pub(crate) events: Vec<PendingEvent>,
    pub(crate) world_events: Vec<WorldEvent>,
    /// Players marked dirty since the last `take_dirty` (each once).
    pub(crate) dirty: Vec<EntityId>,
    /// Players whose next view starts from nothing ([`World::resend_view`]).
    resync: Vec<EntityId>,
    pub(crate) aoi: Aoi,
    encoder: Encoder,
}

impl World {
    /// A new instance of `map`, with its NPCs spawned. `seed` drives everything random in it
    /// (NPC placement, wandering, loot), so the same seed and inputs replay the same way.
    pub fn new(map: MapDef, config: ZoneConfig, instance: u32, seed: u64) -> Result<World, MapError> {
        map.validate()?;
        config.validate().map_err(|problem| MapError::Invalid { map: map.name.clone(), problem })?;
        let npc_types: Vec<NpcKind> = map
            .npc_types
            .iter()
            .map(|(name, def)| NpcKind { name: name.clone(), def: def.clone() })
            .collect();
        let aoi = Aoi::new(
            map.width,
            map.height,
            config.view_radius,
            config.view_hysteresis,
            config.cells_per_view,
            config.max_visible,
        );
        let mut world = World {
            npc_type_names: npc_types.iter().map(|k| k.name.clone()).collect(),
            npc_types,
            config,
            instance,
            entities: Slab::default(),
            players: IdMap::default(),
            rng: Rng::new(seed),
            loot_paused: false,
            now: 0.0,
            tick: 0,
            server_time_ms: 0,
            events: Vec::new(),
            world_events: Vec::new(),
            dirty: Vec::new(),
            resync: Vec::new(),
            aoi,
            encoder: Encoder::default(),
            map,
        };
        for spawn in world.map.npcs.clone() {
            let Some(kind) = world.npc_types.iter().position(|k| k.name == spawn.npc_type) else { continue };
            for _ in 0..spawn.count {
                let at =
                    world.rng.in_disc(spawn.at, spawn.radius).clamp_to(world.map.width, world.map.height);
                world.spawn_npc(kind, at, spawn.at, spawn.radius).ok_or_else(|| MapError::Invalid {
                    map: world.map.name.clone(),
                    problem: "more NPCs than an instance holds".into(),
                })?;
            }
        }
        Ok(world)
    }

    fn spawn_npc(
        &mut self,
        kind: usize,
        at: Vec2,
        wander_center: Vec2,
        wander_radius: f32,
    ) -> Option<EntityId> {
        let def = &self.npc_types.get(kind)?.def;
        let (speed, level, hp, damage) = (def.speed, def.level, def.hp, def.damage);
        let rest_until = f64::from(self.rng.range(0.0, 3.0));
        let npc = Npc {
            kind: kind as u16,
            home: at,
            wander_center,
            wander_radius,
            aggro: None,
            rest_until,
            walking: false,
        };
        self.entities.insert(|id| Entity::new(id, at, (speed, level, hp, damage), Role::Npc(npc)))
    }

    /// Where a new or respawning player appears: a random point of the map's spawn area.
    pub(crate) fn spawn_point(&mut self) -> Vec2 {
        let (at, radius) = (self.map.spawn, self.map.spawn_radius);
        if radius <= 0.0 {
            return at;
        }
        self.rng.in_disc(at, radius).clamp_to(self.map.width, self.map.height)
    }

    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    pub fn map(&self) -> &MapDef {
        &self.map
    }

    /// Ticks run so far.
    pub fn tick_count(&self) -> u64 {
        self.tick
    }

    /// Simulated time since the instance started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.now)
    }

    pub fn entity_count(&self) -> usize {
        self.entities.len()
    }

    pub fn player_count(&self) -> usize {
        self.players.len()
    }

    /// Places a player in the world from its saved state. The answer's `enter` goes to the
    /// client first; the following ticks bring what it sees.
    pub fn spawn_player(&mut self, save: PlayerSave) -> Result<Spawned, ZoneError> {
        if self.players.contains_key(&save.player) {
            return Err(ZoneError::AlreadyInZone);
        }
        let (w, h) = (self.map.width, self.map.height);
        let in_map = |p: &Vec2| p.is_finite() && (0.0..=w).contains(&p.x) && (0.0..=h).contains(&p.y);
        let pos = match save.position.filter(in_map).filter(|_| save.hp > 0) {
            Some(p) => p,
            None => self.spawn_point(),
        };
        let c = &self.config;
        let level = save.level.clamp(1, c.max_level);
        let max_hp = c.player_max_hp(level);
        let hp = if save.hp == 0 { max_hp } else { save.hp.min(max_hp) };
        // Not cut to `inventory_slots`: purchases and grants are not limited by it, and the
        // record (the shop's inventory) holds what it holds.
        let mut inventory = save.inventory;
        inventory.retain(|s| s.count > 0);
        let player = Player {
            id: save.player,
            xp: save.xp.min(c.xp_to_next(level).saturating_sub(1)),
            inventory,
            inputs: VecDeque::new(),
            last_seq: None,
            last_input_at: self.now,
            budget: c.player_speed * c.claim_burst.as_secs_f32(),
            anchor: pos,
            violations: 0,
            claim_mode: false,
            dirty: false,
            in_portal: self
                .map
                .portals
                .iter()
                .position(|q| q.at.distance_squared(pos) <= q.radius * q.radius),
        };
        let (speed, damage) = (c.player_speed, c.player_damage(level));
        let id = self
            .entities
            .insert(|id| {
                let mut e =
                    Entity::new(id, pos, (speed, level, max_hp, damage), Role::Player(Box::new(player)));
                // A saved player may come back wounded.
                e.hp = hp;
                e
            })
            .ok_or(ZoneError::Full)?;
        self.players.insert(save.player, id);
        let enter = self.enter_ntf(save.player).ok_or(ZoneError::NotInZone)?;
        Ok(Spawned { entity: id, enter })
    }

    /// Takes a player out of the world (leaving, disconnected, handed off) and returns what to
    /// save. Players who saw it get a leave in the next tick.
    pub fn remove_player(&mut self, player: PlayerId) -> Option<PlayerSave> {
        let save = self.player_state(player)?;
        let id = self.players.remove(&player)?;
        self.entities.remove(id);
        Some(save)
    }

    /// The player's state as it would be saved now.
    pub fn player_state(&self, player: PlayerId) -> Option<PlayerSave> {
        let e = self.entities.get(*self.players.get(&player)?)?;
        self.save_of(e)
    }

    fn save_of(&self, e: &Entity) -> Option<PlayerSave> {
        let p = e.player()?;
        Some(PlayerSave {
            player: p.id,
            map: self.map.name.clone(),
            position: Some(e.pos),
            level: e.level,
            xp: p.xp,
            hp: e.hp,
            inventory: p.inventory.clone(),
        })
    }

    /// The states of players whose position, level, experience, hit points or inventory
    /// changed since the last call, for a write-behind to store. Players who left meanwhile
    /// are not in it (`remove_player` handed out their state).
    pub fn take_dirty(&mut self) -> Vec<PlayerSave> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut out = Vec::with_capacity(dirty.len());
        for id in dirty {
            let Some(e) = self.entities.get_mut(id) else { continue };
            if let Some(p) = e.player_mut() {
                p.dirty = false;
            }
            if let Some(save) = self.entities.get(id).and_then(|e| self.save_of(e)) {
                out.push(save);
            }
        }
        out
    }

    /// For a client that reset its picture (it was told its ZoneEnterNtf again): the player's
    /// next ZoneTickNtf announces everything in its view as entering, as on arrival.
    pub fn resend_view(&mut self, player: PlayerId) {
        let Some(&id) = self.players.get(&player) else { return };
        if let Some(e) = self.entities.get_mut(id)
            && !e.resync
        {
            e.resync = true;
            self.resync.push(id);
        }
    }

    pub fn player_entity(&self, player: PlayerId) -> Option<EntityId> {
        self.players.get(&player).copied()
    }

    /// Violations of the movement rules by this player since it entered.
    pub fn violations(&self, player: PlayerId) -> Option<u32> {
        self.entities.get(*self.players.get(&player)?)?.player().map(|p| p.violations)
    }

    /// The entities a player had in view after the last tick.
    pub fn view_of(&self, player: PlayerId) -> Option<Vec<EntityId>> {
        let id = *self.players.get(&player)?;
        Some(self.aoi.view_of(id).collect())
    }

    pub fn entity(&self, id: EntityId) -> Option<EntityInfo> {
        self.entities.get(id).map(|e| self.info_of(e))
    }

    pub fn entities(&self) -> impl Iterator<Item = EntityInfo> + '_ {
        self.entities.iter().map(|e| self.info_of(e))
    }

    fn info_of(&self, e: &Entity) -> EntityInfo {
        let (kind, npc_type) = match &e.role {
            Role::Player(p) => (EntityKind::Player(p.id), None),
            Role::Npc(n) => (EntityKind::Npc, self.npc_type_names.get(n.kind as usize).cloned()),
        };
        EntityInfo {
            id: e.id,
            kind,
            npc_type,
            position: e.pos,
            level: e.level,
            hp: e.hp,
            max_hp: e.max_hp,
            dead: e.dead,
        }
    }

    /// What a player is told when it is placed in this instance.
    pub fn enter_ntf(&self, player: PlayerId) -> Option<ZoneEnterNtf> {
        let e = self.entities.get(*self.players.get(&player)?)?;
        let p = e.player()?;
        Some(ZoneEnterNtf {
            map: self.map.name.clone(),
            instance: self.instance,
            width: self.map.width,
            height: self.map.height,
            entity_id: e.id.0,
            position: Some(e.pos.into()),
            stats: Some(self.stats_of(e)),
            inventory: Some(ItemList { items: p.inventory.iter().map(|&s| s.into()).collect() }),
            view_radius: self.config.view_radius,
            view_hysteresis: self.config.view_hysteresis,
            tick_rate: self.config.tick_rate,
            // The wiring knows why and for which match the player is here.
            reason: 0,
            match_id: String::new(),
        })
    }

    fn stats_of(&self, e: &Entity) -> SelfStats {
        SelfStats {
            level: e.level,
            xp: e.player().map_or(0, |p| p.xp),
            xp_to_next: self.config.xp_to_next(e.level),
            hp: e.hp,
            max_hp: e.max_hp,
            dead: e.dead,
            speed: e.max_speed,
        }
    }

    /// [`World::tick`], stamping the frames with the owner's clock (`server_time_ms`, ms since
    /// the Unix epoch), which clients use to time their interpolation. The world itself never
    /// reads a clock.
    pub fn tick_at(&mut self, dt: Duration, server_time_ms: u64) -> TickOutput {
        self.server_time_ms = server_time_ms;
        self.tick(dt)
    }

    /// Advances the world by `dt`: inputs, movement, respawns and NPCs, interest, frames.
    pub fn tick(&mut self, dt: Duration) -> TickOutput {
        let (mut m, t0) = (TickMetrics::default(), Instant::now());
        self.simulate(dt, &mut m);
        let t = Instant::now();
        self.aoi.grid.rebuild(&self.entities);
        m.aoi_pairs = self.aoi.update_views();
        for id in self.resync.drain(..) {
            if let Some(e) = self.entities.get_mut(id) {
                e.resync = false;
            }
        }
        let t_aoi = Instant::now();
        m.aoi = t_aoi - t;
        let frames = self.encode(&mut m.frames);
        m.encode = t_aoi.elapsed();
        m.total = t0.elapsed();
        m.entities = self.entities.len();
        m.players = self.players.len();
        self.events.clear();
        TickOutput { tick: self.tick, frames, events: std::mem::take(&mut self.world_events), metrics: m }
    }

    /// The phases before interest: inputs, movement, respawns and NPCs.
    pub(crate) fn simulate(&mut self, dt: Duration, m: &mut TickMetrics) {
        let t0 = Instant::now();
        self.tick += 1;
        self.now += dt.as_secs_f64();
        let dt = dt.as_secs_f32();
        self.apply_inputs(dt);
        let t1 = Instant::now();
        self.move_entities(dt);
        let t2 = Instant::now();
        self.run_ai();
        let t3 = Instant::now();
        m.inputs = t1 - t0;
        m.movement = t2 - t1;
        m.ai = t3 - t2;
    }

    fn encode(&mut self, stats: &mut FrameStats) -> Vec<PlayerFrames> {
        self.encoder.prepare(&mut self.aoi, &self.events);
        let cx = Context {
            tick: self.tick,
            server_time_ms: self.server_time_ms,
            npc_type_names: &self.npc_type_names,
            max_events: self.config.max_events_per_frame,
        };
        let mut frames = Vec::with_capacity(self.aoi.ticks.len());
        for i in 0..self.aoi.ticks.len() {
            let pt = self.aoi.ticks[i];
            let j = pt.j as usize;
            let slot = self.aoi.grid.slot[j] as usize;
            let (player, entity) = (PlayerId(self.aoi.grid.player[j]), EntityId(self.aoi.grid.id[j]));
            let mut you = None;
            if self.aoi.grid.flags[j] & NOTIFY != 0 {
                you = self.entities.at(slot).map(|e| self.self_update(e));
                if let Some(e) = self.entities.at_mut(slot) {
                    e.notify = Notify::default();
                }
            }
            let (reliable, droppable) =
                self.encoder.encode_player(&self.aoi, &pt, &self.entities, you, &cx, stats);
            if reliable.is_some() || droppable.is_some() {
                frames.push(PlayerFrames { player, entity, reliable, droppable });
            }
        }
        frames
    }

    fn self_update(&self, e: &Entity) -> SelfUpdate {
        let (notify, p) = (e.notify, e.player());
        SelfUpdate {
            stats: notify.stats.then(|| self.stats_of(e)),
            inventory: notify.inventory.then(|| ItemList {
                items: p.map(|p| p.inventory.iter().map(|&s| s.into()).collect()).unwrap_or_default(),
            }),
            correction: notify.correction.then(|| Correction {
                position: Some(e.pos.into()),
                input_seq: p.and_then(|p| p.last_seq).unwrap_or(0),
            }),
        }
    }
}
