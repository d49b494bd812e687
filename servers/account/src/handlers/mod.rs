//! One file per message the account server handles, and what several of them share.

pub mod friend_accept;
pub mod friend_block;
pub mod friend_list;
pub mod friend_remove;
pub mod friend_request;
pub mod friend_unblock;
pub mod get_profile;
pub mod link_account;
pub mod login;
pub mod logout;
pub mod register;

use mmo_core::bus::node;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, FriendNtf};

use crate::State;
use crate::friends::{Change, Changed};

/// The player of an authenticated session (the route's stage guarantees one).
pub(crate) fn me(ctx: &Ctx<State>) -> Result<PlayerId, HandlerError> {
    ctx.session().player().ok_or_else(|| HandlerError::internal("authenticated session without a player"))
}

/// Turns a friend change into the handler's answer, pushing `FriendNtf` to the other player
/// if their view changed (a push to an offline player is skipped: they read the list on login).
pub(crate) async fn settle(ctx: &Ctx<State>, change: Change) -> Result<Changed, HandlerError> {
    let mut changed = change.map_err(HandlerError::Reject)?;
    if let Some((other, friend)) = changed.notify.take()
        && let Err(e) =
            node::push_to_player(&ctx.state().bus, other, &FriendNtf { friend: Some(friend) }).await
    {
        // The change is committed; a lost notice only delays what the friend list shows.
        tracing::warn!(error = %e, %other, "FriendNtf not sent");
    }
    Ok(changed)
}

/// A friend operation's target id: 0 is no player.
pub(crate) fn target(id: u64) -> Result<PlayerId, HandlerError> {
    if id == 0 { Err(HandlerError::Reject(ErrorCode::PlayerNotFound)) } else { Ok(PlayerId(id)) }
}
