//! The route table: each server publishes the declarations of the messages it handles (id ->
//! service, stages, rate limit) in one Redis hash; gateways load it and gate, rate-limit and
//! forward those messages exactly as they do their own. A server's router is the single source
//! of truth: adding a message to a server touches no gateway code or config.

use std::collections::HashMap;
use std::sync::Arc;

use mmo_proto::bus::RouteDecl;
use mmo_wire::MsgId;
use parking_lot::RwLock;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError};
use crate::rate::RateLimit;
use crate::session::StageSet;
use crate::table::RouteSpec;

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
pub struct RouteTable(Arc<TableInner>);

#[derive(Default)]
struct TableInner {
    routes: RwLock<HashMap<MsgId, RemoteRoute>>,
    /// A request of the protocol found no route: reload soon rather than at the next refresh.
    missed: tokio::sync::Notify,
}

/// After a miss, the refresh loop waits this long before reloading, so a burst of clients
/// asking for a route that is not there yet costs one reload, not one each.
const MISS_RELOAD_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable").field("routes", &self.0.routes.read().len()).finish()
    }
}

fn encode(service: &str, name: &str, spec: &RouteSpec) -> Vec<u8> {
    let (per_second, burst) = spec.rate.map_or((0.0, 0.0), |r| (r.per_second, r.burst));
    let decl = RouteDecl {
        service: service.into(),
        name: name.into(),
        stages: u32::from(spec.stages.0),
        per_second,
        burst,
        oneway: spec.oneway,
    };
    decl.encode_to_vec()
}

fn decode(keys: &super::Keys, value: &[u8]) -> Option<RemoteRoute> {
    let d = RouteDecl::decode(value).ok()?;
    let stages = StageSet(u8::try_from(d.stages).ok()?);
    let rate =
        (d.per_second > 0.0).then_some(RateLimit { per_second: d.per_second, burst: d.burst.max(1.0) });
    let spec = RouteSpec { stages, rate, oneway: d.oneway };
    Some(RemoteRoute { stream: keys.service(&d.service), service: d.service, spec, name: d.name })
}

/// Claims every id of a service in one step, or none: Redis runs a script alone, so of two
/// servers claiming one id at the same moment exactly one gets it. Fields: `<id>` holds the
/// route (a `RouteDecl`), `owner:<id>` the service that claimed it. Returns nothing on success,
/// or the id and its owner on a conflict.
const CLAIM: &str = r"
local service = ARGV[1]
for i = 2, #ARGV, 2 do
  local owner = redis.call('HGET', KEYS[1], 'owner:' .. ARGV[i])
  if owner and owner ~= service then
    return {ARGV[i], owner}
  end
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'owner:' .. ARGV[i], service, ARGV[i], ARGV[i + 1])
end
return {}
";

/// Declares `service`'s routes. Fails if another service already declared one of the ids: two
/// servers cannot both handle a message. The claim is atomic (see [`CLAIM`]): of two servers
/// starting at once with the same id, one fails, naming both.
pub async fn publish(
    bus: &Bus,
    service: &str,
    routes: &[(MsgId, &'static str, RouteSpec)],
) -> Result<(), BusError> {
    static SCRIPT: std::sync::LazyLock<redis::Script> =
        std::sync::LazyLock::new(|| redis::Script::new(CLAIM));
    let mut conn = bus.conn().await?;
    let mut invocation = SCRIPT.key(bus.keys().routes());
    invocation.arg(service);
    for (id, name, spec) in routes {
        invocation.arg(id.0).arg(encode(service, name, spec));
    }
    let conflict: Vec<String> = bus.timed(invocation.invoke_async(&mut *conn)).await?;
    if let [id, owner] = conflict.as_slice() {
        let name = routes.iter().find(|(i, _, _)| i.0.to_string() == *id).map_or("?", |(_, n, _)| *n);
        return Err(BusError::Conflict(format!(
            "message {name} (id {id}) is already handled by service {owner}; {service} cannot handle it too"
        )));
    }
    Ok(())
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
        self.0.routes.read().get(&id).cloned()
    }

    pub fn len(&self) -> usize {
        self.0.routes.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.routes.read().is_empty()
    }

    /// Asks the refresh loop to reload soon: a request of the protocol found no route (a gateway
    /// that started before its servers published, or a Redis that came back empty).
    pub fn reload_soon(&self) {
        self.0.missed.notify_one();
    }

    /// Reloads the table from Redis: routes found there are added or updated, and routes
    /// missing from it are **kept**. A Redis that restarted empty has no routes until every
    /// server re-publishes (within `routes_refresh`); replacing the table by what it holds then
    /// would answer valid requests `UNKNOWN_MESSAGE`, a strike, for a server that is running.
    /// Returns how many routes the table holds.
    pub async fn reload(&self, bus: &Bus) -> Result<usize, BusError> {
        let mut conn = bus.conn().await?;
        let raw: Vec<(String, Vec<u8>)> =
            bus.timed(redis::cmd("HGETALL").arg(bus.keys().routes()).query_async(&mut *conn)).await?;
        let mut table = self.0.routes.write();
        for (field, v) in &raw {
            // `owner:<id>` fields are the claims; `<id>` fields the routes.
            if let Ok(id) = field.parse::<u16>()
                && let Some(route) = decode(bus.keys(), v)
            {
                table.insert(MsgId(id), route);
            }
        }
        Ok(table.len())
    }

    /// Reloads every `routes_refresh`, and soon after a miss ([`RouteTable::reload_soon`]),
    /// until cancelled.
    pub async fn refresh_loop(self, bus: Bus, token: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(bus.config().routes_refresh) => {}
                _ = self.0.missed.notified() => tokio::time::sleep(MISS_RELOAD_DELAY).await,
                _ = token.cancelled() => return,
            }
            if let Err(e) = self.reload(&bus).await {
                tracing::warn!(error = %e, "route table reload failed; keeping the last one");
            }
        }
    }
}
