//! The game event log. Servers put typed events (`mmo.bus.GameEvent`) on the `events` stream
//! with `mmo_core::bus::events`; events of a MySQL business record (a purchase, a grant) are
//! instead staged in the record's own transaction with [`outbox::stage`] and relayed to the
//! stream afterwards, so losing Redis loses none of them.

pub mod outbox;

use mmo_core::store::Migrations;

/// The service name: its consumer group and key space.
pub const SERVICE: &str = "eventlog";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables: `game_events` and `event_outbox`.
pub fn migrations() -> Migrations {
    Migrations { owner: "eventlog", runner: embedded::migrations::runner }
}
