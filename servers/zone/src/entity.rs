//! Entities (players and NPCs), their storage, and the state a player carries in and out of an
//! instance.

use std::collections::VecDeque;

use crate::input::MoveInput;
use crate::{EntityId, PlayerId, Vec2};

/// A stack of one item in an inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemStack {
    pub item: u32,
    pub count: u32,
}

impl From<ItemStack> for mmo_proto::ItemStack {
    fn from(s: ItemStack) -> mmo_proto::ItemStack {
        mmo_proto::ItemStack { item_id: s.item, count: s.count }
    }
}

/// What survives a player leaving the instance: what [`World::remove_player`] returns, what
/// [`World::spawn_player`] takes, what [`World::take_dirty`] hands to the write-behind.
///
/// [`World::remove_player`]: crate::World::remove_player
/// [`World::spawn_player`]: crate::World::spawn_player
/// [`World::take_dirty`]: crate::World::take_dirty
#[derive(Clone, Debug, PartialEq)]
pub struct PlayerSave {
    pub player: PlayerId,
    /// The map this was saved on (filled in by the world; ignored by `spawn_player`).
    pub map: String,
    /// `None`, or a point outside the map, means the map's spawn point.
    pub position: Option<Vec2>,
    pub level: u32,
    /// Experience towards the next level.
    pub xp: u64,
    /// Clamped to the level's maximum (`u32::MAX` is full health). 0 (dead when saved) means
    /// back at the spawn point with full health.
    pub hp: u32,
    pub inventory: Vec<ItemStack>,
}

impl PlayerSave {
    /// A new character: level 1, full health, empty inventory, at the spawn point.
    pub fn new(player: PlayerId) -> PlayerSave {
        PlayerSave {
            player,
            map: String::new(),
            position: None,
            level: 1,
            xp: 0,
            hp: u32::MAX,
            inventory: Vec::new(),
        }
    }
}

/// Is it a player or an NPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Player(PlayerId),
    /// The NPC's type, by name in the map file.
    Npc,
}

/// A read-only look at an entity (for tests, tools and the wiring).
#[derive(Clone, Debug, PartialEq)]
pub struct EntityInfo {
    pub id: EntityId,
    pub kind: EntityKind,
    /// For NPCs, the type's name.
    pub npc_type: Option<String>,
    pub position: Vec2,
    pub level: u32,
    pub hp: u32,
    pub max_hp: u32,
    pub dead: bool,
}

/// How an entity is moving.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Motion {
    Idle,
    /// Unit direction, fraction of maximum speed.
    Walk {
        dir: Vec2,
        speed: f32,
    },
    /// Walk to the point and stop.
    Goto {
        target: Vec2,
        speed: f32,
    },
}

pub(crate) struct Entity {
    pub id: EntityId,
    pub pos: Vec2,
    /// Where it was when the tick began.
    pub start: Vec2,
    /// Velocity over the last tick, map units per second.
    pub vel: Vec2,
    pub motion: Motion,
    pub max_speed: f32,
    pub level: u32,
    pub hp: u32,
    pub max_hp: u32,
    pub damage: u32,
    pub dead: bool,
    /// When a dead entity comes back (world time, seconds).
    pub respawn_at: f64,
    /// When it may attack again.
    pub attack_ready_at: f64,
    /// Its position changed this tick (by walking or an accepted claim).
    pub moved: bool,
    /// It moved in the previous tick: if it did not move in this one, it stopped.
    pub was_moving: bool,
    /// It respawned this tick: its new position travels in the Respawn event, not as a move.
    pub teleported: bool,
    /// A claimed position was applied this tick (players only).
    pub claimed: bool,
    /// The player this entity is (a copy of `Player::id`, kept here so that the per-tick
    /// passes over all entities need not follow the player's box).
    pub player_id: Option<PlayerId>,
    /// What of its own state a player must be told at the end of the tick.
    pub notify: Notify,
    /// A player whose client reset its picture: its next view starts from nothing (everything
    /// in it is announced as entering).
    pub resync: bool,
    pub role: Role,
}

pub(crate) enum Role {
    Player(Box<Player>),
    Npc(Npc),
}

pub(crate) struct Player {
    pub id: PlayerId,
    pub xp: u64,
    pub inventory: Vec<ItemStack>,
    pub inputs: VecDeque<MoveInput>,
    pub last_seq: Option<u32>,
    /// World time of the last MoveReq handled.
    pub last_input_at: f64,
    /// Claimed positions: distance the player may still cover, and where the last claim left it.
    pub budget: f32,
    pub anchor: Vec2,
    /// MoveReqs caught cheating: over speed, or claims beyond the budget.
    pub violations: u32,
    /// The latest MoveReq carried a claimed position: the anchor stays where claims put it.
    pub claim_mode: bool,
    /// Changed since the last `take_dirty`.
    pub dirty: bool,
    /// The portal it stands in, so a portal asks for a hand-off once per visit.
    pub in_portal: Option<usize>,
}

/// What of its own state a player must be told at the end of the tick.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Notify {
    pub stats: bool,
    pub inventory: bool,
    pub correction: bool,
}

impl Notify {
    pub fn any(self) -> bool {
        self.stats || self.inventory || self.correction
    }
}

pub(crate) struct Npc {
    /// Index into the world's NPC types.
    pub kind: u16,
    /// Where it (re)spawns.
    pub home: Vec2,
    /// It wanders within `wander_radius` of its spawn's centre.
    pub wander_center: Vec2,
    pub wander_radius: f32,
    /// The entity it fights back against.
    pub aggro: Option<EntityId>,
    /// Resting until then before picking a new point to wander to.
    pub rest_until: f64,
    pub walking: bool,
}

impl Entity {
    /// A new entity standing still at `pos`, alive and at full health, ready to attack.
    pub(crate) fn new(id: EntityId, pos: Vec2, stats: (f32, u32, u32, u32), role: Role) -> Entity {
        let (max_speed, level, max_hp, damage) = stats;
        Entity {
            id,
            pos,
            start: pos,
            vel: Vec2::ZERO,
            motion: Motion::Idle,
            max_speed,
            level,
            hp: max_hp,
            max_hp,
            damage,
            dead: false,
            respawn_at: 0.0,
            attack_ready_at: 0.0,
            moved: false,
            was_moving: false,
            teleported: false,
            claimed: false,
            player_id: match &role {
                Role::Player(p) => Some(p.id),
                Role::Npc(_) => None,
            },
            notify: Notify::default(),
            resync: false,
            role,
        }
    }

    pub fn player(&self) -> Option<&Player> {
        match &self.role {
            Role::Player(p) => Some(p),
            Role::Npc(_) => None,
        }
    }

    pub fn player_mut(&mut self) -> Option<&mut Player> {
        match &mut self.role {
            Role::Player(p) => Some(p),
            Role::Npc(_) => None,
        }
    }

    pub fn is_player(&self) -> bool {
        self.player_id.is_some()
    }

    /// Marks a player's persistent state changed (a no-op for NPCs); returns whether it was
    /// newly marked, so the caller can add it to the dirty list.
    pub fn mark_dirty(&mut self) -> bool {
        match &mut self.role {
            Role::Player(p) if !p.dirty => {
                p.dirty = true;
                true
            }
            _ => false,
        }
    }
}

struct Slot {
    generation: u32,
    entity: Option<Entity>,
}

/// Entities by slot, with generations so a stale [`EntityId`] never finds a newer entity.
#[derive(Default)]
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    /// Stores the entity `make` builds for its new id; `None` when every slot is taken.
    pub fn insert(&mut self, make: impl FnOnce(EntityId) -> Entity) -> Option<EntityId> {
        let index = match self.free.pop() {
            Some(i) => i as usize,
            None if self.slots.len() < EntityId::MAX_ENTITIES => {
                self.slots.push(Slot { generation: 1, entity: None });
                self.slots.len() - 1
            }
            None => return None,
        };
        let slot = &mut self.slots[index];
        let id = EntityId::new(index, slot.generation);
        slot.entity = Some(make(id));
        self.len += 1;
        Some(id)
    }

    pub fn remove(&mut self, id: EntityId) -> Option<Entity> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation() {
            return None;
        }
        let entity = slot.entity.take()?;
        self.len -= 1;
        // A slot whose generation would wrap is retired, so ids are never reused.
        if slot.generation < EntityId::MAX_GENERATION {
            slot.generation += 1;
            self.free.push(id.index() as u32);
        }
        Some(entity)
    }

    pub fn get(&self, id: EntityId) -> Option<&Entity> {
        self.slots.get(id.index()).and_then(|s| s.entity.as_ref()).filter(|e| e.id == id)
    }

    pub fn get_mut(&mut self, id: EntityId) -> Option<&mut Entity> {
        self.slots.get_mut(id.index()).and_then(|s| s.entity.as_mut()).filter(|e| e.id == id)
    }

    /// Two different entities at once.
    pub fn pair_mut(&mut self, a: EntityId, b: EntityId) -> Option<(&mut Entity, &mut Entity)> {
        let (ia, ib) = (a.index(), b.index());
        if ia == ib || self.get(a).is_none() || self.get(b).is_none() {
            return None;
        }
        let (lo, hi) = (ia.min(ib), ia.max(ib));
        let (left, right) = self.slots.split_at_mut(hi);
        let (l, h) = (left[lo].entity.as_mut()?, right[0].entity.as_mut()?);
        Some(if ia < ib { (l, h) } else { (h, l) })
    }

    /// The entity in slot `index`, whatever its generation.
    pub fn at(&self, index: usize) -> Option<&Entity> {
        self.slots.get(index).and_then(|s| s.entity.as_ref())
    }

    pub fn at_mut(&mut self, index: usize) -> Option<&mut Entity> {
        self.slots.get_mut(index).and_then(|s| s.entity.as_mut())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entity> {
        self.slots.iter().filter_map(|s| s.entity.as_ref())
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entity> {
        self.slots.iter_mut().filter_map(|s| s.entity.as_mut())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Slots in use or free: every slot index is below this.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }
}
