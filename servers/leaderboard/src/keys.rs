//! Every Redis key the leaderboard owns, under `<prefix>:leaderboard:`. A board's season keys
//! share the hash tag `{<board>:<season>}`, so its scripts touch one slot.

use mmo_core::bus::Bus;

use crate::SERVICE;

fn k(bus: &Bus, rest: &str) -> String {
    bus.keys().owned(SERVICE, rest)
}

/// The keys of one season of one board.
#[derive(Clone, Debug)]
pub struct BoardKeys {
    /// ZSET: member `<achieved ms, 13 digits><player, 20 digits>` -> the ZSET score (the score
    /// times the direction's sign: the board always ranks ascending). See ARCHITECTURE.md.
    pub z: String,
    /// HASH: player -> `<member> <zscore> <tat>`: its member in `z`, that member's ZSET score,
    /// and its submit rate limit (GCRA's theoretical arrival time, ms). Readers of the member
    /// take the first 33 bytes.
    pub h: String,
    /// ZSET of the distinct ZSET scores on the board (member: the score as an integer), for
    /// dense ranks.
    pub d: String,
    /// HASH: distinct ZSET score -> how many entries have it.
    pub dc: String,
    /// Set once the board has been checked against MySQL (rebuilt if it had rows): its absence
    /// means Redis lost the board, or it was never used.
    pub built: String,
    /// The rebuild lock (`SET NX PX`, the holder's node).
    pub lock: String,
}

impl BoardKeys {
    pub fn new(bus: &Bus, board: &str, season: u64) -> BoardKeys {
        let tag = format!("{{{board}:{season}}}");
        BoardKeys {
            z: k(bus, &format!("z:{tag}")),
            h: k(bus, &format!("h:{tag}")),
            d: k(bus, &format!("d:{tag}")),
            dc: k(bus, &format!("dc:{tag}")),
            built: k(bus, &format!("built:{tag}")),
            lock: k(bus, &format!("lock:{tag}")),
        }
    }

    /// The keys that hold the board itself (archived together).
    pub fn board(&self) -> [&str; 5] {
        [&self.z, &self.h, &self.d, &self.dc, &self.built]
    }
}

/// The rollover lease (`SET NX PX`, the holder's node).
pub fn rollover_lease(bus: &Bus) -> String {
    k(bus, "rollover")
}
