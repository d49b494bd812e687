//! What `mmo admin shop` does: load the catalog from a file, grant through the ledger, show a
//! wallet.

use mmo_core::bus::Bus;
use mmo_core::store::Store;

use crate::catalog::{self, Replaced};
use crate::error::ShopError;
use crate::grants::{self, Grant, Granted};
use crate::wallet::{self, LedgerRow};

/// Replaces the catalog with the TOML text of a catalog file.
pub async fn load_catalog(store: &Store, text: &str) -> Result<Replaced, ShopError> {
    let file = catalog::parse(text)?;
    catalog::replace(store, &file).await
}

/// An admin's grant of one currency (reason "admin"); `key` makes it happen once.
pub async fn grant_currency(
    store: &Store,
    bus: &Bus,
    player: u64,
    currency: &str,
    amount: i64,
    key: &str,
    note: &str,
) -> Result<Granted, ShopError> {
    let g = Grant {
        player,
        key: format!("admin:{key}"),
        reason: "admin".into(),
        reference: note.to_string(),
        currencies: vec![(currency.to_string(), amount)],
        items: Vec::new(),
    };
    grants::grant(store, bus, &g).await
}

/// A player's balances and last `rows` ledger rows.
pub async fn wallet(
    store: &Store,
    player: u64,
    rows: u32,
) -> Result<(Vec<(String, i64)>, Vec<LedgerRow>), ShopError> {
    Ok((wallet::balances(store, player).await?, wallet::ledger(store, player, 0, rows).await?))
}
