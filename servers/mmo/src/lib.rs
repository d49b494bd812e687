//! The launcher's library: the whole configuration file and the code that starts servers, so
//! one machine (`mmo all`) and a cluster (`mmo <server>` per process) run the same code path.

pub mod config;

use std::net::SocketAddr;

use mmo_core::{Registry, Shutdown};

pub use config::Config;

/// Which servers a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every server in one process.
    All,
    /// Only the gateway.
    Gateway,
}

/// Addresses the started servers listen on.
#[derive(Debug, Default)]
pub struct Started {
    pub gateway: Option<SocketAddr>,
}

/// Binds and spawns the servers of `role` on the current runtime; their tasks watch `shutdown`.
pub async fn start(role: Role, cfg: &Config, shutdown: &Shutdown) -> anyhow::Result<Started> {
    let mut started = Started::default();
    if matches!(role, Role::All | Role::Gateway) {
        let listener =
            mmo_gateway::bind(cfg.listener.clone(), cfg.gateway.clone(), Registry::new(), shutdown.clone())
                .await
                .map_err(|e| anyhow::anyhow!("gateway cannot listen on {}: {e}", cfg.listener.listen))?;
        started.gateway = Some(listener.local_addr()?);
        tokio::spawn(listener.run());
    }
    Ok(started)
}
