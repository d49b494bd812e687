//! The zone server: where players meet. Each map is one **zone instance**: a plain, synchronous
//! [`World`] owned by one task that ticks it at a fixed rate (20 Hz by default) and feeds it the
//! players' messages between ticks, with no lock on the simulation. Each tick gives every player
//! only what is near it, as one reliable and one droppable frame, and all the frames for one
//! gateway travel as one stream entry.
//!
//! The instance handler table, [`table()`]: the messages of players an instance holds.
//!
//! | message          | stage         | handler                                        |
//! |------------------|---------------|------------------------------------------------|
//! | EnterWorldReq    | Authenticated | on the shared stream, `shared_router`: `node::place` passes it on to the instance that holds or should hold the player, which claims it; in that instance, [`handlers::enter_world`] |
//! | MoveReq          | Authenticated | [`handlers::move`] (one-way)                   |
//! | AttackReq        | Authenticated | [`handlers::attack`]                           |
//! | LeaveInstanceReq | Authenticated | [`handlers::leave_instance`]                   |
//!
//! The zone's own commands (`proto/commands.proto`, [`commands`]), which no client can send:
//! they travel between servers as `Command` envelopes and are dispatched by their `oneof`.
//!
//! | command           | from                       | to                 | what it does |
//! |-------------------|----------------------------|--------------------|--------------|
//! | CreateInstanceCmd | matchmaking ([`create_instance`]) | the shared stream | a node with room starts the match instance |
//! | EnterCmd          | the shared stream, or an instance that does not hold the player | an instance | claim and place the player, answer its EnterWorldReq |
//! | HandOffCmd        | the instance handing a player over | the receiving instance | place the player it now owns, rebind its session |
//! | PullCmd           | a match instance           | the instance holding a roster player | hand the player over to the match |
//!
//! Around the world: [`node`] (a zone node: worker threads, leases, the shared stream),
//! [`instance`] (the task owning one world: entering, leaving, the tick's output, hand-off),
//! [`directory`] (who holds which instance, in Redis), [`store`] (the `zone_players` table and
//! its claims), [`loot`] (items: the shop's `inventory` table is their record, a kill's loot
//! is a grant in the shop's ledger), [`matches`] (match instances for matchmaking). Progress is written behind to
//! MySQL every `save_interval`, and at once when a player leaves or is handed off; a player is
//! held by one instance at a time, enforced by a claim token in its row that fences every write.
//!
//! The simulation itself, in the order a tick runs it, does no I/O and reads no clock:
//!
//! | request / call               | what the world does                                         |
//! |------------------------------|-------------------------------------------------------------|
//! | [`World::spawn_player`]      | places a player from its [`PlayerSave`]; returns its ZoneEnterNtf |
//! | MoveReq -> [`World::input`]  | queues a movement intent ([`MoveInput::from_req`]); no answer |
//! | AttackReq -> [`World::attack`] | checks and applies an attack; AttackResp or a [`ZoneError`] code |
//! | [`World::tick`]              | inputs, movement, NPCs and respawns, interest, frames       |
//! | [`World::take_dirty`]        | states of players changed since the last call (write-behind) |
//! | [`World::remove_player`]     | takes a player out; returns what to save                    |
//!
//! Modules: [`movement`] (intents and the rule for claimed positions), [`combat`] (attacks,
//! death, experience, loot, NPC behaviour), [`aoi`] (the grid and each player's view), [`encode`]
//! (the frames). [`map`] reads map files, [`config`] holds the rules; [`naive`] is the stateless
//! interest management the benchmark compares with.
//!
//! Each tick gives every player at most two bodies: a ZoneTickNtf to push reliably (enters,
//! leaves, stops, combat events, own state) and a ZonePositionsNtf to push droppable under one
//! key per session, [`POSITIONS_KEY`], so a newer one replaces a queued older one.

pub mod aoi;
pub mod combat;

/// The zone's internal commands between its nodes and instances (`proto/commands.proto`), which
/// travel in bus envelopes; not part of the client protocol.
#[allow(clippy::all, missing_docs)]
pub mod commands {
    include!(concat!(env!("OUT_DIR"), "/mmo.zone.rs"));

    impl ZoneCommand {
        /// This command as a bus envelope about `player` (0: none).
        pub fn envelope(&self, player: u64) -> mmo_proto::bus::Envelope {
            use prost::Message as _;
            mmo_proto::bus::Command { player, body: self.encode_to_vec().into() }.into()
        }
    }
}

pub mod config;
pub mod directory;
pub mod encode;
pub mod entity;
pub mod error;
pub mod geom;
pub mod handlers;
pub mod ids;
pub mod input;
pub mod instance;
pub mod loot;
pub mod map;
pub mod matches;
pub mod metrics;
pub mod movement;
pub mod naive;
pub mod node;
pub mod rng;
pub mod server_config;
mod shared;
pub mod store;
pub mod table;
pub mod world;

pub use combat::AttackOutcome;
pub use config::ZoneConfig;
pub use encode::{FrameStats, PlayerFrames};
pub use entity::{EntityInfo, EntityKind, ItemStack, PlayerSave};
pub use error::ZoneError;
pub use geom::Vec2;
pub use ids::{EntityId, PlayerId};
pub use input::{Intent, MoveInput};
pub use map::{MapDef, MapError};
pub use matches::{CreateError, add_to_match, create_instance};
pub use mmo_proto::EnterReason;
pub use node::{StartError, ZoneNode};
pub use server_config::ZoneServerConfig;
pub use table::{Cx, Table};
pub use world::{Spawned, TickMetrics, TickOutput, World, WorldEvent};

/// The service name: the zone's routes, its shared stream, and the binding of sessions.
pub const SERVICE: &str = "zone";

/// The droppable key for ZonePositionsNtf bodies: one per session, so the newest replaces an
/// older one still queued (`Delivery::Droppable { key: POSITIONS_KEY }`).
pub const POSITIONS_KEY: u64 = mmo_proto::ZonePositionsNtf::ID.0 as u64;

use mmo_proto::MsgType as _;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables (`zone_players`).
pub fn migrations() -> mmo_core::store::Migrations {
    mmo_core::store::Migrations { owner: "zone", runner: embedded::migrations::runner }
}

/// The instance handler table of the built-in zone. A game adds its own messages to it with
/// [`Table::route`] and runs it with [`run_with`].
pub fn table() -> Table {
    use handlers::*;
    use mmo_core::{RateLimit, Stage};
    let per_s = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    Table::new()
        .route(per_s(2, 5), enter_world::handle_enter_world)
        // Clients send an input when the intent changes and every 250 ms while moving.
        .route(per_s(30, 30), r#move::handle_move)
        .route(per_s(10, 10), attack::handle_attack)
        .route(per_s(2, 3), leave_instance::handle_leave_instance)
}

/// The zone's shared stream (`<prefix>:svc:zone`, every zone node reading it), for sessions in
/// no instance yet: an EnterWorldReq is passed on to the instance that holds or should hold the
/// player ([`node::place`]), which answers it. The instance table's other messages get
/// `NOT_IN_ZONE` there. (The rate limits published for the zone are the instance table's.)
pub(crate) fn shared_router() -> mmo_core::Router<node::Placing> {
    mmo_core::Router::new().route(mmo_core::Stage::Authenticated, node::place)
}

/// A zone node with the built-in table (see [`server_with`]).
pub fn server(
    cfg: ZoneServerConfig,
    write_behind: mmo_core::store::WriteBehindConfig,
) -> mmo_core::server::Server {
    server_with(cfg, write_behind, table())
}

/// A zone node with a handler table of your own (the built-in [`table()`] merged with a
/// game's). Started, it leaves its [`ZoneNode`] as its handle.
pub fn server_with(
    cfg: ZoneServerConfig,
    write_behind: mmo_core::store::WriteBehindConfig,
    table: Table,
) -> mmo_core::server::Server {
    use mmo_core::server::{Running, Server};
    let server = Server::new(SERVICE, |l| async move {
        let node = node::start(&l.bus, l.store()?, cfg, write_behind, table, &l.shutdown).await?;
        Ok(Running::Handle(Box::new(node)))
    });
    tables().into_iter().fold(server, Server::with_migrations)
}

/// The tables a zone node uses, in the order to apply them: items are the shop's (its
/// inventory, grants and ledger, with the event log's outbox), then the zone's own. [`run`]'s
/// caller applies them; [`server_with`] declares them to the launcher.
pub fn tables() -> Vec<mmo_core::store::Migrations> {
    vec![mmo_eventlog::migrations(), mmo_shop::migrations(), migrations()]
}

/// Runs a zone node with the built-in table until shutdown (see [`node::start`]).
pub async fn run(
    bus: &mmo_core::bus::Bus,
    store: mmo_core::store::Store,
    cfg: ZoneServerConfig,
    write_behind: mmo_core::store::WriteBehindConfig,
    shutdown: &mmo_core::Shutdown,
) -> Result<ZoneNode, StartError> {
    run_with(bus, store, cfg, write_behind, table(), shutdown).await
}

/// [`run`] with a handler table of your own (the built-in [`table()`] merged with a game's).
pub async fn run_with(
    bus: &mmo_core::bus::Bus,
    store: mmo_core::store::Store,
    cfg: ZoneServerConfig,
    write_behind: mmo_core::store::WriteBehindConfig,
    table: Table,
    shutdown: &mmo_core::Shutdown,
) -> Result<ZoneNode, StartError> {
    node::start(bus, store, cfg, write_behind, table, shutdown).await
}
