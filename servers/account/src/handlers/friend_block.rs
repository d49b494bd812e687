//! FriendBlockReq: blocks a player, ending any friendship or request between us (they get a
//! FriendNtf NONE, as for a removal: a block is not announced).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendBlockReq, FriendBlockResp};

use super::{me, settle, target};
use crate::error::OrInternal as _;
use crate::{State, friends};

pub async fn handle_friend_block(
    ctx: Ctx<State>,
    req: FriendBlockReq,
) -> Result<FriendBlockResp, HandlerError> {
    let st = ctx.state();
    let change = friends::block(&st.store, &st.bus, me(&ctx)?, target(req.player_id)?, st.friend_limits())
        .await
        .or_internal()?;
    settle(&ctx, change).await?;
    Ok(FriendBlockResp {})
}
