//! The rules of a zone instance: view distance, speeds, the movement check, combat and
//! progression. Every field has a default (below, on each field); unknown keys are errors, so
//! a `[zone]` section of the config file can be parsed straight into it.

use std::time::Duration;

use serde::Deserialize;

/// Settings of a zone instance.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneConfig {
    /// Ticks per second; told to clients (`ZoneEnterNtf.tick_rate`). The caller drives
    /// [`World::tick`](crate::World::tick) at this rate. Default 20.
    pub tick_rate: u32,
    /// An entity nearer than this to a player comes into its view. Default 50 map units.
    pub view_radius: f32,
    /// An entity in view leaves it only beyond `view_radius + view_hysteresis`, so one walking
    /// along the edge does not flicker in and out. Default 5.
    pub view_hysteresis: f32,
    /// Grid cells per view distance (`view_radius + view_hysteresis`): the cell's side is that
    /// distance divided by this. 2 means a player's query covers 4-5 cells per axis, which scans
    /// about 2/3 of the entities a 3x3 query of view-sized cells would. Default 2.
    pub cells_per_view: u32,
    /// Most entities one player has in view; beyond that the nearest are kept (those already
    /// in view first). Bounds every repeated field of ZoneTickNtf and ZonePositionsNtf.
    /// Default 256.
    pub max_visible: usize,
    /// Most combat events in one player's ZoneTickNtf; the rest of that tick's are dropped.
    /// Default 512.
    pub max_events_per_frame: usize,
    /// Players' maximum speed, map units per second. Default 6.
    pub player_speed: f32,
    /// A player from whom no MoveReq came for this long stops. Default 1s.
    #[serde(with = "humantime_serde")]
    pub input_timeout: Duration,
    /// MoveReqs queued per player between two ticks; when more come, the oldest are dropped.
    /// Default 16.
    pub max_queued_inputs: usize,
    /// Claimed positions: the budget grows by `max speed x elapsed x (1 + claim_tolerance)`.
    /// Default 0.1.
    pub claim_tolerance: f32,
    /// Claimed positions: the budget holds at most this much time's worth of movement at
    /// maximum speed, which is what lets late inputs arrive in a bunch. Must exceed the input
    /// jitter to tolerate plus one input interval. Default 500ms.
    #[serde(with = "humantime_serde")]
    pub claim_burst: Duration,
    /// Players' attack reach, map units (centre to centre). Default 4.
    pub attack_range: f32,
    /// Time between two attacks of a player. Default 1s.
    #[serde(with = "humantime_serde")]
    pub attack_cooldown: Duration,
    /// A dead player comes back at the map's spawn point after this long. Default 5s.
    #[serde(with = "humantime_serde")]
    pub player_respawn: Duration,
    /// Player hit points at level 1, and what each further level adds. Default 100 and 20.
    pub player_hp_base: u32,
    pub player_hp_per_level: u32,
    /// Player damage per hit at level 1, and what each further level adds. Default 10 and 2.
    pub player_damage_base: u32,
    pub player_damage_per_level: u32,
    /// Experience from level `n` to `n + 1` is `xp_per_level x n`. Default 100.
    pub xp_per_level: u64,
    /// Default 60.
    pub max_level: u32,
    /// Distinct items loot may fill: a kill's item the player holds none of drops only while its
    /// inventory (as the instance sees it: the last grant answer, plus loot rolled since) holds
    /// fewer; else it is lost. Purchases and grants are not limited by it. Default 32.
    pub inventory_slots: usize,
    /// An NPC that was attacked gives up its attacker beyond this distance from home and walks
    /// back. Default 40.
    pub npc_leash: f32,
}

impl Default for ZoneConfig {
    fn default() -> ZoneConfig {
        ZoneConfig {
            tick_rate: 20,
            view_radius: 50.0,
            view_hysteresis: 5.0,
            cells_per_view: 2,
            max_visible: 256,
            max_events_per_frame: 512,
            player_speed: 6.0,
            input_timeout: Duration::from_secs(1),
            max_queued_inputs: 16,
            claim_tolerance: 0.1,
            claim_burst: Duration::from_millis(500),
            attack_range: 4.0,
            attack_cooldown: Duration::from_secs(1),
            player_respawn: Duration::from_secs(5),
            player_hp_base: 100,
            player_hp_per_level: 20,
            player_damage_base: 10,
            player_damage_per_level: 2,
            xp_per_level: 100,
            max_level: 60,
            inventory_slots: 32,
            npc_leash: 40.0,
        }
    }
}

impl ZoneConfig {
    /// Checks what would make the simulation meaningless (non-finite or non-positive sizes).
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("view_radius", self.view_radius),
            ("player_speed", self.player_speed),
            ("attack_range", self.attack_range),
            ("npc_leash", self.npc_leash),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be a positive number, not {v}"));
            }
        }
        if !(self.view_hysteresis.is_finite() && self.view_hysteresis >= 0.0) {
            return Err(format!("view_hysteresis must be >= 0, not {}", self.view_hysteresis));
        }
        if !(self.claim_tolerance.is_finite() && self.claim_tolerance >= 0.0) {
            return Err(format!("claim_tolerance must be >= 0, not {}", self.claim_tolerance));
        }
        if self.tick_rate == 0 || self.cells_per_view == 0 || self.cells_per_view > 8 {
            return Err("tick_rate must be > 0 and cells_per_view in 1..=8".into());
        }
        if self.max_visible == 0 || self.max_level == 0 || self.xp_per_level == 0 {
            return Err("max_visible, max_level and xp_per_level must be > 0".into());
        }
        Ok(())
    }

    /// Experience needed from `level` to the next (0 at the maximum level).
    pub fn xp_to_next(&self, level: u32) -> u64 {
        if level >= self.max_level { 0 } else { self.xp_per_level.saturating_mul(u64::from(level)) }
    }

    pub fn player_max_hp(&self, level: u32) -> u32 {
        self.player_hp_base.saturating_add(self.player_hp_per_level.saturating_mul(level.saturating_sub(1)))
    }

    pub fn player_damage(&self, level: u32) -> u32 {
        self.player_damage_base
            .saturating_add(self.player_damage_per_level.saturating_mul(level.saturating_sub(1)))
    }
}
