//! Channel membership, in Redis so any chat instance serves any channel: per channel a hash
//! player -> the gateway node and session holding it (so a fan-out groups members by gateway
//! without looking anything else up), per player the set of its channels. Custom channels have
//! a meta hash (name, owner, password hash).
//!
//! Membership belongs to a session: it survives a resume (same session) and is dropped when the
//! session ends ([`drop_session`], from the `logout` event). The public functions at the end
//! are the API other servers use for the channels they own: a party's, a match team's
//! ([`open_system`], [`close_system`], [`join_system`], [`leave_system`]) and a zone
//! instance's ([`join_zone`], [`leave_zone`]).

use mmo_core::bus::{Bus, node};
use mmo_core::session::PlayerId;
use mmo_proto::{ChannelEvent, ChannelKind, ChannelNtf, ErrorCode};

use crate::deliver;
use crate::error::ChatError;
use crate::keys;

/// Where `player` is connected now, as a member hash stores it; None when offline.
pub async fn where_is(bus: &Bus, player: u64) -> Result<Option<String>, ChatError> {
    Ok(node::presence(bus, PlayerId(player)).await?.map(|p| format!("{} {}", p.node, p.session.0)))
}

/// Adds `player`, held at `at`, to channel `ch` (or updates where it is held).
pub async fn add(bus: &Bus, ch: &str, player: u64, at: &str) -> Result<(), ChatError> {
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::pipe()
            .cmd("HSET")
            .arg(keys::members(bus, ch))
            .arg(player)
            .arg(at)
            .ignore()
            .cmd("SADD")
            .arg(keys::player_channels(bus, player))
            .arg(ch)
            .ignore()
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// Takes `player` out of `ch`; whether it was in it. A custom channel whose last member
/// leaves ends: its settings and history go, and its name is free again.
pub async fn remove(bus: &Bus, ch: &str, player: u64) -> Result<bool, ChatError> {
    const SCRIPT: &str = r"
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if string.sub(ARGV[2], 1, 2) == 'c:' and redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  redis.call('SREM', KEYS[5], ARGV[2])
end
return n";
    let mut conn = bus.conn().await?;
    let removed: u32 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::members(bus, ch))
                .key(keys::player_channels(bus, player))
                .key(keys::meta(bus, ch))
                .key(keys::history(bus, ch))
                .key(keys::customs(bus))
                .arg(player)
                .arg(ch)
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(removed > 0)
}

/// Whether `player` is in `ch`.
pub async fn is_member(bus: &Bus, ch: &str, player: u64) -> Result<bool, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus
        .timed(redis::cmd("HEXISTS").arg(keys::members(bus, ch)).arg(player).query_async(&mut *conn))
        .await?)
}

/// Every member of `ch` and where it is held.
pub async fn members(bus: &Bus, ch: &str) -> Result<Vec<(u64, String)>, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus.timed(redis::cmd("HGETALL").arg(keys::members(bus, ch)).query_async(&mut *conn)).await?)
}

/// How many members `ch` has.
pub async fn count(bus: &Bus, ch: &str) -> Result<u32, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus.timed(redis::cmd("HLEN").arg(keys::members(bus, ch)).query_async(&mut *conn)).await?)
}

/// The channels `player` is in.
pub async fn of_player(bus: &Bus, player: u64) -> Result<Vec<String>, ChatError> {
    let mut conn = bus.conn().await?;
    let mut chs: Vec<String> = bus
        .timed(redis::cmd("SMEMBERS").arg(keys::player_channels(bus, player)).query_async(&mut *conn))
        .await?;
    chs.sort();
    Ok(chs)
}

/// Drops every membership of `player` held by the session `at` (not those a newer session of
/// the same player holds); custom channels left empty end, as in [`remove`]. Returns how many.
pub async fn drop_session(bus: &Bus, player: u64, at: &str) -> Result<u32, ChatError> {
    const SCRIPT: &str = r"
local n = 0
for _, ch in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local m = ARGV[1] .. ch
  if redis.call('HGET', m, ARGV[2]) == ARGV[3] then
    redis.call('HDEL', m, ARGV[2])
    redis.call('SREM', KEYS[1], ch)
    if string.sub(ch, 1, 2) == 'c:' and redis.call('HLEN', m) == 0 then
      redis.call('DEL', ARGV[4] .. ch, ARGV[5] .. ch)
      redis.call('SREM', KEYS[2], ch)
    end
    n = n + 1
  end
end
return n";
    let mut conn = bus.conn().await?;
    Ok(bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::player_channels(bus, player))
                .key(keys::customs(bus))
                .arg(keys::members_prefix(bus))
                .arg(player)
                .arg(at)
                .arg(keys::meta_prefix(bus))
                .arg(keys::history_prefix(bus))
                .invoke_async(&mut *conn),
        )
        .await?)
}

/// A custom channel's settings.
#[derive(Clone, Debug, Default)]
pub struct Custom {
    pub name: String,
    pub owner: u64,
    /// The argon2 PHC string of its password, if it has one.
    pub password: Option<String>,
}

/// The custom channel `ch`, if it exists.
pub async fn custom(bus: &Bus, ch: &str) -> Result<Option<Custom>, ChatError> {
    let mut conn = bus.conn().await?;
    let (name, owner, pw): (Option<String>, Option<u64>, Option<String>) = bus
        .timed(
            redis::cmd("HMGET")
                .arg(keys::meta(bus, ch))
                .arg("name")
                .arg("owner")
                .arg("pw")
                .query_async(&mut *conn),
        )
        .await?;
    Ok(name.map(|name| Custom { name, owner: owner.unwrap_or(0), password: pw.filter(|p| !p.is_empty()) }))
}

/// Creates the custom channel `ch` unless it exists (`CHAT_CHANNEL_EXISTS`) or there are
/// `max` of them (`CHAT_LIMIT`).
pub async fn create_custom(bus: &Bus, ch: &str, c: &Custom, max: u32) -> Result<(), ChatError> {
    const SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 2 end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'owner', ARGV[3], 'pw', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
return 1";
    let mut conn = bus.conn().await?;
    let r: u8 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::meta(bus, ch))
                .key(keys::customs(bus))
                .arg(ch)
                .arg(&c.name)
                .arg(c.owner)
                .arg(c.password.as_deref().unwrap_or(""))
                .arg(max)
                .invoke_async(&mut *conn),
        )
        .await?;
    match r {
        1 => Ok(()),
        0 => Err(ChatError::refused(ErrorCode::ChatChannelExists)),
        _ => Err(ChatError::refused(ErrorCode::ChatLimit)),
    }
}

/// The custom channels' names, sorted, at most `limit`.
pub async fn custom_names(bus: &Bus, limit: usize) -> Result<Vec<String>, ChatError> {
    let mut conn = bus.conn().await?;
    let chs: Vec<String> =
        bus.timed(redis::cmd("SMEMBERS").arg(keys::customs(bus)).query_async(&mut *conn)).await?;
    let mut names: Vec<String> =
        chs.iter().filter_map(|c| c.strip_prefix("c:").map(str::to_string)).collect();
    names.sort();
    names.truncate(limit);
    Ok(names)
}

fn system_key(kind: ChannelKind, id: &str) -> Result<String, ChatError> {
    match kind {
        ChannelKind::Party | ChannelKind::Match | ChannelKind::Zone => {}
        _ => return Err(ChatError::refused(ErrorCode::ChatInvalidChannel)),
    }
    keys::channel(kind, id).ok_or_else(|| ChatError::refused(ErrorCode::ChatInvalidChannel))
}

fn notice(ch: &str, event: ChannelEvent) -> ChannelNtf {
    ChannelNtf { channel: Some(keys::channel_ref(ch)), event: event as i32, message_id: 0 }
}

/// Opens (or refills) a party, match-team or zone channel with `members`: each online one is
/// added where it is connected and told (`ChannelNtf` ADDED); offline ones are skipped. For
/// the server that owns the party or match (e.g. matchmaking when a party forms).
pub async fn open_system(
    bus: &Bus,
    kind: ChannelKind,
    id: &str,
    members: &[PlayerId],
) -> Result<(), ChatError> {
    for p in members {
        join_system(bus, kind, id, *p).await?;
    }
    Ok(())
}

/// Closes a party, match-team or zone channel: every member is taken out and told
/// (`ChannelNtf` REMOVED); its history goes.
pub async fn close_system(bus: &Bus, kind: ChannelKind, id: &str) -> Result<(), ChatError> {
    let ch = system_key(kind, id)?;
    for (player, at) in members(bus, &ch).await? {
        remove(bus, &ch, player).await?;
        if kind != ChannelKind::Zone {
            deliver::push_at(bus, &at, &notice(&ch, ChannelEvent::Removed))?;
        }
    }
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::cmd("DEL")
            .arg(keys::members(bus, &ch))
            .arg(keys::history(bus, &ch))
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// Adds one player to a party, match-team or zone channel, if it is online. Returns whether it
/// was added.
pub async fn join_system(
    bus: &Bus,
    kind: ChannelKind,
    id: &str,
    player: PlayerId,
) -> Result<bool, ChatError> {
    let ch = system_key(kind, id)?;
    let Some(at) = where_is(bus, player.0).await? else { return Ok(false) };
    add(bus, &ch, player.0, &at).await?;
    if kind != ChannelKind::Zone {
        deliver::push_at(bus, &at, &notice(&ch, ChannelEvent::Added))?;
    }
    Ok(true)
}

/// Takes one player out of a party, match-team or zone channel. Returns whether it was in it.
pub async fn leave_system(
    bus: &Bus,
    kind: ChannelKind,
    id: &str,
    player: PlayerId,
) -> Result<bool, ChatError> {
    let ch = system_key(kind, id)?;
    let at: Option<String> = {
        let mut conn = bus.conn().await?;
        bus.timed(redis::cmd("HGET").arg(keys::members(bus, &ch)).arg(player.0).query_async(&mut *conn))
            .await?
    };
    let was = remove(bus, &ch, player.0).await?;
    if let Some(at) = at
        && kind != ChannelKind::Zone
    {
        deliver::push_at(bus, &at, &notice(&ch, ChannelEvent::Removed))?;
    }
    Ok(was)
}

/// A player entered zone instance `instance` (for the zone: on enter and at the receiving end
/// of a hand-off). Without a push: the client knows from its ZoneEnterNtf.
pub async fn join_zone(bus: &Bus, instance: &str, player: PlayerId) -> Result<bool, ChatError> {
    join_system(bus, ChannelKind::Zone, instance, player).await
}

/// A player left zone instance `instance` (left the world, or handed off elsewhere).
pub async fn leave_zone(bus: &Bus, instance: &str, player: PlayerId) -> Result<bool, ChatError> {
    leave_system(bus, ChannelKind::Zone, instance, player).await
}

/// Takes `player` out of the custom channel `ch` and tells it (`ChannelNtf` KICKED). Whether
/// it was in it.
pub async fn kick(bus: &Bus, ch: &str, player: u64) -> Result<bool, ChatError> {
    let at: Option<String> = {
        let mut conn = bus.conn().await?;
        bus.timed(redis::cmd("HGET").arg(keys::members(bus, ch)).arg(player).query_async(&mut *conn)).await?
    };
    let was = remove(bus, ch, player).await?;
    if let Some(at) = at {
        deliver::push_at(bus, &at, &notice(ch, ChannelEvent::Kicked))?;
    }
    Ok(was)
}
