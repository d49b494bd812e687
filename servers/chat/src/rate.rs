//! The per-player rate limit and its escalation, in Redis so every chat instance sees the same
//! counts: over `rate_per_sec` messages in a second puts the player in slow mode (one message
//! per `slow_mode_interval` for `slow_mode_duration`), and `mute_messages` attempts within
//! `mute_window` (refused ones count) mute it for `mute_duration`. Moderators mute through the
//! same key ([`mute`]).

use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::clock::now_ms;
use mmo_proto::ErrorCode;

use crate::config::ChatConfig;
use crate::error::ChatError;
use crate::keys;

/// KEYS: sends, mute, slow, gap, and a channel's members hash or "". ARGV: now, rate_per_sec,
/// mute_messages, mute_window_ms, mute_ms, slow_ms, gap_ms, player. Returns {0, 0} allowed,
/// {1, ms} muted, {2, ms} slow mode, {3, 0} not a member of the channel (not counted).
const SCRIPT: &str = r"
if KEYS[5] ~= '' and redis.call('HEXISTS', KEYS[5], ARGV[8]) == 0 then return {3, 0} end
local muted = redis.call('PTTL', KEYS[2])
if muted > 0 then return {1, muted} end
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local flood = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
redis.call('LPUSH', KEYS[1], now)
redis.call('LTRIM', KEYS[1], 0, math.max(flood, rate + 1) - 1)
redis.call('PEXPIRE', KEYS[1], math.max(window, 1000) * 2)
local nth = redis.call('LINDEX', KEYS[1], flood - 1)
if nth and now - tonumber(nth) < window then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[5])
  redis.call('DEL', KEYS[1])
  return {1, tonumber(ARGV[5])}
end
local over = redis.call('LINDEX', KEYS[1], rate)
if over and now - tonumber(over) < 1000 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[6])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  local gap = redis.call('PTTL', KEYS[4])
  if gap > 0 then return {2, gap} end
  redis.call('SET', KEYS[4], '1', 'PX', ARGV[7])
end
return {0, 0}
";

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

/// Counts one message of `player`; refuses it when muted or in slow mode (`CHAT_MUTED` or
/// `CHAT_SLOW_MODE`, with the time left as the retry delay), or, for a message to channel
/// `ch`, when it is not a member (`CHAT_CHANNEL_NOT_FOUND`). One round trip.
pub async fn check(bus: &Bus, cfg: &ChatConfig, player: u64, ch: Option<&str>) -> Result<(), ChatError> {
    let mut conn = bus.conn().await?;
    let (state, left): (u8, u64) = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(keys::rate(bus, player))
                .key(keys::mute(bus, player))
                .key(keys::slow(bus, player))
                .key(keys::slow_gap(bus, player))
                .key(ch.map_or_else(String::new, |ch| keys::members(bus, ch)))
                .arg(now_ms())
                .arg(cfg.rate_per_sec)
                .arg(cfg.mute_messages)
                .arg(ms(cfg.mute_window))
                .arg(ms(cfg.mute_duration))
                .arg(ms(cfg.slow_mode_duration))
                .arg(ms(cfg.slow_mode_interval))
                .arg(player)
                .invoke_async(&mut *conn),
        )
        .await?;
    let wait = Some(Duration::from_millis(left));
    match state {
        0 => Ok(()),
        3 => Err(ChatError::refused(ErrorCode::ChatChannelNotFound)),
        1 => Err(ChatError::Refused(ErrorCode::ChatMuted, String::new(), wait)),
        _ => Err(ChatError::Refused(ErrorCode::ChatSlowMode, String::new(), wait)),
    }
}

/// Mutes `player` for `d` (a moderator's mute; replaces a shorter or longer one).
pub async fn mute(bus: &Bus, player: u64, d: Duration) -> Result<(), ChatError> {
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::cmd("SET")
            .arg(keys::mute(bus, player))
            .arg(1)
            .arg("PX")
            .arg(ms(d))
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// Lifts a mute.
pub async fn unmute(bus: &Bus, player: u64) -> Result<bool, ChatError> {
    let mut conn = bus.conn().await?;
    let n: u32 = bus.timed(redis::cmd("DEL").arg(keys::mute(bus, player)).query_async(&mut *conn)).await?;
    Ok(n > 0)
}
