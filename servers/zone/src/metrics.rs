//! The zone's metric names, in one place. Label `instance` is the instance's name for
//! persistent maps and the map's name for match instances (they come and go; their number is
//! not a label).

/// Seconds a whole tick took (movement, NPCs, interest, encoding).
pub const TICK_SECONDS: &str = "mmo_zone_tick_seconds";
/// Seconds the interest part of a tick took (grid and views).
pub const TICK_AOI_SECONDS: &str = "mmo_zone_tick_aoi_seconds";
/// Ticks that took longer than the tick period (the next one started late).
pub const TICK_OVERRUNS: &str = "mmo_zone_tick_overruns_total";
pub const ENTITIES: &str = "mmo_zone_entities";
pub const PLAYERS: &str = "mmo_zone_players";
/// (player, entity in view) pairs after the last tick.
pub const AOI_PAIRS: &str = "mmo_zone_aoi_pairs";
/// Label `delivery` (`reliable`, `droppable`): bytes of tick frames sent to players.
pub const SENT_BYTES: &str = "mmo_zone_sent_bytes_total";
/// Bytes of frames one tick produced for all its players (reliable and droppable).
pub const TICK_BYTES: &str = "mmo_zone_frame_bytes_per_tick";
/// Entity updates sent to players: positions, enters and leaves, one per receiver.
pub const UPDATES: &str = "mmo_zone_updates_total";
/// MoveReqs that broke the movement rules (clamped; the client got a correction).
pub const VIOLATIONS: &str = "mmo_zone_violations_total";
/// Label `reason` (`login`, `portal`, `match`, `return`, `recovered`): players placed.
pub const ENTERS: &str = "mmo_zone_enters_total";
/// Label `result` (`ok`, `target_down`, `failed`): hand-offs to another instance.
pub const HANDOFFS: &str = "mmo_zone_handoffs_total";
/// Instances this node runs.
pub const INSTANCES: &str = "mmo_zone_instances";
/// Progress saves refused because the write-behind was full (the player is saved later).
pub const SAVES_DEFERRED: &str = "mmo_zone_saves_deferred_total";
/// Loot grants applied in the shop's ledger (answered; a retry the ledger had applied counts).
pub const LOOT_GRANTED: &str = "mmo_zone_loot_granted_total";
/// Loot grants that failed and wait for a retry.
pub const LOOT_RETRIES: &str = "mmo_zone_loot_retries_total";
/// Loot grants the shop refused (dropped, logged).
pub const LOOT_DROPPED: &str = "mmo_zone_loot_dropped_total";
/// Inventory operations (loot grants, reads) an instance has queued or in flight.
pub const LOOT_QUEUED: &str = "mmo_zone_loot_queued";

/// Bucket bounds for the tick histograms: fine around the 50 ms period of a 20 Hz tick.
pub const TICK_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.010, 0.012, 0.015, 0.020, 0.025, 0.030,
    0.040, 0.050, 0.075, 0.100, 0.250,
];

/// Bucket bounds for [`TICK_BYTES`]: 1 KiB to 16 MiB.
pub const BYTE_BUCKETS: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    2_097_152.0,
    4_194_304.0,
    8_388_608.0,
    16_777_216.0,
];

/// Histogram buckets the zone's metrics need, by metric name prefix, for
/// [`mmo_core::metrics::install_prometheus`].
pub const BUCKETS: &[(&str, &[f64])] =
    &[("mmo_zone_tick", TICK_BUCKETS), ("mmo_zone_frame_bytes", BYTE_BUCKETS)];
