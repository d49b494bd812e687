//! ChannelLeaveReq: leaves a custom channel or the world channel (party, match and zone
//! channels follow the party, match or zone).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelKind, ChannelLeaveReq, ChannelLeaveResp, ErrorCode};

use super::{channel_key, me};
use crate::error::ChatError;
use crate::{State, channels};

pub async fn handle_channel_leave(
    ctx: Ctx<State>,
    req: ChannelLeaveReq,
) -> Result<ChannelLeaveResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let kind = req.channel.as_ref().map(|c| c.kind());
    if !matches!(kind, Some(ChannelKind::Custom | ChannelKind::World)) {
        return Err(ChatError::refused(ErrorCode::ChatInvalidChannel).into());
    }
    let ch = channel_key(req.channel.as_ref())?;
    if !channels::remove(&st.bus, &ch, player).await? {
        return Err(ChatError::refused(ErrorCode::ChatChannelNotFound).into());
    }
    Ok(ChannelLeaveResp {})
}
