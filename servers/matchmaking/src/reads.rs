//! What a queue join reads before writing its ticket: the players' reported latencies, their
//! ratings in the mode and their blocks, in one Redis pipeline; only what Redis does not hold
//! is read from MySQL, through [`Coalescer`]s shared by every join of the process, and then
//! written back to Redis.
//!
//! Ratings are cached per (mode, player) at [`keys::rating`] as `games rating deviation
//! volatility` (a player with no row: games 0 and the default rating), for [`RATING_TTL`].
//! [`crate::outcome`] writes each result's new ratings through once its transaction has
//! committed ([`remember`]): the `games` count is the entry's version, and an entry gives way
//! only to one with more games, so two results written through out of order leave the later.
//! A join fills a missed entry with `SET NX`: it never replaces an entry, so a join that read
//! MySQL before a result committed cannot undo the rating the result wrote through.
//!
//! Blocks are cached by the account server's [`block_cache`], which forgets them on every
//! block change.
//!
//! A cold join (nothing cached) costs one Redis round trip for the reads (with the new ticket's
//! id), its share of a coalesced MySQL read per table, and one round trip for the ticket with
//! the fills; a warm one, the two round trips alone.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use mmo_account::block_cache::{self, Cached, Pair};
use mmo_core::bus::{Bus, BusError};
use mmo_core::session::PlayerId;
use mmo_core::store::StoreError;
use mmo_proto::RegionLatency;
use prost::Message as _;

use crate::coalesce::Coalescer;
use crate::error::MmError;
use crate::ratings::{self, Rating};
use crate::{State, keys};

/// How long a cached rating lives unread by a result: long enough for a session of requeues.
pub const RATING_TTL: Duration = Duration::from_secs(3600);
/// MySQL reads per table a process runs at once for joins (the rest wait and share the next).
const MAX_IN_FLIGHT: usize = 2;
/// Joins one coalesced MySQL read serves at most (bounds its `IN (...)` list).
const MAX_BATCH: usize = 128;

/// A rating with its version: the player's games in the mode.
pub type Versioned = (Rating, u64);

/// The process's coalesced MySQL reads for joins (see [`crate::coalesce`]).
#[derive(Debug)]
pub struct Reads {
    ratings: Coalescer<(String, u64), Versioned>,
    blocks: Coalescer<u64, Vec<Pair>>,
}

impl Default for Reads {
    fn default() -> Self {
        Reads {
            ratings: Coalescer::new(MAX_IN_FLIGHT, MAX_BATCH),
            blocks: Coalescer::new(MAX_IN_FLIGHT, MAX_BATCH),
        }
    }
}

/// What a join read.
#[derive(Debug, Default)]
pub struct Joined {
    /// The new ticket's id, taken in the same round trip ([`crate::tickets::next_id`]).
    pub ticket: u64,
    pub latencies: HashMap<u64, Vec<RegionLatency>>,
    pub ratings: HashMap<u64, Rating>,
    /// Every block involving one of the players, either way, as (blocker, blocked).
    pub blocks: Vec<(PlayerId, PlayerId)>,
}

/// What a join read from MySQL, to write back to Redis ([`Fill::commands`]).
#[derive(Debug, Default)]
pub struct Fill {
    mode: String,
    ratings: HashMap<u64, Versioned>,
    blocks: HashMap<u64, Vec<Pair>>,
}

impl Fill {
    /// The commands writing the entries back, each only where Redis has none: plain `SET NX`,
    /// so that they can share the ticket's round trip ([`crate::tickets::enqueue_as`]).
    pub fn commands(&self, bus: &Bus) -> Vec<redis::Cmd> {
        let mut out = block_cache::fill_commands(bus, &self.blocks);
        for (p, v) in &self.ratings {
            out.push(
                redis::cmd("SET")
                    .arg(keys::rating(bus, &self.mode, *p))
                    .arg(encode(v))
                    .arg("NX")
                    .arg("PX")
                    .arg(RATING_TTL.as_millis() as u64)
                    .clone(),
            );
        }
        out
    }
}

/// The latencies, ratings and blocks of `players` queueing in `mode`.
pub async fn read(st: &State, mode: &str, players: &[u64]) -> Result<(Joined, Fill), MmError> {
    let bus = &st.bus;
    // One MGET for the three kinds of key: n latencies, n ratings, n blocks.
    let n = players.len();
    let mut all_keys: Vec<String> = Vec::with_capacity(3 * n);
    all_keys.extend(players.iter().map(|p| keys::latency(bus, *p)));
    all_keys.extend(players.iter().map(|p| keys::rating(bus, mode, *p)));
    all_keys.extend(players.iter().map(|p| block_cache::key(bus, *p)));
    let mut pipe = redis::pipe();
    pipe.add_command(crate::tickets::next_id(bus)).cmd("MGET").arg(&all_keys);
    let (ticket, mut values): (u64, Vec<Option<Vec<u8>>>) = {
        let mut conn = bus.conn().await?;
        bus.timed(pipe.query_async(&mut *conn)).await?
    };
    if values.len() != 3 * n {
        let why = format!("MGET of {} keys answered {}", 3 * n, values.len());
        return Err(MmError::Bus(BusError::Conflict(why)));
    }
    let text = |v: Option<Vec<u8>>| v.and_then(|b| String::from_utf8(b).ok());
    let block_values: Vec<Option<String>> = values.split_off(2 * n).into_iter().map(text).collect();
    let rating_values: Vec<Option<String>> = values.split_off(n).into_iter().map(text).collect();
    let latencies = values;

    let mut joined = Joined {
        ticket,
        latencies: players
            .iter()
            .zip(latencies)
            .filter_map(|(p, v)| {
                let r = mmo_proto::LatencyReportReq::decode(v?.as_slice()).ok()?;
                Some((*p, r.latencies))
            })
            .collect(),
        ..Joined::default()
    };
    let mut missed_ratings = Vec::new();
    for (p, v) in players.iter().zip(rating_values) {
        match v.as_deref().and_then(decode) {
            Some((r, _)) => {
                joined.ratings.insert(*p, r);
            }
            None => missed_ratings.push((mode.to_string(), *p)),
        }
    }
    let mut blocks = Cached::from_replies(players, block_values);

    let (fresh_ratings, fresh_blocks) = tokio::join!(
        async {
            if missed_ratings.is_empty() {
                return Ok(HashMap::new());
            }
            st.reads.ratings.get(missed_ratings, |k| load_ratings(st, k)).await
        },
        async {
            if blocks.missed.is_empty() {
                return Ok(HashMap::new());
            }
            st.reads.blocks.get(blocks.missed.clone(), |k| load_blocks(st, k)).await
        },
    );
    let (fresh_ratings, fresh_blocks) = (fresh_ratings?, fresh_blocks?);
    let mut fill = Fill { mode: mode.to_string(), ..Fill::default() };
    for ((_, p), v) in fresh_ratings {
        joined.ratings.insert(p, v.0);
        fill.ratings.insert(p, v);
    }
    for p in &blocks.missed {
        // The load answers every player it is asked for; none would mean no blocks.
        let pairs = fresh_blocks.get(p).cloned().unwrap_or_default();
        blocks.hits.insert(*p, pairs.clone());
        fill.blocks.insert(*p, pairs);
    }
    joined.blocks = block_cache::union(blocks.hits.values());
    Ok((joined, fill))
}

/// The loader of missed ratings: one query per mode in the batch (nearly always one).
async fn load_ratings(
    st: &State,
    keys: Vec<(String, u64)>,
) -> Result<HashMap<(String, u64), Versioned>, StoreError> {
    let mut by_mode: HashMap<String, Vec<u64>> = HashMap::new();
    for (mode, p) in keys {
        by_mode.entry(mode).or_default().push(p);
    }
    let mut out = HashMap::new();
    for (mode, players) in by_mode {
        for (p, v) in ratings::get_versioned(&st.store, &mode, &players).await? {
            out.insert((mode.clone(), p), v);
        }
    }
    Ok(out)
}

/// The loader of missed blocks: one query for the batch, split per player.
async fn load_blocks(st: &State, players: Vec<u64>) -> Result<HashMap<u64, Vec<Pair>>, StoreError> {
    let ids: Vec<PlayerId> = players.iter().map(|p| PlayerId(*p)).collect();
    let rows = mmo_account::friends::blocks(&st.store, &ids).await?;
    Ok(block_cache::entries(&players, &rows))
}

/// An entry as stored.
fn encode((r, games): &Versioned) -> String {
    format!("{games} {} {} {}", r.rating, r.deviation, r.volatility)
}

/// An entry as read; `None` if it does not parse (then MySQL answers and the entry is rewritten).
fn decode(s: &str) -> Option<Versioned> {
    let mut it = s.split(' ');
    let games = it.next()?.parse().ok()?;
    let mut f = || it.next()?.parse::<f64>().ok();
    let r = Rating { rating: f()?, deviation: f()?, volatility: f()? };
    Some((r, games))
}

static REMEMBER: LazyLock<redis::Script> = LazyLock::new(|| {
    // KEYS entries; ARGV[1] the TTL ms, ARGV[i + 1] the entry of KEYS[i]. Each entry starts
    // with its games count: replace only an older (or no) entry.
    redis::Script::new(
        r"
        for i = 1, #KEYS do
          local new = tonumber(string.match(ARGV[i + 1], '^%d+'))
          local cur = redis.call('GET', KEYS[i])
          local old = cur and tonumber(string.match(cur, '^%d+'))
          if not old or old < new then redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1]) end
        end
        return 1
        ",
    )
});

/// Caches ratings of `mode` with their games counts, each unless a newer one is cached.
pub async fn remember(bus: &Bus, mode: &str, ratings: &HashMap<u64, Versioned>) -> Result<(), BusError> {
    if ratings.is_empty() {
        return Ok(());
    }
    let mut inv = REMEMBER.prepare_invoke();
    inv.arg(RATING_TTL.as_millis() as u64);
    for (p, v) in ratings {
        inv.key(keys::rating(bus, mode, *p)).arg(encode(v));
    }
    let mut conn = bus.conn().await?;
    bus.timed(inv.invoke_async::<i64>(&mut *conn)).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_exactly() {
        let v = (Rating { rating: 1523.123456789, deviation: 87.000001, volatility: 0.0599999 }, 42);
        assert_eq!(decode(&encode(&v)), Some(v));
        assert_eq!(decode("x 1 2 3"), None);
        assert_eq!(decode("3 1 2"), None);
    }
}
