//! Getting messages to players on whichever gateway holds them. A channel message becomes one
//! `FanOut` envelope per gateway node holding members (its sessions listed once, the body
//! encoded once), never one envelope per member; the bus batches envelopes per stream on top.

use std::collections::HashMap;

use mmo_core::bus::{Bus, BusError};
use mmo_proto::MsgType;
use mmo_proto::bus::{FanOut, Push};
use mmo_proto::wire::Flags;

use crate::people::People;

/// Channel messages fanned out (one per channel message).
pub const FANOUTS: &str = "mmo_chat_fanouts_total";
/// Bus envelopes a fan-out became (one per gateway node holding members).
pub const FANOUT_ENVELOPES: &str = "mmo_chat_fanout_envelopes_total";
/// Sessions a fan-out reached.
pub const DELIVERIES: &str = "mmo_chat_deliveries_total";

/// Where a member is held, as stored in a channel's member hash: `"<node> <session>"` (the
/// form of the presence directory).
pub fn parse_at(at: &str) -> Option<(&str, u64)> {
    let (node, session) = at.rsplit_once(' ')?;
    Some((node, session.parse().ok()?))
}

/// A reliable push of `msg` to the session `at` names.
pub fn push_at<M: MsgType>(bus: &Bus, at: &str, msg: &M) -> Result<(), BusError> {
    let Some((node, session)) = parse_at(at) else { return Ok(()) };
    let push = Push {
        session,
        msg_id: u32::from(M::ID.0),
        flags: u32::from(Flags::PUSH.0),
        body: msg.encode_to_vec().into(),
        ..Default::default()
    };
    bus.send(&bus.keys().inbox(node), push.into())
}

/// Sends `msg` to every member (player, where) for which `skip` is false: one envelope per live
/// gateway node. Returns the number of sessions addressed.
pub async fn fan_out<M: MsgType>(
    bus: &Bus,
    people: &People,
    members: &[(u64, String)],
    skip: impl Fn(u64) -> bool,
    msg: &M,
) -> Result<usize, BusError> {
    let mut by_node: HashMap<&str, Vec<u64>> = HashMap::new();
    for (player, at) in members {
        if skip(*player) {
            continue;
        }
        if let Some((node, session)) = parse_at(at) {
            by_node.entry(node).or_default().push(session);
        }
    }
    metrics::counter!(FANOUTS).increment(1);
    if by_node.is_empty() {
        return Ok(0);
    }
    let live = people.live_nodes(bus).await?;
    let body = bytes::Bytes::from(msg.encode_to_vec());
    let mut sent = 0;
    for (node, sessions) in by_node {
        // A dead gateway's inbox is read by nobody: writing to it would only leave a stream.
        if !live.contains(node) {
            continue;
        }
        sent += sessions.len();
        let env = FanOut {
            sessions,
            msg_id: u32::from(M::ID.0),
            flags: u32::from(Flags::PUSH.0),
            body: body.clone(),
            ..Default::default()
        };
        bus.send(&bus.keys().inbox(node), env.into())?;
        metrics::counter!(FANOUT_ENVELOPES).increment(1);
    }
    metrics::counter!(DELIVERIES).increment(sent as u64);
    Ok(sent)
}
