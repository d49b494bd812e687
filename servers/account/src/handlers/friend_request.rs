//! FriendRequestReq: asks a player (by id, or by username) to be friends; accepts if they had
//! already asked. The other player gets a FriendNtf (INCOMING, or FRIEND on an accept).

use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, FriendRequestReq, FriendRequestResp};

use super::{me, settle};
use crate::accounts::{self, Lookup};
use crate::error::OrInternal as _;
use crate::{State, friends, names};

pub async fn handle_friend_request(
    ctx: Ctx<State>,
    req: FriendRequestReq,
) -> Result<FriendRequestResp, HandlerError> {
    let st = ctx.state();
    let them = if req.player_id != 0 {
        PlayerId(req.player_id)
    } else {
        let key = names::login_key(&req.username).ok_or(HandlerError::Reject(ErrorCode::PlayerNotFound))?;
        accounts::find(&st.store, Lookup::NameKey(&key))
            .await
            .or_internal()?
            .ok_or(HandlerError::Reject(ErrorCode::PlayerNotFound))?
            .id
    };
    let change = friends::request(&st.store, me(&ctx)?, them, st.friend_limits()).await.or_internal()?;
    Ok(FriendRequestResp { friend: settle(&ctx, change).await?.mine })
}
