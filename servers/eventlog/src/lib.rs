//! The game event log. Servers put typed events (`mmo.bus.GameEvent`) on the `events` stream
//! with `mmo_core::bus::events`; events of a MySQL business record (a purchase, a grant) are
//! instead staged in the record's own transaction with [`outbox::stage`] and relayed to the
//! stream afterwards ([`relay`]), so losing Redis loses none of them.
//!
//! [`server`] runs, on every instance: the [`writer`] (the `eventlog` consumer group of the
//! events stream, storing each event once in `game_events`, in multi-row batches, acknowledged
//! after the batch commits), the [`relay`] (active on the one instance holding its lease) and
//! [`retention`]. [`admin`] lists a player's recent events and exports days of events to
//! newline-delimited JSON ([`json`]).

pub mod admin;
pub mod config;
pub mod days;
pub mod error;
pub mod json;
pub mod outbox;
pub mod relay;
pub mod retention;
pub mod rows;
pub mod writer;

use mmo_core::server::{Running, Server, StartError};
use mmo_core::store::Migrations;

pub use config::EventlogConfig;
pub use error::EventlogError;

/// The service name: its consumer group and key space.
pub const SERVICE: &str = "eventlog";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables: `game_events` and `event_outbox`.
pub fn migrations() -> Migrations {
    Migrations { owner: "eventlog", runner: embedded::migrations::runner }
}

/// The event-log server with its settings (`[eventlog]`): the writer, the outbox relay and
/// retention. It serves no client messages.
pub fn server(cfg: EventlogConfig) -> Server {
    Server::new(SERVICE, move |l| async move {
        cfg.validate().map_err(|e| StartError::Server { name: SERVICE, error: e.into() })?;
        let store = l.store()?;
        writer::start(&l.bus, store.clone(), &cfg, &l.shutdown).await?;
        l.shutdown.spawn(relay::run(l.bus.clone(), store.clone(), cfg.clone(), l.shutdown.clone()));
        retention::start(store, cfg, &l.shutdown);
        Ok(Running::Serving)
    })
    .with_migrations(migrations())
}
