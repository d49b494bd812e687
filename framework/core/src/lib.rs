//! The runtime of the MMO framework: everything a connection touches, with no game concepts.
//!
//! A connection's life reads top to bottom through these modules:
//!
//! - [`listener`]: accepts TCP connections under a cap (a semaphore acquired *before* accept);
//! - [`connection`]: one task per connection: read frames, dispatch, write, enforce deadlines;
//! - [`router`]: the handler table: message id -> (stage it needs, rate limit, handler), on
//!   [`table`], the id -> route map every handler table shares;
//! - [`session`]: the handle others use to reach a connection: its stage and its bounded
//!   outbound queue (droppable pushes coalesce, reliable ones never drop);
//! - [`registry`]: all live sessions of this process, by id;
//! - [`config`], [`metrics`], [`shutdown`]: limits, counters and the drain on SIGTERM;
//! - [`server`]: a server declared once (name, tables, start) and the launcher that runs a list.

pub mod backoff;
pub mod bus;
pub mod cache;
pub mod clock;
pub mod config;
pub mod connection;
pub mod error;
pub mod listener;
pub mod metrics;
pub mod rate;
pub mod registry;
mod replay;
pub mod router;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod store;
pub mod table;

pub use config::{ListenerConfig, MetricsConfig, ShutdownConfig};
pub use error::HandlerError;
pub use listener::Listener;
pub use rate::RateLimit;
pub use registry::Registry;
pub use router::{Ctx, NoReply, Outcome, PassedOn, Router};
pub use session::{Session, SessionClosed, SessionId, Stage, StageSet};
pub use shutdown::Shutdown;
pub use table::RouteSpec;

/// Which dependency an internal error says is down, if any (here, at the crate root, because it
/// knows both the bus and the store, and the router that asks sits below the bus): MySQL or Redis unreachable,
/// timing out or refusing connections, anywhere in the error's chain of sources. A handler
/// that passes such an error on as [`HandlerError::Internal`] needs no special case: the client
/// is told `UNAVAILABLE` with a retry hint instead of `INTERNAL`, because the request was fine.
pub fn unavailable_dependency(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.downcast_ref::<crate::store::StoreError>().is_some_and(|e| e.is_unavailable()) {
            return Some("database unavailable");
        }
        if e.downcast_ref::<crate::bus::BusError>().is_some_and(|e| e.is_unavailable()) {
            return Some("redis unavailable");
        }
        next = e.source();
    }
    None
}
