//! FriendUnblockReq: lifts my block of a player (they were never told of it).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendUnblockReq, FriendUnblockResp};

use super::{me, settle, target};
use crate::error::OrInternal as _;
use crate::{State, friends};

pub async fn handle_friend_unblock(
    ctx: Ctx<State>,
    req: FriendUnblockReq,
) -> Result<FriendUnblockResp, HandlerError> {
    let st = ctx.state();
    let change =
        friends::unblock(&st.store, &st.bus, me(&ctx)?, target(req.player_id)?).await.or_internal()?;
    settle(&ctx, change).await?;
    Ok(FriendUnblockResp {})
}
