//! Proposals (the ready check) and the queue lease, in Redis, each transition one Lua script.
//!
//! - A queue's matcher holds its lease, whose value is a fencing token from a counter that
//!   only grows. [`commit`] checks the token inside the script: a matcher that lost its lease
//!   (it stalled past the TTL and another took the queue) cannot commit, even late.
//! - [`commit`] moves every ticket SEARCHING -> PROPOSED (all or none) and creates the proposal.
//! - [`accept`] counts a player in; the last one moves the proposal to `ready` and its tickets
//!   PROPOSED -> ACCEPTED, atomically.
//! - [`fail`] ends a pending (or ready, when no instance could start) proposal: tickets whose
//!   players all accepted go back to SEARCHING with their wait kept and the front flag; the
//!   others are cancelled and their decliners get the mode's penalty. It is a compare-and-set on
//!   the proposal's version, which every accept bumps, so it never acts on a stale picture.
//! - [`claim_start`] and [`assign`]: one starter at a time; ACCEPTED -> ASSIGNED with the match.

use std::sync::LazyLock;

use mmo_core::bus::{Bus, BusError};

use crate::keys;

static LEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: lease, fence counter. ARGV: my token ("0": none), ttl ms.
    redis::Script::new(
        "local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return tonumber(cur) end
  return 0
end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[2])
return t",
    )
});

/// Takes or renews the lease on `mode`'s queue. Returns the fencing token held (0: another
/// instance holds it). A token different from `mine` means the lease was lost in between.
pub async fn lease(bus: &Bus, mode: &str, mine: u64, ttl_ms: u64) -> Result<u64, BusError> {
    let mut conn = bus.conn().await?;
    let mut inv = LEASE.prepare_invoke();
    inv.key(keys::lease(bus, mode)).key(keys::fence(bus, mode)).arg(mine).arg(ttl_ms);
    bus.timed(inv.invoke_async(&mut *conn)).await
}

/// Gives the lease up (on shutdown), if still ours.
pub async fn release(bus: &Bus, mode: &str, mine: u64) -> Result<(), BusError> {
    static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
        redis::Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end return 1",
        )
    });
    let mut conn = bus.conn().await?;
    let mut inv = RELEASE.prepare_invoke();
    inv.key(keys::lease(bus, mode)).arg(mine);
    bus.timed(inv.invoke_async::<i64>(&mut *conn)).await.map(drop)
}

/// A proposal about to be committed.
#[derive(Clone, Debug)]
pub struct NewProposal {
    pub id: u64,
    pub mode: String,
    pub tickets: Vec<u64>,
    pub players: Vec<u64>,
    pub region: String,
    /// `teams[t]` = the players of team `t` (JSON, as stored).
    pub teams: Vec<Vec<u64>>,
    /// Each player's role, in modes with roles.
    pub roles: Vec<(u64, String)>,
    pub deadline_ms: u64,
}

/// Why a commit did not happen.
#[derive(Debug, PartialEq)]
pub enum CommitRefused {
    /// The lease is not held with this token any more.
    Fenced,
    /// A ticket is no longer searching (cancelled, expired, or in another proposal).
    TicketGone(u64),
}

static COMMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: lease, queue, proposal, deadlines, then the tickets.
    // ARGV: token, proposal id, deadline, mode, tickets csv, players csv, region, teams json,
    // roles json.
    redis::Script::new(
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
for i = 5, #KEYS do
  if redis.call('HGET', KEYS[i], 's') ~= '1' then return -(i - 3) end
end
for i = 5, #KEYS do
  redis.call('HINCRBY', KEYS[i], 'v', 1)
  redis.call('HSET', KEYS[i], 's', 2, 'p', ARGV[2])
end
for id in string.gmatch(ARGV[5], '[^,]+') do redis.call('ZREM', KEYS[2], id) end
redis.call('HSET', KEYS[3], 's', 'pending', 'v', 0, 'mode', ARGV[4], 't', ARGV[5], 'pl', ARGV[6],
  'd', ARGV[3], 'r', ARGV[7], 'teams', ARGV[8], 'roles', ARGV[9])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return 1",
    )
});

fn csv(v: &[u64]) -> String {
    let mut s = String::from(",");
    for x in v {
        s.push_str(&x.to_string());
        s.push(',');
    }
    s
}

fn parse_csv(s: &str) -> Vec<u64> {
    s.split(',').filter_map(|x| x.parse().ok()).collect()
}

/// Reserves `n` proposal ids (one round trip for a whole pass); returns the first.
pub async fn reserve_ids(bus: &Bus, n: u64) -> Result<u64, BusError> {
    let mut conn = bus.conn().await?;
    let last: u64 = bus
        .timed(redis::cmd("INCRBY").arg(keys::counter(bus, "proposal")).arg(n.max(1)).query_async(&mut *conn))
        .await?;
    Ok(last + 1 - n.max(1))
}

/// A new proposal id.
pub async fn next_id(bus: &Bus) -> Result<u64, BusError> {
    reserve_ids(bus, 1).await
}

/// Commits a proposal under the lease `token`: every ticket SEARCHING -> PROPOSED, or nothing.
pub async fn commit(bus: &Bus, token: u64, p: &NewProposal) -> Result<Result<(), CommitRefused>, BusError> {
    let mut inv = COMMIT.prepare_invoke();
    inv.key(keys::lease(bus, &p.mode))
        .key(keys::queue(bus, &p.mode))
        .key(keys::proposal(bus, p.id))
        .key(keys::deadlines(bus, &p.mode));
    for t in &p.tickets {
        inv.key(keys::ticket(bus, *t));
    }
    let teams = serde_json::to_string(&p.teams).unwrap_or_default();
    inv.arg(token)
        .arg(p.id)
        .arg(p.deadline_ms)
        .arg(&p.mode)
        .arg(csv(&p.tickets))
        .arg(csv(&p.players))
        .arg(&p.region)
        .arg(teams)
        .arg(serde_json::to_string(&p.roles).unwrap_or_default());
    let mut conn = bus.conn().await?;
    let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(match r {
        1 => Ok(()),
        -1 => Err(CommitRefused::Fenced),
        n => Err(CommitRefused::TicketGone(p.tickets.get((-n - 2) as usize).copied().unwrap_or(0))),
    })
}

/// A proposal as read back.
#[derive(Clone, Debug)]
pub struct ProposalRow {
    pub id: u64,
    /// pending, ready, started, failed.
    pub state: String,
    pub version: u64,
    pub mode: String,
    pub tickets: Vec<u64>,
    pub players: Vec<u64>,
    pub deadline_ms: u64,
    pub region: String,
    pub teams: Vec<Vec<u64>>,
    pub roles: Vec<(u64, String)>,
    pub accepted: Vec<u64>,
}

pub async fn get(bus: &Bus, id: u64) -> Result<Option<ProposalRow>, BusError> {
    let mut conn = bus.conn().await?;
    let mut pipe = redis::pipe();
    pipe.cmd("HMGET")
        .arg(keys::proposal(bus, id))
        .arg(&["s", "v", "mode", "t", "pl", "d", "r", "teams", "roles"]);
    pipe.cmd("SMEMBERS").arg(keys::accepted(bus, id));
    #[allow(clippy::type_complexity)]
    let ((s, v, mode, t, pl, d, r, teams, roles), accepted): (
        (
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
            Option<String>,
            Option<String>,
            Option<String>,
        ),
        Vec<u64>,
    ) = bus.timed(pipe.query_async(&mut *conn)).await?;
    let Some(state) = s else { return Ok(None) };
    Ok(Some(ProposalRow {
        id,
        state,
        version: v.unwrap_or(0),
        mode: mode.unwrap_or_default(),
        tickets: parse_csv(&t.unwrap_or_default()),
        players: parse_csv(&pl.unwrap_or_default()),
        deadline_ms: d.unwrap_or(0),
        region: r.unwrap_or_default(),
        teams: teams.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        roles: roles.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        accepted,
    }))
}

/// What an accept did.
#[derive(Debug, PartialEq)]
pub enum Accepted {
    /// Counted; others still have to accept.
    Counted,
    /// The last accept: the proposal is ready to start.
    Ready,
    /// No pending proposal with this player (failed, timed out, started, or not theirs).
    NotFound,
}

static ACCEPT: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: proposal, accepted, deadlines, ready, then the tickets. ARGV: player, now, id.
    redis::Script::new(
        "if redis.call('HGET', KEYS[1], 's') ~= 'pending' then return 0 end
if tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'd')) then return 0 end
local pl = redis.call('HGET', KEYS[1], 'pl')
if not string.find(pl, ',' .. ARGV[1] .. ',', 1, true) then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'v', 1) end
local total = 0
for _ in string.gmatch(pl, '[^,]+') do total = total + 1 end
if redis.call('SCARD', KEYS[2]) < total then return 1 end
redis.call('HSET', KEYS[1], 's', 'ready', 'rt', ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
for i = 5, #KEYS do
  if redis.call('HGET', KEYS[i], 's') == '2' then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('HSET', KEYS[i], 's', 3)
  end
end
return 2",
    )
});

/// Counts `player`'s accept of proposal `p`.
pub async fn accept(bus: &Bus, p: &ProposalRow, player: u64, now_ms: u64) -> Result<Accepted, BusError> {
    let mut inv = ACCEPT.prepare_invoke();
    inv.key(keys::proposal(bus, p.id))
        .key(keys::accepted(bus, p.id))
        .key(keys::deadlines(bus, &p.mode))
        .key(keys::ready(bus, &p.mode));
    for t in &p.tickets {
        inv.key(keys::ticket(bus, *t));
    }
    inv.arg(player).arg(now_ms).arg(p.id);
    let mut conn = bus.conn().await?;
    let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(match r {
        1 => Accepted::Counted,
        2 => Accepted::Ready,
        _ => Accepted::NotFound,
    })
}

/// How a failed proposal's tickets end.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Tickets back in the queue (front, wait kept): (id, created ms).
    pub requeue: Vec<(u64, u64)>,
    /// Tickets cancelled, with their players.
    pub cancel: Vec<(u64, Vec<u64>)>,
    /// Players penalised (the decliners).
    pub penalise: Vec<u64>,
}

static FAIL: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: proposal, accepted, deadlines, ready, queue, then r requeued tickets, c cancelled
    // tickets, pk player keys of the cancelled, then per penalised player its declines counter
    // and cooldown key.
    // ARGV: id, expected state, expected version, r, c, pk, retention, base, max, memory,
    // then r requeued ids, r created, c cancelled ids, pk ticket ids (for the player keys).
    redis::Script::new(
        "if redis.call('HGET', KEYS[1], 's') ~= ARGV[2] then return {0} end
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[3] then return {0} end
local r, c, pk = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local keep = ARGV[7]
redis.call('HSET', KEYS[1], 's', 'failed')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
local a = 11
for i = 1, r do
  local k = KEYS[5 + i]
  local s = redis.call('HGET', k, 's')
  if (s == '2' or s == '3') and redis.call('HGET', k, 'p') == ARGV[1] then
    redis.call('HINCRBY', k, 'v', 1)
    redis.call('HSET', k, 's', 1, 'f', 1)
    redis.call('HDEL', k, 'p')
    redis.call('ZADD', KEYS[5], ARGV[a + r + i - 1], ARGV[a + i - 1])
  end
end
for i = 1, c do
  local k = KEYS[5 + r + i]
  local s = redis.call('HGET', k, 's')
  if (s == '2' or s == '3') and redis.call('HGET', k, 'p') == ARGV[1] then
    redis.call('HINCRBY', k, 'v', 1)
    redis.call('HSET', k, 's', 5)
    redis.call('PEXPIRE', k, keep)
  end
end
for i = 1, pk do
  if redis.call('GET', KEYS[5 + r + c + i]) == ARGV[a + 2 * r + c + i - 1] then
    redis.call('DEL', KEYS[5 + r + c + i])
  end
end
local out = {1}
local first = 6 + r + c + pk
for i = first, #KEYS, 2 do
  local n = redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], ARGV[10])
  local cd = tonumber(ARGV[8]) * math.pow(2, n - 1)
  if cd > tonumber(ARGV[9]) then cd = tonumber(ARGV[9]) end
  redis.call('SET', KEYS[i + 1], n, 'PX', math.floor(cd))
  table.insert(out, math.floor(cd))
end
return out",
    )
});

/// The mode's penalty settings, in ms.
#[derive(Clone, Copy, Debug)]
pub struct Penalty {
    pub base_ms: u64,
    pub max_ms: u64,
    pub memory_ms: u64,
}

/// Fails proposal `p` as read (its state and version must still be those): requeues, cancels
/// and penalises as `f` says. Returns None if the proposal changed meanwhile (read it again),
/// else the cooldown given to each of `f.penalise`, in order.
pub async fn fail(
    bus: &Bus,
    p: &ProposalRow,
    f: &Failure,
    penalty: Penalty,
    retention_ms: u64,
) -> Result<Option<Vec<u64>>, BusError> {
    let mut inv = FAIL.prepare_invoke();
    inv.key(keys::proposal(bus, p.id))
        .key(keys::accepted(bus, p.id))
        .key(keys::deadlines(bus, &p.mode))
        .key(keys::ready(bus, &p.mode))
        .key(keys::queue(bus, &p.mode));
    for (t, _) in &f.requeue {
        inv.key(keys::ticket(bus, *t));
    }
    for (t, _) in &f.cancel {
        inv.key(keys::ticket(bus, *t));
    }
    let player_keys: Vec<(u64, u64)> =
        f.cancel.iter().flat_map(|(t, players)| players.iter().map(move |p| (*p, *t))).collect();
    for (p, _) in &player_keys {
        inv.key(keys::player_ticket(bus, *p));
    }
    for player in &f.penalise {
        inv.key(keys::declines(bus, &p.mode, *player)).key(keys::cooldown(bus, &p.mode, *player));
    }
    inv.arg(p.id)
        .arg(&p.state)
        .arg(p.version)
        .arg(f.requeue.len())
        .arg(f.cancel.len())
        .arg(player_keys.len())
        .arg(retention_ms)
        .arg(penalty.base_ms)
        .arg(penalty.max_ms)
        .arg(penalty.memory_ms);
    for (t, _) in &f.requeue {
        inv.arg(*t);
    }
    for (_, created) in &f.requeue {
        inv.arg(*created);
    }
    for (t, _) in &f.cancel {
        inv.arg(*t);
    }
    for (_, t) in &player_keys {
        inv.arg(*t);
    }
    let mut conn = bus.conn().await?;
    let r: Vec<i64> = bus.timed(inv.invoke_async(&mut *conn)).await?;
    if r.first() != Some(&1) {
        return Ok(None);
    }
    Ok(Some(r[1..].iter().map(|&ms| ms.max(0) as u64).collect()))
}

static CLAIM: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: proposal. ARGV: now, stale after ms.
    redis::Script::new(
        "if redis.call('HGET', KEYS[1], 's') ~= 'ready' then return 0 end
local st = tonumber(redis.call('HGET', KEYS[1], 'st') or '0')
if st > 0 and tonumber(ARGV[1]) - st < tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'st', ARGV[1])
return 1",
    )
});

/// Claims the start of a ready proposal: true for one caller at a time (a claim older than
/// `stale_ms` can be taken over: its starter died).
pub async fn claim_start(bus: &Bus, id: u64, now_ms: u64, stale_ms: u64) -> Result<bool, BusError> {
    let mut inv = CLAIM.prepare_invoke();
    inv.key(keys::proposal(bus, id)).arg(now_ms).arg(stale_ms);
    let mut conn = bus.conn().await?;
    let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(r == 1)
}

/// What both assigns do once the proposal is ready (Lua; the caller's locals `mid` match id,
/// `keep` retention ms, `n` tickets, `csv` the tickets as `,1,2,`): the proposal started, its
/// tickets ACCEPTED -> ASSIGNED, their players' pointers dropped.
const MARK_STARTED: &str = "redis.call('HSET', KEYS[1], 's', 'started', 'm', mid)
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 4, 3 + n do
  if redis.call('HGET', KEYS[i], 's') == '3' then
    redis.call('HINCRBY', KEYS[i], 'v', 1)
    redis.call('HSET', KEYS[i], 's', 4, 'm', mid)
    redis.call('PEXPIRE', KEYS[i], keep)
  end
end
for i = 4 + n, #KEYS do
  local t = redis.call('GET', KEYS[i])
  if t and string.find(csv, ',' .. t .. ',', 1, true) then redis.call('DEL', KEYS[i]) end
end
";

static ASSIGN: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: proposal, ready, started match, then the tickets, then the player keys.
    // ARGV: id, match id, instance, retention, match ttl, n tickets, mode, teams json, parties
    // json, now, region, tickets (`,1,2,`), roles json.
    redis::Script::new(&format!(
        "if redis.call('HGET', KEYS[1], 's') ~= 'ready' then return 0 end
local mid, keep, n, csv = ARGV[2], ARGV[4], tonumber(ARGV[6]), ARGV[12]
{MARK_STARTED}redis.call('HSET', KEYS[3], 'mode', ARGV[7], 'teams', ARGV[8], 'parties', ARGV[9], 'instance', ARGV[3],
  'started', ARGV[10], 'region', ARGV[11], 'roles', ARGV[13])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1"
    ))
});

/// A started match, as kept for its result.
#[derive(Clone, Debug, Default)]
pub struct StartedMatch {
    pub match_id: String,
    pub mode: String,
    pub instance: String,
    pub region: String,
    pub teams: Vec<Vec<u64>>,
    /// Each player's party (players not listed were solo).
    pub parties: Vec<(u64, u64)>,
    /// Each player's role, in modes with roles.
    pub roles: Vec<(u64, String)>,
    pub started_ms: u64,
    /// `teams` as stored (what a backfill compares before it changes them); empty when new.
    pub teams_json: String,
}

/// A ready proposal's tickets ACCEPTED -> ASSIGNED to the match; the match kept for its result.
/// False if the proposal was not ready any more.
pub async fn assign(
    bus: &Bus,
    p: &ProposalRow,
    m: &StartedMatch,
    retention_ms: u64,
    match_ttl_ms: u64,
) -> Result<bool, BusError> {
    let mut inv = ASSIGN.prepare_invoke();
    inv.key(keys::proposal(bus, p.id)).key(keys::ready(bus, &p.mode)).key(keys::started(bus, &m.match_id));
    for t in &p.tickets {
        inv.key(keys::ticket(bus, *t));
    }
    for player in &p.players {
        inv.key(keys::player_ticket(bus, *player));
    }
    inv.arg(p.id)
        .arg(&m.match_id)
        .arg(&m.instance)
        .arg(retention_ms)
        .arg(match_ttl_ms)
        .arg(p.tickets.len())
        .arg(&m.mode)
        .arg(serde_json::to_string(&m.teams).unwrap_or_default())
        .arg(serde_json::to_string(&m.parties).unwrap_or_default())
        .arg(m.started_ms)
        .arg(&m.region)
        .arg(csv(&p.tickets))
        .arg(serde_json::to_string(&m.roles).unwrap_or_default());
    let mut conn = bus.conn().await?;
    let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
    Ok(r == 1)
}

/// A started match's record (None: unknown, or older than `match_ttl`).
pub async fn started(bus: &Bus, match_id: &str) -> Result<Option<StartedMatch>, BusError> {
    let mut conn = bus.conn().await?;
    #[allow(clippy::type_complexity)]
    let (mode, teams, parties, instance, started, region, roles): (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<u64>,
        Option<String>,
        Option<String>,
    ) = bus
        .timed(
            redis::cmd("HMGET")
                .arg(keys::started(bus, match_id))
                .arg(&["mode", "teams", "parties", "instance", "started", "region", "roles"])
                .query_async(&mut *conn),
        )
        .await?;
    let Some(mode) = mode else { return Ok(None) };
    let teams_json = teams.clone().unwrap_or_default();
    Ok(Some(StartedMatch {
        match_id: match_id.to_string(),
        mode,
        instance: instance.unwrap_or_default(),
        region: region.unwrap_or_default(),
        teams: teams.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        parties: parties.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        roles: roles.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        started_ms: started.unwrap_or(0),
        teams_json,
    }))
}

static ASSIGN_BACKFILL: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS: proposal, ready, started match, then the tickets, then the player keys.
    // ARGV: id, match id, retention, n tickets, teams json as read, new teams json, new roles
    // json, tickets (`,1,2,`).
    redis::Script::new(&format!(
        "if redis.call('HGET', KEYS[1], 's') ~= 'ready' then return 0 end
if redis.call('HGET', KEYS[3], 'teams') ~= ARGV[5] then return -1 end
local mid, keep, n, csv = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[8]
{MARK_STARTED}redis.call('HSET', KEYS[3], 'teams', ARGV[6], 'roles', ARGV[7])
return 1"
    ))
});

/// A ready backfill proposal's tickets ACCEPTED -> ASSIGNED to the running match `place`, its
/// players added to their team (and given their role) in the started match's record, a
/// compare-and-set on the teams as read so two backfills of one match keep each other's
/// players. Returns the match as it is now; None if the proposal was not ready any more or
/// the match's record is gone (past `match_ttl`).
pub async fn assign_backfill(
    bus: &Bus,
    p: &ProposalRow,
    place: &crate::tickets::BackfillBody,
    retention_ms: u64,
) -> Result<Option<StartedMatch>, BusError> {
    for _ in 0..8 {
        let Some(mut m) = started(bus, &place.match_id).await? else { return Ok(None) };
        let Some(team) = m.teams.get_mut(place.team as usize) else { return Ok(None) };
        team.extend(p.players.iter().copied().filter(|pl| !team.contains(pl)).collect::<Vec<_>>());
        for (pl, role) in &p.roles {
            m.roles.retain(|(x, _)| x != pl);
            m.roles.push((*pl, role.clone()));
        }
        let mut inv = ASSIGN_BACKFILL.prepare_invoke();
        inv.key(keys::proposal(bus, p.id))
            .key(keys::ready(bus, &p.mode))
            .key(keys::started(bus, &m.match_id));
        for t in &p.tickets {
            inv.key(keys::ticket(bus, *t));
        }
        for player in &p.players {
            inv.key(keys::player_ticket(bus, *player));
        }
        inv.arg(p.id)
            .arg(&m.match_id)
            .arg(retention_ms)
            .arg(p.tickets.len())
            .arg(&m.teams_json)
            .arg(serde_json::to_string(&m.teams).unwrap_or_default())
            .arg(serde_json::to_string(&m.roles).unwrap_or_default())
            .arg(csv(&p.tickets));
        let mut conn = bus.conn().await?;
        let r: i64 = bus.timed(inv.invoke_async(&mut *conn)).await?;
        match r {
            1 => return Ok(Some(m)),
            0 => return Ok(None),
            _ => continue,
        }
    }
    Err(BusError::Conflict(format!("match {} kept changing", place.match_id)))
}

/// Ids of `mode`'s proposals whose deadline passed (pending) or whose start is overdue (ready
/// since before `ready_before`).
pub async fn overdue(
    bus: &Bus,
    mode: &str,
    now_ms: u64,
    ready_before: u64,
) -> Result<(Vec<u64>, Vec<u64>), BusError> {
    let mut conn = bus.conn().await?;
    let mut pipe = redis::pipe();
    pipe.cmd("ZRANGEBYSCORE")
        .arg(keys::deadlines(bus, mode))
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(1000);
    pipe.cmd("ZRANGEBYSCORE")
        .arg(keys::ready(bus, mode))
        .arg("-inf")
        .arg(ready_before)
        .arg("LIMIT")
        .arg(0)
        .arg(1000);
    bus.timed(pipe.query_async(&mut *conn)).await
}
