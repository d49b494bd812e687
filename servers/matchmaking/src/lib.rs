//! The matchmaking server: parties, queues, the ticket state machine, ready checks, match
//! instances, results and ratings. (Being built: see the commit log.)

pub mod matcher;
pub mod ratings;
pub mod results;

use mmo_core::store::Migrations;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "matchmaking", runner: embedded::migrations::runner }
}
