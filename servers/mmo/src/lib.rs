//! The launcher's library: the whole configuration file and the code that starts servers, so
//! one machine (`mmo all`) and a cluster (`mmo <server>` per process) run the same code path.

pub mod config;

use std::net::SocketAddr;

use mmo_core::bus::Bus;
use mmo_core::store::{MigrationReport, Migrations, Store};
use mmo_core::{Registry, Shutdown};

pub use config::Config;

/// Which servers a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every server in one process.
    All,
    /// Only the gateway.
    Gateway,
    /// Only the diagnostics server (Echo, Time).
    Diagnostics,
    /// Only the version server (Hello).
    Version,
    /// Only the account server (register, login, profiles, friends).
    Account,
    /// Only a zone node (the world: map instances, match instances).
    Zone,
    /// Apply every server's database migrations, then exit.
    Migrate,
}

/// The migrations of every built-in server, each under its owner's name (its tables, its
/// history table `_migrations_<owner>`). Servers that keep tables add theirs here.
pub fn migrations() -> Vec<Migrations> {
    vec![mmo_version::migrations(), mmo_account::migrations(), mmo_zone::migrations()]
}

/// Connects to MySQL (creating the database if configured to) and applies `migrations()`.
pub async fn migrate(cfg: &Config) -> anyhow::Result<Vec<MigrationReport>> {
    let store = Store::connect(&cfg.mysql).await.map_err(|e| anyhow::anyhow!("mysql: {e}"))?;
    let mut reports = Vec::new();
    for m in migrations() {
        let report = store.migrate(&m).await.map_err(|e| anyhow::anyhow!("migrating {}: {e}", m.owner))?;
        reports.push(report);
    }
    Ok(reports)
}

/// Addresses the started servers listen on.
#[derive(Debug)]
pub struct Started {
    pub gateway: Option<SocketAddr>,
    pub bus: Bus,
    pub zone: Option<mmo_zone::ZoneNode>,
}

/// Binds and spawns the servers of `role` on the current runtime; their tasks watch `shutdown`.
pub async fn start(role: Role, cfg: &Config, shutdown: &Shutdown) -> anyhow::Result<Started> {
    if role == Role::Migrate {
        anyhow::bail!("`migrate` is not a server role; call mmo::migrate");
    }
    let needs_store = matches!(role, Role::All | Role::Version | Role::Account | Role::Zone);
    // Schemas first: a server must not start against tables older than its code.
    if needs_store {
        migrate(cfg).await?;
    }
    let bus = Bus::connect(cfg.bus.clone(), cfg.node.id.clone(), shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("bus at {}: {e}", cfg.bus.url))?;
    let mut started = Started { gateway: None, bus: bus.clone(), zone: None };
    // Every role is a live node of the cluster (servers would start it anyway, see
    // `Bus::start_heartbeat`; the zone node's leases depend on it from the start).
    bus.start_heartbeat(shutdown).await.map_err(|e| anyhow::anyhow!("heartbeat: {e}"))?;
    // Servers first, so their routes are published before the gateway loads the route table.
    if matches!(role, Role::All | Role::Diagnostics) {
        mmo_diagnostics::run(&bus, shutdown).await?;
    }
    if needs_store {
        let store = Store::connect(&cfg.mysql).await.map_err(|e| anyhow::anyhow!("mysql: {e}"))?;
        if matches!(role, Role::All | Role::Version) {
            mmo_version::run(&bus, store.clone(), cfg.listener.clone(), shutdown).await?;
        }
        if matches!(role, Role::All | Role::Account) {
            mmo_account::run(&bus, store.clone(), cfg.account.clone(), shutdown).await?;
        }
        if matches!(role, Role::All | Role::Zone) {
            let zone = mmo_zone::run(&bus, store, cfg.zone.clone(), cfg.write_behind.clone(), shutdown)
                .await
                .map_err(|e| anyhow::anyhow!("zone: {e}"))?;
            started.zone = Some(zone);
        }
    }
    if matches!(role, Role::All | Role::Gateway) {
        let listener = mmo_gateway::bind(
            cfg.listener.clone(),
            cfg.gateway.clone(),
            Registry::new(),
            shutdown.clone(),
            Some(&bus),
        )
        .await?;
        started.gateway = Some(listener.local_addr()?);
        tokio::spawn(listener.run());
    }
    Ok(started)
}

/// `mmo admin version publish`: sets a platform's build policy; takes effect at the next Hello.
pub async fn publish_version(
    cfg: &Config,
    platform: &str,
    latest: &str,
    minimum: &str,
    manifest_url: &str,
) -> anyhow::Result<()> {
    let platform = mmo_proto::Platform::from_str_name(&platform.to_ascii_uppercase()).ok_or_else(|| {
        anyhow::anyhow!("unknown platform {platform:?} (windows, macos, linux, android, ios, console)")
    })?;
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    mmo_version::publish(&store, &bus, platform, latest, minimum, manifest_url).await?;
    Ok(())
}

/// Connects what an admin command needs: the schema (migrated), MySQL and a bus node of its own.
async fn admin_connect(cfg: &Config) -> anyhow::Result<(Store, Bus, Shutdown)> {
    migrate(cfg).await?;
    let store = Store::connect(&cfg.mysql).await.map_err(|e| anyhow::anyhow!("mysql: {e}"))?;
    let shutdown = Shutdown::new();
    let bus = Bus::connect(cfg.bus.clone(), format!("{}-admin", cfg.node.id), &shutdown).await?;
    Ok((store, bus, shutdown))
}

/// `mmo admin account ban`: bans an account (by username or player id) for `duration` (None:
/// permanently), revokes its tokens and disconnects it if online.
pub async fn ban_account(
    cfg: &Config,
    target: &str,
    reason: &str,
    duration: Option<std::time::Duration>,
) -> anyhow::Result<mmo_account::Banned> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let banned = mmo_account::ban(&store, &bus, target, reason, duration).await?;
    // The kick and the event are envelopes: make sure they are written before the process exits.
    bus.flush(cfg.bus.command_timeout).await;
    Ok(banned)
}

/// `mmo admin account unban`.
pub async fn unban_account(cfg: &Config, target: &str) -> anyhow::Result<mmo_account::Unbanned> {
    let (store, bus, _shutdown) = admin_connect(cfg).await?;
    let unbanned = mmo_account::unban(&store, &bus, target).await?;
    bus.flush(cfg.bus.command_timeout).await;
    Ok(unbanned)
}
