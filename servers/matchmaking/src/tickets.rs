//! Tickets in Redis and every transition of their state machine, each one Lua script that
//! checks the state it starts from (a compare-and-set), so a ticket is in at most one proposal
//! at a time and in one match ever, whichever matchmaking instance, handler or sweeper acts.
//!
//! A ticket is a hash (state, version, mode, body, created, proposal, match, front flag); a
//! searching ticket is also in its mode's queue (a sorted set by creation time); each of its
//! players points at it (`pt:<player>`) while it is open, which is what makes "one open ticket
//! per player" a check inside the enqueue script. A finished ticket stays readable for
//! `retention`, then Redis deletes it.

use std::sync::LazyLock;

use mmo_core::bus::{Bus, BusError};
use mmo_proto::{RegionLatency, TicketState};
use prost::Message as _;

use crate::keys;

/// What a ticket holds besides its state: fixed at enqueue.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TicketBody {
    #[prost(string, tag = "1")]
    pub mode: String,
    #[prost(message, repeated, tag = "2")]
    pub members: Vec<MemberBody>,
    /// The party it was queued by (0: solo or server-made).
    #[prost(uint64, tag = "3")]
    pub party: u64,
    /// Ms since the Unix epoch; the time waited counts from here, across requeues.
    #[prost(uint64, tag = "4")]
    pub created_ms: u64,
    /// Players any member blocked or is blocked by.
    #[prost(uint64, repeated, tag = "5")]
    pub blocked: Vec<u64>,
    /// The ticket's matching rating (see [`crate::queueing::ticket_rating`]).
    #[prost(double, tag = "6")]
    pub rating: f64,
    /// A backfill ticket (no members): the place in a running match it holds.
    #[prost(message, optional, tag = "7")]
    pub backfill: Option<BackfillBody>,
}

/// The place a backfill ticket holds: a player left team `team` of a running match.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BackfillBody {
    #[prost(string, tag = "1")]
    pub match_id: String,
    #[prost(string, tag = "2")]
    pub instance: String,
    #[prost(uint32, tag = "3")]
    pub team: u32,
    #[prost(string, tag = "4")]
    pub region: String,
    /// The players in the match when the place opened, the leaver excluded.
    #[prost(uint64, repeated, tag = "5")]
    pub roster: Vec<u64>,
    /// The leaver, whose role (if any) the newcomer takes.
    #[prost(uint64, tag = "6")]
    pub leaver: u64,
    #[prost(string, tag = "7")]
    pub role: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemberBody {
    #[prost(uint64, tag = "1")]
    pub player: u64,
    #[prost(double, tag = "2")]
    pub rating: f64,
    #[prost(double, tag = "3")]
    pub deviation: f64,
    /// Role names the player agrees to play (empty: any).
    #[prost(string, repeated, tag = "4")]
    pub roles: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub latencies: Vec<RegionLatency>,
}

impl TicketBody {
    pub fn players(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.player).collect()
    }
}

/// A ticket as read back.
#[derive(Clone, Debug)]
pub struct TicketRow {
    pub id: u64,
    pub state: TicketState,
    pub body: TicketBody,
    /// The ready check it is in (PROPOSED, ACCEPTED); 0 otherwise.
    pub proposal: u64,
}

/// Why an enqueue was refused.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// This player has an open ticket.
    AlreadyQueued(u64),
    /// This player's decline penalty has this many ms left.
    Cooldown(u64, u64),
}

const OPEN: &str = "local function open(key)
  local s = tonumber(redis.call('HGET', key, 's') or '0')
  return s >= 1 and s <= 3
end
";

static ENQUEUE: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: ticket, queue, then n player keys, then n cooldown keys.
    // ARGV: id, mode, body, created, n, ticket key prefix.
    redis::Script::new(&format!(
        "{OPEN}
local n = tonumber(ARGV[5])
for i = 1, n do
  local t = redis.call('GET', KEYS[2 + i])
  if t and open(ARGV[6] .. t) then return {{-1, i}} end
end
for i = 1, n do
  local left = redis.call('PTTL', KEYS[2 + n + i])
  if left > 0 then return {{-2, i, left}} end
end
redis.call('HSET', KEYS[1], 's', 1, 'v', 1, 'mode', ARGV[2], 'b', ARGV[3], 'c', ARGV[4], 'f', 0)
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
for i = 1, n do redis.call('SET', KEYS[2 + i], ARGV[1]) end
return {{1}}"
    ))
});

/// Creates a SEARCHING ticket unless a player has an open one or a cooldown. Returns its id.
pub async fn enqueue(bus: &Bus, body: &TicketBody) -> Result<Result<u64, Refused>, BusError> {
    let mut conn = bus.conn().await?;
    let id: u64 = bus.timed(next_id(bus).query_async(&mut *conn)).await?;
    drop(conn);
    enqueue_as(bus, id, body, Vec::new()).await
}

/// Takes a ticket id: a queue join sends it with its reads, saving a round trip.
pub fn next_id(bus: &Bus) -> redis::Cmd {
    redis::cmd("INCR").arg(keys::counter(bus, "ticket")).clone()
}

/// [`enqueue`] with an id taken by [`next_id`]; `then`, commands that must not fail and need
/// no answer (a queue join's cache fills), go in the same round trip.
pub async fn enqueue_as(
    bus: &Bus,
    id: u64,
    body: &TicketBody,
    then: Vec<redis::Cmd>,
) -> Result<Result<u64, Refused>, BusError> {
    let players = body.players();
    let mut inv = ENQUEUE.prepare_invoke();
    inv.key(keys::ticket(bus, id)).key(keys::queue(bus, &body.mode));
    for p in &players {
        inv.key(keys::player_ticket(bus, *p));
    }
    for p in &players {
        inv.key(keys::cooldown(bus, &body.mode, *p));
    }
    inv.arg(id)
        .arg(&body.mode)
        .arg(body.encode_to_vec())
        .arg(body.created_ms)
        .arg(players.len())
        .arg(keys::ticket(bus, 0).trim_end_matches('0'));
    let mut conn = bus.conn().await?;
    let r: Vec<i64> = if then.is_empty() {
        bus.timed(inv.invoke_async(&mut *conn)).await?
    } else {
        let mut pipe = redis::pipe();
        pipe.invoke_script(&inv);
        for cmd in then {
            pipe.add_command(cmd).ignore();
        }
        match bus.timed(pipe.query_async::<(Vec<i64>,)>(&mut *conn)).await {
            Ok((r,)) => r,
            // The script is not loaded (Redis restarted, or this process's first ticket): the
            // enqueue did not run. Load it and run it as a lone script (the commands after it
            // in the pipeline ran regardless).
            Err(BusError::Redis(e)) if e.kind() == redis::ErrorKind::NoScriptError => {
                bus.timed(inv.invoke_async(&mut *conn)).await?
            }
            // A cache fill after the script failed, or the answer was lost: whether the ticket
            // exists decides, so a join never reports a failure for a ticket it opened.
            Err(e) => {
                let state: Option<i64> = bus
                    .timed(redis::cmd("HGET").arg(keys::ticket(bus, id)).arg("s").query_async(&mut *conn))
                    .await?;
                if state.is_none() {
                    return Err(e);
                }
                tracing::warn!(error = %e, ticket = id, "ticket opened; its cache fills failed");
                vec![1]
            }
        }
    };
    Ok(match r.as_slice() {
        [1] => Ok(id),
        [-1, i] => Err(Refused::AlreadyQueued(players[(*i - 1) as usize])),
        [-2, i, left] => Err(Refused::Cooldown(players[(*i - 1) as usize], *left as u64)),
        _ => return Err(BusError::Conflict(format!("enqueue script answered {r:?}"))),
    })
}

static END: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: ticket, queue, then the player keys. ARGV: id, allowed states (",1,"), new state,
    // retention ms.
    redis::Script::new(
        "local s = redis.call('HGET', KEYS[1], 's')
if not s or not string.find(ARGV[2], ',' .. s .. ',', 1, true) then return {0, tonumber(s or '0')} end
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('HSET', KEYS[1], 's', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 3, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, tonumber(s)}",
    )
});

/// Ends a ticket that is in one of `from` (CANCELLED or EXPIRED): off the queue, its players
/// free to queue again. Returns false (and changes nothing) if it was in another state.
pub async fn end(
    bus: &Bus,
    row: &TicketRow,
    from: &[TicketState],
    to: TicketState,
    retention_ms: u64,
) -> Result<bool, BusError> {
    let allowed: String = from.iter().fold(",".to_string(), |s, st| format!("{s}{},", *st as i32));
    let mut inv = END.prepare_invoke();
    inv.key(keys::ticket(bus, row.id)).key(keys::queue(bus, &row.body.mode));
    for p in row.body.players() {
        inv.key(keys::player_ticket(bus, p));
    }
    inv.arg(row.id).arg(allowed).arg(to as i32).arg(retention_ms);
    let mut conn = bus.conn().await?;
    let r: Vec<i64> = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(r.first() == Some(&1))
}

/// Reads a ticket (None: unknown or gone).
pub async fn get(bus: &Bus, id: u64) -> Result<Option<TicketRow>, BusError> {
    let mut conn = bus.conn().await?;
    let (s, b, p): (Option<i32>, Option<Vec<u8>>, Option<u64>) = bus
        .timed(redis::cmd("HMGET").arg(keys::ticket(bus, id)).arg(&["s", "b", "p"]).query_async(&mut *conn))
        .await?;
    let (Some(s), Some(b)) = (s, b) else { return Ok(None) };
    let Ok(body) = TicketBody::decode(b.as_slice()) else { return Ok(None) };
    Ok(Some(TicketRow {
        id,
        state: TicketState::try_from(s).unwrap_or(TicketState::Unspecified),
        body,
        proposal: p.unwrap_or(0),
    }))
}

/// The player's open ticket, if any.
pub async fn of_player(bus: &Bus, player: u64) -> Result<Option<TicketRow>, BusError> {
    let mut conn = bus.conn().await?;
    let id: Option<u64> =
        bus.timed(redis::cmd("GET").arg(keys::player_ticket(bus, player)).query_async(&mut *conn)).await?;
    drop(conn);
    let Some(id) = id else { return Ok(None) };
    Ok(get(bus, id).await?.filter(|t| {
        matches!(t.state, TicketState::Searching | TicketState::Proposed | TicketState::Accepted)
    }))
}

/// A searching ticket's place in its queue (0: first).
pub async fn position(bus: &Bus, mode: &str, id: u64) -> Result<Option<u32>, BusError> {
    let mut conn = bus.conn().await?;
    let rank: Option<u32> =
        bus.timed(redis::cmd("ZRANK").arg(keys::queue(bus, mode)).arg(id).query_async(&mut *conn)).await?;
    Ok(rank)
}

/// The mode's moving average time to a match, ms (0: none yet).
pub async fn eta(bus: &Bus, mode: &str) -> Result<u64, BusError> {
    let mut conn = bus.conn().await?;
    let v: Option<f64> =
        bus.timed(redis::cmd("GET").arg(keys::eta(bus, mode)).query_async(&mut *conn)).await?;
    Ok(v.unwrap_or(0.0) as u64)
}

/// Folds a match's mean wait into the mode's moving average (what QueueStatusResp estimates).
pub async fn record_wait(bus: &Bus, mode: &str, waited_ms: u64) -> Result<(), BusError> {
    static EMA: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            "local old = tonumber(redis.call('GET', KEYS[1]) or '-1')
local new = tonumber(ARGV[1])
if old >= 0 then new = old * 0.8 + new * 0.2 end
redis.call('SET', KEYS[1], tostring(math.floor(new)))
return 1",
        )
    });
    let mut inv = EMA.prepare_invoke();
    inv.key(keys::eta(bus, mode)).arg(waited_ms);
    let mut conn = bus.conn().await?;
    bus.timed(inv.invoke_async::<i64>(&mut *conn)).await.map(drop)
}
