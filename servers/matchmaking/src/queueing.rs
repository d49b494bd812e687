//! Joining and leaving queues: who a ticket holds (the sender, or its whole party), their
//! latencies, roles, ratings and blocks, checked against the mode's rules; and the ticket as
//! a client sees it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mmo_core::bus::{Bus, BusError, events};
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_proto::{ErrorCode, RegionLatency, RoleChoice, TicketEndReason, TicketState};
use prost::Message as _;

use crate::config::ModeRules;
use crate::error::MmError;
use crate::tickets::{self, MemberBody, Refused, TicketBody, TicketRow};
use crate::{State, keys, notify, parties, reads, ready};

/// How long a player's reported latencies are kept.
pub const LATENCY_TTL: Duration = Duration::from_secs(600);
/// Regions a latency report may name.
const MAX_REGIONS: usize = 32;

/// What to queue: the server's own API takes this too (a game server queueing players itself).
#[derive(Clone, Debug, Default)]
pub struct Enqueue {
    pub mode: String,
    /// Every player of the ticket (one party, never split).
    pub players: Vec<u64>,
    /// The party it stands for (0: none).
    pub party: u64,
    /// Each player's latencies (a player missing here uses its last report, else `fallback`).
    pub latencies: HashMap<u64, Vec<RegionLatency>>,
    pub fallback: Vec<RegionLatency>,
    /// Each player's roles (missing: any).
    pub roles: HashMap<u64, Vec<String>>,
}

/// A ticket's matching rating: the mean of its players' ratings (the premade advantage is taken
/// into account where ratings change, see [`crate::ratings`]).
pub fn ticket_rating(members: &[MemberBody]) -> f64 {
    if members.is_empty() {
        return 0.0;
    }
    members.iter().map(|m| m.rating).sum::<f64>() / members.len() as f64
}

/// QueueJoinReq from `sender`: queues it, or its party if it leads one.
pub async fn join(
    st: &State,
    sender: u64,
    mode: &str,
    latencies: Vec<RegionLatency>,
    roles: Vec<RoleChoice>,
) -> Result<TicketRow, MmError> {
    check_latencies(&latencies)?;
    if !latencies.is_empty() {
        report_latency(&st.bus, sender, &latencies).await?;
    }
    let party = parties::of_player(&st.bus, sender).await?;
    let (players, party_id) = match &party {
        Some(r) if r.party.leader != sender => return Err(MmError::refused(ErrorCode::NotPartyLeader)),
        Some(r) => (r.party.members.iter().map(|m| m.player).collect(), r.party.id),
        None => (vec![sender], 0),
    };
    let req = Enqueue {
        mode: mode.to_string(),
        players,
        party: party_id,
        latencies: HashMap::new(),
        fallback: latencies,
        roles: roles.into_iter().map(|r| (r.player, r.roles)).collect(),
    };
    let id = enqueue(st, &req).await?;
    if party_id != 0 {
        // The party remembers its ticket, so a change to it cancels the ticket. A party that
        // changed in between has cancelled nothing yet: cancel the ticket here instead.
        let mut set = |p: &mmo_proto::Party| -> Result<_, ErrorCode> {
            let same: HashSet<u64> = p.members.iter().map(|m| m.player).collect();
            if same != req.players.iter().copied().collect() {
                return Err(ErrorCode::AlreadyQueued);
            }
            let mut p = p.clone();
            p.ticket = id;
            Ok((Some(p), Vec::new(), Vec::new()))
        };
        if parties::update(&st.bus, party_id, &mut set).await.is_err()
            && let Some(row) = tickets::get(&st.bus, id).await?
        {
            cancel(st, &row, TicketEndReason::PartyChanged).await?;
            return Err(MmError::refused(ErrorCode::AlreadyQueued));
        }
    }
    let row = tickets::get(&st.bus, id)
        .await?
        .ok_or_else(|| MmError::Bus(BusError::Conflict(format!("ticket {id} vanished"))))?;
    if party_id != 0 {
        // The members did not ask: they learn that their party is searching, and for what.
        notify::ticket(st, &row, TicketState::Searching, TicketEndReason::Queued, 0, Some(sender)).await;
    }
    Ok(row)
}

/// Queues `req.players` as one ticket. Returns the ticket id.
pub async fn enqueue(st: &State, req: &Enqueue) -> Result<u64, MmError> {
    let Some(mode) = st.rules.mode(&req.mode) else { return Err(MmError::refused(ErrorCode::UnknownMode)) };
    if req.players.is_empty() || req.players.len() > mode.party_limit() as usize {
        return Err(MmError::refused(ErrorCode::PartyTooLarge));
    }
    // Role choices name players of this ticket and roles of this mode.
    let bad_choice = |(player, roles): (&u64, &Vec<String>)| {
        !req.players.contains(player) || roles.len() > 16 || roles.iter().any(|r| mode.role_bit(r).is_none())
    };
    if req.roles.iter().any(bad_choice) {
        return Err(MmError::refused(ErrorCode::InvalidArgument));
    }
    // Latencies, ratings and blocks in one Redis round trip; MySQL only for what Redis misses.
    let (read, fill) = reads::read(st, &req.mode, &req.players).await?;
    let reads::Joined { ticket, latencies: reported, ratings, blocks } = read;
    let mut members = Vec::with_capacity(req.players.len());
    for p in &req.players {
        let roles = req.roles.get(p).cloned().unwrap_or_default();
        let latencies =
            req.latencies.get(p).or_else(|| reported.get(p)).cloned().unwrap_or_else(|| req.fallback.clone());
        if !reachable(&mode, &latencies) {
            return Err(MmError::refused(ErrorCode::NoRegion));
        }
        let r = ratings.get(p).copied().unwrap_or_default();
        members.push(MemberBody { player: *p, rating: r.rating, deviation: r.deviation, roles, latencies });
    }
    let ours: HashSet<u64> = req.players.iter().copied().collect();
    let blocked = blocked_by(&blocks, &ours);
    let body = TicketBody {
        mode: req.mode.clone(),
        rating: ticket_rating(&members),
        members,
        party: req.party,
        created_ms: now_ms(),
        blocked,
        backfill: None,
    };
    // What MySQL answered goes back to Redis in the ticket's round trip (a refused join's
    // reads are still good).
    match tickets::enqueue_as(&st.bus, ticket, &body, fill.commands(&st.bus)).await? {
        Ok(id) => {
            let players = req.players.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
            let ticket = id.to_string();
            events::emit(
                &st.bus,
                "queue_joined",
                PlayerId(req.players[0]),
                &[("mode", &req.mode), ("ticket", &ticket), ("players", &players)],
            );
            Ok(id)
        }
        Err(Refused::AlreadyQueued(_)) => Err(MmError::refused(ErrorCode::AlreadyQueued)),
        Err(Refused::Cooldown(_, left)) => {
            Err(MmError::Refused(ErrorCode::QueueCooldown, Some(Duration::from_millis(left.max(1)))))
        }
    }
}

/// The players outside `ours` that any of `ours` blocked or was blocked by, given the block
/// pairs (blocker, blocked) that involve them; sorted, once each.
pub(crate) fn blocked_by(blocks: &[(PlayerId, PlayerId)], ours: &HashSet<u64>) -> Vec<u64> {
    let mut blocked: Vec<u64> = blocks
        .iter()
        .flat_map(|(a, b)| [(a.0, b.0), (b.0, a.0)])
        .filter(|(me, other)| ours.contains(me) && !ours.contains(other))
        .map(|(_, other)| other)
        .collect();
    blocked.sort_unstable();
    blocked.dedup();
    blocked
}

fn check_latencies(l: &[RegionLatency]) -> Result<(), MmError> {
    if l.len() > MAX_REGIONS || l.iter().any(|r| r.region.is_empty() || r.region.len() > 64) {
        return Err(MmError::refused(ErrorCode::InvalidArgument));
    }
    Ok(())
}

/// Whether some region of the mode is within its limit for a player with these latencies. A
/// player who reported nothing counts as close to every region.
fn reachable(mode: &ModeRules, latencies: &[RegionLatency]) -> bool {
    latencies.is_empty()
        || mode
            .regions
            .iter()
            .any(|r| latencies.iter().any(|l| &l.region == r && l.ms <= mode.max_latency_ms))
}

/// LatencyReportReq: kept for the player's next ticket.
pub async fn report_latency(bus: &Bus, player: u64, latencies: &[RegionLatency]) -> Result<(), MmError> {
    check_latencies(latencies)?;
    let body = mmo_proto::LatencyReportReq { latencies: latencies.to_vec() }.encode_to_vec();
    let mut conn = bus.conn().await?;
    bus.timed(
        redis::cmd("SET")
            .arg(keys::latency(bus, player))
            .arg(body)
            .arg("PX")
            .arg(LATENCY_TTL.as_millis() as u64)
            .query_async::<()>(&mut *conn),
    )
    .await?;
    Ok(())
}

/// QueueLeaveReq: cancels the player's open ticket (a proposed one counts as declining).
pub async fn leave(st: &State, player: u64) -> Result<(), MmError> {
    leave_within(st, player, 4).await
}

/// [`leave`], reading the ticket again at most `tries` times when it moved on meanwhile.
async fn leave_within(st: &State, player: u64, tries: u32) -> Result<(), MmError> {
    if tries == 0 {
        return Err(MmError::Bus(BusError::Conflict(format!("player {player}'s ticket kept changing"))));
    }
    let Some(row) = tickets::of_player(&st.bus, player).await? else {
        return Err(MmError::refused(ErrorCode::NotQueued));
    };
    match row.state {
        TicketState::Searching => {
            if tickets::end(
                &st.bus,
                &row,
                &[TicketState::Searching],
                TicketState::Cancelled,
                st.retention_ms(),
            )
            .await?
            {
                notify::ticket(st, &row, TicketState::Cancelled, TicketEndReason::Left, 0, Some(player))
                    .await;
                parties::forget_ticket(&st.bus, &row).await;
                Ok(())
            } else {
                // It moved on meanwhile (a proposal): try again on what it is now.
                Box::pin(leave_within(st, player, tries - 1)).await
            }
        }
        TicketState::Proposed => match ready::decline(st, row.proposal, player).await {
            // The check ended meanwhile (failed, timed out, or started): act on the ticket as
            // it is now.
            Err(MmError::Refused(ErrorCode::ProposalNotFound, _)) => {
                Box::pin(leave_within(st, player, tries - 1)).await
            }
            r => r,
        },
        _ => Err(MmError::refused(ErrorCode::NotQueued)),
    }
}

/// Cancels a ticket for a reason other than its player asking (a party change, a session end):
/// a searching one ends, a proposed one fails its ready check as a decline by its players.
pub async fn cancel(st: &State, row: &TicketRow, reason: TicketEndReason) -> Result<(), MmError> {
    match row.state {
        TicketState::Searching => {
            if tickets::end(
                &st.bus,
                row,
                &[TicketState::Searching],
                TicketState::Cancelled,
                st.retention_ms(),
            )
            .await?
            {
                notify::ticket(st, row, TicketState::Cancelled, reason, 0, None).await;
                parties::forget_ticket(&st.bus, row).await;
            } else if let Some(now) = tickets::get(&st.bus, row.id).await?
                && now.state == TicketState::Proposed
            {
                Box::pin(cancel(st, &now, reason)).await?;
            }
            Ok(())
        }
        TicketState::Proposed => match ready::withdraw(st, row.proposal, row.id, reason).await {
            Err(MmError::Refused(..)) => Ok(()),
            r => r,
        },
        _ => Ok(()),
    }
}
