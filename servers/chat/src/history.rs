//! What chat remembers in Redis: each channel's last messages (a stream capped with `MAXLEN`),
//! each player's read markers (channel -> last message id read) and the whispers kept for a
//! player who is offline (a list capped to the newest `max_offline_whispers`).

use std::collections::HashMap;

use mmo_core::bus::Bus;
use mmo_proto::{ChannelUnread, ChatMessage};
use prost::Message as _;

use crate::error::ChatError;
use crate::keys;

/// Commits `msg` (its id not yet set) to channel `ch` in one round trip: takes the next message
/// id, appends it to the history (keeping the last `cap`; the id in field `i`, so ids and the
/// stream's order agree), moves the sender's read marker to it, and reads the members to
/// deliver it to. Returns the id and the members.
pub async fn commit(
    bus: &Bus,
    ch: &str,
    msg: &ChatMessage,
    cap: u32,
) -> Result<(u64, Vec<(u64, String)>), ChatError> {
    const SCRIPT: &str = r"
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], '*', 'i', id, 'm', ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if id > cur then redis.call('HSET', KEYS[3], ARGV[3], id) end
return {id, redis.call('HGETALL', KEYS[4])}";
    let mut conn = bus.conn().await?;
    Ok(bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::next_message(bus))
                .key(keys::history(bus, ch))
                .key(keys::read(bus, msg.sender))
                .key(keys::members(bus, ch))
                .arg(cap)
                .arg(msg.encode_to_vec())
                .arg(ch)
                .invoke_async(&mut *conn),
        )
        .await?)
}

/// A fresh message id (whispers; channel messages take theirs in [`commit`]).
pub async fn next_id(bus: &Bus) -> Result<u64, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus.timed(redis::cmd("INCR").arg(keys::next_message(bus)).query_async(&mut *conn)).await?)
}

type Entries = Vec<(String, HashMap<String, Vec<u8>>)>;

/// `ch`'s last `n` messages with their stream ids, newest first.
async fn entries(bus: &Bus, ch: &str, n: u32) -> Result<Vec<(String, ChatMessage)>, ChatError> {
    let mut conn = bus.conn().await?;
    let raw: Entries = bus
        .timed(
            redis::cmd("XREVRANGE")
                .arg(keys::history(bus, ch))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(n)
                .query_async(&mut *conn),
        )
        .await?;
    Ok(raw
        .into_iter()
        .filter_map(|(sid, f)| {
            let mut m = ChatMessage::decode(f.get("m")?.as_slice()).ok()?;
            m.id = std::str::from_utf8(f.get("i")?).ok()?.parse().ok()?;
            Some((sid, m))
        })
        .collect())
}

/// `ch`'s last `n` messages, oldest first.
pub async fn last(bus: &Bus, ch: &str, n: u32) -> Result<Vec<ChatMessage>, ChatError> {
    let mut msgs: Vec<ChatMessage> = entries(bus, ch, n).await?.into_iter().map(|(_, m)| m).collect();
    msgs.reverse();
    Ok(msgs)
}

/// Takes the message `id` out of `ch`'s history (a moderator's delete). Whether it was there.
pub async fn remove(bus: &Bus, ch: &str, id: u64, cap: u32) -> Result<bool, ChatError> {
    let Some((sid, _)) = entries(bus, ch, cap).await?.into_iter().find(|(_, m)| m.id == id) else {
        return Ok(false);
    };
    let mut conn = bus.conn().await?;
    let n: u32 =
        bus.timed(redis::cmd("XDEL").arg(keys::history(bus, ch)).arg(sid).query_async(&mut *conn)).await?;
    Ok(n > 0)
}

/// Sets `player`'s read marker in `ch` to `id` (never moving it back; a first marker may be 0:
/// the channel then counts in [`unread`] from its first message).
pub async fn mark_read(bus: &Bus, player: u64, ch: &str, id: u64) -> Result<(), ChatError> {
    const SCRIPT: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tonumber(ARGV[2]) > tonumber(cur) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0";
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::Script::new(SCRIPT)
            .key(keys::read(bus, player))
            .arg(ch)
            .arg(id)
            .invoke_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// The id of `ch`'s newest message (0: none).
pub async fn latest(bus: &Bus, ch: &str) -> Result<u64, ChatError> {
    Ok(entries(bus, ch, 1).await?.first().map_or(0, |(_, m)| m.id))
}

/// `player`'s read markers.
pub async fn markers(bus: &Bus, player: u64) -> Result<HashMap<String, u64>, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus.timed(redis::cmd("HGETALL").arg(keys::read(bus, player)).query_async(&mut *conn)).await?)
}

/// For each of `chs`, the messages after `player`'s marker not sent by itself nor by one it
/// ignores (`skip`), counted in the last `cap`.
pub async fn unread(
    bus: &Bus,
    player: u64,
    chs: &[String],
    cap: u32,
    skip: impl Fn(u64) -> bool,
) -> Result<Vec<ChannelUnread>, ChatError> {
    let marks = markers(bus, player).await?;
    let mut out = Vec::with_capacity(chs.len());
    for ch in chs {
        let mark = marks.get(ch).copied().unwrap_or(0);
        let msgs = entries(bus, ch, cap).await?;
        let last = msgs.first().map_or(0, |(_, m)| m.id);
        let count = msgs.iter().filter(|(_, m)| m.id > mark && m.sender != player && !skip(m.sender)).count();
        out.push(ChannelUnread {
            channel: Some(keys::channel_ref(ch)),
            count: count as u32,
            last_message_id: last,
        });
    }
    Ok(out)
}

/// Keeps a whisper for `player`, who is offline; at most `max`, the oldest dropped first.
pub async fn keep_whisper(bus: &Bus, player: u64, msg: &ChatMessage, max: u32) -> Result<(), ChatError> {
    let key = keys::offline(bus, player);
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::pipe()
            .cmd("RPUSH")
            .arg(&key)
            .arg(msg.encode_to_vec())
            .ignore()
            .cmd("LTRIM")
            .arg(&key)
            .arg(-i64::from(max.max(1)))
            .arg(-1)
            .ignore()
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// Takes every whisper kept for `player`, oldest first.
pub async fn take_whispers(bus: &Bus, player: u64) -> Result<Vec<ChatMessage>, ChatError> {
    const SCRIPT: &str = "local l = redis.call('LRANGE', KEYS[1], 0, -1) redis.call('DEL', KEYS[1]) return l";
    let mut conn = bus.conn().await?;
    let raw: Vec<Vec<u8>> = bus
        .timed(redis::Script::new(SCRIPT).key(keys::offline(bus, player)).invoke_async(&mut *conn))
        .await?;
    Ok(raw.iter().filter_map(|b| ChatMessage::decode(b.as_slice()).ok()).collect())
}

/// How many whispers are kept for `player`.
pub async fn kept_whispers(bus: &Bus, player: u64) -> Result<u32, ChatError> {
    let mut conn = bus.conn().await?;
    Ok(bus.timed(redis::cmd("LLEN").arg(keys::offline(bus, player)).query_async(&mut *conn)).await?)
}
