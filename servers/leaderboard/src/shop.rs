//! Season rewards through the shop's grants ([`mmo_shop::grant`]): one transaction per player
//! (the grant row unique per player and key, ledger rows, wallet and inventory, the grant event
//! in the outbox), so a reward granted twice under the same key applies once. Needs the shop's
//! and the event log's tables (`mmo migrate`, or `mmo all`).

use mmo_core::bus::Bus;
use mmo_core::store::Store;
use mmo_shop::Granted;

use crate::hooks::{BoxFuture, Reward, Rewards};

/// [`Rewards`] into the wallet and inventory.
#[derive(Clone, Debug)]
pub struct ShopRewards {
    pub store: Store,
    pub bus: Bus,
}

impl Rewards for ShopRewards {
    fn grant<'a>(&'a self, r: &'a Reward) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async move {
            match mmo_shop::grant(&self.store, &self.bus, r).await {
                Ok(Granted::Applied) => Ok(true),
                Ok(Granted::AlreadyApplied) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
