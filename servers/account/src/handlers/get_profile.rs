//! GetProfileReq: a player's profile (0 = my own).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, GetProfileReq, GetProfileResp};

use super::me;
use crate::State;
use crate::accounts;
use crate::error::OrInternal as _;

pub async fn handle_get_profile(ctx: Ctx<State>, req: GetProfileReq) -> Result<GetProfileResp, HandlerError> {
    let player = if req.player_id == 0 { me(&ctx)?.0 } else { req.player_id };
    let profile = accounts::profile(&ctx.state().store, player)
        .await
        .or_internal()?
        .ok_or(HandlerError::Reject(ErrorCode::PlayerNotFound))?;
    Ok(GetProfileResp { profile: Some(profile) })
}
