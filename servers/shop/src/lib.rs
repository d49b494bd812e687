//! The wallet and shop server: a versioned catalog, wallets whose every change is a ledger row,
//! an inventory, purchases under client idempotency keys, grants, and real-money receipts.
//! Its routes:
//!
//! | message          | stage         | handler                         |
//! |------------------|---------------|---------------------------------|
//! | CatalogReq       | Authenticated | [`handlers::catalog`]           |
//! | WalletReq        | Authenticated | [`handlers::wallet`]            |
//! | InventoryReq     | Authenticated | [`handlers::inventory`]         |
//! | PurchaseReq      | Authenticated | [`handlers::purchase`]          |
//! | LedgerReq        | Authenticated | [`handlers::ledger`]            |
//! | ReceiptRedeemReq | Authenticated | [`handlers::receipt`]           |
//!
//! MySQL is the record of money: every purchase ([`purchase`]) and grant ([`grants`]) is one
//! transaction that writes its balances with their ledger rows ([`wallet`]), its inventory
//! counts, its idempotency row (kept forever) and its event in the outbox
//! (`mmo_eventlog::outbox`), so the event log has it exactly when it happened. Instances hold
//! nothing but a short-lived catalog cache ([`catalog`]) and who has its starter balance
//! ([`starter`]: `[shop] starter`, granted on a player's first request), so any number may run. Other
//! servers give currencies and items with [`grant`] (loot, match and season rewards); admins
//! load the catalog and grant through [`admin`]; receipts are verified by a
//! [`ReceiptValidator`] ([`receipts`]).

pub mod admin;
pub mod app_store;
pub mod catalog;
pub mod config;
pub mod error;
pub mod grants;
pub mod handlers;
pub mod purchase;
pub mod receipts;
pub mod starter;
pub mod wallet;

use std::collections::BTreeMap;
use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{RateLimit, Router, Stage};

pub use config::ShopConfig;
pub use error::ShopError;
pub use grants::{Grant, Granted, grant};
pub use receipts::{ReceiptError, ReceiptValidator, Verified};

/// The service name: its stream and key space.
pub const SERVICE: &str = "shop";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables. Whoever calls [`grant`] runs these and `mmo_eventlog::migrations()`.
pub fn migrations() -> Migrations {
    Migrations { owner: "shop", runner: embedded::migrations::runner }
}

/// What the handlers share.
pub struct State {
    pub bus: Bus,
    pub store: Store,
    pub cfg: ShopConfig,
    /// Purchases in flight at once (`purchase_concurrency`).
    pub purchases: purchase::Gate,
    pub catalog: catalog::Cache,
    /// Players known to have their starter balance ([`starter`]).
    pub starters: starter::Given,
    /// One per platform whose receipts are redeemed.
    pub validators: Vec<Arc<dyn ReceiptValidator>>,
    /// What each real-money product id grants.
    pub products: BTreeMap<String, config::ProductGrant>,
}

/// The handle [`server`] leaves with the launcher (`Launched::handle::<Shop>()`).
pub type Shop = Arc<State>;

pub fn router() -> Router<State> {
    use handlers::*;
    let authed = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    Router::new()
        .route(authed(1, 5), catalog::handle_catalog)
        .route(authed(2, 5), wallet::handle_wallet)
        .route(authed(2, 5), inventory::handle_inventory)
        .route(authed(5, 10), purchase::handle_purchase)
        .route(authed(1, 5), ledger::handle_ledger)
        .route(authed(1, 3), receipt::handle_receipt_redeem)
}

/// The shop server with its settings (`[shop]`); receipts of the platforms configured there.
pub fn server(cfg: ShopConfig) -> Server {
    server_with(cfg, Vec::new())
}

/// The shop server with extra receipt validators (beyond those `[shop]` configures).
pub fn server_with(cfg: ShopConfig, mut validators: Vec<Arc<dyn ReceiptValidator>>) -> Server {
    Server::new(SERVICE, move |l| async move {
        let invalid = |e: String| StartError::Server { name: SERVICE, error: e.into() };
        cfg.validate().map_err(invalid)?;
        let products = cfg.app_store.as_ref().map(|a| a.products.clone()).unwrap_or_default();
        if let Some(a) = &cfg.app_store {
            let v =
                app_store::AppStore::from_config(a).map_err(|e| invalid(format!("shop.app_store: {e}")))?;
            validators.push(Arc::new(v));
        }
        let store = l.store()?;
        let starters = starter::Given::new(cfg.starter_cache);
        let state = Arc::new(State {
            bus: l.bus.clone(),
            store,
            purchases: purchase::Gate::new(cfg.purchase_concurrency),
            cfg,
            catalog: Default::default(),
            starters,
            validators,
            products,
        });
        l.serve(router(), state.clone()).await?;
        Ok(Running::Handle(Box::new(state)))
    })
    // The event log's outbox, which purchases and grants write to.
    .with_migrations(mmo_eventlog::migrations())
    .with_migrations(migrations())
}
