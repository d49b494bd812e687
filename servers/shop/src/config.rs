//! The `[shop]` section: purchase limits and concurrency, the catalog cache, the ledger page size, the retry
//! hint when MySQL is down, the starter balance, and the App Store receipt settings with the grant each product id
//! maps to.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the shop server (the `[shop]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShopConfig {
    /// Most units one PurchaseReq may buy (`INVALID_ARGUMENT` above). Default 100.
    pub max_quantity: u32,
    /// Purchase transactions one instance runs at once; more wait their turn (MySQL does the
    /// most per second with few in flight per core: raise it with the database's cores).
    /// 1-1024. Default 16.
    pub purchase_concurrency: u32,
    /// Most ledger rows one LedgerReq answers. Default 100.
    pub max_ledger_page: u32,
    /// How long the catalog is cached for CatalogReq (purchases always read MySQL). Default 1s.
    #[serde(with = "humantime_serde")]
    pub catalog_cache: Duration,
    /// The retry hint sent with `SHOP_STORE_UNAVAILABLE` when MySQL is down. Default 1s.
    #[serde(with = "humantime_serde")]
    pub unavailable_retry: Duration,
    /// What every player is given once, on its first shop request of any kind (currency ->
    /// amount, e.g. `{ gold = 1000 }`): a grant under the key "starter". Default: nothing.
    pub starter: BTreeMap<String, i64>,
    /// Players each instance remembers as having their starter balance, so their requests cost
    /// no query for it (one forgotten asks the grant again, which changes nothing). Default
    /// 100000.
    pub starter_cache: usize,
    /// App Store signed transactions; absent: ReceiptRedeemReq gets `SHOP_RECEIPT_INVALID`.
    pub app_store: Option<AppStoreConfig>,
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            max_quantity: 100,
            purchase_concurrency: 16,
            max_ledger_page: 100,
            catalog_cache: Duration::from_secs(1),
            unavailable_retry: Duration::from_secs(1),
            starter: BTreeMap::new(),
            starter_cache: 100_000,
            app_store: None,
        }
    }
}

/// `[shop.app_store]`: how signed transactions are verified, and what each product grants.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppStoreConfig {
    /// PEM file of the root certificate the chain must end at (Apple Root CA - G3 in
    /// production).
    pub root_cert: PathBuf,
    /// The app's bundle id; a transaction of another app is refused.
    pub bundle_id: String,
    /// What each product id grants: `[shop.app_store.products."gems.100"] currencies = {
    /// gems = 100 }, items = { "7" = 1 }`.
    #[serde(default)]
    pub products: BTreeMap<String, ProductGrant>,
}

/// What one real-money product grants.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProductGrant {
    /// Currency -> amount.
    pub currencies: BTreeMap<String, i64>,
    /// Item id (as a string key) -> count.
    pub items: BTreeMap<String, i64>,
}

impl ShopConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_quantity == 0 || self.max_ledger_page == 0 {
            return Err("shop: max_quantity and max_ledger_page must be at least 1".into());
        }
        if !(1..=1024).contains(&self.purchase_concurrency) {
            return Err("shop: purchase_concurrency must be 1-1024".into());
        }
        if self.starter_cache < 2 {
            return Err("shop: starter_cache must be at least 2".into());
        }
        for (c, n) in &self.starter {
            if !crate::wallet::valid_currency(c) || *n <= 0 {
                return Err(format!(
                    "shop.starter: {c:?} must be a currency name (a-z, 0-9, '_') with an amount above 0"
                ));
            }
        }
        if let Some(a) = &self.app_store {
            if a.bundle_id.is_empty() {
                return Err("shop.app_store: bundle_id must be set".into());
            }
            for (id, g) in &a.products {
                if g.items.keys().any(|k| k.parse::<u32>().is_err()) {
                    return Err(format!("shop.app_store.products.{id}: item keys must be item ids"));
                }
                if g.currencies.values().chain(g.items.values()).any(|v| *v <= 0) {
                    return Err(format!("shop.app_store.products.{id}: amounts must be above 0"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchase_concurrency_is_bounded() {
        for (n, ok) in [(0, false), (1, true), (16, true), (1024, true), (1025, false)] {
            let cfg = ShopConfig { purchase_concurrency: n, ..ShopConfig::default() };
            assert_eq!(cfg.validate().is_ok(), ok, "{n}");
        }
    }
}
