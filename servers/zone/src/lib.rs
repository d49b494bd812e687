//! The zone server's simulation core: one zone instance (a map and everything on it) as a plain,
//! synchronous [`World`], owned by one task. No locks, no I/O, no clock: the owner feeds it
//! requests and calls [`World::tick`] at the configured rate; what comes out is bytes to push to
//! players and events to act on. The bus wiring (entering and leaving through the gateway,
//! persistence, hand-off between nodes) lives around it.
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
//! Modules, in the order a tick runs them: [`movement`] (intents and the rule for claimed
//! positions), [`combat`] (attacks, death, experience, loot, NPC behaviour), [`aoi`] (the grid
//! and each player's view), [`encode`] (the frames). [`map`] reads map files, [`config`] holds
//! the rules; [`naive`] is the stateless interest management the benchmark compares with.
//!
//! Each tick gives every player at most two bodies: a ZoneTickNtf to push reliably (enters,
//! leaves, stops, combat events, own state) and a ZonePositionsNtf to push droppable under one
//! key per session, [`POSITIONS_KEY`], so a newer one replaces a queued older one.

pub mod aoi;
pub mod combat;
pub mod config;
pub mod encode;
pub mod entity;
pub mod error;
pub mod geom;
pub mod ids;
pub mod map;
pub mod movement;
pub mod naive;
pub mod rng;
pub mod world;

pub use combat::AttackOutcome;
pub use config::ZoneConfig;
pub use encode::{FrameStats, PlayerFrames};
pub use entity::{EntityInfo, EntityKind, ItemStack, PlayerSave};
pub use error::ZoneError;
pub use geom::Vec2;
pub use ids::{EntityId, PlayerId};
pub use map::{MapDef, MapError};
pub use movement::{Intent, MoveInput};
pub use world::{Spawned, TickMetrics, TickOutput, World, WorldEvent};

/// The droppable key for ZonePositionsNtf bodies: one per session, so the newest replaces an
/// older one still queued (`Delivery::Droppable { key: POSITIONS_KEY }`).
pub const POSITIONS_KEY: u64 = mmo_proto::ZonePositionsNtf::ID.0 as u64;

use mmo_proto::MsgType as _;
