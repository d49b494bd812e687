//! The chat channels matchmaking owns: one per party (`PARTY`, named by the party id), kept
//! in step with its members, and one per team of a started match (`MATCH`, named
//! `<match id>.<team>`), closed when the match closes. A chat failure is logged and changes
//! nothing else: the party and the match go on without their channel.

use std::collections::HashSet;

use mmo_core::bus::Bus;
use mmo_core::session::PlayerId;
use mmo_proto::{ChannelKind, Party};

fn warn(what: &str, id: &str, e: mmo_chat::ChatError) {
    tracing::warn!(error = %e, id, "{what} chat channel not updated");
}

/// The party's channel after a change from `before` to `after` (None: the party ended;
/// `before` None: it was just created).
pub async fn party(bus: &Bus, before: Option<&Party>, after: Option<&Party>) {
    let Some(id) = before.or(after).map(|p| p.id.to_string()) else { return };
    let members = |p: Option<&Party>| -> HashSet<u64> {
        p.map(|p| p.members.iter().map(|m| m.player).collect()).unwrap_or_default()
    };
    if after.is_none() {
        if let Err(e) = mmo_chat::channels::close_system(bus, ChannelKind::Party, &id).await {
            warn("party", &id, e);
        }
        return;
    }
    let (was, now) = (members(before), members(after));
    for p in now.difference(&was) {
        if let Err(e) = mmo_chat::channels::join_system(bus, ChannelKind::Party, &id, PlayerId(*p)).await {
            warn("party", &id, e);
        }
    }
    for p in was.difference(&now) {
        if let Err(e) = mmo_chat::channels::leave_system(bus, ChannelKind::Party, &id, PlayerId(*p)).await {
            warn("party", &id, e);
        }
    }
}

/// Opens a channel per team of a started match.
pub async fn match_started(bus: &Bus, match_id: &str, teams: &[Vec<u64>]) {
    for (i, team) in teams.iter().enumerate() {
        let id = format!("{match_id}.{i}");
        let players: Vec<PlayerId> = team.iter().map(|p| PlayerId(*p)).collect();
        if let Err(e) = mmo_chat::channels::open_system(bus, ChannelKind::Match, &id, &players).await {
            warn("match team", &id, e);
        }
    }
}

/// Backfilled players join their team's channel.
pub async fn match_joined(bus: &Bus, match_id: &str, team: u32, players: &[u64]) {
    let id = format!("{match_id}.{team}");
    for p in players {
        if let Err(e) = mmo_chat::channels::join_system(bus, ChannelKind::Match, &id, PlayerId(*p)).await {
            warn("match team", &id, e);
        }
    }
}

/// Closes the channels of a closed match's teams.
pub async fn match_closed(bus: &Bus, match_id: &str, teams: usize) {
    for i in 0..teams {
        let id = format!("{match_id}.{i}");
        if let Err(e) = mmo_chat::channels::close_system(bus, ChannelKind::Match, &id).await {
            warn("match team", &id, e);
        }
    }
}
