//! The map under every handler table: message id -> its route (name, declaration, where it was
//! registered, handler). The framework's async [`Router`](crate::Router) is one; a server with
//! handlers of another shape (the zone's synchronous instance handlers, which run on a world
//! owned by one task) builds its table on the same type, so declaring, merging, publishing and
//! refusing a duplicate work alike everywhere.
//!
//! ```
//! use mmo_core::table::Routes;
//! use mmo_core::{RouteSpec, Stage};
//! use mmo_proto::{MsgType, PingReq};
//!
//! // A table of plain function pointers.
//! let mut table: Routes<fn(u32) -> u32> = Routes::new();
//! table.insert::<PingReq>(Stage::Versioned.into(), std::panic::Location::caller(), |n| n + 1);
//! assert_eq!((table.get(PingReq::ID).unwrap().handler)(1), 2);
//! assert_eq!(table.specs()[0].1, "PingReq");
//! ```

use std::collections::HashMap;
use std::panic::Location;

use mmo_wire::{MsgId, MsgType};

use crate::rate::RateLimit;
use crate::session::{Stage, StageSet};

/// The declaration part of a route: stages, rate limit, and whether it is answered. Built from
/// a [`Stage`] or a [`StageSet`]: `Stage::Authenticated.rate_limit(RateLimit::per_second(5))`;
/// `oneway` is set by [`Router::route`](crate::Router::route) from the handler's reply type.
#[derive(Clone, Copy, Debug)]
pub struct RouteSpec {
    pub stages: StageSet,
    pub rate: Option<RateLimit>,
    /// The handler answers nothing on success ([`NoReply`](crate::NoReply)): forwarded without waiting.
    pub oneway: bool,
}

impl From<Stage> for RouteSpec {
    fn from(s: Stage) -> Self {
        RouteSpec { stages: StageSet::only(s), rate: None, oneway: false }
    }
}

impl From<StageSet> for RouteSpec {
    fn from(stages: StageSet) -> Self {
        RouteSpec { stages, rate: None, oneway: false }
    }
}

impl Stage {
    /// This stage and another.
    pub const fn and(self, other: Stage) -> StageSet {
        StageSet::only(self).with(other)
    }

    /// A route allowed in this stage, limited to `rate` per session.
    pub fn rate_limit(self, rate: RateLimit) -> RouteSpec {
        RouteSpec { stages: self.into(), rate: Some(rate), oneway: false }
    }
}

impl StageSet {
    /// A route allowed in these stages, limited to `rate` per session.
    pub fn rate_limit(self, rate: RateLimit) -> RouteSpec {
        RouteSpec { stages: self, rate: Some(rate), oneway: false }
    }

    pub const fn and(self, other: Stage) -> StageSet {
        self.with(other)
    }
}

/// One message's route.
pub struct Route<H> {
    pub name: &'static str,
    pub spec: RouteSpec,
    /// Where it was registered (named when the id is registered twice).
    pub location: &'static Location<'static>,
    pub handler: H,
}

/// Message id -> route, at most one route per id.
pub struct Routes<H> {
    routes: HashMap<MsgId, Route<H>>,
}

impl<H> Default for Routes<H> {
    fn default() -> Self {
        Routes { routes: HashMap::new() }
    }
}

impl<H> std::fmt::Debug for Routes<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.routes.values().map(|r| r.name).collect();
        names.sort_unstable();
        f.debug_list().entries(names).finish()
    }
}

impl<H> Routes<H> {
    pub fn new() -> Self {
        Routes::default()
    }

    /// Adds the route of message type `T`.
    ///
    /// # Panics
    /// If `T`'s id already has a route: at start-up, naming both places it was registered.
    pub fn insert<T: MsgType>(&mut self, spec: RouteSpec, location: &'static Location<'static>, handler: H) {
        self.add(T::ID, Route { name: T::NAME, spec, location, handler });
    }

    /// Adds every route of `other`.
    ///
    /// # Panics
    /// If both tables route the same message id, naming where each was registered.
    pub fn merge(&mut self, other: Routes<H>) {
        for (id, route) in other.routes {
            self.add(id, route);
        }
    }

    fn add(&mut self, id: MsgId, route: Route<H>) {
        if let Some(existing) = self.routes.get(&id) {
            panic!(
                "message {} (id {id}) has two handlers: registered at {} and again at {}",
                route.name, existing.location, route.location
            );
        }
        self.routes.insert(id, route);
    }

    pub fn get(&self, id: MsgId) -> Option<&Route<H>> {
        self.routes.get(&id)
    }

    /// The declaration of the route for `id`, if there is one.
    pub fn spec(&self, id: MsgId) -> Option<RouteSpec> {
        self.routes.get(&id).map(|r| r.spec)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The routes with their declarations, in id order: what a server publishes so the gateway
    /// can gate and rate-limit its messages before forwarding them.
    pub fn specs(&self) -> Vec<(MsgId, &'static str, RouteSpec)> {
        let mut v: Vec<_> = self.routes.iter().map(|(id, r)| (*id, r.name, r.spec)).collect();
        v.sort_by_key(|(id, _, _)| *id);
        v
    }

    /// The routes as (id, name, stages), in id order: for docs and diagnostics.
    pub fn describe(&self) -> Vec<(MsgId, &'static str, StageSet)> {
        self.specs().into_iter().map(|(id, name, spec)| (id, name, spec.stages)).collect()
    }
}
