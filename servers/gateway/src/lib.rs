//! The gateway: holds client connections, gates each message by the session's stage and handles
//! the session-level messages itself. Its routes:
//!
//! | message   | stage      | handler                       |
//! |-----------|------------|-------------------------------|
//! | HelloReq  | Connected  | [`handlers::hello`] (standalone only; behind a bus, the version server) |
//! | PingReq   | any        | [`handlers::ping`] (rate-limited) |
//! | ResumeReq | Versioned  | [`handlers::resume`] (with a bus; rate-limited) |
//!
//! Every other message is forwarded over the bus to the server that declared it (its stage and
//! rate limit are checked here first, from the route table servers publish).

pub mod config;
pub mod handlers;

use std::sync::Arc;

use mmo_core::bus::{Bus, BusError, relay};
use mmo_core::{Listener, ListenerConfig, RateLimit, Registry, Router, Shutdown, Stage, StageSet};

pub use config::GatewayConfig;

/// What the gateway's handlers share.
#[derive(Debug)]
pub struct State {
    pub gateway: GatewayConfig,
    pub listener: ListenerConfig,
    /// This gateway's sessions (resume looks up parked ones).
    pub registry: Registry,
    /// The bus, unless standalone.
    pub bus: Option<Bus>,
}

/// The gateway's handler table. `standalone`: no bus behind it, so the gateway answers Hello
/// itself (protocol check only); with a bus, Hello goes to the version server.
pub fn router(cfg: &GatewayConfig, standalone: bool) -> Router<State> {
    let ping = StageSet::ANY.rate_limit(RateLimit::per_second(cfg.ping_per_second));
    let router = Router::new().route(ping, handlers::ping::handle_ping);
    if standalone {
        router.route(Stage::Connected, handlers::hello::handle_hello)
    } else {
        // A client resumes once per reconnect; a few retries at most.
        let resume = Stage::Versioned.rate_limit(RateLimit::per_second(2));
        router.route(resume, handlers::resume::handle_resume)
    }
}

/// The gateway with its settings, forwarding over the bus: binds, then accepts clients until
/// shutdown. Put it last in a launch list, so the servers before it have published their routes.
pub fn server(listener: ListenerConfig, gateway: GatewayConfig) -> mmo_core::server::Server {
    use mmo_core::server::{Running, Server};
    Server::new("gateway", |l| async move {
        let listener = bind(listener, gateway, Registry::new(), l.shutdown.clone(), Some(&l.bus)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(listener.run());
        Ok(Running::Listening(addr))
    })
}

/// Binds the gateway's listener; call [`Listener::run`] on the result to serve. With a bus,
/// messages the gateway does not handle itself go to the servers that declared them.
pub async fn bind(
    listener: ListenerConfig,
    gateway: GatewayConfig,
    registry: Registry,
    shutdown: Shutdown,
    bus: Option<&Bus>,
) -> Result<Listener<State>, GatewayError> {
    let mut router = router(&gateway, bus.is_none());
    if let Some(bus) = bus {
        let forwarder = relay::start(bus, registry.clone(), &shutdown).await?;
        router = router.forward_unknown(forwarder);
    }
    let state = Arc::new(State {
        gateway,
        listener: listener.clone(),
        registry: registry.clone(),
        bus: bus.cloned(),
    });
    let addr = listener.listen;
    Listener::bind(listener, router, state, registry, shutdown)
        .await
        .map_err(|e| GatewayError::Listen(addr, e))
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("cannot listen on {0}: {1}")]
    Listen(std::net::SocketAddr, std::io::Error),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
}
