//! Helpers shared by the zone tests: small maps, worlds, and decoding of the frames.

#![allow(dead_code)]

pub mod cluster;

use std::collections::BTreeMap;
use std::time::Duration;

use mmo_proto::{ZonePositionsNtf, ZoneTickNtf};
use mmo_zone::map::{Loot, NpcSpawn, NpcType};
use mmo_zone::{MapDef, PlayerId, PlayerSave, TickOutput, Vec2, World, ZoneConfig};
use prost::Message;

pub const DT: Duration = Duration::from_millis(50);

/// An empty square map of side `side`, spawn in the middle.
pub fn open_map(side: f32) -> MapDef {
    MapDef {
        name: "test".into(),
        width: side,
        height: side,
        spawn: Vec2::new(side / 2.0, side / 2.0),
        spawn_radius: 0.0,
        npc_types: BTreeMap::new(),
        npcs: Vec::new(),
        portals: Vec::new(),
    }
}

/// A dummy NPC type: `hp` hit points, gives 50 xp, always drops item 7.
pub fn dummy(hp: u32) -> NpcType {
    NpcType {
        level: 1,
        hp,
        damage: 5,
        speed: 0.0,
        xp: 50,
        respawn: Duration::from_secs(3),
        attack_range: 3.0,
        attack_cooldown: Duration::from_millis(1500),
        loot: vec![Loot { item: 7, chance: 1.0, count: 2 }],
    }
}

/// A map with one NPC of type `dummy` (that does not move) at `at`.
pub fn map_with_dummy(hp: u32, at: Vec2) -> MapDef {
    let mut map = open_map(200.0);
    map.npc_types.insert("dummy".into(), dummy(hp));
    map.npcs.push(NpcSpawn { npc_type: "dummy".into(), at, count: 1, radius: 0.0 });
    map
}

pub fn world(map: MapDef) -> World {
    World::new(map, ZoneConfig::default(), 1, 7).unwrap()
}

pub fn world_with(map: MapDef, config: ZoneConfig) -> World {
    World::new(map, config, 1, 7).unwrap()
}

/// Spawns player `n` at `at`.
pub fn join(world: &mut World, n: u64, at: Vec2) -> mmo_zone::EntityId {
    let mut save = PlayerSave::new(PlayerId(n));
    save.position = Some(at);
    world.spawn_player(save).unwrap().entity
}

/// The decoded frames of one player in a tick's output.
pub fn frames_of(out: &TickOutput, player: u64) -> (Option<ZoneTickNtf>, Option<ZonePositionsNtf>) {
    match out.frames.iter().find(|f| f.player == PlayerId(player)) {
        None => (None, None),
        Some(f) => (
            f.reliable.as_ref().map(|b| ZoneTickNtf::decode(b.clone()).unwrap()),
            f.droppable.as_ref().map(|b| ZonePositionsNtf::decode(b.clone()).unwrap()),
        ),
    }
}
