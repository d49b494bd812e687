//! The matchers: every instance tries, each `pass_interval`, to take or renew the lease of each
//! queue; for the queues it holds it sweeps (ready checks past their deadline, starts whose
//! starter died, tickets waiting longer than `max_wait`) and runs a matching pass over the
//! queue, committing each proposal under its fencing token.
//!
//! The pool of a queue is its sorted set of searching tickets; ticket bodies never change, so
//! the holder keeps those it has read and fetches only new ones each pass.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_core::bus::BusError;
use mmo_core::clock::now_ms;
use mmo_proto::{MatchProposalNtf, TicketEndReason, TicketState};
use prost::Message as _;

use crate::config::ModeRules;
use crate::matcher::{self, Candidate, Member};
use crate::proposals::{self, CommitRefused, NewProposal};
use crate::tickets::{self, TicketBody};
use crate::{State, backfill, keys, notify, parties, ready};

/// Tickets fetched per round trip when the pool grows.
const FETCH_CHUNK: usize = 1000;
/// Tickets expired per sweep (the rest next pass).
const EXPIRE_CHUNK: usize = 1000;

/// A queue this instance matches: its lease token and the bodies read so far.
#[derive(Default)]
struct Held {
    token: u64,
    bodies: HashMap<u64, (TicketBody, bool)>,
}

/// Runs the matchers until shutdown, then gives the leases up.
pub fn spawn(st: Arc<State>, shutdown: &Shutdown) {
    let token = shutdown.token();
    shutdown.spawn(async move {
        let mut held: HashMap<String, Held> = HashMap::new();
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = tokio::time::sleep(st.cfg.pass_interval) => {}
            }
            let modes = st.rules.modes();
            held.retain(|name, _| modes.0.contains_key(name));
            for (name, mode) in &modes.0 {
                let h = held.entry(name.clone()).or_default();
                if let Err(e) = round(&st, name, mode, h).await {
                    tracing::warn!(error = %e, mode = name, "matching round failed");
                }
            }
        }
        for (name, h) in held {
            if h.token != 0 {
                let _ = proposals::release(&st.bus, &name, h.token).await;
            }
        }
    });
}

async fn round(st: &State, name: &str, mode: &ModeRules, h: &mut Held) -> Result<(), BusError> {
    let ttl = st.cfg.lease_ttl.as_millis() as u64;
    let token = proposals::lease(&st.bus, name, h.token, ttl).await?;
    if token != h.token {
        // Taken, lost, or another's: what was read belongs to no pass of ours any more.
        h.bodies.clear();
        if h.token != 0 && token != 0 {
            tracing::info!(mode = name, "queue lease taken over again");
        }
    }
    h.token = token;
    if token == 0 {
        return Ok(());
    }
    sweep(st, name, mode).await?;
    let mut pool = load_pool(st, name, mode, h).await?;
    let rules = mode.matcher_rules();
    let openings = backfill::openings(st, &pool, &h.bodies, mode, now_ms()).await?;
    let fills =
        if openings.is_empty() { Vec::new() } else { matcher::backfill::fill(&rules, &openings, &pool) };
    if !fills.is_empty() {
        let filled: HashSet<u64> = fills.iter().map(|f| f.ticket).collect();
        pool.retain(|c| !filled.contains(&c.id));
    }
    let found = if pool.len() < 2 && mode.players() > 1 { Vec::new() } else { matcher::pass(&rules, &pool) };
    if found.is_empty() && fills.is_empty() {
        return Ok(());
    }
    let deadline_ms = now_ms() + mode.ready_timeout.as_millis() as u64;
    let first_id = proposals::reserve_ids(&st.bus, (found.len() + fills.len()) as u64).await?;
    let found = backfill_proposals(&fills, &h.bodies, mode, found);
    for (id, m) in (first_id..).zip(found) {
        let players: Vec<u64> = m.teams.iter().flatten().map(|(p, _)| *p).collect();
        let p = NewProposal {
            id,
            mode: name.to_string(),
            tickets: m.tickets.clone(),
            players: players.clone(),
            region: mode.regions.get(m.region).cloned().unwrap_or_default(),
            teams: m.teams.iter().map(|t| t.iter().map(|(p, _)| *p).collect()).collect(),
            roles: m
                .teams
                .iter()
                .flatten()
                .filter_map(|(p, r)| Some((*p, mode.roles.get((*r)?)?.name.clone())))
                .collect(),
            deadline_ms,
        };
        for t in &m.tickets {
            h.bodies.remove(t);
        }
        match proposals::commit(&st.bus, token, &p).await? {
            Ok(()) => {
                let ntf = MatchProposalNtf {
                    proposal: p.id,
                    mode: p.mode.clone(),
                    players: players.len() as u32,
                    region: p.region.clone(),
                    deadline_ms,
                };
                notify::players(st, &players, &ntf).await;
            }
            Err(CommitRefused::Fenced) => {
                tracing::warn!(mode = name, "lease lost during a pass; its proposals were not committed");
                h.token = 0;
                h.bodies.clear();
                return Ok(());
            }
            Err(CommitRefused::TicketGone(_)) => {}
        }
    }
    Ok(())
}

/// Each fill as a match proposal: the backfill ticket first, then the newcomer's, whose
/// player is the one team of the proposal (it joins the place's team) with the leaver's role,
/// in the match's region; followed by the pass's own proposals.
fn backfill_proposals(
    fills: &[matcher::backfill::Fill],
    bodies: &HashMap<u64, (TicketBody, bool)>,
    mode: &ModeRules,
    found: Vec<matcher::Proposal>,
) -> Vec<matcher::Proposal> {
    let mut out: Vec<matcher::Proposal> = fills
        .iter()
        .filter_map(|f| {
            let place = bodies.get(&f.opening)?.0.backfill.as_ref()?;
            let (newcomer, _) = bodies.get(&f.ticket)?;
            let region = mode.regions.iter().position(|r| *r == place.region)?;
            let role = mode.roles.iter().position(|r| r.name == place.role);
            let team = newcomer.members.iter().map(|m| (m.player, role)).collect();
            Some(matcher::Proposal { tickets: vec![f.opening, f.ticket], teams: vec![team], region })
        })
        .collect();
    out.extend(found);
    out
}

/// Ready checks past their deadline fail; starts whose starter died are taken over; tickets
/// waiting longer than `max_wait` expire.
async fn sweep(st: &State, name: &str, mode: &ModeRules) -> Result<(), BusError> {
    let now = now_ms();
    let stale = st.cfg.instance_timeout.as_millis() as u64 * 2;
    let (late, stuck) = proposals::overdue(&st.bus, name, now, now.saturating_sub(stale)).await?;
    for id in late {
        if let Err(e) = ready::timed_out(st, id).await {
            tracing::warn!(error = %e, proposal = id, "ready check timeout not applied");
        }
    }
    for id in stuck {
        ready::start(st, id).await;
    }
    let oldest = now.saturating_sub(mode.max_wait.as_millis() as u64);
    let mut conn = st.bus.conn().await?;
    let expired: Vec<u64> = st
        .bus
        .timed(
            redis::cmd("ZRANGEBYSCORE")
                .arg(keys::queue(&st.bus, name))
                .arg("-inf")
                .arg(oldest)
                .arg("LIMIT")
                .arg(0)
                .arg(EXPIRE_CHUNK)
                .query_async(&mut *conn),
        )
        .await?;
    drop(conn);
    for id in expired {
        let Some(row) = tickets::get(&st.bus, id).await? else {
            // A queue entry whose ticket is gone: drop it.
            let mut conn = st.bus.conn().await?;
            st.bus
                .timed(
                    redis::cmd("ZREM").arg(keys::queue(&st.bus, name)).arg(id).query_async::<()>(&mut *conn),
                )
                .await?;
            continue;
        };
        if tickets::end(&st.bus, &row, &[TicketState::Searching], TicketState::Expired, st.retention_ms())
            .await?
        {
            notify::ticket(st, &row, TicketState::Expired, TicketEndReason::Expired, 0, None).await;
            parties::forget_ticket(&st.bus, &row).await;
        }
    }
    Ok(())
}

/// Why a searching ticket is not matched: its nearest candidates in its queue and the rule
/// that keeps each apart, from a fresh read of the queue (None: no such searching ticket).
pub async fn explain(st: &State, ticket: u64) -> Result<Option<matcher::Explanation>, BusError> {
    let Some(row) = tickets::get(&st.bus, ticket).await? else { return Ok(None) };
    let Some(mode) = st.rules.mode(&row.body.mode) else { return Ok(None) };
    let mut fresh = Held::default();
    let pool = load_pool(st, &row.body.mode, &mode, &mut fresh).await?;
    Ok(matcher::explain(&mode.matcher_rules(), &pool, ticket))
}

/// The queue's searching tickets as the matcher sees them.
async fn load_pool(
    st: &State,
    name: &str,
    mode: &ModeRules,
    h: &mut Held,
) -> Result<Vec<Candidate>, BusError> {
    let mut conn = st.bus.conn().await?;
    let ids: Vec<u64> = st
        .bus
        .timed(redis::cmd("ZRANGE").arg(keys::queue(&st.bus, name)).arg(0).arg(-1).query_async(&mut *conn))
        .await?;
    let missing: Vec<u64> = ids.iter().copied().filter(|id| !h.bodies.contains_key(id)).collect();
    for chunk in missing.chunks(FETCH_CHUNK) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("HMGET").arg(keys::ticket(&st.bus, *id)).arg(&["b", "f"]);
        }
        let rows: Vec<(Option<Vec<u8>>, Option<u8>)> = st.bus.timed(pipe.query_async(&mut *conn)).await?;
        for (id, (b, f)) in chunk.iter().zip(rows) {
            if let Some(body) = b.and_then(|b| TicketBody::decode(b.as_slice()).ok()) {
                h.bodies.insert(*id, (body, f == Some(1)));
            }
        }
    }
    let present: std::collections::HashSet<u64> = ids.iter().copied().collect();
    h.bodies.retain(|id, _| present.contains(id));
    let now = now_ms();
    Ok(ids
        .iter()
        .filter_map(|id| h.bodies.get(id).map(|(b, front)| candidate(*id, b, *front, mode, now)))
        .collect())
}

/// A ticket as the matcher takes it: latencies per region of the mode (a ticket's is its worst
/// player's; a player who reported nothing counts as 0 ms everywhere), roles as a mask.
pub fn candidate(id: u64, b: &TicketBody, front: bool, mode: &ModeRules, now: u64) -> Candidate {
    let latency_ms = mode
        .regions
        .iter()
        .map(|region| {
            b.members
                .iter()
                .map(|m| {
                    if m.latencies.is_empty() {
                        0
                    } else {
                        m.latencies
                            .iter()
                            .filter(|l| &l.region == region)
                            .map(|l| l.ms)
                            .min()
                            .unwrap_or(u32::MAX)
                    }
                })
                .max()
                .unwrap_or(0)
        })
        .collect();
    let members = b
        .members
        .iter()
        .map(|m| Member {
            player: m.player,
            rating: m.rating,
            roles: m.roles.iter().filter_map(|r| mode.role_bit(r)).fold(0, |a, b| a | b),
        })
        .collect();
    Candidate {
        id,
        members,
        rating: b.rating,
        waited_ms: now.saturating_sub(b.created_ms),
        front,
        latency_ms,
        blocked: b.blocked.clone(),
    }
}
