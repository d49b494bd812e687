//! LogoutReq: revokes the player's tokens and closes the session (`LOGGED_OUT`, after the
//! answer).
//!
//! A session does not know which token it logged in with (a token login gets a fresh one, and
//! the server handling the request is not the gateway holding the session), so logout revokes
//! every token of the player: "log out" means logged out everywhere, and no device keeps
//! logging in without credentials. The gateway emits the logout event when the session ends.

use mmo_core::bus::tokens;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, LogoutReq, LogoutResp};

use super::me;
use crate::State;
use crate::error::OrInternal as _;

pub async fn handle_logout(ctx: Ctx<State>, _req: LogoutReq) -> Result<LogoutResp, HandlerError> {
    let player = me(&ctx)?;
    tokens::revoke_all(&ctx.state().bus, player).await.or_internal()?;
    // Queued now, delivered after the answer: the client reads LogoutResp, then the notice.
    ctx.session().kick(ErrorCode::LoggedOut, "logged out");
    Ok(LogoutResp {})
}
