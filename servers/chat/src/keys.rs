//! Every Redis key chat owns, under `<prefix>:chat:`, and the channel keys.
//!
//! A channel's key is its kind's letter and its name: `w` (world), `z:<instance>`,
//! `p:<party>`, `m:<match>.<team>`, `c:<name, lower case>`.

use mmo_core::bus::Bus;
use mmo_proto::{ChannelKind, ChannelRef};

use crate::SERVICE;

fn k(bus: &Bus, rest: &str) -> String {
    bus.keys().owned(SERVICE, rest)
}

/// The key of a channel, or None for a kind without channels or a name it cannot have.
pub fn channel(kind: ChannelKind, name: &str) -> Option<String> {
    let ok = |n: &str| !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_graphic());
    match kind {
        ChannelKind::World => Some("w".into()),
        ChannelKind::Zone if ok(name) => Some(format!("z:{name}")),
        ChannelKind::Party if ok(name) => Some(format!("p:{name}")),
        ChannelKind::Match if ok(name) => Some(format!("m:{name}")),
        ChannelKind::Custom if custom_name_ok(name) => Some(format!("c:{}", name.to_ascii_lowercase())),
        _ => None,
    }
}

/// A custom channel's name: 1-32 of a-z, A-Z, 0-9, '_', '-'.
pub fn custom_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The channel a key names, as clients see it (custom names in lower case).
pub fn channel_ref(key: &str) -> ChannelRef {
    let (kind, name) = match key.split_once(':') {
        None => (ChannelKind::World, ""),
        Some(("z", n)) => (ChannelKind::Zone, n),
        Some(("p", n)) => (ChannelKind::Party, n),
        Some(("m", n)) => (ChannelKind::Match, n),
        Some(("c", n)) => (ChannelKind::Custom, n),
        Some(_) => (ChannelKind::Unspecified, key),
    };
    ChannelRef { kind: kind as i32, name: name.to_string() }
}

/// Hash: member player -> the gateway node and session holding it (`"<node> <session>"`).
pub fn members(bus: &Bus, ch: &str) -> String {
    k(bus, &format!("m:{ch}"))
}
/// The prefix of every members key (for scripts that build them from channel keys).
pub fn members_prefix(bus: &Bus) -> String {
    k(bus, "m:")
}
/// The prefixes of every meta and history key (for scripts that build them from channel keys).
pub fn meta_prefix(bus: &Bus) -> String {
    k(bus, "meta:")
}
pub fn history_prefix(bus: &Bus) -> String {
    k(bus, "h:")
}
/// Hash of a custom channel: `name` (as created), `owner`, `pw` (argon2 PHC, or absent).
pub fn meta(bus: &Bus, ch: &str) -> String {
    k(bus, &format!("meta:{ch}"))
}
/// Capped stream of a channel's last messages (field `m`: an encoded ChatMessage).
pub fn history(bus: &Bus, ch: &str) -> String {
    k(bus, &format!("h:{ch}"))
}
/// Set of the custom channels' keys.
pub fn customs(bus: &Bus) -> String {
    k(bus, "customs")
}
/// Set of a player's channel keys.
pub fn player_channels(bus: &Bus, player: u64) -> String {
    k(bus, &format!("pc:{player}"))
}
/// Hash of a player's read markers: channel key -> last message id read.
pub fn read(bus: &Bus, player: u64) -> String {
    k(bus, &format!("read:{player}"))
}
/// List of whispers kept for an offline player (encoded ChatMessages, oldest first).
pub fn offline(bus: &Bus, player: u64) -> String {
    k(bus, &format!("off:{player}"))
}
/// The message id counter.
pub fn next_message(bus: &Bus) -> String {
    k(bus, "next:msg")
}
/// A player's recent send times (newest first), for the rate limit.
pub fn rate(bus: &Bus, player: u64) -> String {
    k(bus, &format!("rate:{player}"))
}
/// Set while a player is muted (its TTL is the time left).
pub fn mute(bus: &Bus, player: u64) -> String {
    k(bus, &format!("mute:{player}"))
}
/// Set while a player is in slow mode.
pub fn slow(bus: &Bus, player: u64) -> String {
    k(bus, &format!("slow:{player}"))
}
/// Set for `slow_mode_interval` after a message sent in slow mode.
pub fn slow_gap(bus: &Bus, player: u64) -> String {
    k(bus, &format!("gap:{player}"))
}
/// Hash of a player's presence (see [`crate::presence`]): `away`, `privacy`, `rich` (an
/// encoded RichPresence), `match` and `mode` while in a match, `seen` (what friends were last
/// told, an encoded PresenceInfo).
pub fn presence(bus: &Bus, player: u64) -> String {
    k(bus, &format!("pr:{player}"))
}
/// Set of the players of a running match, for its end.
pub fn match_players(bus: &Bus, match_id: &str) -> String {
    k(bus, &format!("pm:{match_id}"))
}
