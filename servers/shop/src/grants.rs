//! The grants API: currencies and items given outside a purchase (loot, match and season
//! rewards, an admin, a redeemed receipt), each under a key unique per player and kept forever,
//! so a grant retried (a crash, a rollover run twice) applies once. One transaction: the grant
//! row, the balances with their ledger rows, the inventory, and the `grant` event in the outbox.

use std::collections::BTreeMap;

use mmo_core::bus::{Bus, events};
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_core::store::{Store, TxFuture};
use mmo_proto::ErrorCode;
use mmo_proto::bus::{CurrencyAmount, GameEvent, ItemAmount, game_event};
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;

use crate::error::ShopError;
use crate::wallet::{self, MAX_REASON_LEN};

/// Longest grant key (printable ASCII).
pub const MAX_GRANT_KEY_LEN: usize = 160;
/// Most currencies, and items, in one grant.
pub const MAX_GRANT_LINES: usize = 64;

/// Currencies and items to give a player once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    pub player: u64,
    /// Idempotency: unique per player, kept forever (e.g. "season:<board>:<season>").
    pub key: String,
    /// "loot", "match_reward", "season_reward", "admin", "receipt", ...
    pub reason: String,
    /// What it refers to (kill id, match id, board+season, note); cut to 128 characters.
    pub reference: String,
    /// Currency -> amount (negative takes away; the balance may not go below 0).
    pub currencies: Vec<(String, i64)>,
    /// Item id -> count (negative takes away; the count may not go below 0).
    pub items: Vec<(u32, i64)>,
}

/// What [`grant`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granted {
    /// Applied now.
    Applied,
    /// A grant with this key was applied before: nothing changed.
    AlreadyApplied,
}

/// Applies `g` once: see the module header. A grant that would take a balance or count below
/// 0 changes nothing and is refused (`SHOP_INSUFFICIENT_FUNDS`).
pub async fn grant(store: &Store, bus: &Bus, g: &Grant) -> Result<Granted, ShopError> {
    let ev = event(bus, g);
    Ok(grant_with_event_and(store, g, &ev, |_| Box::pin(async { Ok(()) })).await?.0)
}

/// [`grant`] with the event already built and `extra` run in the transaction before the grant
/// is written (a receipt's row); also answers the balances and counts after.
pub(crate) async fn grant_with_event_and<X>(
    store: &Store,
    g: &Grant,
    ev: &GameEvent,
    extra: X,
) -> Result<(Granted, After), ShopError>
where
    X: for<'a> Fn(&'a mut Transaction<'static>) -> TxFuture<'a, ()> + Send + Sync + 'static,
{
    let (currencies, items) = check(g)?;
    let (g2, ev2) = (g.clone(), ev.clone());
    let extra = std::sync::Arc::new(extra);
    let r = store
        .in_tx(move |tx| {
            let (g, ev, currencies, items) = (g2.clone(), ev2.clone(), currencies.clone(), items.clone());
            let extra = extra.clone();
            Box::pin(async move {
                // The key first: a duplicate (1062, after the other transaction commits) is
                // `AlreadyApplied`; no locking read of an absent row, whose gap lock would
                // deadlock with other players' grants.
                tx.exec_drop(
                    "INSERT INTO grants (player, grant_key, reason, reference, at_ms) VALUES (?, ?, ?, ?, ?)",
                    (g.player, &g.key, &g.reason, wallet::reference(&g.reference), now_ms()),
                )
                .await?;
                let after = match plan_tx(tx, &g, &currencies, &items).await? {
                    Ok(after) => after,
                    Err(refused) => {
                        // Nothing applied: the key stays free.
                        tx.exec_drop(
                            "DELETE FROM grants WHERE player = ? AND grant_key = ?",
                            (g.player, &g.key),
                        )
                        .await?;
                        return Ok(Err(refused));
                    }
                };
                extra(tx).await?;
                write_tx(tx, &g, &currencies, &items, &ev, &after).await?;
                Ok(Ok((Granted::Applied, after)))
            })
        })
        .await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(refused)) => Err(refused),
        // Two grants with one key at once: the loser's insert met the winner's row.
        Err(e) if e.server_code() == Some(1062) => Ok((Granted::AlreadyApplied, After::default())),
        Err(e) => Err(e.into()),
    }
}

/// Balances and counts right after a grant (empty for `AlreadyApplied`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct After {
    pub balances: BTreeMap<String, i64>,
    pub items: BTreeMap<u32, i64>,
}

/// The grant's lines merged per currency and item; refuses what makes no sense.
#[allow(clippy::type_complexity)]
fn check(g: &Grant) -> Result<(BTreeMap<String, i64>, BTreeMap<u32, i64>), ShopError> {
    let bad = |m: String| Err(ShopError::Invalid(m));
    if g.key.is_empty() || g.key.len() > MAX_GRANT_KEY_LEN || !g.key.bytes().all(|b| b.is_ascii_graphic()) {
        return bad(format!("grant key must be 1-{MAX_GRANT_KEY_LEN} printable ASCII characters"));
    }
    if g.reason.is_empty() || g.reason.len() > MAX_REASON_LEN {
        return bad(format!("grant reason must be 1-{MAX_REASON_LEN} bytes"));
    }
    if g.currencies.len() > MAX_GRANT_LINES || g.items.len() > MAX_GRANT_LINES {
        return bad(format!("at most {MAX_GRANT_LINES} currencies and items per grant"));
    }
    let mut currencies = BTreeMap::new();
    for (c, n) in &g.currencies {
        if !wallet::valid_currency(c) {
            return bad(format!("bad currency name {c:?}"));
        }
        let e: &mut i64 = currencies.entry(c.clone()).or_default();
        *e = e.checked_add(*n).ok_or_else(|| ShopError::Invalid("amount overflows".into()))?;
    }
    let mut items = BTreeMap::new();
    for (i, n) in &g.items {
        let e: &mut i64 = items.entry(*i).or_default();
        *e = e.checked_add(*n).ok_or_else(|| ShopError::Invalid("count overflows".into()))?;
    }
    currencies.retain(|_, n| *n != 0);
    items.retain(|_, n| *n != 0);
    Ok((currencies, items))
}

/// The `grant` event of `g` (kind "grant", typed detail), with a unique id.
pub fn event(bus: &Bus, g: &Grant) -> GameEvent {
    let mut ev = events::event(bus, "grant", PlayerId(g.player), &[]);
    ev.detail = Some(game_event::Detail::Grant(mmo_proto::bus::Grant {
        reason: g.reason.clone(),
        reference: wallet::reference(&g.reference),
        key: g.key.clone(),
        currencies: g
            .currencies
            .iter()
            .map(|(c, n)| CurrencyAmount { currency: c.clone(), amount: *n })
            .collect(),
        items: g.items.iter().map(|(i, n)| ItemAmount { item_id: *i, count: *n }).collect(),
    }));
    ev
}

/// Locks the grant's balances and counts and computes them after it; `Ok(Err(_))` is a
/// refusal (one would go below 0), before anything is written.
async fn plan_tx(
    tx: &mut Transaction<'_>,
    g: &Grant,
    currencies: &BTreeMap<String, i64>,
    items: &BTreeMap<u32, i64>,
) -> Result<Result<After, ShopError>, mysql_async::Error> {
    let mut balances = wallet::lock_balances_tx(tx, g.player, currencies.keys().map(String::as_str)).await?;
    let mut counts = wallet::lock_items_tx(tx, g.player, items.keys().copied()).await?;
    for (c, n) in currencies {
        match balances.get(c).and_then(|b| b.checked_add(*n)) {
            Some(after) if after >= 0 => balances.insert(c.clone(), after),
            _ => return Ok(Err(ShopError::Refused(ErrorCode::ShopInsufficientFunds, c.clone()))),
        };
    }
    for (i, n) in items {
        match counts.get(i).and_then(|b| b.checked_add(*n)) {
            Some(after) if after >= 0 => counts.insert(*i, after),
            _ => return Ok(Err(ShopError::Refused(ErrorCode::ShopInsufficientFunds, format!("item {i}")))),
        };
    }
    Ok(Ok(After { balances, items: counts }))
}

/// Writes the planned grant (its row is in): balances with ledger rows, counts, the outbox event.
async fn write_tx(
    tx: &mut Transaction<'_>,
    g: &Grant,
    currencies: &BTreeMap<String, i64>,
    items: &BTreeMap<u32, i64>,
    ev: &GameEvent,
    after: &After,
) -> Result<(), mysql_async::Error> {
    let reference = wallet::reference(&g.reference);
    for (c, n) in currencies {
        wallet::write_balance_tx(tx, g.player, c, *n, after.balances[c], &g.reason, &reference).await?;
    }
    for i in items.keys() {
        wallet::write_items_tx(tx, g.player, *i, after.items[i]).await?;
    }
    mmo_eventlog::outbox::stage(tx, ev).await
}
