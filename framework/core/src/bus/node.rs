//! Nodes and presence. Every process is a node with an id; it heartbeats into a sorted set
//! scored by when its heartbeat expires, so the live nodes are one range query away and a dead
//! node disappears on its own. The presence directory maps a player to the gateway node and
//! session holding it; an entry whose node is not live is treated as absent.

use crate::clock::now_ms;

use mmo_proto::ErrorCode;
use mmo_proto::bus::{Kick, Push};
use mmo_wire::{Flags, MsgType};
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError};
use crate::session::{PlayerId, SessionId};

/// Records this node as alive until `node_ttl` from now.
pub async fn heartbeat(bus: &Bus) -> Result<(), BusError> {
    let expires = now_ms() + bus.config().node_ttl.as_millis() as u64;
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::cmd("ZADD").arg(bus.keys().nodes()).arg(expires).arg(bus.node()).query_async::<()>(&mut *conn),
    )
    .await
}

/// Heartbeats until `token` is cancelled or the bus is closed, then removes this node.
pub async fn heartbeat_loop(bus: Bus, token: CancellationToken) {
    let closed = bus.closed();
    loop {
        if let Err(e) = heartbeat(&bus).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(bus.config().heartbeat_interval) => {}
            _ = token.cancelled() => break,
            _ = closed.cancelled() => break,
        }
    }
    if let Ok(mut conn) = bus.conn().await {
        let _ = bus
            .timed(redis::cmd("ZREM").arg(bus.keys().nodes()).arg(bus.node()).query_async::<()>(&mut *conn))
            .await;
    }
}

/// The ids of the nodes whose heartbeat has not expired.
pub async fn live_nodes(bus: &Bus) -> Result<Vec<String>, BusError> {
    let mut conn = bus.conn().await?;
    let nodes: Vec<String> = bus
        .timed(
            redis::cmd("ZRANGEBYSCORE")
                .arg(bus.keys().nodes())
                .arg(now_ms())
                .arg("+inf")
                .query_async(&mut *conn),
        )
        .await?;
    Ok(nodes)
}

/// Where a player is connected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub node: String,
    pub session: SessionId,
}

/// Records that `player` is held by this node's `session`; returns where it was before, if it
/// was somewhere (the caller kicks that session: one session per account).
pub async fn claim_presence(
    bus: &Bus,
    player: PlayerId,
    session: SessionId,
) -> Result<Option<Presence>, BusError> {
    let mut conn = bus.conn().await?;
    let value = format!("{} {}", bus.node(), session.0);
    let old: Option<String> = bus
        .timed(
            redis::cmd("SET")
                .arg(bus.keys().presence(player.0))
                .arg(value)
                .arg("GET")
                .query_async(&mut *conn),
        )
        .await?;
    Ok(old.and_then(|v| parse_presence(&v)))
}

/// Where `player` is connected, if its gateway node is alive.
pub async fn presence(bus: &Bus, player: PlayerId) -> Result<Option<Presence>, BusError> {
    let mut conn = bus.conn().await?;
    let v: Option<String> =
        bus.timed(redis::cmd("GET").arg(bus.keys().presence(player.0)).query_async(&mut *conn)).await?;
    drop(conn);
    let Some(p) = v.and_then(|v| parse_presence(&v)) else { return Ok(None) };
    Ok(live_nodes(bus).await?.contains(&p.node).then_some(p))
}

/// Removes the presence entry if it still points at this node's `session` (a newer login
/// elsewhere must not be erased by the old session ending).
pub async fn release_presence(bus: &Bus, player: PlayerId, session: SessionId) -> Result<bool, BusError> {
    const SCRIPT: &str =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    let mut conn = bus.conn().await?;
    let removed: i64 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(bus.keys().presence(player.0))
                .arg(format!("{} {}", bus.node(), session.0))
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(removed == 1)
}

fn parse_presence(v: &str) -> Option<Presence> {
    let (node, session) = v.rsplit_once(' ')?;
    Some(Presence { node: node.to_string(), session: SessionId(session.parse().ok()?) })
}

/// Closes the session `at` names, telling the client `reason`.
pub fn kick_at(bus: &Bus, at: &Presence, reason: ErrorCode) -> Result<(), BusError> {
    let kick = Kick { session: at.session.0, reason: reason.code() as u32 };
    bus.send(&bus.keys().inbox(&at.node), kick.into())
}

/// Pushes a reliable message to `player` wherever it is connected. Returns whether it was
/// online (sent), or not (nothing to do: offline players read state when they log in).
pub async fn push_to_player<M: MsgType>(bus: &Bus, player: PlayerId, msg: &M) -> Result<bool, BusError> {
    let Some(at) = presence(bus, player).await? else { return Ok(false) };
    let push = Push {
        session: at.session.0,
        msg_id: u32::from(M::ID.0),
        flags: u32::from(Flags::PUSH.0),
        body: msg.encode_to_vec().into(),
        ..Default::default()
    };
    bus.send(&bus.keys().inbox(&at.node), push.into())?;
    Ok(true)
}

/// Closes `player`'s session wherever it is connected, telling the client `reason` (bans, admin
/// kicks). Returns whether it was online.
pub async fn kick_player(bus: &Bus, player: PlayerId, reason: ErrorCode) -> Result<bool, BusError> {
    let Some(at) = presence(bus, player).await? else { return Ok(false) };
    kick_at(bus, &at, reason)?;
    Ok(true)
}

/// Where each of `players` is connected, as the presence directory says (one `MGET`, not
/// checked against the live nodes): for a stateful server making sure the sessions it holds
/// state for still exist.
pub async fn presence_many(bus: &Bus, players: &[PlayerId]) -> Result<Vec<Option<Presence>>, BusError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = players.iter().map(|p| bus.keys().presence(p.0)).collect();
    let mut conn = bus.conn().await?;
    let values: Vec<Option<String>> =
        bus.timed(redis::cmd("MGET").arg(&keys).query_async(&mut *conn)).await?;
    Ok(values.iter().map(|v| v.as_deref().and_then(parse_presence)).collect())
}

/// Whether each of `players` is connected to a live gateway: one `MGET` and one range query,
/// whatever the number of players (friend lists, chat presence).
pub async fn online_many(bus: &Bus, players: &[PlayerId]) -> Result<Vec<bool>, BusError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let found = presence_many(bus, players).await?;
    let live = live_nodes(bus).await?;
    Ok(found.iter().map(|p| p.as_ref().is_some_and(|p| live.contains(&p.node))).collect())
}
