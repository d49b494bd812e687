//! FriendAcceptReq: accepts a pending request; the other player gets a FriendNtf (FRIEND).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendAcceptReq, FriendAcceptResp};

use super::{me, settle, target};
use crate::error::OrInternal as _;
use crate::{State, friends};

pub async fn handle_friend_accept(
    ctx: Ctx<State>,
    req: FriendAcceptReq,
) -> Result<FriendAcceptResp, HandlerError> {
    let st = ctx.state();
    let change = friends::accept(&st.store, me(&ctx)?, target(req.player_id)?, st.friend_limits())
        .await
        .or_internal()?;
    Ok(FriendAcceptResp { friend: settle(&ctx, change).await?.mine })
}
