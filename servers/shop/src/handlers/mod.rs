//! One file per message the shop server handles, and what they share.

pub mod catalog;
pub mod inventory;
pub mod ledger;
pub mod purchase;
pub mod receipt;
pub mod wallet;

use mmo_core::{Ctx, HandlerError};

use crate::State;
use crate::error::ShopError;

/// The player of an authenticated session (the route's stage guarantees one).
pub(crate) fn me(ctx: &Ctx<State>) -> Result<u64, HandlerError> {
    ctx.session()
        .player()
        .map(|p| p.0)
        .ok_or_else(|| HandlerError::internal("authenticated session without a player"))
}

/// The player of an authenticated session, given its starter balance if it has not had it
/// ([`crate::starter`]): every handler asks this first.
pub(crate) async fn started(ctx: &Ctx<State>) -> Result<u64, HandlerError> {
    let player = me(ctx)?;
    let st = ctx.state();
    crate::starter::ensure(st, player).await.map_err(fail(st))?;
    Ok(player)
}

/// A shop error as the client's answer (`SHOP_STORE_UNAVAILABLE` with the configured hint).
pub(crate) fn fail(st: &State) -> impl Fn(ShopError) -> HandlerError + '_ {
    move |e| e.into_handler(st.cfg.unavailable_retry)
}
