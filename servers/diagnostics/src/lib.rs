//! The diagnostics server: the smallest server behind the bus. Its routes:
//!
//! | message  | stage                     | handler             |
//! |----------|---------------------------|---------------------|
//! | EchoReq  | Versioned, Authenticated  | [`handlers::echo`]  |
//! | TimeReq  | Versioned, Authenticated  | [`handlers::time`]  |
//!
//! Both are allowed from `Versioned` on (before login) so bots and probes can exercise the whole
//! path without an account; the per-session rate limit bounds what an anonymous client can do.

pub mod handlers;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running, Server, StartError};
use mmo_core::{RateLimit, Router, Shutdown, Stage};

/// The service name: its stream and consumer group.
pub const SERVICE: &str = "diagnostics";

/// Requests per second one session may send to this server.
pub const RATE_PER_SECOND: u32 = 1000;

pub fn router() -> Router<()> {
    let spec = Stage::Versioned.and(Stage::Authenticated).rate_limit(RateLimit::per_second(RATE_PER_SECOND));
    Router::new().route(spec, handlers::echo::handle_echo).route(spec, handlers::time::handle_time)
}

/// The diagnostics server: no tables, no state.
pub fn server() -> Server {
    Server::new(SERVICE, |l| async move {
        l.serve(router(), Arc::new(())).await?;
        Ok(Running::Serving)
    })
}

/// Starts [`server`] alone on `bus` (tests; a process that set its bus up itself).
pub async fn run(bus: &Bus, shutdown: &Shutdown) -> Result<(), StartError> {
    server().start(Launch::new(SERVICE, bus.clone(), None, shutdown.clone())).await.map(drop)
}
