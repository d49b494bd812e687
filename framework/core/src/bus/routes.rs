//! The route table: each server publishes the declarations of the messages it handles (id ->
//! service, stages, rate limit) in one Redis hash; gateways load it and gate, rate-limit and
//! forward those messages exactly as they do their own. A server's router is the single source
//! of truth: adding a message to a server touches no gateway code or config.

use std::collections::HashMap;
use std::sync::Arc;

use mmo_wire::MsgId;
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError};
use crate::rate::RateLimit;
use crate::router::RouteSpec;
use crate::session::StageSet;

/// A route handled by another node.
#[derive(Clone, Debug)]
pub struct RemoteRoute {
    pub service: String,
    pub stream: Arc<str>,
    pub spec: RouteSpec,
    pub name: String,
}

/// The routes known to this gateway, refreshed in the background.
#[derive(Clone, Default)]
pub struct RouteTable(Arc<RwLock<HashMap<MsgId, RemoteRoute>>>);

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable").field("routes", &self.0.read().len()).finish()
    }
}

/// Stored value: "service stages per_second burst name oneway" (oneway 1 or 0; a value without
/// it, from a server of an older version, is not one-way).
fn encode(service: &str, name: &str, spec: &RouteSpec) -> String {
    let (rate, burst) = spec.rate.map_or((0.0, 0.0), |r| (r.per_second, r.burst));
    format!("{service} {} {rate} {burst} {name} {}", spec.stages.0, u8::from(spec.oneway))
}

fn decode(keys: &super::Keys, value: &str) -> Option<RemoteRoute> {
    let mut it = value.split(' ');
    let service = it.next()?.to_string();
    let stages = StageSet(it.next()?.parse().ok()?);
    let per_second: f32 = it.next()?.parse().ok()?;
    let burst: f32 = it.next()?.parse().ok()?;
    let name = it.next()?.to_string();
    let oneway = it.next() == Some("1");
    let rate = (per_second > 0.0).then_some(RateLimit { per_second, burst });
    let spec = RouteSpec { stages, rate, oneway };
    Some(RemoteRoute { stream: keys.service(&service), service, spec, name })
}

/// Declares `service`'s routes. Fails if another service already declared one of the ids: two
/// servers cannot both handle a message.
pub async fn publish(
    bus: &Bus,
    service: &str,
    routes: &[(MsgId, &'static str, RouteSpec)],
) -> Result<(), BusError> {
    let key = bus.keys().routes();
    let mut conn = bus.conn().await?;
    let existing: HashMap<u16, String> =
        bus.timed(redis::cmd("HGETALL").arg(&key).query_async(&mut *conn)).await?;
    let mut pipe = redis::pipe();
    for (id, name, spec) in routes {
        if let Some(other) = existing.get(&id.0)
            && let Some(other_service) = other.split(' ').next()
            && other_service != service
        {
            return Err(BusError::Conflict(format!(
                "message {name} (id {id}) is already handled by service {other_service}; {service} cannot handle it too"
            )));
        }
        pipe.cmd("HSET").arg(&key).arg(id.0).arg(encode(service, name, spec)).ignore();
    }
    bus.timed(pipe.query_async::<()>(&mut *conn)).await
}

/// Publishes `service`'s routes again every `routes_refresh` until `token` is cancelled, so a
/// Redis that restarted empty learns them again without restarting the servers. Call
/// [`publish`] once first, to fail at start-up on a conflict.
pub async fn keep_published(
    bus: Bus,
    service: String,
    specs: Vec<(MsgId, &'static str, RouteSpec)>,
    token: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(bus.config().routes_refresh) => {}
            _ = token.cancelled() => return,
        }
        if let Err(e) = publish(&bus, &service, &specs).await {
            tracing::warn!(error = %e, service, "route table publish failed");
        }
    }
}

impl RouteTable {
    pub fn route(&self, id: MsgId) -> Option<RemoteRoute> {
        self.0.read().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.0.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.read().is_empty()
    }

    /// Reloads the table from Redis: routes found there are added or updated, and routes
    /// missing from it are **kept**. A Redis that restarted empty has no routes until every
    /// server re-publishes (within `routes_refresh`); replacing the table by what it holds then
    /// would answer valid requests `UNKNOWN_MESSAGE`, a strike, for a server that is running.
    /// Returns how many routes the table holds.
    pub async fn reload(&self, bus: &Bus) -> Result<usize, BusError> {
        let mut conn = bus.conn().await?;
        let raw: HashMap<u16, String> =
            bus.timed(redis::cmd("HGETALL").arg(bus.keys().routes()).query_async(&mut *conn)).await?;
        let mut table = self.0.write();
        for (id, v) in &raw {
            if let Some(route) = decode(bus.keys(), v) {
                table.insert(MsgId(*id), route);
            }
        }
        Ok(table.len())
    }

    /// Reloads every `routes_refresh` until cancelled.
    pub async fn refresh_loop(self, bus: Bus, token: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(bus.config().routes_refresh) => {}
                _ = token.cancelled() => return,
            }
            if let Err(e) = self.reload(&bus).await {
                tracing::warn!(error = %e, "route table reload failed; keeping the last one");
            }
        }
    }
}
