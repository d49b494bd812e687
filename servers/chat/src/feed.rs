//! What chat learns from the game-event stream, through a consumer group of its own
//! (at-least-once; every reaction is idempotent):
//!
//! - `login` and `register` (the account server, with the session's id in their typed `Login`): once the gateway has
//!   claimed the new session's presence, the player joins the world channel (read up to its
//!   newest message) and gets the
//!   whispers kept for it while offline (`WhisperNtf` with `offline` set), oldest first.
//! - `logout` (the gateway: a session ended, past its resume window): the memberships that
//!   session held are dropped (not those of a newer session of the same player).
//! - Presence ([`presence`]): a login, once joined, and a session's end are announced to the
//!   player's friends (an end only if no newer session holds the player); `match_started`
//!   (matchmaking) and `match_backfilled` put the players named (`players`, a csv) in the
//!   match `match_id` (mode `mode`), `match_left` (the zone) takes the leaver out of it and
//!   `match_closed` (the zone, typed `MatchClosed`) every player the match had.

use std::sync::Arc;
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::{BusError, events, node};
use mmo_core::session::PlayerId;
use mmo_proto::WhisperNtf;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{GameEvent, Logout};
use tokio::sync::Semaphore;

use crate::error::ChatError;
use crate::{SERVICE, State, channels, deliver, history, presence};

/// Logins waited on at once; beyond this the feed waits for one to finish.
const LOGINS_IN_FLIGHT: usize = 1024;
/// How often a login's presence is looked for.
const LOGIN_POLL: Duration = Duration::from_millis(20);

/// Starts reading the event stream.
pub async fn start(st: Arc<State>, shutdown: &Shutdown) -> Result<(), BusError> {
    let consumer = GroupConsumer::new(st.bus.clone(), st.bus.keys().events(), SERVICE);
    consumer.ensure_group().await?;
    let logins = Arc::new(Semaphore::new(LOGINS_IN_FLIGHT));
    let handler: EntryHandler = Arc::new(move |batch: mmo_proto::bus::Batch| {
        let (st, logins) = (st.clone(), logins.clone());
        Box::pin(async move {
            for env in &batch.envelopes {
                let Some(ev) = events::decode(env) else { continue };
                match ev.kind.as_str() {
                    "login" | "register" if ev.player != 0 => {
                        // Waiting for the presence must not hold the feed up: a task per login.
                        let Ok(permit) = logins.clone().acquire_owned().await else { continue };
                        let st = st.clone();
                        tokio::spawn(async move {
                            if let Err(e) = logged_in(&st, &ev).await {
                                tracing::warn!(error = %e, player = ev.player, "chat login not handled");
                            }
                            drop(permit);
                        });
                    }
                    "logout" if ev.player != 0 => {
                        if let Err(e) = logged_out(&st, &ev).await {
                            tracing::warn!(error = %e, id = ev.id, "logout not handled by chat; retried");
                            return Handled::Retry;
                        }
                    }
                    "match_started" | "match_backfilled" | "match_closed" | "match_left" => {
                        if let Err(e) = match_event(&st, &ev).await {
                            tracing::warn!(error = %e, id = ev.id, "match event not handled by chat; retried");
                            return Handled::Retry;
                        }
                    }
                    _ => {}
                }
            }
            Handled::Ack
        })
    });
    shutdown.spawn(consumer.run(handler, shutdown.token()));
    Ok(())
}

/// A login: waits (up to `login_wait`) for the gateway to claim the session's presence, then
/// joins the world channel and delivers the kept whispers.
async fn logged_in(st: &State, ev: &GameEvent) -> Result<(), ChatError> {
    let session = match &ev.detail {
        Some(Detail::Login(l)) if l.session != 0 => Some(l.session),
        _ => None,
    };
    let deadline = tokio::time::Instant::now() + st.cfg.login_wait;
    let at = loop {
        if let Some(p) = node::presence(&st.bus, PlayerId(ev.player)).await?
            && session.is_none_or(|s| s == p.session.0)
        {
            break format!("{} {}", p.node, p.session.0);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(()); // never claimed (the client left at once), or replaced meanwhile
        }
        tokio::time::sleep(LOGIN_POLL).await;
    };
    // The world's history is not sent to a new session: what came before the login is not
    // unread. (Marked before the join: once a session is a member, its marker is set.)
    history::mark_read(&st.bus, ev.player, "w", history::latest(&st.bus, "w").await?).await?;
    channels::add(&st.bus, "w", ev.player, &at).await?;
    for msg in history::take_whispers(&st.bus, ev.player).await? {
        deliver::push_at(&st.bus, &at, &WhisperNtf { message: Some(msg), offline: true })?;
    }
    presence::announce(st, ev.player, None).await
}

/// A session ended: the memberships it held go.
async fn logged_out(st: &State, ev: &GameEvent) -> Result<(), ChatError> {
    let Some(Detail::Logout(Logout { session, .. })) = &ev.detail else { return Ok(()) };
    let at = format!("{} {session}", ev.node);
    channels::drop_session(&st.bus, ev.player, &at).await?;
    // A login elsewhere took the player before this session ended: it stays as it is.
    if channels::where_is(&st.bus, ev.player).await?.is_none_or(|now| now == at) {
        presence::session_ended(&st.bus, ev.player).await?;
    }
    presence::announce(st, ev.player, Some(&at)).await
}

/// A match started, was backfilled or closed: its players' presence changes.
async fn match_event(st: &State, ev: &GameEvent) -> Result<(), ChatError> {
    let attr = |k: &str| ev.attrs.get(k).map(String::as_str).unwrap_or_default();
    let named: Vec<u64> = attr("players").split(',').filter_map(|p| p.trim().parse().ok()).collect();
    let players = match (ev.kind.as_str(), &ev.detail) {
        ("match_closed", Some(Detail::MatchClosed(m))) => {
            presence::match_closed(&st.bus, &m.match_id, &m.players).await?
        }
        ("match_closed", _) => Vec::new(),
        ("match_left", _) if ev.player != 0 => {
            presence::match_left(&st.bus, attr("match_id"), ev.player).await?;
            vec![ev.player]
        }
        ("match_left", _) => Vec::new(),
        _ => {
            presence::match_started(&st.bus, attr("match_id"), attr("mode"), &named).await?;
            named
        }
    };
    for p in players {
        presence::announce(st, p, None).await?;
    }
    Ok(())
}
