//! The ready check and the start of a match: accepts, declines, timeouts, the failure that
//! requeues the acceptors first and penalises the decliners, and the start that asks the zone
//! for a match instance (or, for a backfill, adds the newcomers to the running one) and tells
//! the players where to go.

use std::collections::HashSet;

use mmo_core::bus::events;
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_proto::{ErrorCode, MatchStartNtf, MatchTeam, TicketEndReason, TicketState};

use crate::error::MmError;
use crate::proposals::{self, Accepted, Failure, Penalty, ProposalRow, StartedMatch};
use crate::tickets::{self, BackfillBody, TicketRow};
use crate::{State, notify, parties};

/// Reads of a proposal before giving up on a failure racing with accepts.
const ATTEMPTS: usize = 8;

/// MatchAcceptReq.
pub async fn respond(st: &std::sync::Arc<State>, player: u64, id: u64, accept: bool) -> Result<(), MmError> {
    if !accept {
        return decline(st, id, player).await;
    }
    let Some(p) = proposals::get(&st.bus, id).await? else {
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    };
    match proposals::accept(&st.bus, &p, player, now_ms()).await? {
        Accepted::NotFound => Err(MmError::refused(ErrorCode::ProposalNotFound)),
        Accepted::Counted => Ok(()),
        Accepted::Ready => {
            // Starting waits for a zone node: not on the accepting player's request.
            let st = st.clone();
            tokio::spawn(async move { start(&st, id).await });
            Ok(())
        }
    }
}

/// `player` declines proposal `id` (or left the queue, or its session ended, during it).
pub async fn decline(st: &State, id: u64, player: u64) -> Result<(), MmError> {
    let Some(p) = proposals::get(&st.bus, id).await? else {
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    };
    if p.state != "pending" || !p.players.contains(&player) {
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    }
    if p.deadline_ms < now_ms() {
        // Too late to decline: the check timed out, and everyone silent declined with it.
        timed_out(st, id).await?;
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    }
    fail(st, p, Why::Declined(player)).await
}

/// Takes a ticket out of a pending ready check for a reason that is not a decline (its party
/// changed): it is cancelled with `reason`, nobody is penalised, the others go back to the
/// queue first.
pub async fn withdraw(st: &State, id: u64, ticket: u64, reason: TicketEndReason) -> Result<(), MmError> {
    let Some(p) = proposals::get(&st.bus, id).await? else {
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    };
    if p.state != "pending" || !p.tickets.contains(&ticket) {
        return Err(MmError::refused(ErrorCode::ProposalNotFound));
    }
    fail(st, p, Why::Withdrawn(ticket, reason)).await
}

/// A pending proposal whose deadline passed: everyone who has not accepted declined.
pub async fn timed_out(st: &State, id: u64) -> Result<(), MmError> {
    let Some(p) = proposals::get(&st.bus, id).await? else { return Ok(()) };
    if p.state != "pending" || p.deadline_ms > now_ms() {
        return Ok(());
    }
    fail(st, p, Why::TimedOut).await.or_else(|e| match e {
        MmError::Refused(..) => Ok(()),
        e => Err(e),
    })
}

enum Why {
    Declined(u64),
    /// This ticket leaves for this reason; nobody is penalised.
    Withdrawn(u64, TicketEndReason),
    TimedOut,
    /// No match instance could be started: everyone goes back, nobody is penalised.
    NoServer,
    /// A backfill's match closed before its newcomers joined: the place (this backfill
    /// ticket) is cancelled, everyone else goes back, nobody is penalised.
    MatchOver(u64),
}

async fn fail(st: &State, mut p: ProposalRow, why: Why) -> Result<(), MmError> {
    let expected = if matches!(why, Why::NoServer | Why::MatchOver(_)) { "ready" } else { "pending" };
    let Some(mode) = st.rules.mode(&p.mode) else { return Ok(()) };
    let penalty = Penalty {
        base_ms: mode.decline_penalty.as_millis() as u64,
        max_ms: mode.max_penalty.as_millis() as u64,
        memory_ms: mode.penalty_memory.as_millis() as u64,
    };
    for _ in 0..ATTEMPTS {
        if p.state != expected {
            return Err(MmError::refused(ErrorCode::ProposalNotFound));
        }
        let rows = ticket_rows(st, &p).await?;
        let accepted: HashSet<u64> = p.accepted.iter().copied().collect();
        let declined = |player: u64| match why {
            Why::Declined(d) => d == player,
            Why::TimedOut => !accepted.contains(&player),
            Why::NoServer | Why::Withdrawn(..) | Why::MatchOver(_) => false,
        };
        let withdrawn = |ticket: u64| matches!(why, Why::Withdrawn(t, _) | Why::MatchOver(t) if t == ticket);
        let mut f = Failure { requeue: Vec::new(), cancel: Vec::new(), penalise: Vec::new() };
        for r in &rows {
            let players = r.body.players();
            if withdrawn(r.id) {
                f.cancel.push((r.id, players));
            } else if players.iter().any(|pl| declined(*pl)) {
                f.penalise.extend(players.iter().copied().filter(|pl| declined(*pl)));
                f.cancel.push((r.id, players));
            } else {
                f.requeue.push((r.id, r.body.created_ms));
            }
        }
        let Some(cooldowns) = proposals::fail(&st.bus, &p, &f, penalty, st.retention_ms()).await? else {
            match proposals::get(&st.bus, p.id).await? {
                Some(again) => {
                    p = again;
                    continue;
                }
                None => return Err(MmError::refused(ErrorCode::ProposalNotFound)),
            }
        };
        let requeued = if matches!(why, Why::NoServer | Why::MatchOver(_)) {
            TicketEndReason::NoServer
        } else {
            TicketEndReason::Requeued
        };
        for r in &rows {
            if f.requeue.iter().any(|(id, _)| *id == r.id) {
                notify::ticket(st, r, TicketState::Searching, requeued, 0, None).await;
            } else {
                let reason = match why {
                    Why::Withdrawn(t, reason) if t == r.id => reason,
                    _ => TicketEndReason::Declined,
                };
                for pl in r.body.players().iter() {
                    let cd = f
                        .penalise
                        .iter()
                        .position(|x| x == pl)
                        .and_then(|k| cooldowns.get(k))
                        .copied()
                        .unwrap_or(0);
                    let ntf = mmo_proto::TicketNtf {
                        ticket: notify::view(st, r, TicketState::Cancelled).await.ok(),
                        reason: reason as i32,
                        cooldown_ms: cd,
                    };
                    notify::players(st, &[*pl], &ntf).await;
                }
                parties::forget_ticket(&st.bus, r).await;
            }
        }
        let reason = match why {
            Why::Declined(_) => "declined",
            Why::Withdrawn(..) => "withdrawn",
            Why::TimedOut => "timeout",
            Why::NoServer => "no_server",
            Why::MatchOver(_) => "match_over",
        };
        let id = p.id.to_string();
        let penalised = f.penalise.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        events::emit(
            &st.bus,
            "ready_check_failed",
            PlayerId(0),
            &[("proposal", &id), ("mode", &p.mode), ("reason", reason), ("penalised", &penalised)],
        );
        return Ok(());
    }
    Err(MmError::Bus(mmo_core::bus::BusError::Conflict(format!("proposal {} kept changing", p.id))))
}

async fn ticket_rows(st: &State, p: &ProposalRow) -> Result<Vec<TicketRow>, MmError> {
    let mut rows = Vec::with_capacity(p.tickets.len());
    for t in &p.tickets {
        if let Some(r) = tickets::get(&st.bus, *t).await? {
            rows.push(r);
        }
    }
    Ok(rows)
}

/// Starts a ready proposal's match: a zone match instance for its players, then every ticket
/// ASSIGNED and every player told. One starter at a time; a start that dies half-way is taken
/// over by the queue's matcher once its claim is stale.
pub async fn start(st: &State, id: u64) {
    if let Err(e) = try_start(st, id).await {
        tracing::warn!(error = %e, proposal = id, "match not started; the matcher retries");
    }
}

async fn try_start(st: &State, id: u64) -> Result<(), MmError> {
    let stale = st.cfg.instance_timeout.as_millis() as u64 * 2;
    if !proposals::claim_start(&st.bus, id, now_ms(), stale).await? {
        return Ok(());
    }
    let Some(p) = proposals::get(&st.bus, id).await? else { return Ok(()) };
    let Some(mode) = st.rules.mode(&p.mode) else { return fail(st, p, Why::NoServer).await };
    let rows = ticket_rows(st, &p).await?;
    if let Some((ticket, place)) = rows.iter().find_map(|r| Some((r.id, r.body.backfill.clone()?))) {
        return start_backfill(st, p, rows, ticket, place).await;
    }
    let match_id = format!("m{id}");
    let roster: Vec<PlayerId> = p.players.iter().map(|x| PlayerId(*x)).collect();
    let instance = match mmo_zone::create_instance(
        &st.bus,
        &mode.map,
        &roster,
        &match_id,
        st.cfg.instance_timeout,
    )
    .await
    {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, proposal = id, map = mode.map, "no match instance");
            return fail(st, p, Why::NoServer).await;
        }
    };
    let parties: Vec<(u64, u64)> = rows
        .iter()
        .filter(|r| r.body.party != 0)
        .flat_map(|r| r.body.players().into_iter().map(|pl| (pl, r.body.party)))
        .collect();
    let now = now_ms();
    let started = StartedMatch {
        match_id: match_id.clone(),
        mode: p.mode.clone(),
        instance: instance.clone(),
        region: p.region.clone(),
        teams: p.teams.clone(),
        parties,
        roles: p.roles.clone(),
        started_ms: now,
        teams_json: String::new(),
    };
    let retention = st.retention_ms();
    if !proposals::assign(&st.bus, &p, &started, retention, st.cfg.match_ttl.as_millis() as u64).await? {
        return Ok(());
    }
    crate::chat::match_started(&st.bus, &match_id, &p.teams).await;
    let teams: Vec<MatchTeam> = p.teams.iter().map(|t| MatchTeam { players: t.clone() }).collect();
    for (i, team) in p.teams.iter().enumerate() {
        for player in team {
            let role = p.roles.iter().find(|(x, _)| x == player).map(|(_, r)| r.clone()).unwrap_or_default();
            let ntf = MatchStartNtf {
                match_id: match_id.clone(),
                mode: p.mode.clone(),
                instance: instance.clone(),
                region: p.region.clone(),
                teams: teams.clone(),
                team: i as u32,
                role,
                backfill: false,
            };
            notify::players(st, &[*player], &ntf).await;
        }
    }
    for r in &rows {
        parties::forget_ticket(&st.bus, r).await;
    }
    let waited: Vec<u64> = rows.iter().map(|r| now.saturating_sub(r.body.created_ms)).collect();
    if !waited.is_empty() {
        let mean = waited.iter().sum::<u64>() / waited.len() as u64;
        let _ = tickets::record_wait(&st.bus, &p.mode, mean).await;
    }
    let players = p.players.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    events::emit(
        &st.bus,
        "match_started",
        PlayerId(0),
        &[
            ("match_id", &match_id),
            ("mode", &p.mode),
            ("instance", &instance),
            ("region", &p.region),
            ("players", &players),
        ],
    );
    Ok(())
}

/// Starts a ready backfill proposal (its backfill ticket `bf_ticket` holds `place`): the
/// newcomers join the running match.
async fn start_backfill(
    st: &State,
    p: ProposalRow,
    rows: Vec<TicketRow>,
    bf_ticket: u64,
    place: BackfillBody,
) -> Result<(), MmError> {
    let newcomers: Vec<PlayerId> = p.players.iter().map(|x| PlayerId(*x)).collect();
    let timeout = st.cfg.instance_timeout;
    match mmo_zone::add_to_match(&st.bus, &place.instance, &place.match_id, &newcomers, timeout).await {
        Ok(()) => {}
        Err(mmo_zone::CreateError::Closed) => return fail(st, p, Why::MatchOver(bf_ticket)).await,
        Err(e) => {
            tracing::warn!(error = %e, proposal = p.id, match_id = place.match_id, "backfill not added");
            return fail(st, p, Why::NoServer).await;
        }
    }
    let role_of = |player: u64| p.roles.iter().find(|(x, _)| *x == player).map(|(_, r)| r.clone());
    let Some(started) = proposals::assign_backfill(&st.bus, &p, &place, st.retention_ms()).await? else {
        return Ok(());
    };
    crate::chat::match_joined(&st.bus, &place.match_id, place.team, &p.players).await;
    let teams: Vec<MatchTeam> = started.teams.iter().map(|t| MatchTeam { players: t.clone() }).collect();
    for player in &p.players {
        let ntf = MatchStartNtf {
            match_id: place.match_id.clone(),
            mode: p.mode.clone(),
            instance: place.instance.clone(),
            region: place.region.clone(),
            teams: teams.clone(),
            team: place.team,
            role: role_of(*player).unwrap_or_default(),
            backfill: true,
        };
        notify::players(st, &[*player], &ntf).await;
    }
    for r in &rows {
        parties::forget_ticket(&st.bus, r).await;
    }
    let players = p.players.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let team = place.team.to_string();
    events::emit(
        &st.bus,
        "match_backfilled",
        PlayerId(0),
        &[("match_id", &place.match_id), ("mode", &p.mode), ("team", &team), ("players", &players)],
    );
    Ok(())
}
