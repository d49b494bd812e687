//! The version server: the first thing every client meets behind the gateway. Its routes:
//!
//! | message   | stage     | handler              |
//! |-----------|-----------|----------------------|
//! | HelloReq  | Connected | [`handlers::hello`]  |
//!
//! Builds (latest, minimum, patch manifest per platform) live in MySQL (`client_builds`), are
//! cached here, and are changed with [`publish`] (`mmo admin version publish`). A publish bumps an
//! epoch in Redis; each Hello compares the epoch with the cache's, so the next Hello after a
//! publish sees it, on every instance, without a restart.

pub mod builds;
pub mod handlers;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{ListenerConfig, RateLimit, Router, Shutdown, Stage};

pub use builds::{Build, BuildCache, VersionError, publish};

/// The service name: its stream and consumer group.
pub const SERVICE: &str = "version";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "version", runner: embedded::migrations::runner }
}

/// What the handlers share.
pub struct State {
    pub builds: BuildCache,
    /// The gateway's limits, told to clients in HelloResp (all nodes read one config file).
    pub listener: ListenerConfig,
}

pub fn router() -> Router<State> {
    // One Hello per connection; a few retries at most.
    Router::new().route(Stage::Connected.rate_limit(RateLimit::per_second(5)), handlers::hello::handle_hello)
}

/// The version server, telling clients the gateway's `listener` limits.
pub fn server(listener: ListenerConfig) -> Server {
    Server::new(SERVICE, |l| async move {
        let state = Arc::new(State { builds: BuildCache::new(l.store()?, l.bus.clone()), listener });
        l.serve(router(), state).await?;
        Ok(Running::Serving)
    })
    .with_migrations(migrations())
}

/// Starts [`server`] alone on `bus` (tests; a process that set its bus up itself).
pub async fn run(
    bus: &Bus,
    store: Store,
    listener: ListenerConfig,
    shutdown: &Shutdown,
) -> Result<(), StartError> {
    server(listener).start(Launch::new(SERVICE, bus.clone(), Some(store), shutdown.clone())).await.map(drop)
}
