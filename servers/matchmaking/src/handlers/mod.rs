//! The handlers, by concern: parties, queues and the ready check, results.

pub mod history;
pub mod party;
pub mod queue;

use mmo_core::{Ctx, HandlerError};

use crate::State;

/// The player of an authenticated session (the route's stage guarantees one).
pub(crate) fn me(ctx: &Ctx<State>) -> Result<u64, HandlerError> {
    ctx.session()
        .player()
        .map(|p| p.0)
        .ok_or_else(|| HandlerError::internal("authenticated session without a player"))
}
