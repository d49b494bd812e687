//! What matchmaking learns from the game-event stream, through a consumer group of its own
//! (at-least-once; every reaction is idempotent):
//!
//! - `logout` (the gateway: a session ended, past its resume window): the player's open ticket
//!   is cancelled (in a ready check: a decline) and it leaves its party.
//! - `match_closed` (the zone: a match instance closed; typed `MatchClosed`): the match's result is recorded (see
//!   [`crate::outcome`]) and its open backfill places are cancelled.
//! - `match_left` (the zone: a player left a match that goes on): in a mode with `backfill`,
//!   its place becomes a backfill ticket (see [`crate::backfill`]).

use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::{BusError, events, node};
use mmo_core::session::PlayerId;
use mmo_proto::bus::GameEvent;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{PartyEvent, TicketEndReason};

use crate::error::MmError;
use crate::{SERVICE, State, handlers, tickets};

/// Starts reading the event stream.
pub async fn start(st: Arc<State>, shutdown: &Shutdown) -> Result<(), BusError> {
    let consumer = GroupConsumer::new(st.bus.clone(), st.bus.keys().events(), SERVICE);
    consumer.ensure_group().await?;
    let handler: EntryHandler = Arc::new(move |batch: mmo_proto::bus::Batch| {
        let st = st.clone();
        Box::pin(async move {
            for env in &batch.envelopes {
                if let Some(ev) = events::decode(env)
                    && let Err(e) = on_event(&st, &ev).await
                {
                    tracing::warn!(error = %e, kind = ev.kind, id = ev.id, "game event not handled; retried");
                    return Handled::Retry;
                }
            }
            Handled::Ack
        })
    });
    shutdown.spawn(consumer.run(handler, shutdown.token()));
    Ok(())
}

async fn on_event(st: &State, ev: &GameEvent) -> Result<(), MmError> {
    match ev.kind.as_str() {
        "logout" if ev.player != 0 => {
            // A login elsewhere ended this session: the player plays on in the newer one,
            // which keeps its ticket and party.
            let ended = match &ev.detail {
                Some(Detail::Logout(l)) => Some(l.session),
                _ => None,
            };
            if let Some(now) = node::presence(&st.bus, PlayerId(ev.player)).await?
                && (now.node != ev.node || Some(now.session.0) != ended)
            {
                return Ok(());
            }
            session_ended(st, ev.player).await
        }
        "match_closed" => {
            let Some(Detail::MatchClosed(closed)) = &ev.detail else { return Ok(()) };
            if !closed.match_id.is_empty() {
                crate::backfill::close(st, &closed.match_id).await?;
            }
            crate::outcome::on_match_closed(st, closed).await
        }
        "match_left" if ev.player != 0 => crate::backfill::on_match_left(st, ev).await,
        _ => Ok(()),
    }
}

/// A player's session ended: its ticket is cancelled and it leaves its party.
pub async fn session_ended(st: &State, player: u64) -> Result<(), MmError> {
    if let Some(row) = tickets::of_player(&st.bus, player).await? {
        if row.state == mmo_proto::TicketState::Proposed {
            // In a ready check: a decline by this player.
            match crate::ready::decline(st, row.proposal, player).await {
                Err(MmError::Refused(..)) | Ok(()) => {}
                Err(e) => return Err(e),
            }
        } else {
            crate::queueing::cancel(st, &row, TicketEndReason::Disconnected).await?;
        }
    }
    match handlers::party::leave(st, player, PartyEvent::Disconnected).await {
        Err(MmError::Refused(..)) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}
