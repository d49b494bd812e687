//! Pushes to players wherever they are connected. A push that cannot be sent is logged: the
//! state is in Redis, and QueueStatusReq / PartyGetReq read it back.

use mmo_core::bus::BusError;
use mmo_core::bus::node;
use mmo_core::clock::now_ms;
use mmo_core::session::PlayerId;
use mmo_proto::{MsgType, Ticket, TicketEndReason, TicketNtf, TicketState};

use crate::State;
use crate::tickets::{self, TicketRow};

/// Pushes `msg` to each of `players`.
pub async fn players<M: MsgType>(st: &State, players: &[u64], msg: &M) {
    for p in players {
        if let Err(e) = node::push_to_player(&st.bus, PlayerId(*p), msg).await {
            tracing::warn!(error = %e, player = p, msg = M::NAME, "push not sent");
        }
    }
}

/// Tells every player of a ticket (but `except`, who asked for the change) its new state.
pub async fn ticket(
    st: &State,
    row: &TicketRow,
    state: TicketState,
    reason: TicketEndReason,
    cooldown_ms: u64,
    except: Option<u64>,
) {
    let ticket = match view(st, row, state).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, ticket = row.id, "ticket not read for its notice");
            return;
        }
    };
    let ntf = TicketNtf { ticket: Some(ticket), reason: reason as i32, cooldown_ms };
    let to: Vec<u64> = row.body.players().into_iter().filter(|p| Some(*p) != except).collect();
    players(st, &to, &ntf).await;
}

/// The ticket as the client sees it.
pub async fn view(st: &State, row: &TicketRow, state: TicketState) -> Result<Ticket, BusError> {
    let waited_ms = now_ms().saturating_sub(row.body.created_ms);
    let (position, estimated_wait_ms) = if state == TicketState::Searching {
        (
            tickets::position(&st.bus, &row.body.mode, row.id).await?.unwrap_or(0),
            tickets::eta(&st.bus, &row.body.mode).await?,
        )
    } else {
        (0, 0)
    };
    Ok(Ticket {
        id: row.id,
        mode: row.body.mode.clone(),
        state: state as i32,
        players: row.body.players(),
        waited_ms,
        position,
        estimated_wait_ms,
    })
}
