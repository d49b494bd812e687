//! A server, declared once, and the launcher that runs any list of them in one process.
//!
//! A [`Server`] is a name, the database tables it keeps ([`Migrations`], if any) and how it
//! starts on what the launcher hands it ([`Launch`]: the bus, the store, the shutdown). Its
//! settings are captured when it is declared, so each server crate offers one function that
//! returns its declaration (`mmo_account::server(cfg)`, `mmo_example_greeter::server()`), and a
//! game's own server plugs in exactly as a built-in one does:
//!
//! ```no_run
//! # async fn example(bus: mmo_core::bus::BusConfig, mysql: mmo_core::store::MysqlConfig) -> Result<(), mmo_core::server::StartError> {
//! use std::sync::Arc;
//! use mmo_core::server::{Running, Server, launch};
//! use mmo_core::{Router, Shutdown};
//!
//! let greeter = Server::new("greeter", |l| async move {
//!     l.serve(Router::<()>::new(), Arc::new(())).await?;
//!     Ok(Running::Serving)
//! });
//! let shutdown = Shutdown::new();
//! let launched = launch(vec![greeter], &bus, "node-1", Some(&mysql), &shutdown).await?;
//! # Ok(()) }
//! ```
//!
//! [`launch`] does, in this order, what every server needs and no server author should have to
//! remember: applies every listed server's migrations (a server never starts against tables
//! older than its code), connects the bus and makes the process a live node (heartbeat: without
//! it, a slow request's entry would be taken over and run twice), then starts the servers in list
//! order (put the gateway last, so the others have published their routes when it loads the
//! table). [`Launch::serve`] publishes a router's routes and keeps them published. Every task a
//! server starts is tracked by the shutdown, so the drain waits for it. A server that fails to
//! start fails the launch with its name and its reason, whatever that reason's type.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use crate::Router;
use crate::bus::{Bus, BusConfig, BusError, serve};
use crate::shutdown::Shutdown;
use crate::store::{MigrationReport, Migrations, MysqlConfig, Store, StoreError};

/// Any error a server's start may end in.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type StartFn =
    Box<dyn FnOnce(Launch) -> Pin<Box<dyn Future<Output = Result<Running, BoxError>> + Send>> + Send>;

/// One server: its name, its tables (and those of other servers it writes to), and how it
/// starts.
pub struct Server {
    name: &'static str,
    migrations: Vec<Migrations>,
    start: StartFn,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("tables", &self.migrations.iter().map(|m| m.owner).collect::<Vec<_>>())
            .finish()
    }
}

impl Server {
    /// A server named `name` (its service name: its stream, its consumer group, its routes'
    /// owner) that starts with `start`. `start` returns once the server is serving; the work
    /// goes on in tasks it spawns with [`Shutdown::spawn`] or [`Launch::serve`].
    pub fn new<F, Fut>(name: &'static str, start: F) -> Server
    where
        F: FnOnce(Launch) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Running, BoxError>> + Send + 'static,
    {
        Server { name, migrations: Vec::new(), start: Box::new(move |l| Box::pin(start(l))) }
    }

    /// The server uses these tables: its own, or (declared before its own) those of another
    /// server it writes to, e.g. the shop's ledger for rewards. The launcher applies every
    /// owner's migrations once, in the order first declared, before any server starts, and
    /// hands the servers a [`Store`]; so a server runs alone without the owner running too.
    pub fn with_migrations(mut self, migrations: Migrations) -> Server {
        if !self.migrations.iter().any(|m| m.owner == migrations.owner) {
            self.migrations.push(migrations);
        }
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The tables it uses, in the order to apply them.
    pub fn migrations(&self) -> &[Migrations] {
        &self.migrations
    }

    /// Starts this server alone on `launch` (what [`launch`] does for each server in its list),
    /// for tests and for processes that set up the bus themselves.
    pub async fn start(self, launch: Launch) -> Result<Running, StartError> {
        let name = self.name;
        (self.start)(launch).await.map_err(|error| StartError::Server { name, error })
    }
}

/// What a server gets to start on.
#[derive(Clone)]
pub struct Launch {
    name: &'static str,
    pub bus: Bus,
    store: Option<Store>,
    pub shutdown: Shutdown,
}

impl Launch {
    /// What a server named `name` starts on: `store` is `None` when no MySQL is configured.
    pub fn new(name: &'static str, bus: Bus, store: Option<Store>, shutdown: Shutdown) -> Launch {
        Launch { name, bus, store, shutdown }
    }

    /// The MySQL pool; an error if the process was launched without MySQL.
    pub fn store(&self) -> Result<Store, StoreError> {
        self.store.clone().ok_or_else(|| StoreError::Config(format!("server {} needs [mysql]", self.name)))
    }

    /// Publishes `router`'s routes under this server's name (kept published, so a Redis that
    /// restarted empty learns them again) and serves them from its service stream with `state`.
    pub async fn serve<S: Send + Sync + 'static>(
        &self,
        router: Router<S>,
        state: Arc<S>,
    ) -> Result<(), BusError> {
        serve::serve(&self.bus, self.name, router, state, &self.shutdown).await
    }
}

/// What a started server leaves behind for the process that launched it.
pub enum Running {
    /// Serving from the bus; nothing to hand back.
    Serving,
    /// Accepting clients on this address (a gateway).
    Listening(SocketAddr),
    /// A handle of the server's own type (a zone node), for [`Launched::handle`].
    Handle(Box<dyn Any + Send + Sync>),
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Running::Serving => f.write_str("Serving"),
            Running::Listening(addr) => write!(f, "Listening({addr})"),
            Running::Handle(_) => f.write_str("Handle(..)"),
        }
    }
}

/// Why a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("mysql: {0}")]
    Store(#[from] StoreError),
    #[error("migrating {owner}: {error}")]
    Migration { owner: &'static str, error: StoreError },
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("server {name}: {error}")]
    Server { name: &'static str, error: BoxError },
}

/// The servers a launch started, in list order.
#[derive(Debug)]
pub struct Launched {
    pub bus: Bus,
    pub store: Option<Store>,
    pub running: Vec<(&'static str, Running)>,
}

impl Launched {
    /// The address the first listening server (the gateway) accepts clients on.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.running.iter().find_map(|(_, r)| match r {
            Running::Listening(addr) => Some(*addr),
            _ => None,
        })
    }

    /// The handle of type `T` a server left ([`Running::Handle`]).
    pub fn handle<T: Clone + 'static>(&self) -> Option<T> {
        self.running.iter().find_map(|(_, r)| match r {
            Running::Handle(h) => h.downcast_ref::<T>().cloned(),
            _ => None,
        })
    }
}

/// Runs `servers` in this process as node `node_id`: applies their migrations (on `mysql`,
/// which is required if any server keeps tables), connects the bus and heartbeats, then starts
/// each server in order. Returns once every server is serving; their tasks watch `shutdown`.
pub async fn launch(
    servers: Vec<Server>,
    bus: &BusConfig,
    node_id: &str,
    mysql: Option<&MysqlConfig>,
    shutdown: &Shutdown,
) -> Result<Launched, StartError> {
    let tables = tables_of(&servers);
    let store = match mysql {
        Some(cfg) if !tables.is_empty() => Some(migrate(cfg, tables).await?.0),
        Some(cfg) => Some(Store::connect(cfg).await?),
        None => None,
    };
    let bus = Bus::connect(bus.clone(), node_id, shutdown).await?;
    // Every launched process is a live node of the cluster, whatever it runs.
    bus.start_heartbeat(shutdown).await?;
    let mut running = Vec::with_capacity(servers.len());
    for server in servers {
        let name = server.name;
        let launch = Launch::new(name, bus.clone(), store.clone(), shutdown.clone());
        running.push((name, server.start(launch).await?));
        tracing::info!(server = name, node = bus.node(), "server started");
    }
    Ok(Launched { bus, store, running })
}

/// Every owner's migrations the servers use, each once, in the order first declared.
pub fn tables_of(servers: &[Server]) -> Vec<&Migrations> {
    let mut out: Vec<&Migrations> = Vec::new();
    for m in servers.iter().flat_map(Server::migrations) {
        if !out.iter().any(|o| o.owner == m.owner) {
            out.push(m);
        }
    }
    out
}

/// Connects to MySQL (creating the database if configured to) and applies `tables` in order;
/// returns the pool and what each applied.
pub async fn migrate(
    cfg: &MysqlConfig,
    tables: Vec<&Migrations>,
) -> Result<(Store, Vec<MigrationReport>), StartError> {
    let store = Store::connect(cfg).await?;
    let mut reports = Vec::with_capacity(tables.len());
    for m in tables {
        reports
            .push(store.migrate(m).await.map_err(|error| StartError::Migration { owner: m.owner, error })?);
    }
    Ok((store, reports))
}
