//! The starter balance: what `[shop] starter` lists is granted once per player, through
//! [`grant`](crate::grant) under the key "starter" (reason "starter"), on the player's first
//! shop request of any kind. Whether a player has it is remembered in a bounded set in this
//! process, so later requests cost no query; a player the set has forgotten (another instance,
//! a restart, or pushed out) asks the grant again, which finds its row and changes nothing.

use std::collections::HashSet;

use parking_lot::Mutex;

use crate::State;
use crate::error::ShopError;
use crate::grants::{Grant, grant};

/// The grant key and the ledger reason of the starter balance.
pub const KEY: &str = "starter";
pub const REASON: &str = "starter";

/// Players known to have their starter balance: two generations, the older dropped when the
/// newer holds half the capacity, so at most `capacity` are held and recent ones are kept.
#[derive(Debug)]
pub struct Given {
    half: usize,
    sets: Mutex<(HashSet<u64>, HashSet<u64>)>,
}

impl Given {
    /// A set holding at most `capacity` players (at least 2).
    pub fn new(capacity: usize) -> Given {
        Given { half: (capacity / 2).max(1), sets: Mutex::new(Default::default()) }
    }

    pub fn contains(&self, player: u64) -> bool {
        let s = self.sets.lock();
        s.0.contains(&player) || s.1.contains(&player)
    }

    pub fn insert(&self, player: u64) {
        let mut s = self.sets.lock();
        if s.0.len() >= self.half {
            s.1 = std::mem::take(&mut s.0);
        }
        s.0.insert(player);
    }

    /// Players held now.
    pub fn len(&self) -> usize {
        let s = self.sets.lock();
        s.0.len() + s.1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Gives `player` the starter balance unless it has it (see the module header).
pub async fn ensure(st: &State, player: u64) -> Result<(), ShopError> {
    if st.cfg.starter.is_empty() || st.starters.contains(player) {
        return Ok(());
    }
    let g = Grant {
        player,
        key: KEY.into(),
        reason: REASON.into(),
        reference: "starter balance".into(),
        currencies: st.cfg.starter.iter().map(|(c, n)| (c.clone(), *n)).collect(),
        items: Vec::new(),
    };
    // Applied now or before: either way the player has it.
    grant(&st.store, &st.bus, &g).await?;
    st.starters.insert(player);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_stays_within_its_capacity_and_keeps_the_recent_players() {
        let g = Given::new(10);
        for p in 0..100 {
            g.insert(p);
            assert!(g.len() <= 10);
            assert!(g.contains(p));
        }
        assert!(g.contains(99) && g.contains(95) && !g.contains(3));
    }
}
