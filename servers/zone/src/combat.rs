//! Combat and NPCs: attacks checked on the server, damage, death, respawn, experience and
//! levels, loot; NPCs that wander around their spawn and fight back when attacked.

use std::time::Duration;

use mmo_proto::combat_event::{Damage, Death, Event, LevelUp, Respawn};

use crate::encode::PendingEvent;
use crate::entity::{ItemStack, Motion, Role};
use crate::world::WorldEvent;
use crate::{EntityId, PlayerId, World, ZoneError};

/// Rest between two wandering walks of an NPC, seconds.
const NPC_REST: (f32, f32) = (1.0, 5.0);
/// NPCs wander at this fraction of their speed.
const NPC_WANDER_SPEED: f32 = 0.5;

/// What a successful attack did.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackOutcome {
    pub target: EntityId,
    pub damage: u32,
    pub target_hp: u32,
    pub killed: bool,
    pub xp_gained: u64,
    /// The attacker's level afterwards.
    pub level: u32,
    /// Items the kill gives the attacker (granted in the shop's ledger by the wiring, see
    /// [`WorldEvent::Looted`]).
    pub loot: Vec<ItemStack>,
}

impl AttackOutcome {
    pub fn to_resp(&self) -> mmo_proto::AttackResp {
        mmo_proto::AttackResp {
            target_id: self.target.0,
            damage: self.damage,
            target_hp: self.target_hp,
            killed: self.killed,
            xp_gained: self.xp_gained,
            level: self.level,
            loot: self.loot.iter().map(|&s| s.into()).collect(),
        }
    }
}

/// What a kill gave the killer.
#[derive(Default)]
struct Reward {
    xp: u64,
    loot: Vec<ItemStack>,
}

impl World {
    /// A player's AttackReq, applied at once (its effects reach the other players with the next
    /// tick). Checks, in this order: the player is here and alive, the target exists, is an NPC
    /// and is alive, it is within `attack_range`, the cooldown is over.
    pub fn attack(&mut self, player: PlayerId, target: EntityId) -> Result<AttackOutcome, ZoneError> {
        let me = *self.players.get(&player).ok_or(ZoneError::NotInZone)?;
        let a = self.entities.get(me).ok_or(ZoneError::NotInZone)?;
        if a.dead {
            return Err(ZoneError::AttackerDead);
        }
        let t = self.entities.get(target).ok_or(ZoneError::TargetNotFound)?;
        if target == me || t.is_player() {
            return Err(ZoneError::InvalidTarget);
        }
        if t.dead {
            return Err(ZoneError::TargetDead);
        }
        let (distance, range) = (a.pos.distance(t.pos), self.config.attack_range);
        if distance > range {
            return Err(ZoneError::OutOfRange { distance, range });
        }
        if self.now < a.attack_ready_at {
            let retry_after = Duration::from_secs_f64(a.attack_ready_at - self.now);
            return Err(ZoneError::OnCooldown { retry_after });
        }
        let cooldown = self.config.attack_cooldown.as_secs_f64();
        let (damage, target_hp, reward) = self.hit(me, target, cooldown);
        let level = self.entities.get(me).map_or(0, |e| e.level);
        Ok(AttackOutcome {
            target,
            damage,
            target_hp,
            killed: reward.is_some(),
            xp_gained: reward.as_ref().map_or(0, |r| r.xp),
            level,
            loot: reward.map(|r| r.loot).unwrap_or_default(),
        })
    }

    /// `attacker` hits `target` (both checked by the caller): damage, and death if it runs out
    /// of hit points. Returns the damage, the hit points left and, on a kill, the reward.
    fn hit(&mut self, attacker: EntityId, target: EntityId, cooldown: f64) -> (u32, u32, Option<Reward>) {
        let now = self.now;
        let Some((a, t)) = self.entities.pair_mut(attacker, target) else { return (0, 0, None) };
        a.attack_ready_at = now + cooldown;
        let damage = a.damage.min(t.hp);
        t.hp -= damage;
        if let Role::Npc(n) = &mut t.role
            && n.aggro.is_none()
        {
            n.aggro = Some(attacker);
        }
        t.notify.stats = t.is_player();
        let (hp, dirty) = (t.hp, t.mark_dirty());
        if dirty {
            self.dirty.push(target);
        }
        self.events.push(PendingEvent {
            subject: target,
            event: Event::Damage(Damage {
                source_id: attacker.0,
                target_id: target.0,
                amount: damage,
                target_hp: hp,
            }),
        });
        let reward = (hp == 0).then(|| self.die(target, Some(attacker)));
        (damage, hp, reward)
    }

    /// `target` dies; a player killer gets experience and loot for an NPC.
    fn die(&mut self, target: EntityId, killer: Option<EntityId>) -> Reward {
        let now = self.now;
        let player_respawn = self.config.player_respawn.as_secs_f64();
        let Some(t) = self.entities.get_mut(target) else { return Reward::default() };
        t.dead = true;
        t.hp = 0;
        t.motion = Motion::Idle;
        let npc_kind = match &mut t.role {
            Role::Npc(n) => {
                n.aggro = None;
                n.walking = false;
                let kind = n.kind as usize;
                t.respawn_at = now + self.npc_types.get(kind).map_or(10.0, |k| k.def.respawn.as_secs_f64());
                Some(kind)
            }
            Role::Player(p) => {
                let player = p.id;
                t.notify.stats = true;
                t.respawn_at = now + player_respawn;
                self.world_events.push(WorldEvent::PlayerDied { player, killer });
                None
            }
        };
        self.events.push(PendingEvent {
            subject: target,
            event: Event::Death(Death { entity_id: target.0, killer_id: killer.map_or(0, |k| k.0) }),
        });
        let (Some(kind), Some(killer)) = (npc_kind, killer) else { return Reward::default() };
        let Some(player) = self.entities.get(killer).and_then(|e| e.player()).map(|p| p.id) else {
            return Reward::default();
        };
        let npc_type = self.npc_types[kind].name.clone();
        self.world_events.push(WorldEvent::NpcKilled { player, npc_type: npc_type.clone() });
        let xp = self.npc_types[kind].def.xp;
        self.grant_xp(killer, xp);
        let mut loot = Vec::new();
        for i in 0..self.npc_types[kind].def.loot.len() {
            let l = &self.npc_types[kind].def.loot[i];
            let (item, count, chance) = (l.item, l.count, l.chance);
            if !self.loot_paused
                && self.rng.chance(chance)
                && let Some(stack) = self.give_item(killer, item, count)
            {
                loot.push(stack);
            }
        }
        if !loot.is_empty() {
            self.world_events.push(WorldEvent::Looted { player, npc: target, npc_type, items: loot.clone() });
        }
        Reward { xp, loot }
    }

    /// Adds experience to a player, levelling up (full health) at each threshold.
    pub(crate) fn grant_xp(&mut self, id: EntityId, xp: u64) {
        let config = &self.config;
        let Some(e) = self.entities.get_mut(id) else { return };
        e.notify.stats = true;
        let Role::Player(p) = &mut e.role else { return };
        p.xp = p.xp.saturating_add(xp);
        let mut levels = Vec::new();
        loop {
            let need = config.xp_to_next(e.level);
            if need == 0 {
                p.xp = 0;
                break;
            }
            if p.xp < need {
                break;
            }
            p.xp -= need;
            e.level += 1;
            e.max_hp = config.player_max_hp(e.level);
            e.hp = e.max_hp;
            e.damage = config.player_damage(e.level);
            levels.push(e.level);
        }
        let (player, max_hp) = (p.id, e.max_hp);
        if e.mark_dirty() {
            self.dirty.push(id);
        }
        for level in levels {
            self.world_events.push(WorldEvent::LevelUp { player, level });
            self.events.push(PendingEvent {
                subject: id,
                event: Event::LevelUp(LevelUp { entity_id: id.0, level, max_hp }),
            });
        }
    }

    /// Puts loot into a player's view of its inventory: onto its stack, or a free slot (fewer
    /// than `inventory_slots` distinct items held). Returns what was added (`None` when full).
    /// Not pushed: the client is told the inventory the grant answers ([`World::set_inventory`]),
    /// never one the world computed.
    pub(crate) fn give_item(&mut self, id: EntityId, item: u32, count: u32) -> Option<ItemStack> {
        let slots = self.config.inventory_slots;
        let e = self.entities.get_mut(id)?;
        let p = e.player_mut()?;
        if let Some(s) = p.inventory.iter_mut().find(|s| s.item == item) {
            s.count = s.count.saturating_add(count);
        } else if p.inventory.len() < slots {
            p.inventory.push(ItemStack { item, count });
        } else {
            return None;
        }
        Some(ItemStack { item, count })
    }

    /// Sets a player's view of its inventory (what a grant answered, plus the loot still being
    /// granted) and pushes it with the next tick. Stacks of count 0 are left out.
    pub fn set_inventory(&mut self, player: PlayerId, mut items: Vec<ItemStack>) {
        let Some(&id) = self.players.get(&player) else { return };
        let Some(e) = self.entities.get_mut(id) else { return };
        let Some(p) = e.player_mut() else { return };
        items.retain(|s| s.count > 0);
        p.inventory = items;
        e.notify.inventory = true;
    }

    /// While paused, kills drop no loot (the wiring's queue of grants is full: loot that could
    /// not be granted is never promised).
    pub fn set_loot_paused(&mut self, paused: bool) {
        self.loot_paused = paused;
    }

    pub fn loot_paused(&self) -> bool {
        self.loot_paused
    }

    /// Respawns and NPC behaviour (the third phase of a tick).
    pub(crate) fn run_ai(&mut self) {
        let now = self.now;
        for i in 0..self.entities.slot_count() {
            let Some(e) = self.entities.at(i) else { continue };
            let id = e.id;
            if e.dead {
                if now >= e.respawn_at {
                    self.respawn(id);
                }
                continue;
            }
            let Role::Npc(n) = &e.role else { continue };
            let (pos, home, aggro) = (e.pos, n.home, n.aggro);
            if let Some(target) = aggro {
                let victim = self.entities.get(target).filter(|t| !t.dead).map(|t| t.pos);
                let kind = n.kind as usize;
                let (range, cooldown) = self
                    .npc_types
                    .get(kind)
                    .map_or((3.0, 1.5), |k| (k.def.attack_range, k.def.attack_cooldown.as_secs_f64()));
                let ready = now >= e.attack_ready_at;
                match victim {
                    Some(at) if home.distance(pos) <= self.config.npc_leash => {
                        if pos.distance(at) <= range {
                            if let Some(e) = self.entities.get_mut(id) {
                                e.motion = Motion::Idle;
                            }
                            if ready {
                                self.hit(id, target, cooldown);
                            }
                        } else if let Some(e) = self.entities.get_mut(id) {
                            e.motion = Motion::Goto { target: at, speed: 1.0 };
                        }
                    }
                    _ => {
                        // The victim is gone, dead or too far from home: walk back.
                        if let Some(e) = self.entities.get_mut(id) {
                            e.motion = Motion::Goto { target: home, speed: 1.0 };
                            if let Role::Npc(n) = &mut e.role {
                                n.aggro = None;
                                n.walking = true;
                            }
                        }
                    }
                }
                continue;
            }
            self.wander(id);
        }
    }

    /// Rest, then walk to a random point near home, and again.
    fn wander(&mut self, id: EntityId) {
        let (now, w, h) = (self.now, self.map.width, self.map.height);
        let Some(e) = self.entities.get_mut(id) else { return };
        let idle = e.motion == Motion::Idle;
        let Role::Npc(n) = &mut e.role else { return };
        if n.walking {
            if idle {
                n.walking = false;
                n.rest_until = now + f64::from(self.rng.range(NPC_REST.0, NPC_REST.1));
            }
        } else if now >= n.rest_until {
            let target = self.rng.in_disc(n.wander_center, n.wander_radius).clamp_to(w, h);
            n.walking = true;
            e.motion = Motion::Goto { target, speed: NPC_WANDER_SPEED };
        }
    }

    /// Back to life at full health: NPCs at home, players at the map's spawn point.
    fn respawn(&mut self, id: EntityId) {
        let spawn = self.spawn_point();
        let burst = self.config.claim_burst.as_secs_f32();
        let Some(e) = self.entities.get_mut(id) else { return };
        e.dead = false;
        e.hp = e.max_hp;
        e.motion = Motion::Idle;
        e.moved = false;
        e.teleported = true;
        e.notify.stats = e.is_player();
        e.pos = match &mut e.role {
            Role::Npc(n) => {
                n.walking = false;
                n.rest_until = self.now;
                n.home
            }
            Role::Player(p) => {
                p.anchor = spawn;
                p.budget = e.max_speed * burst;
                spawn
            }
        };
        let (pos, hp) = (e.pos, e.hp);
        if e.mark_dirty() {
            self.dirty.push(id);
        }
        self.events.push(PendingEvent {
            subject: id,
            event: Event::Respawn(Respawn { entity_id: id.0, x: pos.x, y: pos.y, hp }),
        });
    }
}
