//! LinkAccountReq: gives a guest account a username and password (and the username as display
//! name, if it still has its guest name). Its device id keeps logging in.

use mmo_core::bus::events;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::bus::Login;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{ErrorCode, LinkAccountReq, LinkAccountResp};

use super::me;
use crate::accounts::{self, ER_DUP_ENTRY, Lookup};
use crate::error::OrInternal as _;
use crate::{State, names};

pub async fn handle_link_account(
    ctx: Ctx<State>,
    req: LinkAccountReq,
) -> Result<LinkAccountResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let user = st.names.username(&req.username).ok_or(HandlerError::Reject(ErrorCode::InvalidName))?;
    let password = names::password(&req.password).ok_or(HandlerError::Reject(ErrorCode::InvalidPassword))?;
    let account = accounts::find(&st.store, Lookup::Id(player.0))
        .await
        .or_internal()?
        .ok_or(HandlerError::Reject(ErrorCode::PlayerNotFound))?;
    if account.username.is_some() {
        return Err(HandlerError::Reject(ErrorCode::AlreadyLinked));
    }
    if accounts::name_taken(&st.store, &user.key).await.or_internal()? {
        return Err(HandlerError::Reject(ErrorCode::NameTaken));
    }
    let hash = st.hasher.hash(password).await.or_internal()?;
    match accounts::link(&st.store, player, &user.name, &user.key, &hash).await {
        Ok(true) => {}
        // Linked meanwhile by another request of the same player.
        Ok(false) => return Err(HandlerError::Reject(ErrorCode::AlreadyLinked)),
        Err(e) if e.server_code() == Some(ER_DUP_ENTRY) => {
            return Err(HandlerError::Reject(ErrorCode::NameTaken));
        }
        Err(e) => return Err(HandlerError::internal(e)),
    }
    let detail = Detail::Login(Login { method: "password".into(), session: ctx.session().id().0 });
    events::emit_typed(&st.bus, "link", player, detail);
    let profile = accounts::profile(&st.store, player.0).await.or_internal()?;
    Ok(LinkAccountResp { profile })
}
