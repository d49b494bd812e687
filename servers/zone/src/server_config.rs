//! The `[zone]` section: which maps a zone node hosts, how it runs its instances, how often it
//! saves, and (in `[zone.world]`) the rules of the simulation. Every field has a default, shown
//! on it; unknown keys are errors.

use std::time::Duration;

use serde::Deserialize;

use crate::ZoneConfig;

/// Settings of a zone node.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneServerConfig {
    /// The persistent maps this node hosts. Each is one instance, held by one node at a time
    /// through a lease in Redis: two nodes listing the same map are a hot standby (the second
    /// takes the map over when the first stops renewing its lease). Default ["start", "forest"].
    pub maps: Vec<String>,
    /// The map new players enter (and players whose map is gone). Default "start".
    pub start_map: String,
    /// A folder of extra map files (`*.toml`), loaded besides the built-in ones; "" for none.
    /// Default "".
    pub maps_dir: String,
    /// Threads that run the instances' ticks (each instance stays on one). Ticks are CPU work
    /// with no waiting, so they run apart from the runtime that serves the network. Default 1.
    pub worker_threads: usize,
    /// How often each instance hands the players that changed to the write-behind, which writes
    /// them to MySQL in batches: with `[write_behind] interval`, the most progress a crashed node
    /// loses. Players are also saved at once when they leave or are handed off. Default 2s.
    #[serde(with = "humantime_serde")]
    pub save_interval: Duration,
    /// An instance's lease in Redis lasts this long and is renewed every third of it; a node
    /// that stops renewing (it died) loses its instances to another node after it. Default 10s.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// After handing a player off, messages still arriving from its session are dropped this
    /// long (the gateway learns the new route meanwhile); also the most a hand-off waits for the
    /// receiving instance. Default 5s.
    #[serde(with = "humantime_serde")]
    pub handoff_timeout: Duration,
    /// How often an instance checks that the gateways of its players are alive, removing (and
    /// saving) the players of a gateway that died. Default 2s.
    #[serde(with = "humantime_serde")]
    pub gateway_check_interval: Duration,
    /// Stream entries waiting for an instance's task; when full, reading its stream pauses.
    /// Default 1024.
    pub inbox_capacity: usize,
    /// Match instances one node runs at once; more are left to other nodes. Default 64.
    pub max_match_instances: usize,
    /// A match instance that no player entered within this time closes. Default 60s.
    #[serde(with = "humantime_serde")]
    pub match_start_timeout: Duration,
    /// A match instance whose players all left closes after this long. Default 10s.
    #[serde(with = "humantime_serde")]
    pub match_linger: Duration,
    /// Loot grants one instance keeps waiting for MySQL (each kill's loot is a grant in the
    /// shop's ledger, retried with backoff until it is applied). While it is full, kills drop no
    /// loot, so no loot is promised that could not be kept. Default 4096.
    pub loot_queue: usize,
    /// The first pause before a failed loot grant is tried again (doubling, jittered, up to
    /// `loot_retry_max`). Default 200ms.
    #[serde(with = "humantime_serde")]
    pub loot_retry: Duration,
    /// The longest pause between tries of a failed loot grant. Default 30s.
    #[serde(with = "humantime_serde")]
    pub loot_retry_max: Duration,
    /// Most item stacks of a player the zone reads from the shop's inventory, holds and pushes
    /// (the lowest item ids first). Default 1024.
    pub inventory_read_limit: u32,
    /// The simulation's rules.
    pub world: ZoneConfig,
}

impl Default for ZoneServerConfig {
    fn default() -> Self {
        ZoneServerConfig {
            maps: vec!["start".into(), "forest".into()],
            start_map: "start".into(),
            maps_dir: String::new(),
            worker_threads: 1,
            save_interval: Duration::from_secs(2),
            lease_ttl: Duration::from_secs(10),
            handoff_timeout: Duration::from_secs(5),
            gateway_check_interval: Duration::from_secs(2),
            inbox_capacity: 1024,
            max_match_instances: 64,
            match_start_timeout: Duration::from_secs(60),
            match_linger: Duration::from_secs(10),
            loot_queue: 4096,
            loot_retry: Duration::from_millis(200),
            loot_retry_max: Duration::from_secs(30),
            inventory_read_limit: 1024,
            world: ZoneConfig::default(),
        }
    }
}

impl ZoneServerConfig {
    /// Checks what serde cannot (the maps themselves are checked when they are loaded).
    pub fn validate(&self) -> Result<(), String> {
        self.world.validate()?;
        if self.start_map.is_empty() {
            return Err("zone.start_map must name a map".into());
        }
        if self.worker_threads == 0 || self.inbox_capacity == 0 {
            return Err("zone.worker_threads and zone.inbox_capacity must be > 0".into());
        }
        if self.loot_queue == 0 || self.inventory_read_limit == 0 {
            return Err("zone.loot_queue and zone.inventory_read_limit must be > 0".into());
        }
        for (name, d) in [
            ("save_interval", self.save_interval),
            ("lease_ttl", self.lease_ttl),
            ("handoff_timeout", self.handoff_timeout),
            ("gateway_check_interval", self.gateway_check_interval),
            ("loot_retry", self.loot_retry),
            ("loot_retry_max", self.loot_retry_max),
        ] {
            if d.is_zero() {
                return Err(format!("zone.{name} must be > 0"));
            }
        }
        if self.lease_ttl < Duration::from_millis(300) {
            return Err("zone.lease_ttl must be at least 300ms".into());
        }
        Ok(())
    }
}
