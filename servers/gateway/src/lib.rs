//! The gateway: holds client connections, gates each message by the session's stage and handles
//! the session-level messages itself. Its routes:
//!
//! | message   | stage      | handler                       |
//! |-----------|------------|-------------------------------|
//! | HelloReq  | Connected  | [`handlers::hello`]           |
//! | PingReq   | any        | [`handlers::ping`] (rate-limited) |

pub mod config;
pub mod handlers;

use std::sync::Arc;

use mmo_core::{Listener, ListenerConfig, RateLimit, Registry, Router, Shutdown, Stage, StageSet};

pub use config::GatewayConfig;

/// What the gateway's handlers share.
#[derive(Debug)]
pub struct State {
    pub gateway: GatewayConfig,
    pub listener: ListenerConfig,
}

/// The gateway's handler table.
pub fn router(cfg: &GatewayConfig) -> Router<State> {
    Router::new().route(Stage::Connected, handlers::hello::handle_hello).route(
        StageSet::ANY.rate_limit(RateLimit::per_second(cfg.ping_per_second)),
        handlers::ping::handle_ping,
    )
}

/// Binds the gateway's listener; call [`Listener::run`] on the result to serve.
pub async fn bind(
    listener: ListenerConfig,
    gateway: GatewayConfig,
    registry: Registry,
    shutdown: Shutdown,
) -> std::io::Result<Listener<State>> {
    let router = router(&gateway);
    let state = Arc::new(State { gateway, listener: listener.clone() });
    Listener::bind(listener, router, state, registry, shutdown).await
}
