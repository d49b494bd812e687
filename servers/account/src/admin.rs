//! Operator actions (`mmo admin account ban|unban`): they work on MySQL and Redis directly, so
//! they need no running account server.
//!
//! A ban is written to MySQL first, then every token of the player is revoked, then the player's
//! session (if online) is closed with `ACCOUNT_BANNED`. Known gap: a login that passed its ban
//! check just before the ban was written, and whose session is bound just after the kick looked
//! for it, stays connected until it next logs in; running the ban again closes it.

use std::time::Duration;

use mmo_core::bus::{Bus, events, node, tokens};
use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};
use mmo_proto::ErrorCode;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Ban, Unban};
use mysql_async::prelude::Queryable;

use crate::AccountError;
use crate::accounts::{self, Lookup};
use crate::names::fold;

/// Longest ban reason kept (the column's size).
pub const REASON_MAX: usize = 255;

/// What [`ban`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banned {
    pub player: PlayerId,
    /// When the ban ends; `None`: permanent.
    pub expires_at_ms: Option<u64>,
    /// Tokens that were live and are now revoked.
    pub tokens_revoked: usize,
    /// Whether the player was online (and was disconnected).
    pub kicked: bool,
}

/// What [`unban`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unbanned {
    pub player: PlayerId,
    /// False if the account was not banned.
    pub was_banned: bool,
}

/// The account a command names: a player id (digits), or a username in any case (usernames
/// start with a letter, so the two never clash).
pub async fn resolve(store: &Store, target: &str) -> Result<PlayerId, AccountError> {
    let target = target.trim();
    let found = match target.parse::<u64>() {
        Ok(id) => accounts::find(store, Lookup::Id(id)).await?,
        Err(_) => accounts::find(store, Lookup::NameKey(&fold(target))).await?,
    };
    found.map(|a| a.id).ok_or_else(|| AccountError::NotFound(target.to_string()))
}

/// Bans an account for `duration` (`None`: permanently), replacing any earlier ban: it cannot
/// log in, its tokens are revoked, and if it is online it is disconnected with
/// `ACCOUNT_BANNED`. Emits a `ban` event (typed `Ban`: reason, `until_ms`, 0 permanently).
pub async fn ban(
    store: &Store,
    bus: &Bus,
    target: &str,
    reason: &str,
    duration: Option<Duration>,
) -> Result<Banned, AccountError> {
    if reason.chars().count() > REASON_MAX {
        return Err(AccountError::Invalid(format!("the reason is longer than {REASON_MAX} characters")));
    }
    let player = resolve(store, target).await?;
    let now = accounts::now_ms();
    let expires_at_ms = duration.map(|d| now.saturating_add(d.as_millis().min(u128::from(u64::MAX)) as u64));
    store
        .exec_drop(
            "UPDATE accounts SET banned_at_ms = ?, ban_expires_at_ms = ?, ban_reason = ? WHERE id = ?",
            (now, expires_at_ms, reason, player.0),
        )
        .await?;
    let tokens_revoked = tokens::revoke_all(bus, player).await?;
    let kicked = node::kick_player(bus, player, ErrorCode::AccountBanned).await?;
    let until = expires_at_ms.map_or_else(|| "permanent".to_string(), |t| t.to_string());
    let detail = Detail::Ban(Ban { reason: reason.to_string(), until_ms: expires_at_ms.unwrap_or(0) });
    events::emit_typed(bus, "ban", player, detail);
    tracing::info!(%player, reason, until, kicked, "account banned");
    Ok(Banned { player, expires_at_ms, tokens_revoked, kicked })
}

/// Lifts an account's ban. Emits an `unban` event (`Unban.by`: `admin`) if it was banned.
pub async fn unban(store: &Store, bus: &Bus, target: &str) -> Result<Unbanned, AccountError> {
    let player = resolve(store, target).await?;
    let was_banned = clear_ban(store, player, None).await?;
    if was_banned {
        events::emit_typed(bus, "unban", player, Detail::Unban(Unban { by: "admin".into() }));
        tracing::info!(%player, "account unbanned");
    }
    Ok(Unbanned { player, was_banned })
}

/// Lifts a ban that ended at or before `now` (a login found it). Emits `unban` (`by`:
/// `expiry`) once, even when several logins find it together.
pub(crate) async fn lift_expired(
    store: &Store,
    bus: &Bus,
    player: PlayerId,
    now: u64,
) -> Result<(), StoreError> {
    if clear_ban(store, player, Some(now)).await? {
        events::emit_typed(bus, "unban", player, Detail::Unban(Unban { by: "expiry".into() }));
    }
    Ok(())
}

/// Clears the ban (only one that ended by `ended_by`, if given); whether there was one.
async fn clear_ban(store: &Store, player: PlayerId, ended_by: Option<u64>) -> Result<bool, StoreError> {
    store
        .in_tx(|tx| {
            Box::pin(async move {
                tx.exec_drop(
                    "UPDATE accounts SET banned_at_ms = NULL, ban_expires_at_ms = NULL, ban_reason = '' \
                     WHERE id = ? AND banned_at_ms IS NOT NULL \
                     AND (? IS NULL OR ban_expires_at_ms <= ?)",
                    (player.0, ended_by, ended_by),
                )
                .await?;
                Ok(tx.affected_rows() == 1)
            })
        })
        .await
}
