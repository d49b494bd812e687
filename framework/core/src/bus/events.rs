//! Game events: logins, registrations, bans, purchases, level-ups, match results. Any server
//! appends them to the `<prefix>:events` stream with [`emit_typed`] (a kind with a typed
//! detail: logins, logouts, level-ups, match results, reports, bans) or [`emit`] (attributes); they travel batched like every
//! other envelope (one `Batch` entry carries many). The event-log writer reads the stream
//! through a consumer group and stores each event once, keyed by its unique id.
//!
//! Emitting never blocks and never fails the caller's request: an event that cannot be queued
//! (the bus buffer is full because Redis is down) is counted and logged, not retried.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::counter;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Command, Envelope, GameEvent, Kind};
use prost::Message as _;

use super::Bus;
use crate::clock::now_ms;
use crate::session::PlayerId;

pub const EVENTS_EMITTED: &str = "mmo_events_emitted_total";
pub const EVENTS_DROPPED: &str = "mmo_events_dropped_total";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Builds an event of `kind` for `player` with its details.
pub fn event(bus: &Bus, kind: &str, player: PlayerId, attrs: &[(&str, &str)]) -> GameEvent {
    let at_ms = now_ms();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    GameEvent {
        id: format!("{}-{at_ms}-{n}", bus.node()),
        kind: kind.to_string(),
        player: player.0,
        at_ms,
        node: bus.node().to_string(),
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        detail: None,
    }
}

/// Appends an event to the event stream (batched with other envelopes).
pub fn emit(bus: &Bus, kind: &str, player: PlayerId, attrs: &[(&str, &str)]) {
    send(bus, &event(bus, kind, player, attrs));
}

/// Builds an event of `kind` for `player` with its typed detail (no attributes).
pub fn typed(bus: &Bus, kind: &str, player: PlayerId, detail: Detail) -> GameEvent {
    GameEvent { detail: Some(detail), ..event(bus, kind, player, &[]) }
}

/// Appends an event of a kind with a typed detail to the event stream.
pub fn emit_typed(bus: &Bus, kind: &str, player: PlayerId, detail: Detail) {
    send(bus, &typed(bus, kind, player, detail));
}

/// Appends an event already built (e.g. one with a typed detail) to the event stream.
pub fn send(bus: &Bus, ev: &GameEvent) {
    let env = Command { player: ev.player, body: ev.encode_to_vec().into() };
    match bus.send(&bus.keys().events(), env.into()) {
        Ok(()) => counter!(EVENTS_EMITTED, "kind" => ev.kind.clone()).increment(1),
        Err(e) => {
            counter!(EVENTS_DROPPED, "kind" => ev.kind.clone()).increment(1);
            tracing::warn!(error = %e, kind = %ev.kind, player = ev.player, "game event dropped");
        }
    }
}

/// Decodes the events of one stream entry's envelopes (for the event-log writer and tests).
pub fn decode(env: &Envelope) -> Option<GameEvent> {
    match &env.kind {
        Some(Kind::Command(c)) => GameEvent::decode(c.body.clone()).ok(),
        _ => None,
    }
}
