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
    /// 1-based, in the board's style.
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
/// better distinct scores.
pub fn rank(style: Ranking, pos: i64, better: i64, dbetter: i64) -> u32 {
    let r = match style {
        Ranking::Ordinal => pos,
        Ranking::Competition => better,
        Ranking::Dense => dbetter,
    };
    u32::try_from(r + 1).unwrap_or(u32::MAX)
}

// Shared Lua: a player's HASH value, `<member> <zscore> <tokens> <at ms>` (the entry, and its
// submit rate bucket: one read and one write per submit), parsed as member, zscore, tokens, at;
// a bare member (written before the bucket moved into the value) reads as a full bucket, its
// zscore from the ZSET. KEYS: z, h.
const VALUE: &str = "
local function parse(v)
  if not v then return false, nil, nil, nil end
  local m, z, t, a = string.match(v, '^(%d+) (%S+) (%S+) (%S+)$')
  if m then return m, tonumber(z), tonumber(t), tonumber(a) end
  local z2 = redis.call('ZSCORE', KEYS[1], v)
  if not z2 then return false, nil, nil, nil end
  return v, tonumber(z2), nil, nil
end
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
local function move(old, oldkey, new, newkey, dense)
  if old then
    redis.call('ZREM', KEYS[1], old)
    if dense then
      local s = ks(oldkey)
      if redis.call('HINCRBY', KEYS[4], s, -1) <= 0 then
        redis.call('HDEL', KEYS[4], s)
        redis.call('ZREM', KEYS[3], s)
      end
    end
  end
  redis.call('ZADD', KEYS[1], newkey, new)
  if dense then
    local s = ks(newkey)
    if redis.call('HINCRBY', KEYS[4], s, 1) == 1 then redis.call('ZADD', KEYS[3], newkey, s) end
  end
end
";

/// Submits to one board-season, in order, atomically. KEYS: z, h, d, dc. ARGV: mode (`b`
/// best, `c` cumulative, `rb`/`rc` a restore from MySQL: no rate, an entry already in Redis
/// wins unless worse), sign, min, max, rate interval ms (0: none), burst, ranking style (`o`,
/// `c`, `d`: only that style's rank is read back, and only dense boards keep the distinct
/// scores); then per submit: player, score, member, now ms. Returns per submit {-1, wait ms}
/// when rate limited, else {improved 0/1, zscore, member, pos, better, dbetter (the two of
/// other styles 0), old member or '', old zscore or ''}. Redis calls per submit: HGET, then
/// HSET when the entry or its bucket changed, ZREM and ZADD when the entry moved, and the rank.
static SUBMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(&format!(
        "{VALUE}{MOVE}
local mode, sign = ARGV[1], tonumber(ARGV[2])
local minv, maxv = tonumber(ARGV[3]), tonumber(ARGV[4])
local interval, burst, style = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local limited = (mode == 'b' or mode == 'c') and interval > 0
local function one(player, score, new, now)
  local old, oldkey, tokens, at = parse(redis.call('HGET', KEYS[2], player))
  tokens, at = tokens or burst, at or now
  if limited then
    if now > at then tokens = math.min(burst, tokens + (now - at) / interval) end
    if tokens < 1 then return {{-1, math.ceil((1 - tokens) * interval)}} end
    tokens, at = tokens - 1, math.max(now, at)
  end
  local total = score
  if mode == 'c' and old then total = math.max(minv, math.min(maxv, sign * oldkey + score)) end
  local newkey = sign * total
  local improved
  if not old then improved = true
  elseif mode == 'b' then improved = newkey < oldkey
  elseif mode == 'c' then improved = newkey ~= oldkey
  elseif mode == 'rb' then improved = newkey < oldkey or (newkey == oldkey and new < old)
  else improved = false end
  local cur, curkey = old, oldkey
  if improved then
    move(old, oldkey, new, newkey, style == 'd')
    cur, curkey = new, newkey
  end
  if improved or limited then
    redis.call('HSET', KEYS[2], player, cur .. ' ' .. ks(curkey) .. ' ' .. tokens .. ' ' .. at)
  end
  local pos, better, dbetter = 0, 0, 0
  if style == 'o' then pos = redis.call('ZRANK', KEYS[1], cur)
  elseif style == 'c' then better = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ks(curkey))
  else dbetter = redis.call('ZCOUNT', KEYS[3], '-inf', '(' .. ks(curkey)) end
  return {{improved and 1 or 0, ks(curkey), cur, pos, better, dbetter, old or '', oldkey and ks(oldkey) or ''}}
end
local out = {{}}
for i = 1, (#ARGV - 7) / 4 do
  local a = 7 + (i - 1) * 4
  out[i] = one(ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], tonumber(ARGV[a + 4]))
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
        /// Its entry before (member, ZSET score), if it had one.
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
        invocation(self.keys, self.cfg, self.restore, &[(self.player, self.score, self.now_ms)])
    }
}

/// The script call of several submits `(player, score, now ms)` to one board-season, applied
/// in order in one atomic step (for a pipeline: load the script first with [`load`]).
pub fn invocation(
    keys: &BoardKeys,
    cfg: &BoardConfig,
    restore: bool,
    submits: &[(u64, i64, u64)],
) -> redis::ScriptInvocation<'static> {
    let mode = match (cfg.mode, restore) {
        (Mode::Best, false) => "b",
        (Mode::Cumulative, false) => "c",
        (Mode::Best, true) => "rb",
        (Mode::Cumulative, true) => "rc",
    };
    let mut inv = SUBMIT.prepare_invoke();
    inv.key(&keys.z).key(&keys.h).key(&keys.d).key(&keys.dc);
    inv.arg(mode)
        .arg(cfg.direction.sign())
        .arg(cfg.min_score)
        .arg(cfg.max_score)
        .arg(cfg.submit_interval.as_millis() as u64)
        .arg(cfg.submit_burst)
        .arg(match cfg.ranking {
            Ranking::Ordinal => "o",
            Ranking::Competition => "c",
            Ranking::Dense => "d",
        });
    for &(player, score, now_ms) in submits {
        inv.arg(player).arg(score).arg(member(now_ms, player)).arg(now_ms);
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

/// Reads one submit's part of the script's reply.
pub fn submitted(cfg: &BoardConfig, reply: &redis::Value) -> Submitted {
    let reply = match reply {
        redis::Value::Array(a) => a.as_slice(),
        _ => &[],
    };
    let at = |i: usize| reply.get(i).map(int).unwrap_or(0);
    if at(0) < 0 {
        return Submitted::Limited(Duration::from_millis(at(1).max(1) as u64));
    }
    let member = reply.get(2).map(text).unwrap_or_default();
    let entry = entry(cfg, member, at(1), rank(cfg.ranking, at(3), at(4), at(5)));
    let old_member = reply.get(6).map(text).unwrap_or_default();
    let old = (!old_member.is_empty()).then(|| (old_member, at(7)));
    Submitted::Done { improved: at(0) == 1, entry, old }
}

/// Submits one score on its own (the server batches them: [`crate::submitter`]).
pub async fn submit(bus: &Bus, s: &Submit<'_>) -> Result<Submitted, BusError> {
    let mut conn = bus.conn().await?;
    let reply: Vec<redis::Value> = bus.timed(s.invocation().invoke_async(&mut *conn)).await?;
    let one = reply.first().ok_or_else(|| BusError::Conflict("the submit script answered nothing".into()))?;
    Ok(submitted(s.cfg, one))
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
