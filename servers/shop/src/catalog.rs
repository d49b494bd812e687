//! The catalog in MySQL: items with their current version, and every version's unit prices.
//! Purchases read the current item inside their transaction; CatalogReq reads a copy cached
//! for `[shop] catalog_cache`. An admin replaces the catalog from a TOML file
//! ([`replace`]): an item whose name, prices, limit or sale state changed gets the next
//! version, items missing from the file are taken off sale.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmo_core::clock::now_ms;
use mmo_core::store::{Store, StoreError};
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;
use parking_lot::Mutex;
use serde::Deserialize;

use crate::error::ShopError;
use crate::wallet;

/// Most items a catalog may hold, and prices per item.
pub const MAX_ITEMS: usize = 10_000;
pub const MAX_PRICES: usize = 8;

/// One item as stored (its current version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub item_id: u32,
    pub name: String,
    pub version: u32,
    pub per_player_limit: u32,
    pub for_sale: bool,
    /// Unit prices of this version, by currency.
    pub prices: BTreeMap<String, i64>,
}

impl Item {
    pub fn to_proto(&self) -> mmo_proto::ShopItem {
        mmo_proto::ShopItem {
            item_id: self.item_id,
            name: self.name.clone(),
            prices: self
                .prices
                .iter()
                .map(|(c, n)| mmo_proto::Balance { currency: c.clone(), amount: *n })
                .collect(),
            per_player_limit: self.per_player_limit,
            version: self.version,
        }
    }
}

type ItemRow = (u32, String, u32, u32, u8);
/// An item row joined with one of its prices (none for a free item).
type ItemPriceRow = (u32, String, u32, u32, u8, Option<String>, Option<i64>);

/// The current item `id` inside a transaction, read with a shared lock: a locking read takes no
/// snapshot (the purchase's first plain read comes later, see `purchase`), and a catalog
/// change waits for the purchase paying this version.
pub async fn item_tx(tx: &mut Transaction<'_>, id: u32) -> Result<Option<Item>, mysql_async::Error> {
    let rows: Vec<ItemPriceRow> = tx
        .exec(
            "SELECT i.item_id, i.name, i.version, i.per_player_limit, i.for_sale, p.currency, p.amount \
             FROM shop_items i LEFT JOIN shop_prices p ON p.item_id = i.item_id AND p.version = i.version \
             WHERE i.item_id = ? LOCK IN SHARE MODE",
            (id,),
        )
        .await?;
    let Some((item_id, name, version, per_player_limit, for_sale, ..)) = rows.first().cloned() else {
        return Ok(None);
    };
    let prices = rows.into_iter().filter_map(|r| Some((r.5?, r.6?))).collect();
    Ok(Some(Item { item_id, name, version, per_player_limit, for_sale: for_sale != 0, prices }))
}

/// Every item (for sale or not) at its current version, by id.
pub async fn load(store: &Store) -> Result<Vec<Item>, StoreError> {
    let rows: Vec<ItemRow> = store
        .exec(
            "SELECT item_id, name, version, per_player_limit, for_sale FROM shop_items ORDER BY item_id",
            (),
        )
        .await?;
    let prices: Vec<(u32, String, i64)> = store
        .exec(
            "SELECT p.item_id, p.currency, p.amount FROM shop_prices p \
             JOIN shop_items i ON i.item_id = p.item_id AND i.version = p.version",
            (),
        )
        .await?;
    let mut by_item: BTreeMap<u32, BTreeMap<String, i64>> = BTreeMap::new();
    for (i, c, n) in prices {
        by_item.entry(i).or_default().insert(c, n);
    }
    Ok(rows
        .into_iter()
        .map(|(item_id, name, version, per_player_limit, for_sale)| Item {
            item_id,
            name,
            version,
            per_player_limit,
            for_sale: for_sale != 0,
            prices: by_item.remove(&item_id).unwrap_or_default(),
        })
        .collect())
}

/// The items for sale, cached for a while.
#[derive(Debug, Default)]
pub struct Cache(Mutex<Option<(Instant, Arc<Vec<mmo_proto::ShopItem>>)>>);

impl Cache {
    pub async fn get(
        &self,
        store: &Store,
        ttl: Duration,
    ) -> Result<Arc<Vec<mmo_proto::ShopItem>>, StoreError> {
        if let Some((at, items)) = self.0.lock().as_ref()
            && at.elapsed() < ttl
        {
            return Ok(items.clone());
        }
        let items: Arc<Vec<_>> =
            Arc::new(load(store).await?.iter().filter(|i| i.for_sale).map(Item::to_proto).collect());
        *self.0.lock() = Some((Instant::now(), items.clone()));
        Ok(items)
    }
}

/// A catalog file: `[[item]] id = 7, name = "Sword", prices = { gold = 100 }, limit = 0,
/// for_sale = true`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    #[serde(default)]
    pub item: Vec<FileItem>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileItem {
    pub id: u32,
    pub name: String,
    /// Unit prices: currency -> amount (0 or more; no prices: free).
    #[serde(default)]
    pub prices: BTreeMap<String, i64>,
    /// Units one player may ever buy; 0: no limit.
    #[serde(default)]
    pub limit: u32,
    #[serde(default = "yes")]
    pub for_sale: bool,
}

fn yes() -> bool {
    true
}

/// What [`replace`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replaced {
    pub added: u32,
    pub changed: u32,
    pub unchanged: u32,
    pub withdrawn: u32,
}

/// Parses and checks a catalog file.
pub fn parse(text: &str) -> Result<CatalogFile, ShopError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| ShopError::Invalid(format!("catalog: {e}")))?;
    if file.item.len() > MAX_ITEMS {
        return Err(ShopError::Invalid(format!("catalog: more than {MAX_ITEMS} items")));
    }
    let mut seen = std::collections::HashSet::new();
    for i in &file.item {
        let bad = |m: &str| Err(ShopError::Invalid(format!("catalog item {}: {m}", i.id)));
        if i.id == 0 || !seen.insert(i.id) {
            return bad("ids must be above 0 and unique");
        }
        if i.name.is_empty() || i.name.chars().count() > 128 {
            return bad("name must be 1-128 characters");
        }
        if i.prices.len() > MAX_PRICES || i.prices.iter().any(|(c, n)| !wallet::valid_currency(c) || *n < 0) {
            return bad("prices: at most 8, currency names of a-z 0-9 _, amounts 0 or more");
        }
    }
    Ok(file)
}

/// Replaces the catalog with `file` in one transaction (see the module header).
pub async fn replace(store: &Store, file: &CatalogFile) -> Result<Replaced, ShopError> {
    let file = file.clone();
    Ok(store
        .in_tx(move |tx| {
            let file = file.clone();
            Box::pin(async move {
                let mut report = Replaced::default();
                let rows: Vec<ItemRow> = tx
                    .exec("SELECT item_id, name, version, per_player_limit, for_sale FROM shop_items FOR UPDATE", ())
                    .await?;
                let mut current = BTreeMap::new();
                for (id, ..) in &rows {
                    if let Some(item) = item_tx(tx, *id).await? {
                        current.insert(*id, item);
                    }
                }
                let now = now_ms();
                for f in &file.item {
                    let old = current.remove(&f.id);
                    let same = old.as_ref().is_some_and(|o| {
                        o.name == f.name && o.prices == f.prices && o.per_player_limit == f.limit && o.for_sale == f.for_sale
                    });
                    if same {
                        report.unchanged += 1;
                        continue;
                    }
                    let version = old.as_ref().map_or(1, |o| o.version.saturating_add(1));
                    if old.is_some() { report.changed += 1 } else { report.added += 1 }
                    tx.exec_drop(
                        "INSERT INTO shop_items (item_id, name, version, per_player_limit, for_sale, updated_ms) \
                         VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE name = VALUES(name), \
                         version = VALUES(version), per_player_limit = VALUES(per_player_limit), \
                         for_sale = VALUES(for_sale), updated_ms = VALUES(updated_ms)",
                        (f.id, &f.name, version, f.limit, u8::from(f.for_sale), now),
                    )
                    .await?;
                    for (c, n) in &f.prices {
                        tx.exec_drop(
                            "REPLACE INTO shop_prices (item_id, version, currency, amount) VALUES (?, ?, ?, ?)",
                            (f.id, version, c, n),
                        )
                        .await?;
                    }
                }
                for (id, old) in current {
                    if old.for_sale {
                        report.withdrawn += 1;
                        let version = old.version.saturating_add(1);
                        tx.exec_drop(
                            "UPDATE shop_items SET for_sale = 0, version = ?, updated_ms = ? WHERE item_id = ?",
                            (version, now, id),
                        )
                        .await?;
                        for (c, n) in &old.prices {
                            tx.exec_drop(
                                "REPLACE INTO shop_prices (item_id, version, currency, amount) VALUES (?, ?, ?, ?)",
                                (id, version, c, n),
                            )
                            .await?;
                        }
                    }
                }
                Ok(report)
            })
        })
        .await?)
}
