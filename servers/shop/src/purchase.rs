//! A purchase: one transaction under the client's idempotency key. The item is read with a
//! shared lock, the wallet rows of the price's currencies are locked (so one player's
//! purchases run one at a time), then the key is looked up with the transaction's first plain
//! read (its snapshot is taken after the lock, so it sees a concurrent purchase's commit): the
//! same key with the same request hash answers the stored first reply and grants nothing; with
//! another hash it is refused (`SHOP_KEY_REUSED`). Else the limit and the funds are checked,
//! the purchase row written with the hash and the encoded reply (its id filled in from the row
//! when replayed), the price debited with its ledger rows, the items granted, and the
//! `purchase` event staged in the outbox. Two transactions with one new key at once: the
//! second waits at the wallet lock and then reads the first's row; a duplicate key (1062)
//! reruns the transaction once, which finds it.

use std::collections::BTreeMap;

use mmo_core::bus::{Bus, events};
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_core::store::Store;
use mmo_proto::bus::{CurrencyAmount, GameEvent, ItemAmount, game_event};
use mmo_proto::{Balance, ErrorCode, InventoryItem, PurchaseResp};
use mysql_async::Transaction;
use mysql_async::prelude::Queryable;
use prost::Message as _;
use sha2::{Digest, Sha256};

use crate::error::ShopError;
use crate::{catalog, wallet};

/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 64;
/// The ledger reason of a purchase's debits.
pub const REASON: &str = "purchase";

/// A purchase as asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub player: u64,
    pub key: String,
    pub item_id: u32,
    pub quantity: u32,
    /// 0: any version.
    pub expected_version: u32,
}

impl Request {
    /// What the key's stored hash is of: every field but the player and the key.
    pub fn hash(&self) -> [u8; 32] {
        let text = format!(
            "purchase/1 item={} quantity={} expected={}",
            self.item_id, self.quantity, self.expected_version
        );
        Sha256::digest(text.as_bytes()).into()
    }
}

/// A key is 1-64 of a-z A-Z 0-9 '-' '_' ':' '.'.
pub fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_KEY_LEN
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.'))
}

/// Runs the purchase (see the module header); `max_quantity` is `[shop] max_quantity`.
pub async fn purchase(
    store: &Store,
    bus: &Bus,
    max_quantity: u32,
    req: &Request,
) -> Result<PurchaseResp, ShopError> {
    if !valid_key(&req.key) {
        return Err(ShopError::refused(ErrorCode::ShopBadKey));
    }
    if req.quantity == 0 || req.quantity > max_quantity {
        return Err(ShopError::Refused(
            ErrorCode::InvalidArgument,
            format!("quantity must be 1-{max_quantity}"),
        ));
    }
    let ev = events::event(bus, "purchase", PlayerId(req.player), &[]);
    // A duplicate key means another transaction with this key committed first: once more
    // finds its row.
    for attempt in 0..2 {
        let (r, ev) = (req.clone(), ev.clone());
        let out = store
            .in_tx(move |tx| {
                let (r, ev) = (r.clone(), ev.clone());
                Box::pin(async move { purchase_tx(tx, &r, ev).await })
            })
            .await;
        match out {
            Ok(result) => return result,
            Err(e) if e.server_code() == Some(1062) && attempt == 0 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ShopError::Invalid("purchase key conflict twice".into()))
}

/// Runs purchases at most `purchase_concurrency` (`[shop]`) at once per instance; the rest
/// wait their turn here, in arrival order. MySQL completes the most purchase transactions per
/// second with few in flight per core: past that its threads only take turns on the cores
/// (measured on 2 cores, one process: ~3,000 purchases/s at 16 in flight, ~2,000 at 64,
/// ~1,400 at 128), so a storm of purchases queues here instead of slowing every one of them.
#[derive(Debug)]
pub struct Gate(tokio::sync::Semaphore);

impl Gate {
    pub fn new(concurrency: u32) -> Gate {
        Gate(tokio::sync::Semaphore::new(concurrency.max(1) as usize))
    }

    /// [`purchase`], once a turn is free.
    pub async fn purchase(
        &self,
        store: &Store,
        bus: &Bus,
        max_quantity: u32,
        req: &Request,
    ) -> Result<PurchaseResp, ShopError> {
        // The semaphore is never closed, so the turn always comes.
        let _turn = self.0.acquire().await.map_err(|e| ShopError::Invalid(e.to_string()))?;
        purchase(store, bus, max_quantity, req).await
    }
}

/// The limit's count: a plain read when the wallet lock serializes the player's purchases, a
/// locking one for a free item (nothing else does).
const LIMIT_READ: &str = "SELECT CAST(COALESCE(SUM(quantity), 0) AS UNSIGNED) FROM purchases \
     WHERE player = ? AND item_id = ?";
const LIMIT_LOCKED: &str = "SELECT CAST(COALESCE(SUM(quantity), 0) AS UNSIGNED) FROM purchases \
     WHERE player = ? AND item_id = ? FOR UPDATE";

/// The stored answer under (player, key), if any: its id, request hash and reply.
async fn stored_tx(
    tx: &mut Transaction<'_>,
    req: &Request,
    lock: bool,
) -> Result<Option<(u64, Vec<u8>, Vec<u8>)>, mysql_async::Error> {
    let sql = if lock {
        "SELECT id, request_hash, reply FROM purchases WHERE player = ? AND idem_key = ? FOR UPDATE"
    } else {
        "SELECT id, request_hash, reply FROM purchases WHERE player = ? AND idem_key = ?"
    };
    tx.exec_first(sql, (req.player, &req.key)).await
}

/// The stored reply as a replay, or the refusal of a reused key. The reply is stored without
/// its `purchase_id` (the row's id, not known before the insert), which is filled in here.
fn replay(req: &Request, id: u64, hash: &[u8], reply: &[u8]) -> Result<PurchaseResp, ShopError> {
    if hash != req.hash() {
        return Err(ShopError::refused(ErrorCode::ShopKeyReused));
    }
    let mut resp =
        PurchaseResp::decode(reply).map_err(|e| ShopError::Invalid(format!("stored reply: {e}")))?;
    resp.replayed = true;
    resp.purchase_id = id;
    Ok(resp)
}

async fn purchase_tx(
    tx: &mut Transaction<'_>,
    req: &Request,
    mut ev: GameEvent,
) -> Result<Result<PurchaseResp, ShopError>, mysql_async::Error> {
    let refuse = |code: ErrorCode, detail: String| Ok(Err(ShopError::Refused(code, detail)));
    let Some(item) = catalog::item_tx(tx, req.item_id).await? else {
        return refuse(ErrorCode::ShopUnknownItem, String::new());
    };
    let mut cost = BTreeMap::new();
    for (c, n) in &item.prices {
        let Some(total) = n.checked_mul(i64::from(req.quantity)) else {
            return refuse(ErrorCode::InvalidArgument, "price times quantity overflows".into());
        };
        cost.insert(c.clone(), total);
    }
    let mut balances = wallet::lock_balances_tx(tx, req.player, cost.keys().map(String::as_str)).await?;
    // Under the wallet lock: a concurrent purchase with this key has committed or not started,
    // and this is the transaction's first plain read, so its snapshot is taken now and sees
    // the commit. (A locking read of an absent key would take a gap lock that deadlocks with
    // other players' inserts.)
    if let Some((id, hash, reply)) = stored_tx(tx, req, cost.is_empty()).await? {
        return Ok(replay(req, id, &hash, &reply));
    }
    if !item.for_sale {
        return refuse(ErrorCode::ShopNotForSale, String::new());
    }
    if req.expected_version != 0 && req.expected_version != item.version {
        return refuse(ErrorCode::ShopCatalogChanged, format!("current version {}", item.version));
    }
    if item.per_player_limit > 0 {
        let bought: Option<u64> = tx
            .exec_first(if cost.is_empty() { LIMIT_LOCKED } else { LIMIT_READ }, (req.player, req.item_id))
            .await?;
        if bought.unwrap_or(0).saturating_add(u64::from(req.quantity)) > u64::from(item.per_player_limit) {
            return refuse(ErrorCode::ShopLimitReached, format!("limit {}", item.per_player_limit));
        }
    }
    for (c, n) in &cost {
        let have = balances.get(c).copied().unwrap_or(0);
        match have.checked_sub(*n) {
            Some(after) if after >= 0 => balances.insert(c.clone(), after),
            _ => return refuse(ErrorCode::ShopInsufficientFunds, c.clone()),
        };
    }
    let mut resp = PurchaseResp {
        purchase_id: 0,
        item_id: req.item_id,
        quantity: req.quantity,
        catalog_version: item.version,
        paid: cost.iter().map(|(c, n)| Balance { currency: c.clone(), amount: *n }).collect(),
        balances: balances.iter().map(|(c, n)| Balance { currency: c.clone(), amount: *n }).collect(),
        items: vec![InventoryItem { item_id: req.item_id, count: i64::from(req.quantity) }],
        replayed: false,
    };
    tx.exec_drop(
        "INSERT INTO purchases (player, idem_key, request_hash, item_id, quantity, catalog_version, reply, at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (req.player, &req.key, req.hash().to_vec(), req.item_id, req.quantity, item.version, resp.encode_to_vec(), now_ms()),
    )
    .await?;
    let purchase_id = tx.last_insert_id().unwrap_or(0);
    resp.purchase_id = purchase_id;
    let reference = purchase_id.to_string();
    for (c, n) in &cost {
        let debit = n.checked_neg().unwrap_or(i64::MIN);
        wallet::write_balance_tx(tx, req.player, c, debit, balances[c], REASON, &reference).await?;
    }
    wallet::add_items_tx(tx, req.player, req.item_id, i64::from(req.quantity)).await?;
    ev.detail = Some(game_event::Detail::Purchase(mmo_proto::bus::Purchase {
        purchase_id,
        key: req.key.clone(),
        item_id: req.item_id,
        quantity: req.quantity,
        catalog_version: item.version,
        paid: cost.iter().map(|(c, n)| CurrencyAmount { currency: c.clone(), amount: *n }).collect(),
        items: vec![ItemAmount { item_id: req.item_id, count: i64::from(req.quantity) }],
    }));
    mmo_eventlog::outbox::stage(tx, &ev).await?;
    Ok(Ok(resp))
}
