//! Maps: what a zone instance simulates, read from a TOML file (`servers/zone/maps/*.toml`).
//!
//! ```toml
//! name = "start"                       # unique; portals name their destination by it
//! width = 1000.0                       # map units; x in [0, width], y in [0, height]
//! height = 1000.0
//! spawn = { x = 500.0, y = 500.0 }     # where new and respawning players appear:
//! spawn_radius = 0.0                   # at a random point this near it (default 0)
//!
//! [npc_types.rabbit]                   # NPC kinds, referred to by spawns
//! level = 1
//! hp = 20
//! damage = 2                           # per hit, when it fights back
//! speed = 3.0                          # map units per second (wandering at half of it)
//! xp = 10                              # to the killer
//! respawn = "10s"
//! loot = [{ item = 1, chance = 0.5, count = 1 }]   # each entry rolled on a kill
//!
//! [[npc]]                              # a spawn: `count` NPCs around `at`
//! type = "rabbit"
//! at = { x = 400.0, y = 450.0 }
//! count = 20
//! radius = 60.0                        # they start and wander within this of `at`
//!
//! [[portal]]                           # standing within `radius` of `at` asks for a hand-off
//! at = { x = 995.0, y = 500.0 }
//! radius = 5.0
//! to_map = "forest"
//! to = { x = 10.0, y = 300.0 }
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::Vec2;

/// Largest side of a map, in map units: keeps the interest grid's cell table small
/// (a 16384-unit square with 27.5-unit cells has 355k cells).
pub const MAX_MAP_SIDE: f32 = 16_384.0;
/// Most NPCs a map may spawn.
pub const MAX_NPCS: u32 = 200_000;

/// A map file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MapDef {
    pub name: String,
    pub width: f32,
    pub height: f32,
    pub spawn: Vec2,
    /// New and respawning players appear at a random point within this distance of `spawn`
    /// (clamped into the map). Default 0.
    #[serde(default)]
    pub spawn_radius: f32,
    #[serde(default)]
    pub npc_types: BTreeMap<String, NpcType>,
    #[serde(default, rename = "npc")]
    pub npcs: Vec<NpcSpawn>,
    #[serde(default, rename = "portal")]
    pub portals: Vec<Portal>,
}

/// A kind of NPC.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NpcType {
    #[serde(default = "one")]
    pub level: u32,
    pub hp: u32,
    #[serde(default)]
    pub damage: u32,
    pub speed: f32,
    #[serde(default)]
    pub xp: u64,
    #[serde(with = "humantime_serde")]
    pub respawn: Duration,
    /// Reach of its attacks when it fights back. Default 3.
    #[serde(default = "npc_attack_range")]
    pub attack_range: f32,
    /// Default 1.5s.
    #[serde(default = "npc_attack_cooldown", with = "humantime_serde")]
    pub attack_cooldown: Duration,
    #[serde(default)]
    pub loot: Vec<Loot>,
}

/// One possible drop: with probability `chance`, `count` of `item`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Loot {
    pub item: u32,
    pub chance: f32,
    #[serde(default = "one")]
    pub count: u32,
}

/// `count` NPCs of `npc_type` placed at random within `radius` of `at`; they wander there.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NpcSpawn {
    #[serde(rename = "type")]
    pub npc_type: String,
    pub at: Vec2,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub radius: f32,
}

/// An area that sends players to another map.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Portal {
    pub at: Vec2,
    pub radius: f32,
    pub to_map: String,
    pub to: Vec2,
}

fn one() -> u32 {
    1
}
fn npc_attack_range() -> f32 {
    3.0
}
fn npc_attack_cooldown() -> Duration {
    Duration::from_millis(1500)
}

/// A map file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("reading map {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("parsing map: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("map {map}: {problem}")]
    Invalid { map: String, problem: String },
}

/// The maps shipped in `servers/zone/maps/`, compiled in: `(file name, text)`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("start.toml", include_str!("../maps/start.toml")),
    ("forest.toml", include_str!("../maps/forest.toml")),
    ("arena.toml", include_str!("../maps/arena.toml")),
];

/// The shipped maps, parsed and checked.
pub fn builtin() -> Result<Vec<MapDef>, MapError> {
    BUILTIN.iter().map(|(_, text)| MapDef::parse(text)).collect()
}

impl MapDef {
    /// Parses and checks a map file's text.
    pub fn parse(text: &str) -> Result<MapDef, MapError> {
        let map: MapDef = toml::from_str(text)?;
        map.validate()?;
        Ok(map)
    }

    /// Reads, parses and checks a map file.
    pub fn load(path: &Path) -> Result<MapDef, MapError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| MapError::Io { path: path.display().to_string(), source })?;
        MapDef::parse(&text)
    }

    /// Checks sizes, positions, references and probabilities.
    pub fn validate(&self) -> Result<(), MapError> {
        let bad = |problem: String| MapError::Invalid { map: self.name.clone(), problem };
        // Names become Redis keys and instance names ("<map>.<n>"): a plain alphabet.
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 48
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(bad("the name must be 1-48 letters, digits, '_' or '-'".into()));
        }
        for (what, v) in [("width", self.width), ("height", self.height)] {
            if !(v.is_finite() && v > 0.0 && v <= MAX_MAP_SIDE) {
                return Err(bad(format!("{what} must be in (0, {MAX_MAP_SIDE}], not {v}")));
            }
        }
        let inside = |p: Vec2| {
            p.is_finite() && (0.0..=self.width).contains(&p.x) && (0.0..=self.height).contains(&p.y)
        };
        if !inside(self.spawn) {
            return Err(bad("the spawn point is outside the map".into()));
        }
        if !(self.spawn_radius.is_finite() && self.spawn_radius >= 0.0) {
            return Err(bad("spawn_radius must be >= 0".into()));
        }
        for (name, t) in &self.npc_types {
            if t.hp == 0 {
                return Err(bad(format!("NPC type {name}: hp must be > 0")));
            }
            for (what, v) in [("speed", t.speed), ("attack_range", t.attack_range)] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(bad(format!("NPC type {name}: {what} must be >= 0")));
                }
            }
            if t.loot.iter().any(|l| !(0.0..=1.0).contains(&l.chance) || l.count == 0) {
                return Err(bad(format!("NPC type {name}: loot chances are in [0, 1], counts > 0")));
            }
        }
        let mut total: u32 = 0;
        for s in &self.npcs {
            if !self.npc_types.contains_key(&s.npc_type) {
                return Err(bad(format!("a spawn names the unknown NPC type {}", s.npc_type)));
            }
            if !(inside(s.at) && s.radius.is_finite() && s.radius >= 0.0) {
                return Err(bad(format!("a {} spawn is outside the map or has a bad radius", s.npc_type)));
            }
            total = total.saturating_add(s.count);
        }
        if total > MAX_NPCS {
            return Err(bad(format!("{total} NPCs, more than {MAX_NPCS}")));
        }
        for p in &self.portals {
            if !(inside(p.at) && p.radius.is_finite() && p.radius > 0.0 && p.to.is_finite()) {
                return Err(bad(format!(
                    "the portal to {} is outside the map or has a bad radius",
                    p.to_map
                )));
            }
        }
        Ok(())
    }
}
