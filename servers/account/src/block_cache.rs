//! Blocks cached in Redis per player, for the servers that read them on every request
//! (matchmaking reads the blocks of every player it queues: one MySQL query per ticket was most
//! of a queue join's cost).
//!
//! `<prefix>:account:blocks:<player>` holds every block involving the player, either way, as
//! `blocker>blocked` pairs joined by `,` (empty: none); a missing key is a miss, read from MySQL
//! ([`crate::friends::blocks`]) and filled with `SET NX` ([`fill_commands`]); [`crate::friends::blocks_cached`]
//! reads through it. A string, not a
//! Redis set, because "no blocks" is the common answer and must be cached too (a set cannot be
//! empty).
//!
//! Invalidation: [`crate::friends::block`] and [`crate::friends::unblock`] call [`forget`]
//! after their transaction commits. It does not delete the players' entries but replaces them
//! with a tombstone for [`TOMBSTONE_TTL`]: a tombstone reads as a miss, and a fill (`SET NX`)
//! cannot replace it, so a reader that read MySQL before the commit cannot put the old answer
//! back after the invalidation (its fill comes long before the tombstone expires: every read
//! and write has a deadline of seconds). Meanwhile those two players' blocks are read from
//! MySQL. Entries also expire after [`TTL`], a bound on staleness should an invalidation itself
//! fail after its commit (the change then answers an error, and its retry, which changes
//! nothing, invalidates again).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mmo_core::bus::{Bus, BusError};
use mmo_core::session::PlayerId;

use crate::SERVICE;

/// How long a cached entry lives without being invalidated (see the module documentation).
pub const TTL: Duration = Duration::from_secs(600);
/// How long an invalidated entry stays a tombstone: far longer than any read's deadline.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(60);
/// An invalidated entry: reads as a miss, and fills do not replace it.
const TOMBSTONE: &str = "!";

/// A player's cached entry.
pub fn key(bus: &Bus, player: u64) -> String {
    bus.keys().owned(SERVICE, &format!("blocks:{player}"))
}

/// A block: (blocker, blocked).
pub type Pair = (u64, u64);

/// An entry as stored: `a>b,c>d`.
pub fn encode(pairs: &[Pair]) -> String {
    pairs.iter().map(|(a, b)| format!("{a}>{b}")).collect::<Vec<_>>().join(",")
}

/// An entry as read; `None` for a miss (no key) or an entry that does not parse (treated as a
/// miss, so MySQL answers and the fill rewrites it).
pub fn decode(value: Option<&str>) -> Option<Vec<Pair>> {
    let value = value.filter(|v| *v != TOMBSTONE)?;
    if value.is_empty() {
        return Some(Vec::new());
    }
    value
        .split(',')
        .map(|pair| {
            let (a, b) = pair.split_once('>')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Each of `players`' entry from MySQL rows of [`crate::friends::blocks`] read for them (a row
/// belongs to both its players' entries when both are among `players`).
pub fn entries(players: &[u64], rows: &[(PlayerId, PlayerId)]) -> HashMap<u64, Vec<Pair>> {
    let mut out: HashMap<u64, Vec<Pair>> = players.iter().map(|&p| (p, Vec::new())).collect();
    for &(a, b) in rows {
        let pair = (a.0, b.0);
        for p in [a.0, b.0] {
            if let Some(e) = out.get_mut(&p)
                && !e.contains(&pair)
            {
                e.push(pair);
            }
        }
    }
    out
}

/// The commands that fill entries read from MySQL, each only where no entry (nor tombstone) is.
pub fn fill_commands(bus: &Bus, entries: &HashMap<u64, Vec<Pair>>) -> Vec<redis::Cmd> {
    entries
        .iter()
        .map(|(p, pairs)| {
            redis::cmd("SET")
                .arg(key(bus, *p))
                .arg(encode(pairs))
                .arg("NX")
                .arg("PX")
                .arg(TTL.as_millis() as u64)
                .clone()
        })
        .collect()
}

/// After a block change between these players has committed: no reader keeps or puts back the
/// old answer (see the module documentation).
pub async fn forget(bus: &Bus, players: &[u64]) -> Result<(), BusError> {
    let mut pipe = redis::pipe();
    for p in players {
        pipe.cmd("SET")
            .arg(key(bus, *p))
            .arg(TOMBSTONE)
            .arg("PX")
            .arg(TOMBSTONE_TTL.as_millis() as u64)
            .ignore();
    }
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await
}

/// What one Redis read found: the entries it had and the players it missed.
#[derive(Debug, Default)]
pub struct Cached {
    pub hits: HashMap<u64, Vec<Pair>>,
    pub missed: Vec<u64>,
}

impl Cached {
    /// From the reply to `MGET key(p)...` for `players`.
    pub fn from_replies(players: &[u64], values: Vec<Option<String>>) -> Cached {
        let mut out = Cached::default();
        for (p, v) in players.iter().zip(values) {
            match decode(v.as_deref()) {
                Some(pairs) => {
                    out.hits.insert(*p, pairs);
                }
                None => out.missed.push(*p),
            }
        }
        out
    }
}

/// Every block involving one of `players`, either way, as (blocker, blocked), deduplicated:
/// the union of their entries.
pub fn union<'a>(entries: impl IntoIterator<Item = &'a Vec<Pair>>) -> Vec<(PlayerId, PlayerId)> {
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .flatten()
        .filter(|p| seen.insert(**p))
        .map(|&(a, b)| (PlayerId(a), PlayerId(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_empty_is_a_hit() {
        let pairs = vec![(1, 2), (3, 1)];
        assert_eq!(decode(Some(&encode(&pairs))), Some(pairs));
        assert_eq!(decode(Some("")), Some(Vec::new()));
        assert_eq!(decode(None), None);
        assert_eq!(decode(Some("1>x")), None);
        assert_eq!(decode(Some(TOMBSTONE)), None);
    }

    #[test]
    fn a_row_goes_to_both_players_entries() {
        let rows = [(PlayerId(1), PlayerId(2)), (PlayerId(3), PlayerId(1))];
        let e = entries(&[1, 2, 5], &rows);
        assert_eq!(e[&1], vec![(1, 2), (3, 1)]);
        assert_eq!(e[&2], vec![(1, 2)]);
        assert_eq!(e[&5], Vec::<Pair>::new());
        assert_eq!(union(e.values()).len(), 2);
    }
}
