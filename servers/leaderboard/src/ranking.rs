//! The board in Redis: submits (rate, best or cumulative, atomically in one script), pages of
//! the board, the players around one, and the entries of a few players, each with its rank in
//! the board's style.
//!
//! Encoding (ARCHITECTURE.md, "Leaderboards at run time"): a board is one ZSET always read
//! ascending. Its ZSET score is the score times the direction's sign (-1 for descending), exact
//! because scores are bounded by config within +-2^53; its member is `<achieved ms, 13
//! digits><player, 20 digits>`, so equal scores order by member bytes: earlier achieved first,
//! then the lower player id. A HASH maps a player to its member, that member's ZSET score and
//! its submit rate bucket, in one value (one read and at most one write per submit). Ranks: ordinal = position + 1
//! (ZRANK); competition = 1 + entries with a better ZSET score (ZCOUNT); dense = 1 + distinct
//! better ZSET scores, counted in a second ZSET of the distinct scores (with a HASH of how many
//! entries hold each, kept by the submit script on dense boards only: a board's ranking style
//! is fixed for a season's keys; a change to dense applies to seasons started after it, or
//! after the board's keys are dropped and rebuilt).

use std::sync::LazyLock;
use std::time::Duration;

use mmo_core::bus::{Bus, BusError};

use crate::config::{BoardConfig, Mode, Ranking};
use crate::keys::BoardKeys;

/// A player's place on a board.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub player: u64,
    pub score: i64,
    pub achieved_ms: u64,
    /// 1-based, in the board's style (0: not read, a submit with `skip_rank`).
    pub rank: u32,
    /// Its ZSET member (orders ties).
    pub member: String,
}

impl Entry {
    /// The sort key of the board's order: ZSET score, then member.
    pub fn order(&self, cfg: &BoardConfig) -> (i64, &str) {
        (self.score * cfg.direction.sign(), &self.member)
    }
}

/// The ZSET member of an entry.
pub fn member(achieved_ms: u64, player: u64) -> String {
    format!("{achieved_ms:013}{player:020}")
}

/// (achieved ms, player) of a member.
pub fn parse_member(m: &str) -> Option<(u64, u64)> {
    if m.len() != 33 {
        return None;
    }
    Some((m.get(..13)?.parse().ok()?, m.get(13..)?.parse().ok()?))
}

/// The rank number of the entry at 0-based `pos` with `better` better entries and `dbetter`
/// better distinct scores (0 for -1: not read).
pub fn rank(style: Ranking, pos: i64, better: i64, dbetter: i64) -> u32 {
    let r = match style {
        Ranking::Ordinal => pos,
        Ranking::Competition => better,
        Ranking::Dense => dbetter,
    };
    u32::try_from(r + 1).unwrap_or(u32::MAX)
}

// Shared Lua: the member in a player's HASH value (its first 33 bytes; the value is
// `<member> <zscore> <tat>`, or a bare member as written by the first layout).
const VALUE: &str = "
local function member_of(v)
  if v then return string.sub(v, 1, 33) end
  return v
end
";

// Shared Lua: move an entry in the ZSET from `old` (member, or false) to `new`. The
// distinct-score set and counts are kept only for dense boards (`dense`: the only style that
// reads them). KEYS: z, h, d, dc.
const MOVE: &str = "
local function ks(x) return string.format('%d', x) end
local function move(old, oldz, new, newz, dense)
  if old then
    redis.call('ZREM', KEYS[1], old)
    if dense then
      local s = ks(tonumber(oldz))
      if redis.call('HINCRBY', KEYS[4], s, -1) <= 0 then
        redis.call('HDEL', KEYS[4], s)
        redis.call('ZREM', KEYS[3], s)
      end
    end
  end
  redis.call('ZADD', KEYS[1], newz, new)
  if dense then
    local s = ks(tonumber(newz))
    if redis.call('HINCRBY', KEYS[4], s, 1) == 1 then redis.call('ZADD', KEYS[3], newz, s) end
  end
end
";

/// Submits to one board-season, in order, atomically. KEYS: z, h, d, dc. ARGV: mode (`b`
/// best, `c` cumulative, `rb`/`rc` a restore from MySQL: no rate, an entry already in Redis
/// wins unless worse), the lowest and highest ZSET score (the range times the sign), rate
/// interval ms (0: none), burst, ranking style (`o`, `c`, `d`: only dense boards keep the
/// distinct scores), whether to read ranks back (`1`: that style's rank; `0`: none, -1 in its
/// place); then per submit: player, ZSET score (score times sign; cumulative: the amount times
/// sign), member, now ms. Returns, flat, 6 values per submit: {-1, wait ms, '', '', '', ''}
/// when rate limited, else {improved 0/1, the style's rank - 1, member, zscore, then the entry
/// it replaced (member, zscore) or '', ''}.
///
/// The player's HASH value is `<member> <zscore> <tat>`: the entry, and its rate limit as
/// GCRA's theoretical arrival time (a token bucket of `burst` refilled one per interval, in
/// one integer: a submit at `now` passes if tat - now <= (burst - 1) * interval, and moves tat
/// to max(tat, now) + interval). Earlier layouts still read: `<member> <zscore> <tokens> <at
/// ms>` (its bucket converted), and a bare member (its zscore from the ZSET, a full bucket).
/// Redis calls per submit: HGET, HSET when the entry or its rate changed, ZREM and ZADD when
/// the entry moved, and the rank when asked. (One HMGET, ZREM, ZADD and HSET per call for all
/// its submits, through Lua tables, measured slower: the commands' own work dominates.)
static SUBMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{MOVE}
local mode, zlo, zhi = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local interval, burst, style, ranks = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7] == '1'
local limited = (mode == 'b' or mode == 'c') and interval > 0
local tau = (burst - 1) * interval
local function parse(v)
  if not v then return false end
  local m, z, t = string.match(v, '^(%d+) (%S+) (%S+)$')
  if m then return m, z, tonumber(t) end
  local m4, z4, tokens, at = string.match(v, '^(%d+) (%S+) (%S+) (%S+)$')
  if m4 then return m4, z4, math.ceil(tonumber(at) + (burst - tonumber(tokens)) * interval) end
  local z1 = redis.call('ZSCORE', KEYS[1], v)
  if not z1 then return false end
  return v, z1, nil
end
local out, n = {{}}, 0
for a = 8, #ARGV, 4 do
  local player, z, new, now = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local old, oldz, tat = parse(redis.call('HGET', KEYS[2], player))
  if not tat or tat < now then tat = now end
  if limited and tat - now > tau then
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5], out[n + 6] = -1, tat - now - tau, '', '', '', ''
  else
    if limited then tat = tat + interval end
    local newz, improved = z, false
    if not old then improved = true
    else
      local o, v = tonumber(oldz), tonumber(z)
      if mode == 'b' then improved = v < o
      elseif mode == 'c' then
        local t = math.max(zlo, math.min(zhi, o + v))
        improved = t ~= o
        if improved then newz = ks(t) end
      elseif mode == 'rb' then improved = v < o or (v == o and new < old) end
    end
    local cur, curz = old, oldz
    if improved then
      move(old, oldz, new, newz, style == 'd')
      cur, curz = new, newz
    end
    if improved or limited then redis.call('HSET', KEYS[2], player, cur .. ' ' .. curz .. ' ' .. tat) end
    local r = -1
    if not ranks then
    elseif style == 'o' then r = redis.call('ZRANK', KEYS[1], cur)
    elseif style == 'c' then r = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. curz)
    else r = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. curz) end
    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = improved and 1 or 0, r, cur, curz
    if improved and old then out[n + 5], out[n + 6] = old, oldz else out[n + 5], out[n + 6] = '', '' end
  end
  n = n + 6
end
return out"
    ))
});

/// KEYS: z, d. ARGV: start, stop (0-based, inclusive). Returns {total, better, dbetter of the
/// first, member1, zscore1, ...}.
static PAGE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        "local total = redis.call('ZCARD', KEYS[1])
local rows = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local out = {total, 0, 0}
if #rows > 0 then
  out[2] = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. rows[2])
  out[3] = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. rows[2])
end
for i = 1, #rows do out[#out + 1] = rows[i] end
return out",
    )
});

/// KEYS: z, h, d. ARGV: player, before, after. Returns {total, start (-1: no entry), better,
/// dbetter of the first, member1, zscore1, ...}.
static AROUND: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{VALUE}
local total = redis.call('ZCARD', KEYS[1])
local m = member_of(redis.call('HGET', KEYS[2], ARGV[1]))
local pos = m and redis.call('ZRANK', KEYS[1], m)
if not pos then return {{total, -1, 0, 0}} end
local start = math.max(0, pos - tonumber(ARGV[2]))
local rows = redis.call('ZRANGE', KEYS[1], start, pos + tonumber(ARGV[3]), 'WITHSCORES')
local out = {{total, start, redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. rows[2]),
             redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. rows[2])}}
for i = 1, #rows do out[#out + 1] = rows[i] end
return out"
    ))
});

/// KEYS: z, h, d. ARGV: players. Returns per player with an entry {player, member, zscore, pos,
/// better, dbetter}, flattened.
static OF: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{VALUE}
local out = {{}}
for i = 1, #ARGV do
  local m = member_of(redis.call('HGET', KEYS[2], ARGV[i]))
  local z = m and redis.call('ZSCORE', KEYS[1], m)
  if z then
    out[#out + 1] = ARGV[i]
    out[#out + 1] = m
    out[#out + 1] = z
    out[#out + 1] = redis.call('ZRANK', KEYS[1], m)
    out[#out + 1] = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. z)
    out[#out + 1] = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. z)
  end
end
return out"
    ))
});

/// What a submit did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Over the player's rate: retry after this.
    Limited(Duration),
    Done {
        improved: bool,
        /// The player's entry now.
        entry: Entry,
        /// The entry this submit replaced (member, ZSET score): set only when it had one and
        /// the submit improved it.
        old: Option<(String, i64)>,
    },
}

/// One submit, as the script takes it.
#[derive(Clone, Debug)]
pub struct Submit<'a> {
    pub keys: &'a BoardKeys,
    pub cfg: &'a BoardConfig,
    pub player: u64,
    pub score: i64,
    pub now_ms: u64,
    /// A restore from MySQL (no rate; the entry in Redis wins unless worse).
    pub restore: bool,
}

impl Submit<'_> {
    /// The script call of this one submit (for a pipeline: load the script first with
    /// [`load`]).
    pub fn invocation(&self) -> redis::ScriptInvocation<'static> {
        invocation(self.keys, self.cfg, self.restore, true, &[(self.player, self.score, self.now_ms)])
    }
}

/// The script call of several submits `(player, score, now ms)` to one board-season, applied
/// in order in one atomic step, reading each entry's rank back if `ranks` (else its rank is 0)
/// (for a pipeline: load the script first with [`load`]).
pub fn invocation(
    keys: &BoardKeys,
    cfg: &BoardConfig,
    restore: bool,
    ranks: bool,
    submits: &[(u64, i64, u64)],
) -> redis::ScriptInvocation<'static> {
    let mode = match (cfg.mode, restore) {
        (Mode::Best, false) => "b",
        (Mode::Cumulative, false) => "c",
        (Mode::Best, true) => "rb",
        (Mode::Cumulative, true) => "rc",
    };
    let sign = cfg.direction.sign();
    let (lo, hi) = (cfg.min_score * sign, cfg.max_score * sign);
    let mut inv = SUBMIT.prepare_invoke();
    inv.key(&keys.z).key(&keys.h).key(&keys.d).key(&keys.dc);
    inv.arg(mode)
        .arg(lo.min(hi))
        .arg(lo.max(hi))
        .arg(cfg.submit_interval.as_millis() as u64)
        .arg(cfg.submit_burst)
        .arg(match cfg.ranking {
            Ranking::Ordinal => "o",
            Ranking::Competition => "c",
            Ranking::Dense => "d",
        })
        .arg(if ranks { "1" } else { "0" });
    for &(player, score, now_ms) in submits {
        inv.arg(player).arg(score * sign).arg(member(now_ms, player)).arg(now_ms);
    }
    inv
}

/// Loads the scripts (before pipelining [`Submit::invocation`]s).
pub async fn load(bus: &Bus) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    for s in [&*SUBMIT, &*PAGE, &*AROUND, &*OF] {
        let _: String = bus.timed(s.prepare_invoke().load_async(&mut *conn)).await?;
    }
    Ok(())
}

fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).unwrap_or(0),
        redis::Value::SimpleString(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

fn entry(cfg: &BoardConfig, member: String, zscore: i64, rank: u32) -> Entry {
    let (achieved_ms, player) = parse_member(&member).unwrap_or((0, 0));
    Entry { player, score: zscore * cfg.direction.sign(), achieved_ms, rank, member }
}

/// Values per submit in the submit script's reply.
pub const REPLY_WIDTH: usize = 6;

/// Reads one submit's part (its [`REPLY_WIDTH`] values) of the submit script's reply.
pub fn submitted(cfg: &BoardConfig, reply: &[redis::Value]) -> Submitted {
    let at = |i: usize| reply.get(i).map(int).unwrap_or(0);
    if at(0) < 0 {
        return Submitted::Limited(Duration::from_millis(at(1).max(1) as u64));
    }
    let member = reply.get(2).map(text).unwrap_or_default();
    let entry = entry(cfg, member, at(3), rank(cfg.ranking, at(1), at(1), at(1)));
    let old_member = reply.get(4).map(text).unwrap_or_default();
    let old = (!old_member.is_empty()).then(|| (old_member, at(5)));
    Submitted::Done { improved: at(0) == 1, entry, old }
}

/// Submits one score on its own (the server batches them: [`crate::submitter`]).
pub async fn submit(bus: &Bus, s: &Submit<'_>) -> Result<Submitted, BusError> {
    let mut conn = bus.conn().await?;
    let reply: Vec<redis::Value> = bus.timed(s.invocation().invoke_async(&mut *conn)).await?;
    if reply.len() != REPLY_WIDTH {
        return Err(BusError::Conflict("the submit script answered the wrong shape".into()));
    }
    Ok(submitted(s.cfg, &reply))
}

/// Rows `member, zscore, ...` starting at 0-based `start`, the first with `better` and `dbetter`:
/// entries with ranks (equal ZSET scores share competition and dense ranks).
fn ranked(cfg: &BoardConfig, start: i64, better: i64, dbetter: i64, rows: &[redis::Value]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(rows.len() / 2);
    let (mut better, mut dbetter, mut prev) = (better, dbetter, None);
    for (i, pair) in rows.chunks_exact(2).enumerate() {
        let z = int(&pair[1]);
        let pos = start + i as i64;
        if let Some(p) = prev
            && p != z
        {
            better = pos;
            dbetter += 1;
        }
        prev = Some(z);
        out.push(entry(cfg, text(&pair[0]), z, rank(cfg.ranking, pos, better, dbetter)));
    }
    out
}

/// Entries `start..start+count` of the board in order, and how many entries it has.
pub async fn page(
    bus: &Bus,
    keys: &BoardKeys,
    cfg: &BoardConfig,
    start: u32,
    count: u32,
) -> Result<(u32, Vec<Entry>), BusError> {
    if count == 0 {
        let mut conn = bus.conn().await?;
        let total: u32 = bus.timed(redis::cmd("ZCARD").arg(&keys.z).query_async(&mut *conn)).await?;
        return Ok((total, Vec::new()));
    }
    let stop = i64::from(start) + i64::from(count) - 1;
    let mut conn = bus.conn().await?;
    let reply: Vec<redis::Value> =
        bus.timed(PAGE.key(&keys.z).key(&keys.d).arg(start).arg(stop).invoke_async(&mut *conn)).await?;
    let at = |i: usize| reply.get(i).map(int).unwrap_or(0);
    let rows = reply.get(3..).unwrap_or_default();
    Ok((at(0) as u32, ranked(cfg, i64::from(start), at(1), at(2), rows)))
}

/// `player`'s entry with up to `before` entries above and `after` below, and how many entries
/// the board has (no entries when the player has none).
pub async fn around(
    bus: &Bus,
    keys: &BoardKeys,
    cfg: &BoardConfig,
    player: u64,
    before: u32,
    after: u32,
) -> Result<(u32, Vec<Entry>), BusError> {
    let mut conn = bus.conn().await?;
    let reply: Vec<redis::Value> = bus
        .timed(
            AROUND
                .key(&keys.z)
                .key(&keys.h)
                .key(&keys.d)
                .arg(player)
                .arg(before)
                .arg(after)
                .invoke_async(&mut *conn),
        )
        .await?;
    let at = |i: usize| reply.get(i).map(int).unwrap_or(0);
    if at(1) < 0 {
        return Ok((at(0) as u32, Vec::new()));
    }
    let rows = reply.get(4..).unwrap_or_default();
    Ok((at(0) as u32, ranked(cfg, at(1), at(2), at(3), rows)))
}

/// The entries of those of `players` who have one, with their ranks on the whole board, in
/// board order.
pub async fn of(
    bus: &Bus,
    keys: &BoardKeys,
    cfg: &BoardConfig,
    players: &[u64],
) -> Result<Vec<Entry>, BusError> {
    if players.is_empty() {
        return Ok(Vec::new());
    }
    let mut inv = OF.prepare_invoke();
    inv.key(&keys.z).key(&keys.h).key(&keys.d);
    for p in players {
        inv.arg(*p);
    }
    let mut conn = bus.conn().await?;
    let reply: Vec<redis::Value> = bus.timed(inv.invoke_async(&mut *conn)).await?;
    let mut out: Vec<Entry> = reply
        .chunks_exact(6)
        .map(|r| entry(cfg, text(&r[1]), int(&r[2]), rank(cfg.ranking, int(&r[3]), int(&r[4]), int(&r[5]))))
        .collect();
    out.sort_by(|a, b| a.order(cfg).cmp(&b.order(cfg)));
    Ok(out)
}

/// Ranks `entries` (in board order) among themselves, in the board's style.
pub fn rank_among(cfg: &BoardConfig, entries: &mut [Entry]) {
    let (mut better, mut dbetter, mut prev) = (0i64, 0i64, None);
    for (i, e) in entries.iter_mut().enumerate() {
        let z = e.score * cfg.direction.sign();
        if let Some(p) = prev
            && p != z
        {
            better = i as i64;
            dbetter += 1;
        }
        prev = Some(z);
        e.rank = rank(cfg.ranking, i as i64, better, dbetter);
    }
}
