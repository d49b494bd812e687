//! ChannelKickReq: the owner of a custom channel removes a member (told with a ChannelNtf
//! KICKED).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelKickReq, ChannelKickResp, ErrorCode};

use super::{custom_key, me};
use crate::error::ChatError;
use crate::{State, channels};

pub async fn handle_channel_kick(
    ctx: Ctx<State>,
    req: ChannelKickReq,
) -> Result<ChannelKickResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let ch = custom_key(&req.name)?;
    let custom = channels::custom(&st.bus, &ch)
        .await?
        .ok_or_else(|| ChatError::refused(ErrorCode::ChatChannelNotFound))?;
    if custom.owner != player {
        return Err(ChatError::refused(ErrorCode::ChatNotChannelOwner).into());
    }
    if req.player == player {
        return Err(ChatError::refused(ErrorCode::InvalidArgument).into());
    }
    if !channels::kick(&st.bus, &ch, req.player).await? {
        return Err(ChatError::refused(ErrorCode::ChatChannelNotFound).into());
    }
    Ok(ChannelKickResp {})
}
