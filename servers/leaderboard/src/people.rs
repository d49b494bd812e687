//! What the leaderboard needs to know about players, cached briefly in this process: display
//! names and friend lists (from the account server's tables). Caches are bounded and never
//! locked across an `.await`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mmo_core::cache::TtlCache;
use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};
use mmo_proto::FriendState;

/// Entries a cache holds before it is cleared.
const CACHE_MAX: usize = 10_000;
const NAME_TTL: Duration = Duration::from_secs(60);

/// Names and friends.
#[derive(Debug)]
pub struct People {
    names: TtlCache<u64, String>,
    friends: TtlCache<u64, Arc<Vec<u64>>>,
}

impl People {
    pub fn new(friends_ttl: Duration) -> People {
        People { names: TtlCache::new(NAME_TTL, CACHE_MAX), friends: TtlCache::new(friends_ttl, CACHE_MAX) }
    }

    /// The display names of `players` ("" for unknown ones), one MySQL read for the uncached.
    pub async fn names(&self, store: &Store, players: &[u64]) -> Result<HashMap<u64, String>, StoreError> {
        let mut out = HashMap::with_capacity(players.len());
        let mut missed = Vec::new();
        for p in players {
            match self.names.get(p) {
                Some(n) => {
                    out.insert(*p, n);
                }
                None => missed.push(*p),
            }
        }
        if !missed.is_empty() {
            let marks = vec!["?"; missed.len()].join(",");
            let rows: Vec<(u64, String)> = store
                .exec(
                    &format!("SELECT player_id, display_name FROM profiles WHERE player_id IN ({marks})"),
                    missed.clone(),
                )
                .await?;
            for (p, n) in rows {
                self.names.put(p, n.clone());
                out.insert(p, n);
            }
        }
        Ok(out)
    }

    /// `player`'s friends (accepted both ways).
    pub async fn friends(&self, store: &Store, player: u64) -> Result<Arc<Vec<u64>>, StoreError> {
        if let Some(f) = self.friends.get(&player) {
            return Ok(f);
        }
        let list = mmo_account::friends::list(store, PlayerId(player)).await?;
        let ids: Arc<Vec<u64>> = Arc::new(
            list.into_iter().filter(|f| f.state == FriendState::Friend as i32).map(|f| f.player_id).collect(),
        );
        self.friends.put(player, ids.clone());
        Ok(ids)
    }
}
