//! The instance handler table: what a zone instance does with each client message of a player it
//! holds. Handlers are plain synchronous functions on the instance's world, called by the
//! instance's own task between two ticks, so they take `&mut World` with no lock and no await:
//!
//! ```
//! use mmo_core::{RateLimit, Stage};
//! use mmo_proto::{AttackReq, AttackResp};
//! use mmo_zone::{Cx, EntityId, Table, ZoneError};
//!
//! fn handle_attack(cx: &mut Cx<'_>, req: AttackReq) -> Result<AttackResp, ZoneError> {
//!     let player = cx.player();
//!     Ok(cx.world().attack(player, EntityId(req.target_id))?.to_resp())
//! }
//!
//! let table = Table::new().route(Stage::Authenticated.rate_limit(RateLimit::per_second(10)), handle_attack);
//! assert_eq!(table.specs().len(), 1);
//! ```
//!
//! It is the framework's route map ([`mmo_core::table::Routes`]) with synchronous handlers, so
//! as with [`mmo_core::Router`], the message type comes from the handler's argument, a route
//! declares its stages and rate limit (published to the gateways, which enforce them before
//! forwarding), a handler returning [`NoReply`](mmo_core::NoReply) makes its route one-way, and
//! registering one id twice panics at start-up naming both places. A game adds its own messages
//! with [`Table::route`] or [`Table::merge`] and runs the zone with [`run_with`](crate::run_with).

use std::panic::Location;

use bytes::Bytes;
use mmo_core::RouteSpec;
use mmo_core::router::IntoReply;
use mmo_core::table::Routes;
use mmo_proto::ZoneEnterNtf;
use mmo_wire::{MsgId, MsgType};

use crate::{EnterReason, PlayerId, World, ZoneError};

/// What a handler sees: the world and the player who sent the message.
pub struct Cx<'a> {
    pub(crate) world: &'a mut World,
    pub(crate) player: PlayerId,
    /// Set in match instances.
    pub(crate) match_id: Option<&'a str>,
    pub(crate) actions: &'a mut Vec<Action>,
}

/// Something a handler asks the instance to do after it returns (it needs more than the world).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Hand the player back to where it came from (it leaves a match instance).
    Return,
}

impl Cx<'_> {
    pub fn world(&mut self) -> &mut World {
        self.world
    }

    pub fn player(&self) -> PlayerId {
        self.player
    }

    /// The match this instance was created for, if it is a match instance.
    pub fn match_id(&self) -> Option<&str> {
        self.match_id
    }

    /// The player's ZoneEnterNtf as things stand.
    pub fn enter_ntf(&self, reason: EnterReason) -> Option<ZoneEnterNtf> {
        let mut ntf = self.world.enter_ntf(self.player)?;
        ntf.reason = reason as i32;
        ntf.match_id = self.match_id.unwrap_or_default().to_string();
        Some(ntf)
    }

    /// Sends the player back to the place it came from into this match instance, once the
    /// handler has returned.
    pub fn leave_instance(&mut self) {
        self.actions.push(Action::Return);
    }
}

/// How a message was handled.
#[derive(Debug, PartialEq)]
pub(crate) enum Dispatched {
    Reply(MsgId, Bytes),
    Done,
    Rejected(ZoneError),
    Malformed,
    Unknown,
}

type Handler = Box<dyn Fn(&mut Cx<'_>, Bytes) -> Dispatched + Send + Sync>;

/// The handler table of a zone instance.
#[derive(Default)]
pub struct Table {
    routes: Routes<Handler>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table").field("routes", &self.routes).finish()
    }
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Registers `handler` for the message type of its second argument.
    ///
    /// # Panics
    /// If a handler is already registered for that id: at start-up, naming both places.
    #[track_caller]
    pub fn route<T, R, F>(mut self, spec: impl Into<RouteSpec>, handler: F) -> Table
    where
        T: MsgType,
        R: IntoReply,
        F: Fn(&mut Cx<'_>, T) -> Result<R, ZoneError> + Send + Sync + 'static,
    {
        let location = Location::caller();
        let erased: Handler = Box::new(move |cx, body| {
            let Ok(msg) = T::decode(body) else { return Dispatched::Malformed };
            match handler(cx, msg) {
                Ok(r) => match r.into_reply() {
                    Some((id, body)) => Dispatched::Reply(id, body),
                    None => Dispatched::Done,
                },
                Err(e) => Dispatched::Rejected(e),
            }
        });
        let spec = RouteSpec { oneway: R::ONEWAY, ..spec.into() };
        self.routes.insert::<T>(spec, location, erased);
        self
    }

    /// Adds every route of `other`.
    ///
    /// # Panics
    /// If both tables handle the same message id.
    pub fn merge(mut self, other: Table) -> Table {
        self.routes.merge(other.routes);
        self
    }

    /// The routes with their declarations, in id order: what the zone publishes to the gateways.
    pub fn specs(&self) -> Vec<(MsgId, &'static str, RouteSpec)> {
        self.routes.specs()
    }

    pub fn spec(&self, id: MsgId) -> Option<RouteSpec> {
        self.routes.spec(id)
    }

    pub(crate) fn dispatch(&self, cx: &mut Cx<'_>, id: MsgId, body: Bytes) -> Dispatched {
        match self.routes.get(id) {
            Some(route) => (route.handler)(cx, body),
            None => Dispatched::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmo_core::{NoReply, Stage};
    use mmo_proto::{AttackReq, AttackResp, MoveReq};

    fn attack(_: &mut Cx<'_>, _: AttackReq) -> Result<AttackResp, ZoneError> {
        Err(ZoneError::TargetNotFound)
    }

    fn walk(_: &mut Cx<'_>, _: MoveReq) -> Result<NoReply, ZoneError> {
        Ok(NoReply)
    }

    #[test]
    fn routes_declare_their_stage_and_whether_they_are_answered() {
        let t = Table::new().route(Stage::Authenticated, attack).route(Stage::Authenticated, walk);
        let specs = t.specs();
        assert_eq!(specs.iter().map(|(_, n, _)| *n).collect::<Vec<_>>(), ["MoveReq", "AttackReq"]);
        assert!(t.spec(MoveReq::ID).is_some_and(|s| s.oneway), "NoReply makes a route one-way");
        assert!(t.spec(AttackReq::ID).is_some_and(|s| !s.oneway));
    }

    #[test]
    #[should_panic(expected = "has two handlers")]
    fn a_message_handled_twice_is_refused_at_start_up() {
        let _ = Table::new().route(Stage::Authenticated, attack).route(Stage::Authenticated, attack);
    }
}
