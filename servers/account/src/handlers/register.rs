//! RegisterReq: creates an account with a username and password, then logs it in.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, RegisterReq, RegisterResp};

use crate::accounts::{self, ER_DUP_ENTRY, NewAccount};
use crate::auth::{count_refusal, open_session};
use crate::error::OrInternal as _;
use crate::{State, names};

pub async fn handle_register(ctx: Ctx<State>, req: RegisterReq) -> Result<RegisterResp, HandlerError> {
    let st = ctx.state();
    let user = st.names.username(&req.username).ok_or(HandlerError::Reject(ErrorCode::InvalidName))?;
    let password = names::password(&req.password).ok_or(HandlerError::Reject(ErrorCode::InvalidPassword))?;
    let display_name = if req.display_name.is_empty() {
        user.name.clone()
    } else {
        st.names.display_name(&req.display_name).ok_or(HandlerError::Reject(ErrorCode::InvalidName))?
    };
    // Spare the hash when the name is plainly taken; the unique index decides races.
    if accounts::name_taken(&st.store, &user.key).await.or_internal()? {
        count_refusal("register", "invalid");
        return Err(HandlerError::Reject(ErrorCode::NameTaken));
    }
    let password_hash = st.hasher.hash(password).await.or_internal()?;
    let new = NewAccount::Registered { username: user.name, key: user.key, password_hash, display_name };
    let player = match accounts::create(&st.store, &new).await {
        Ok(p) => p,
        Err(e) if e.server_code() == Some(ER_DUP_ENTRY) => {
            count_refusal("register", "invalid");
            return Err(HandlerError::Reject(ErrorCode::NameTaken));
        }
        Err(e) => return Err(HandlerError::internal(e)),
    };
    let session = open_session(&ctx, player, "register", "password").await?;
    Ok(RegisterResp { session: Some(session) })
}
