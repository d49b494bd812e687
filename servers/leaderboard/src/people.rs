//! What the leaderboard needs to know about players, cached briefly in this process: display
//! names and friend lists (from the account server's tables). Caches are bounded and never
//! locked across an `.await`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};
use mmo_proto::FriendState;
use parking_lot::Mutex;

/// Entries a cache holds before it is cleared.
const CACHE_MAX: usize = 10_000;
const NAME_TTL: Duration = Duration::from_secs(60);

/// A small map whose entries expire.
#[derive(Debug)]
struct Cache<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Cache<K, V> {
    fn new(ttl: Duration) -> Self {
        Cache { ttl, map: Mutex::new(HashMap::new()) }
    }

    fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock();
        map.get(k).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, v)| v.clone())
    }

    fn put(&self, k: K, v: V) {
        let mut map = self.map.lock();
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(k, (Instant::now(), v));
    }
}

/// Names and friends.
#[derive(Debug)]
pub struct People {
    names: Cache<u64, String>,
    friends: Cache<u64, Arc<Vec<u64>>>,
}

impl People {
    pub fn new(friends_ttl: Duration) -> People {
        People { names: Cache::new(NAME_TTL), friends: Cache::new(friends_ttl) }
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
