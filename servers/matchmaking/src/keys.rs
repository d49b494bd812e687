//! Every Redis key matchmaking owns, under `<prefix>:matchmaking:`.

use mmo_core::bus::Bus;

use crate::SERVICE;

fn k(bus: &Bus, rest: &str) -> String {
    bus.keys().owned(SERVICE, rest)
}

/// Counters: ticket, proposal and party ids.
pub fn counter(bus: &Bus, what: &str) -> String {
    k(bus, &format!("next:{what}"))
}
/// A ticket's hash: `s` state, `v` version, `mode`, `b` body, `c` created ms, `p` proposal,
/// `m` match id, `f` front (requeued after a failed ready check).
pub fn ticket(bus: &Bus, id: u64) -> String {
    k(bus, &format!("t:{id}"))
}
/// A mode's searching tickets, scored by creation time (time waited is kept on a requeue).
pub fn queue(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("q:{mode}"))
}
/// A player's open ticket id.
pub fn player_ticket(bus: &Bus, player: u64) -> String {
    k(bus, &format!("pt:{player}"))
}
/// A player's decline cooldown in a mode (its TTL is what is left).
pub fn cooldown(bus: &Bus, mode: &str, player: u64) -> String {
    k(bus, &format!("cd:{mode}:{player}"))
}
/// Declines counted towards the next penalty in a mode.
pub fn declines(bus: &Bus, mode: &str, player: u64) -> String {
    k(bus, &format!("dc:{mode}:{player}"))
}
/// A proposal's hash: `s` (pending, ready, started, failed), `v` version, `mode`, `t` tickets,
/// `pl` players (`,1,2,`), `d` deadline, `r` region, `teams`, `st` start claim.
pub fn proposal(bus: &Bus, id: u64) -> String {
    k(bus, &format!("pr:{id}"))
}
/// Players who accepted a proposal.
pub fn accepted(bus: &Bus, id: u64) -> String {
    k(bus, &format!("pra:{id}"))
}
/// A mode's pending proposals by deadline.
pub fn deadlines(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("deadlines:{mode}"))
}
/// A mode's fully accepted proposals by the time they became ready (to start).
pub fn ready(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("ready:{mode}"))
}
/// A started match: mode, teams, parties, instance (for its result).
pub fn started(bus: &Bus, match_id: &str) -> String {
    k(bus, &format!("match:{match_id}"))
}
/// A queue's matcher lease (its value is the fencing token) and the token counter.
pub fn lease(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("lease:{mode}"))
}
pub fn fence(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("fence:{mode}"))
}
/// A player's cached rating in a mode (see [`crate::reads`]).
pub fn rating(bus: &Bus, mode: &str, player: u64) -> String {
    k(bus, &format!("rt:{mode}:{player}"))
}
/// A player's last reported latencies.
pub fn latency(bus: &Bus, player: u64) -> String {
    k(bus, &format!("lat:{player}"))
}
/// A mode's moving average of the time to a match, ms.
pub fn eta(bus: &Bus, mode: &str) -> String {
    k(bus, &format!("eta:{mode}"))
}
/// The rule set published at run time and its version.
pub fn rules(bus: &Bus) -> String {
    k(bus, "rules")
}
/// A party's hash: `v` version, `b` body.
pub fn party(bus: &Bus, id: u64) -> String {
    k(bus, &format!("party:{id}"))
}
/// A player's party id.
pub fn player_party(bus: &Bus, player: u64) -> String {
    k(bus, &format!("pp:{player}"))
}
/// A match's open backfill tickets (cancelled when it closes).
pub fn backfills(bus: &Bus, match_id: &str) -> String {
    k(bus, &format!("bf:{match_id}"))
}
/// Set once a leaver's place in a match was opened (the event may come twice).
pub fn backfill_seen(bus: &Bus, match_id: &str, leaver: u64) -> String {
    k(bus, &format!("bfs:{match_id}:{leaver}"))
}
