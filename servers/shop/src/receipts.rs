//! Real-money receipts: a [`ReceiptValidator`] verifies a platform's signed transaction and
//! says which product and transaction it is; [`redeem`] grants what the product maps to, once
//! per (platform, transaction id), in one transaction with the `receipts` row.

use std::future::Future;
use std::pin::Pin;

use mmo_core::bus::Bus;
use mmo_core::store::Store;
use mmo_proto::{Balance, ErrorCode, InventoryItem, ReceiptPlatform, ReceiptRedeemResp};
use mysql_async::prelude::Queryable;

use crate::config::ProductGrant;
use crate::error::ShopError;
use crate::grants::{self, Grant, Granted};

/// A verified transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub product_id: String,
    pub transaction_id: String,
}

/// Why a receipt is refused (the client sees `SHOP_RECEIPT_INVALID`; the text goes to the log).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("receipt invalid: {0}")]
pub struct ReceiptError(pub String);

/// What a verification returns.
pub type Verifying<'a> = Pin<Box<dyn Future<Output = Result<Verified, ReceiptError>> + Send + 'a>>;

/// Verifies one platform's signed transactions.
pub trait ReceiptValidator: Send + Sync {
    /// The platform whose receipts it checks.
    fn platform(&self) -> ReceiptPlatform;
    /// Verifies `signed` and says which product and transaction it is.
    fn verify<'a>(&'a self, signed: &'a str) -> Verifying<'a>;
}

/// Longest signed transaction accepted (an App Store JWS with its chain is about 4-6 KiB).
pub const MAX_RECEIPT_LEN: usize = 32 * 1024;

/// Verifies `signed` with `validator` and grants what its product maps to (`products`), once.
pub async fn redeem(
    store: &Store,
    bus: &Bus,
    validator: &dyn ReceiptValidator,
    products: &std::collections::BTreeMap<String, ProductGrant>,
    player: u64,
    signed: &str,
) -> Result<ReceiptRedeemResp, ShopError> {
    let invalid = |d: String| ShopError::Refused(ErrorCode::ShopReceiptInvalid, d);
    if signed.len() > MAX_RECEIPT_LEN {
        return Err(invalid("too long".into()));
    }
    let v = validator.verify(signed).await.map_err(|e| {
        tracing::info!(player, error = %e, "receipt refused");
        invalid(String::new())
    })?;
    let product =
        products.get(&v.product_id).ok_or_else(|| invalid(format!("unknown product {}", v.product_id)))?;
    let platform = validator.platform().as_str_name().to_ascii_lowercase();
    let platform = platform.trim_start_matches("receipt_platform_").to_string();
    let redeemed: Option<u64> = store
        .exec_first(
            "SELECT player FROM receipts WHERE platform = ? AND transaction_id = ?",
            (&platform, &v.transaction_id),
        )
        .await?;
    if redeemed.is_some() {
        return Err(ShopError::refused(ErrorCode::ShopReceiptAlreadyRedeemed));
    }
    let g = Grant {
        player,
        key: format!("receipt:{platform}:{}", v.transaction_id),
        reason: "receipt".into(),
        reference: format!("{platform}:{}:{}", v.transaction_id, v.product_id),
        currencies: product.currencies.iter().map(|(c, n)| (c.clone(), *n)).collect(),
        items: product.items.iter().filter_map(|(i, n)| Some((i.parse().ok()?, *n))).collect(),
    };
    let ev = grants::event(bus, &g);
    let row = (platform.clone(), v.clone());
    let (granted, after) = grants::grant_with_event_and(store, &g, &ev, move |tx| {
        let (platform, v) = row.clone();
        Box::pin(async move {
            tx.exec_drop(
                "INSERT INTO receipts (platform, transaction_id, player, product_id, at_ms) VALUES (?, ?, ?, ?, ?)",
                (platform, v.transaction_id, player, v.product_id, mmo_core::clock::now_ms()),
            )
            .await
        })
    })
    .await
    .map_err(|e| match e {
        ShopError::Store(s) if s.server_code() == Some(1062) => {
            ShopError::refused(ErrorCode::ShopReceiptAlreadyRedeemed)
        }
        e => e,
    })?;
    if granted == Granted::AlreadyApplied {
        return Err(ShopError::refused(ErrorCode::ShopReceiptAlreadyRedeemed));
    }
    Ok(ReceiptRedeemResp {
        transaction_id: v.transaction_id,
        product_id: v.product_id,
        currencies: g.currencies.iter().map(|(c, n)| Balance { currency: c.clone(), amount: *n }).collect(),
        items: g.items.iter().map(|(i, n)| InventoryItem { item_id: *i, count: *n }).collect(),
        balances: after.balances.into_iter().map(|(currency, amount)| Balance { currency, amount }).collect(),
    })
}
