//! The diagnostics server: the smallest server behind the bus. Its routes:
//!
//! | message  | stage         | handler             |
//! |----------|---------------|---------------------|
//! | EchoReq  | Authenticated | [`handlers::echo`]  |
//! | TimeReq  | Authenticated | [`handlers::time`]  |

pub mod handlers;

use std::sync::Arc;

use mmo_core::bus::{Bus, BusError, serve::serve};
use mmo_core::{Router, Shutdown, Stage};

/// The service name: its stream and consumer group.
pub const SERVICE: &str = "diagnostics";

pub fn router() -> Router<()> {
    Router::new()
        .route(Stage::Authenticated, handlers::echo::handle_echo)
        .route(Stage::Authenticated, handlers::time::handle_time)
}

/// Serves the diagnostics routes from the bus until shutdown.
pub async fn run(bus: &Bus, shutdown: &Shutdown) -> Result<(), BusError> {
    serve(bus, SERVICE, router(), Arc::new(()), shutdown).await
}
