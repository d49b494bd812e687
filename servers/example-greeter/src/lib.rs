//! The greeter: the example game server of `docs/extending.md`, outside the built-in ones, with
//! its own protocol (`proto/greeter.proto`, ids from 20000). It runs behind the bus like any
//! server; the gateway learns its routes from Redis. [`router`] is its table of routes.
//!
//! GreetReq is allowed from `Versioned` on (after Hello, before login) because a greeting acts
//! for no player: it uses nothing but the name in the request, so a client may be greeted
//! before it logs in. The rate limit bounds what an anonymous client can ask. A message that acts for a player (reads `ctx.session().player()`) is
//! `Stage::Authenticated` only.

pub mod handlers;
pub mod proto;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mmo_core::server::{Running, Server};
use mmo_core::{RateLimit, Router, Stage};

/// The service name: its stream and consumer group, and its name in the route table.
pub const SERVICE: &str = "greeter";

/// What the greeter's handlers share, one per process. A real server keeps its database pool,
/// caches and settings here.
#[derive(Debug, Default)]
pub struct State {
    /// Greetings this process has answered.
    pub greeted: AtomicU64,
}

/// The greeter's route table: one line per message.
pub fn router() -> Router<State> {
    // After Hello, before or after login; at most 5 per second per session.
    let after_hello = || Stage::Versioned.and(Stage::Authenticated).rate_limit(RateLimit::per_second(5));
    Router::new()
        // GreetReq -> GreetResp
        .route(after_hello(), handlers::greet::handle_greet)
}

/// The greeter, declared for the launcher (`mmo_core::server::launch`): its name, and how it
/// starts (it keeps no tables; a server that does adds `.with_migrations(...)`).
pub fn server() -> Server {
    Server::new(SERVICE, |l| async move {
        l.serve(router(), Arc::new(State::default())).await?;
        Ok(Running::Serving)
    })
}
