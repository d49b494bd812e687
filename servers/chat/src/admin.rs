//! Moderators' actions (`mmo admin chat ...`): mute and unmute a player, kick one from a custom
//! channel, delete a message. Each writes a row to `chat_audit` naming the moderator.

use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::store::Store;
use mmo_proto::{ChannelEvent, ChannelNtf};

use crate::error::ChatError;
use crate::people::People;
use crate::store::{self, Audit};
use crate::{channels, deliver, history, keys, rate};

/// Mutes `player` for `d`: its messages get `CHAT_MUTED` with the time left.
pub async fn mute(
    store: &Store,
    bus: &Bus,
    moderator: &str,
    player: u64,
    d: Duration,
    reason: &str,
) -> Result<(), ChatError> {
    rate::mute(bus, player, d).await?;
    let detail = format!("{} ms: {reason}", d.as_millis());
    store::audit(store, &Audit { moderator, action: "mute", player, detail: &detail, ..Audit::default() })
        .await?;
    Ok(())
}

/// Lifts a mute; whether there was one.
pub async fn unmute(store: &Store, bus: &Bus, moderator: &str, player: u64) -> Result<bool, ChatError> {
    let was = rate::unmute(bus, player).await?;
    store::audit(store, &Audit { moderator, action: "unmute", player, ..Audit::default() }).await?;
    Ok(was)
}

/// Kicks `player` from the custom channel `name`; whether it was in it.
pub async fn kick(
    store: &Store,
    bus: &Bus,
    moderator: &str,
    name: &str,
    player: u64,
    reason: &str,
) -> Result<bool, ChatError> {
    let ch = keys::channel(mmo_proto::ChannelKind::Custom, name)
        .ok_or_else(|| ChatError::refused(mmo_proto::ErrorCode::ChatInvalidChannel))?;
    let was = channels::kick(bus, &ch, player).await?;
    store::audit(
        store,
        &Audit { moderator, action: "kick", player, channel: &ch, detail: reason, ..Audit::default() },
    )
    .await?;
    Ok(was)
}

/// Deletes message `id`: marked deleted in MySQL, taken out of its channel's history, and the
/// channel's members told (`ChannelNtf` MESSAGE_DELETED). Whether it was found.
pub async fn delete(
    store: &Store,
    bus: &Bus,
    moderator: &str,
    id: u64,
    reason: &str,
    history_len: u32,
) -> Result<bool, ChatError> {
    let ch = store::mark_deleted(store, id).await?;
    let found = ch.is_some();
    if let Some(ch) = ch.as_deref().filter(|c| !c.is_empty()) {
        history::remove(bus, ch, id, history_len).await?;
        let ntf = ChannelNtf {
            channel: Some(keys::channel_ref(ch)),
            event: ChannelEvent::MessageDeleted as i32,
            message_id: id,
        };
        let members = channels::members(bus, ch).await?;
        deliver::fan_out(bus, &People::new(Duration::ZERO), &members, |_| false, &ntf).await?;
    }
    let channel = ch.unwrap_or_default();
    store::audit(
        store,
        &Audit {
            moderator,
            action: "delete",
            channel: &channel,
            message_id: id,
            detail: reason,
            ..Audit::default()
        },
    )
    .await?;
    Ok(found)
}
