//! ChannelJoinReq: joins a custom channel (with its password, if it has one); the answer holds
//! its last messages, which count as read.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelJoinReq, ChannelJoinResp, ErrorCode};

use super::{custom_key, customs_of, here, info, me};
use crate::error::ChatError;
use crate::{State, channels, history, passwords};

pub async fn handle_channel_join(
    ctx: Ctx<State>,
    req: ChannelJoinReq,
) -> Result<ChannelJoinResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let ch = custom_key(&req.name)?;
    let custom = channels::custom(&st.bus, &ch)
        .await?
        .ok_or_else(|| ChatError::refused(ErrorCode::ChatChannelNotFound))?;
    if let Some(phc) = custom.password
        && !passwords::verify(req.password, phc).await?
    {
        return Err(ChatError::refused(ErrorCode::ChatWrongPassword).into());
    }
    if !channels::is_member(&st.bus, &ch, player).await?
        && customs_of(st, player).await? >= st.cfg.max_channels_per_player
    {
        return Err(ChatError::refused(ErrorCode::ChatLimit).into());
    }
    let at = here(st, player).await?;
    channels::add(&st.bus, &ch, player, &at).await?;
    let history = history::last(&st.bus, &ch, st.cfg.history_len).await?;
    history::mark_read(&st.bus, player, &ch, history.last().map_or(0, |m| m.id)).await?;
    Ok(ChannelJoinResp { channel: Some(info(st, &ch).await?), history })
}
