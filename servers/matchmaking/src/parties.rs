//! Parties in Redis, so any matchmaking instance can serve any of them: a party is a hash (its
//! version and the `Party` message), and each member points at it (`pp:<player>`). Every change
//! is read, changed in memory, then written by one script that checks the version it read and
//! that no joining player is in another live party (a compare-and-set); a lost race reads again.
//!
//! A party outlives a member's dropped connection for the resume window: only the end of the
//! session (the gateway's `logout` event) takes the member out.

use std::sync::LazyLock;

use mmo_core::bus::{Bus, BusError};
use mmo_proto::{ErrorCode, Party, PartyInvite, PartyMember};
use prost::Message as _;

use crate::error::MmError;
use crate::keys;

/// Attempts at a change before giving up (each lost race means another change went through).
const ATTEMPTS: usize = 8;

/// A party as read, with the version its change must match.
#[derive(Clone, Debug)]
pub struct Read {
    pub party: Party,
    pub version: u64,
}

static CAS: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: party, then player keys. ARGV: expected version (0: must not exist), body ("":
    // delete), party id, party key prefix, then per player key '+' (join) or '-' (leave).
    redis::Script::new(
        "local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
for i = 2, #KEYS do
  if ARGV[3 + i] == '+' then
    local cur = redis.call('GET', KEYS[i])
    if cur and cur ~= ARGV[3] and redis.call('EXISTS', ARGV[4] .. cur) == 1 then return -i end
  end
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', v + 1, 'b', ARGV[2])
end
for i = 2, #KEYS do
  if ARGV[3 + i] == '+' then
    redis.call('SET', KEYS[i], ARGV[3])
  elseif redis.call('GET', KEYS[i]) == ARGV[3] then
    redis.call('DEL', KEYS[i])
  end
end
return 1",
    )
});

/// What a write did.
enum Written {
    Done,
    /// The version moved: read again.
    Raced,
    /// This joining player is in another party.
    InAnother,
}

async fn write(
    bus: &Bus,
    read: Option<&Read>,
    party: Option<&Party>,
    id: u64,
    joins: &[u64],
    leaves: &[u64],
) -> Result<Written, BusError> {
    let mut inv = CAS.prepare_invoke();
    inv.key(keys::party(bus, id));
    for p in joins.iter().chain(leaves) {
        inv.key(keys::player_party(bus, *p));
    }
    inv.arg(read.map_or(0, |r| r.version))
        .arg(party.map(|p| p.encode_to_vec()).unwrap_or_default())
        .arg(id)
        .arg(keys::party(bus, 0).trim_end_matches('0'));
    for _ in joins {
        inv.arg("+");
    }
    for _ in leaves {
        inv.arg("-");
    }
    let mut conn = bus.conn().await?;
    let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(match r {
        1 => Written::Done,
        0 => Written::Raced,
        _ => Written::InAnother,
    })
}

/// Reads a party.
pub async fn get(bus: &Bus, id: u64) -> Result<Option<Read>, BusError> {
    let mut conn = bus.conn().await?;
    let (v, b): (Option<u64>, Option<Vec<u8>>) = bus
        .timed(redis::cmd("HMGET").arg(keys::party(bus, id)).arg(&["v", "b"]).query_async(&mut *conn))
        .await?;
    let (Some(version), Some(b)) = (v, b) else { return Ok(None) };
    Ok(Party::decode(b.as_slice()).ok().map(|party| Read { party, version }))
}

/// The party `player` is in.
pub async fn of_player(bus: &Bus, player: u64) -> Result<Option<Read>, BusError> {
    let mut conn = bus.conn().await?;
    let id: Option<u64> =
        bus.timed(redis::cmd("GET").arg(keys::player_party(bus, player)).query_async(&mut *conn)).await?;
    drop(conn);
    let Some(id) = id else { return Ok(None) };
    Ok(get(bus, id).await?.filter(|r| r.party.members.iter().any(|m| m.player == player)))
}

/// Creates a party led by `player`.
pub async fn create(bus: &Bus, player: u64, now_ms: u64) -> Result<Party, MmError> {
    if of_player(bus, player).await?.is_some() {
        return Err(MmError::refused(ErrorCode::AlreadyInParty));
    }
    let mut conn = bus.conn().await?;
    let id: u64 =
        bus.timed(redis::cmd("INCR").arg(keys::counter(bus, "party")).query_async(&mut *conn)).await?;
    drop(conn);
    let party = Party {
        id,
        leader: player,
        members: vec![PartyMember { player, joined_ms: now_ms }],
        invites: Vec::new(),
        ticket: 0,
    };
    match write(bus, None, Some(&party), id, &[player], &[]).await? {
        Written::Done => Ok(party),
        _ => Err(MmError::refused(ErrorCode::AlreadyInParty)),
    }
}

/// A change to apply to a party as read: returns the new party (None: it ends), the players
/// who join and leave, or a refusal.
pub type Change<'a> = dyn FnMut(&Party) -> Result<(Option<Party>, Vec<u64>, Vec<u64>), ErrorCode> + Send + 'a;

/// Applies `change` to party `id` with retries on lost races. Returns (before, after).
pub async fn update(bus: &Bus, id: u64, change: &mut Change<'_>) -> Result<(Party, Option<Party>), MmError> {
    for _ in 0..ATTEMPTS {
        let Some(read) = get(bus, id).await? else { return Err(MmError::refused(ErrorCode::NotInParty)) };
        let (after, joins, leaves) = change(&read.party).map_err(MmError::refused)?;
        match write(bus, Some(&read), after.as_ref(), id, &joins, &leaves).await? {
            Written::Done => return Ok((read.party, after)),
            Written::Raced => continue,
            Written::InAnother => return Err(MmError::refused(ErrorCode::AlreadyInParty)),
        }
    }
    Err(MmError::Bus(BusError::Conflict(format!("party {id} changed {ATTEMPTS} times while being changed"))))
}

/// Open invites only (lapsed ones dropped).
pub fn live_invites(party: &Party, now_ms: u64) -> Vec<PartyInvite> {
    party.invites.iter().filter(|i| i.expires_ms > now_ms).cloned().collect()
}

/// The party without `player`: the lead passes to the member who joined first; None when it
/// was the last member.
pub fn without(party: &Party, player: u64) -> Option<Party> {
    let mut p = party.clone();
    p.members.retain(|m| m.player != player);
    if p.members.is_empty() {
        return None;
    }
    if p.leader == player {
        p.leader = p.members.iter().min_by_key(|m| (m.joined_ms, m.player)).map_or(0, |m| m.player);
    }
    Some(p)
}

/// Forgets a finished ticket in its party, so the party may queue again (a party that changed
/// meanwhile is left as it is).
pub async fn forget_ticket(bus: &Bus, row: &crate::tickets::TicketRow) {
    if row.body.party == 0 {
        return;
    }
    let id = row.id;
    let mut clear = |p: &Party| -> Result<_, ErrorCode> {
        if p.ticket != id {
            return Err(ErrorCode::NotQueued);
        }
        let mut p = p.clone();
        p.ticket = 0;
        Ok((Some(p), Vec::new(), Vec::new()))
    };
    let _ = update(bus, row.body.party, &mut clear).await;
}
