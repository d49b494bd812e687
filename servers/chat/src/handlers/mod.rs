//! One file per message the chat server handles, and what several of them share.

pub mod channel_create;
pub mod channel_join;
pub mod channel_kick;
pub mod channel_leave;
pub mod channel_list;
pub mod chat_read;
pub mod chat_report;
pub mod chat_send;
pub mod presence_query;
pub mod presence_set;
pub mod unread;
pub mod whisper;

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelInfo, ChannelKind, ChannelRef, ErrorCode};

use crate::error::ChatError;
use crate::{State, channels, keys};

/// The player of an authenticated session (the route's stage guarantees one).
pub(crate) fn me(ctx: &Ctx<State>) -> Result<u64, HandlerError> {
    ctx.session()
        .player()
        .map(|p| p.0)
        .ok_or_else(|| HandlerError::internal("authenticated session without a player"))
}

/// The key of the channel a request names (`CHAT_INVALID_CHANNEL` for none).
pub(crate) fn channel_key(ch: Option<&ChannelRef>) -> Result<String, ChatError> {
    ch.and_then(|c| keys::channel(c.kind(), &c.name))
        .ok_or_else(|| ChatError::refused(ErrorCode::ChatInvalidChannel))
}

/// A custom channel's key from its name.
pub(crate) fn custom_key(name: &str) -> Result<String, ChatError> {
    keys::channel(ChannelKind::Custom, name).ok_or_else(|| ChatError::refused(ErrorCode::ChatInvalidChannel))
}

/// A channel as its members see it.
pub(crate) async fn info(st: &State, ch: &str) -> Result<ChannelInfo, ChatError> {
    let custom = if ch.starts_with("c:") { channels::custom(&st.bus, ch).await? } else { None };
    Ok(ChannelInfo {
        channel: Some(keys::channel_ref(ch)),
        owner: custom.as_ref().map_or(0, |c| c.owner),
        members: channels::count(&st.bus, ch).await?,
        has_password: custom.is_some_and(|c| c.password.is_some()),
    })
}

/// Where the sender's session is held (it is logged in, so it has a presence; `UNAVAILABLE`
/// in the instant a login's presence is not yet claimed).
pub(crate) async fn here(st: &State, player: u64) -> Result<String, HandlerError> {
    channels::where_is(&st.bus, player)
        .await?
        .ok_or_else(|| HandlerError::unavailable("session not yet registered"))
}

/// How many custom channels `player` is in.
pub(crate) async fn customs_of(st: &State, player: u64) -> Result<u32, ChatError> {
    Ok(channels::of_player(&st.bus, player).await?.iter().filter(|c| c.starts_with("c:")).count() as u32)
}
