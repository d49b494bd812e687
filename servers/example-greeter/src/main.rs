//! `mmo-example-greeter`: runs the greeter in a process of its own, next to a cluster started
//! with `mmo all` (or `mmo gateway`) on the same Redis, until SIGINT or SIGTERM. The bus comes
//! from `MMO_REDIS_URL` and `MMO_BUS_PREFIX`, with `mmo`'s defaults; the node id from
//! `MMO_NODE_ID`, else `greeter-<pid>`.

use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::BusConfig;
use mmo_core::server::launch;
use mmo_core::shutdown::Signals;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    // Before anything starts: an early signal must drain, not kill.
    let signals = Signals::install()?;
    let shutdown = Shutdown::new();
    let mut cfg = BusConfig::default();
    cfg.apply_env();
    // The node id names this process's consumer in the service's group: unique per process.
    let node_id = std::env::var("MMO_NODE_ID").unwrap_or_else(|_| format!("greeter-{}", std::process::id()));
    // The launcher does what every server needs (heartbeat, route publication, tables: none
    // here) and starts the list: a game's servers go in it exactly like the built-in ones.
    let launched = launch(vec![mmo_example_greeter::server()], &cfg, &node_id, None, &shutdown).await?;
    tracing::info!(node = launched.bus.node(), "greeter serving");
    let signal = signals.first().await;
    tracing::info!(signal, "shutting down");
    if !shutdown.drain(Duration::from_secs(10)).await {
        tracing::warn!(tasks = shutdown.tasks(), "grace period over; exiting with tasks still running");
    }
    Ok(())
}
