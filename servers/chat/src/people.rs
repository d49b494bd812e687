//! What chat needs to know about players and gateways, cached briefly in this process: display
//! names (both ways), who has blocked whom (from the account server's `friends` table), and
//! which gateway nodes are alive. Caches are bounded and never locked across an `.await`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::{Bus, BusError, node};
use mmo_core::cache::TtlCache;
use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};

/// Entries a cache holds before it is cleared.
const CACHE_MAX: usize = 10_000;
const NAME_TTL: Duration = Duration::from_secs(60);
const NODES_TTL: Duration = Duration::from_secs(1);

/// Names, blocks and live gateways.
#[derive(Debug)]
pub struct People {
    names: TtlCache<u64, String>,
    blockers: TtlCache<u64, Arc<HashSet<u64>>>,
    nodes: TtlCache<(), Arc<HashSet<String>>>,
}

impl People {
    pub fn new(block_cache: Duration) -> People {
        People {
            names: TtlCache::new(NAME_TTL, CACHE_MAX),
            blockers: TtlCache::new(block_cache, CACHE_MAX),
            nodes: TtlCache::new(NODES_TTL, CACHE_MAX),
        }
    }

    /// A player's display name ("" for an unknown player).
    pub async fn name(&self, store: &Store, player: u64) -> Result<String, StoreError> {
        if let Some(n) = self.names.get(&player) {
            return Ok(n);
        }
        let name: Option<String> =
            store.exec_first("SELECT display_name FROM profiles WHERE player_id = ?", (player,)).await?;
        let name = name.unwrap_or_default();
        self.names.put(player, name.clone());
        Ok(name)
    }

    /// The player with this display name (ignoring case; the oldest account if several share it).
    pub async fn by_name(&self, store: &Store, name: &str) -> Result<Option<u64>, StoreError> {
        store
            .exec_first(
                "SELECT player_id FROM profiles WHERE display_name = ? ORDER BY player_id LIMIT 1",
                (name,),
            )
            .await
    }

    /// Whether a player exists.
    pub async fn exists(&self, store: &Store, player: u64) -> Result<bool, StoreError> {
        Ok(!self.name(store, player).await?.is_empty())
    }

    /// The players who have blocked `sender`: none of them may receive what it sends.
    pub async fn blockers(&self, store: &Store, sender: u64) -> Result<Arc<HashSet<u64>>, StoreError> {
        if let Some(b) = self.blockers.get(&sender) {
            return Ok(b);
        }
        let pairs = mmo_account::friends::blocks(store, &[PlayerId(sender)]).await?;
        let set: Arc<HashSet<u64>> = Arc::new(
            pairs.into_iter().filter(|(_, blocked)| blocked.0 == sender).map(|(by, _)| by.0).collect(),
        );
        self.blockers.put(sender, set.clone());
        Ok(set)
    }

    /// The nodes alive now (cached for a second).
    pub async fn live_nodes(&self, bus: &Bus) -> Result<Arc<HashSet<String>>, BusError> {
        if let Some(n) = self.nodes.get(&()) {
            return Ok(n);
        }
        let live: Arc<HashSet<String>> = Arc::new(node::live_nodes(bus).await?.into_iter().collect());
        self.nodes.put((), live.clone());
        Ok(live)
    }
}
