//! FriendRemoveReq: ends a friendship, declines a request or cancels mine; the other player
//! gets a FriendNtf (NONE).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendRemoveReq, FriendRemoveResp};

use super::{me, settle, target};
use crate::error::OrInternal as _;
use crate::{State, friends};

pub async fn handle_friend_remove(
    ctx: Ctx<State>,
    req: FriendRemoveReq,
) -> Result<FriendRemoveResp, HandlerError> {
    let change =
        friends::remove(&ctx.state().store, me(&ctx)?, target(req.player_id)?).await.or_internal()?;
    settle(&ctx, change).await?;
    Ok(FriendRemoveResp {})
}
