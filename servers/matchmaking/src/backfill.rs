//! Backfill: a player who leaves a running match of a mode with `backfill = true` is replaced.
//!
//! 1. The zone announces the leaver (`match_left` game event). [`on_match_left`] opens a
//!    backfill ticket in the mode's queue: no members, the place it holds (match, instance,
//!    team, region, the leaver's role) and the players still in the match, whose blocks it
//!    carries. At-least-once delivery opens it once (a marker per match and leaver).
//! 2. Each matching pass gives the open places to searching solo tickets first
//!    ([`openings`], then [`crate::matcher::backfill::fill`]); a place and its newcomer become
//!    a proposal like any other, so the newcomer gets a ready check (the backfill ticket has
//!    no players and needs no accept), and a decline puts the place back in the queue.
//! 3. The start (`ready::start`, for a proposal holding a backfill ticket) asks the zone to add the newcomer to the running instance
//!    (`mmo_zone::add_to_match`), appends it to its team in the started match's record (so
//!    the result rates it) and pushes `MatchStartNtf` with `backfill = true`.
//! 4. When the match closes, its places still open are cancelled ([`close`]); a place whose
//!    match closed during its ready check is cancelled at start and the newcomer requeued.

use std::collections::HashMap;

use mmo_core::bus::{BusError, events};
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_proto::TicketState;
use mmo_proto::bus::GameEvent;

use crate::config::ModeRules;
use crate::error::MmError;
use crate::matcher::Candidate;
use crate::matcher::backfill::Opening;
use crate::proposals;
use crate::tickets::{self, BackfillBody, TicketBody};
use crate::{State, keys, ratings};

/// The zone says `ev.player` left match `match_id`: open a backfill ticket for its place if
/// the mode backfills and the match is one matchmaking started.
pub async fn on_match_left(st: &State, ev: &GameEvent) -> Result<(), MmError> {
    let (Some(match_id), Some(instance)) = (ev.attrs.get("match_id"), ev.attrs.get("instance")) else {
        return Ok(());
    };
    let leaver = ev.player;
    let Some(started) = proposals::started(&st.bus, match_id).await? else { return Ok(()) };
    if !st.rules.mode(&started.mode).is_some_and(|m| m.backfill) {
        return Ok(());
    }
    let Some(team) = started.teams.iter().position(|t| t.contains(&leaver)) else { return Ok(()) };
    // One place per leaver, however often the event is delivered.
    let mut conn = st.bus.conn().await?;
    let first: bool = st
        .bus
        .timed(
            redis::cmd("SET")
                .arg(keys::backfill_seen(&st.bus, match_id, leaver))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(st.cfg.match_ttl.as_millis() as u64)
                .query_async::<Option<String>>(&mut *conn),
        )
        .await?
        .is_some();
    drop(conn);
    if !first {
        return Ok(());
    }
    let roster: Vec<u64> = started.teams.iter().flatten().copied().filter(|p| *p != leaver).collect();
    let mates: Vec<u64> = started.teams[team].iter().copied().filter(|p| *p != leaver).collect();
    let ids: Vec<PlayerId> = roster.iter().map(|p| PlayerId(*p)).collect();
    let (rated, blocks) = tokio::join!(
        ratings::get(&st.store, &started.mode, if mates.is_empty() { &roster } else { &mates }),
        mmo_account::friends::blocks(&st.store, &ids),
    );
    let (rated, blocks) = (rated?, blocks?);
    let rating = if rated.is_empty() {
        ratings::Rating::default().rating
    } else {
        rated.values().map(|r| r.rating).sum::<f64>() / rated.len() as f64
    };
    let blocked = crate::queueing::blocked_by(&blocks, &roster.iter().copied().collect());
    let role = started.roles.iter().find(|(p, _)| *p == leaver).map(|(_, r)| r.clone()).unwrap_or_default();
    let body = TicketBody {
        mode: started.mode.clone(),
        members: Vec::new(),
        party: 0,
        created_ms: now_ms(),
        blocked,
        rating,
        backfill: Some(BackfillBody {
            match_id: match_id.clone(),
            instance: instance.clone(),
            team: team as u32,
            region: started.region.clone(),
            roster,
            leaver,
            role,
        }),
    };
    let id = match tickets::enqueue(&st.bus, &body).await? {
        Ok(id) => id,
        Err(refused) => {
            // No players: nothing can refuse it. Logged in case that ever changes.
            tracing::warn!(?refused, match_id, "backfill ticket refused");
            return Ok(());
        }
    };
    let mut conn = st.bus.conn().await?;
    let key = keys::backfills(&st.bus, match_id);
    let mut pipe = redis::pipe();
    pipe.cmd("SADD").arg(&key).arg(id).ignore();
    pipe.cmd("PEXPIRE").arg(&key).arg(st.cfg.match_ttl.as_millis() as u64).ignore();
    st.bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    let (ticket, leaver) = (id.to_string(), leaver.to_string());
    events::emit(
        &st.bus,
        "backfill_opened",
        PlayerId(0),
        &[("match_id", match_id), ("mode", &started.mode), ("ticket", &ticket), ("leaver", &leaver)],
    );
    Ok(())
}

/// The open places among a pass's pool (backfill tickets are in `bodies`, the pool's bodies
/// by ticket id), each with the match's roster as it is now: everyone on its teams, leavers
/// and earlier newcomers included, none of whom may take the place (a leaver who queued again
/// is never put back into the match it left, nor onto the other team). A place whose match is
/// no longer on record is left out (its close withdraws it).
pub async fn openings(
    st: &State,
    pool: &[Candidate],
    bodies: &HashMap<u64, (TicketBody, bool)>,
    mode: &ModeRules,
    now: u64,
) -> Result<Vec<Opening>, BusError> {
    let places: Vec<(u64, &TicketBody, &BackfillBody)> = pool
        .iter()
        .filter(|c| c.members.is_empty())
        .filter_map(|c| {
            let (body, _) = bodies.get(&c.id)?;
            Some((c.id, body, body.backfill.as_ref()?))
        })
        .collect();
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = st.bus.conn().await?;
    let mut pipe = redis::pipe();
    for (_, _, b) in &places {
        pipe.cmd("HGET").arg(keys::started(&st.bus, &b.match_id)).arg("teams");
    }
    let teams: Vec<Option<String>> = st.bus.timed(pipe.query_async(&mut *conn)).await?;
    drop(conn);
    Ok(places
        .into_iter()
        .zip(teams)
        .filter_map(|((id, body, b), teams)| {
            let teams: Vec<Vec<u64>> = serde_json::from_str(&teams?).ok()?;
            let mut roster: Vec<u64> = teams.into_iter().flatten().chain(b.roster.iter().copied()).collect();
            roster.push(b.leaver);
            roster.sort_unstable();
            roster.dedup();
            Some(Opening {
                id,
                rating: body.rating,
                waited_ms: now.saturating_sub(body.created_ms),
                region: mode.regions.iter().position(|r| *r == b.region)?,
                roster,
                blocked: body.blocked.clone(),
                role: mode.role_bit(&b.role).unwrap_or(0),
            })
        })
        .collect())
}

/// Match `match_id` closed: its places still searching are cancelled.
pub async fn close(st: &State, match_id: &str) -> Result<(), BusError> {
    let mut conn = st.bus.conn().await?;
    let key = keys::backfills(&st.bus, match_id);
    let ids: Vec<u64> = st.bus.timed(redis::cmd("SMEMBERS").arg(&key).query_async(&mut *conn)).await?;
    drop(conn);
    for id in ids {
        if let Some(row) = tickets::get(&st.bus, id).await? {
            tickets::end(&st.bus, &row, &[TicketState::Searching], TicketState::Cancelled, st.retention_ms())
                .await?;
        }
    }
    let mut conn = st.bus.conn().await?;
    st.bus.timed(redis::cmd("DEL").arg(&key).query_async::<()>(&mut *conn)).await?;
    Ok(())
}
