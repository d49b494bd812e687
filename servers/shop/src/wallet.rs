//! Balances, the ledger and the inventory in MySQL. The `*_tx` functions run inside a caller's
//! transaction (a purchase, a grant): they lock what they read (`FOR UPDATE`, in a fixed order
//! so two transactions cannot deadlock on them), and every balance they write gets its ledger
//! row in the same transaction. The others read for the client (wallet, inventory, ledger).

use std::collections::BTreeMap;

use mmo_core::clock::now_ms;
use mmo_core::store::{Store, StoreError};
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;

/// Longest currency name: 1-32 of a-z, 0-9, '_'.
pub const MAX_CURRENCY_LEN: usize = 32;
/// Longest ledger reason, and reference (longer references are cut).
pub const MAX_REASON_LEN: usize = 32;
pub const MAX_REFERENCE_LEN: usize = 128;

/// A currency name is 1-32 of a-z, 0-9, '_'.
pub fn valid_currency(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= MAX_CURRENCY_LEN
        && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A reference cut to the column's length (on a character boundary).
pub fn reference(r: &str) -> String {
    r.chars().take(MAX_REFERENCE_LEN).collect()
}

/// Locks the player's balances of `currencies` and returns them (absent: 0). Locks in sorted
/// order (the map's).
pub async fn lock_balances_tx(
    tx: &mut Transaction<'_>,
    player: u64,
    currencies: impl IntoIterator<Item = &str>,
) -> Result<BTreeMap<String, i64>, mysql_async::Error> {
    let mut out: BTreeMap<String, i64> = currencies.into_iter().map(|c| (c.to_string(), 0)).collect();
    if out.is_empty() {
        return Ok(out);
    }
    let marks = vec!["?"; out.len()].join(",");
    let mut params: Vec<mysql_async::Value> = vec![player.into()];
    params.extend(out.keys().map(|c| c.as_str().into()));
    let rows: Vec<(String, i64)> = tx
        .exec(
            format!(
                "SELECT currency, balance FROM wallets WHERE player = ? AND currency IN ({marks}) \
                 ORDER BY currency FOR UPDATE"
            ),
            params,
        )
        .await?;
    for (c, b) in rows {
        out.insert(c, b);
    }
    Ok(out)
}

/// Writes a balance (locked by [`lock_balances_tx`]) and its ledger row: `amount` is the
/// change, `after` the new balance.
pub async fn write_balance_tx(
    tx: &mut Transaction<'_>,
    player: u64,
    currency: &str,
    amount: i64,
    after: i64,
    reason: &str,
    reference: &str,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO wallets (player, currency, balance) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE balance = VALUES(balance)",
        (player, currency, after),
    )
    .await?;
    tx.exec_drop(
        "INSERT INTO wallet_ledger (player, currency, amount, balance_after, reason, reference, at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
        (player, currency, amount, after, reason, reference, now_ms()),
    )
    .await
}

/// Locks the player's counts of `items` and returns them (absent: 0), in item order.
pub async fn lock_items_tx(
    tx: &mut Transaction<'_>,
    player: u64,
    items: impl IntoIterator<Item = u32>,
) -> Result<BTreeMap<u32, i64>, mysql_async::Error> {
    let mut out: BTreeMap<u32, i64> = items.into_iter().map(|i| (i, 0)).collect();
    if out.is_empty() {
        return Ok(out);
    }
    let marks = vec!["?"; out.len()].join(",");
    let mut params: Vec<mysql_async::Value> = vec![player.into()];
    params.extend(out.keys().map(|i| (*i).into()));
    let rows: Vec<(u32, i64)> = tx
        .exec(
            format!(
                "SELECT item_id, count FROM inventory WHERE player = ? AND item_id IN ({marks}) \
                 ORDER BY item_id FOR UPDATE"
            ),
            params,
        )
        .await?;
    for (i, n) in rows {
        out.insert(i, n);
    }
    Ok(out)
}

/// Writes an item count (locked by [`lock_items_tx`]).
pub async fn write_items_tx(
    tx: &mut Transaction<'_>,
    player: u64,
    item: u32,
    count: i64,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO inventory (player, item_id, count) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE count = VALUES(count)",
        (player, item, count),
    )
    .await
}

/// Adds `n` to an item count without reading it first (no lock on an absent row, whose gap
/// lock would deadlock with other players' inserts).
pub async fn add_items_tx(
    tx: &mut Transaction<'_>,
    player: u64,
    item: u32,
    n: i64,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO inventory (player, item_id, count) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE count = count + VALUES(count)",
        (player, item, n),
    )
    .await
}

/// The player's balances, by currency.
pub async fn balances(store: &Store, player: u64) -> Result<Vec<(String, i64)>, StoreError> {
    store.exec("SELECT currency, balance FROM wallets WHERE player = ? ORDER BY currency", (player,)).await
}

/// The player's items with a count above 0, by item id.
pub async fn inventory(store: &Store, player: u64) -> Result<Vec<(u32, i64)>, StoreError> {
    store
        .exec(
            "SELECT item_id, count FROM inventory WHERE player = ? AND count > 0 ORDER BY item_id",
            (player,),
        )
        .await
}

/// One ledger row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerRow {
    pub id: u64,
    pub currency: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reason: String,
    pub reference: String,
    pub at_ms: u64,
}

/// The player's ledger rows with an id below `before` (0: from the newest), newest first.
pub async fn ledger(
    store: &Store,
    player: u64,
    before: u64,
    limit: u32,
) -> Result<Vec<LedgerRow>, StoreError> {
    let before = if before == 0 { u64::MAX } else { before };
    let rows: Vec<(u64, String, i64, i64, String, String, u64)> = store
        .exec(
            "SELECT id, currency, amount, balance_after, reason, reference, at_ms FROM wallet_ledger \
             WHERE player = ? AND id < ? ORDER BY id DESC LIMIT ?",
            (player, before, limit),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, currency, amount, balance_after, reason, reference, at_ms)| LedgerRow {
            id,
            currency,
            amount,
            balance_after,
            reason,
            reference,
            at_ms,
        })
        .collect())
}
