//! What every successful login and registration does (token, session binding, event), and the
//! ban check every login makes once the credentials are proven.

use std::time::Duration;

use mmo_core::bus::{events, tokens};
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError, Stage};
use mmo_proto::bus::Login;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{AuthSession, ErrorCode};

use crate::accounts::{self, Account};
use crate::error::OrInternal as _;
use crate::{LOGINS, State, admin};

/// Binds the session to `player` and moves it to `Authenticated`, with a fresh token. Emits
/// `kind` (`login` or `register`) with `method` and `session`. The gateway, on seeing the binding, claims the
/// player's presence and closes any older session of the same player.
pub(crate) async fn open_session(
    ctx: &Ctx<State>,
    player: PlayerId,
    kind: &str,
    method: &str,
) -> Result<AuthSession, HandlerError> {
    let st = ctx.state();
    accounts::touch_login(&st.store, player, accounts::now_ms()).await.or_internal()?;
    let profile = accounts::profile(&st.store, player.0)
        .await
        .or_internal()?
        .ok_or_else(|| HandlerError::internal(format!("account {player} has no profile")))?;
    let issued = tokens::issue(&st.bus, player, st.cfg.token_ttl).await.or_internal()?;
    ctx.session().set_player(player);
    ctx.session().set_stage(Stage::Authenticated);
    // With the session's id: a server reacting to the login (chat) finds the session once the
    // gateway has claimed the player's presence for it.
    let detail = Detail::Login(Login { method: method.to_string(), session: ctx.session().id().0 });
    events::emit_typed(&st.bus, kind, player, detail);
    let label = if kind == "register" { kind } else { method };
    metrics::counter!(LOGINS, "method" => label.to_string(), "outcome" => "ok").increment(1);
    Ok(AuthSession {
        player_id: player.0,
        token: issued.token,
        token_expires_at_ms: issued.expires_at_ms,
        profile: Some(profile),
    })
}

/// Refuses a banned account (`ACCOUNT_BANNED`, the reason as detail, the time left as retry
/// delay; none when permanent). A ban whose time is over is lifted here.
pub(crate) async fn refuse_if_banned(st: &State, account: &Account) -> Result<(), HandlerError> {
    let Some(ban) = &account.ban else { return Ok(()) };
    let now = accounts::now_ms();
    match ban.expires_at_ms {
        Some(until) if until <= now => {
            admin::lift_expired(&st.store, &st.bus, account.id, now).await.or_internal()?;
            Ok(())
        }
        until => {
            let left = until.map(|u| Duration::from_millis(u - now));
            Err(HandlerError::refuse(ErrorCode::AccountBanned, ban.reason.clone(), left))
        }
    }
}

/// Counts a refused login in the metrics.
pub(crate) fn count_refusal(method: &'static str, outcome: &'static str) {
    metrics::counter!(LOGINS, "method" => method, "outcome" => outcome).increment(1);
}
