//! ChannelCreateReq: creates a custom channel owned by the sender, who joins it.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelCreateReq, ChannelCreateResp, ErrorCode};

use super::{custom_key, customs_of, here, info, me};
use crate::channels::{self, Custom};
use crate::error::ChatError;
use crate::{State, history, keys, passwords};

pub async fn handle_channel_create(
    ctx: Ctx<State>,
    req: ChannelCreateReq,
) -> Result<ChannelCreateResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    if !keys::custom_name_ok(&req.name) {
        return Err(ChatError::Refused(
            ErrorCode::ChatInvalidChannel,
            "1-32 of a-z, A-Z, 0-9, '_', '-'".into(),
            None,
        )
        .into());
    }
    if req.password.chars().count() > 64 {
        return Err(ChatError::Refused(
            ErrorCode::InvalidArgument,
            "password: at most 64 characters".into(),
            None,
        )
        .into());
    }
    if customs_of(st, player).await? >= st.cfg.max_channels_per_player {
        return Err(ChatError::refused(ErrorCode::ChatLimit).into());
    }
    let ch = custom_key(&req.name)?;
    let password = if req.password.is_empty() { None } else { Some(passwords::hash(req.password).await?) };
    let at = here(st, player).await?;
    channels::create_custom(
        &st.bus,
        &ch,
        &Custom { name: req.name, owner: player, password },
        st.cfg.max_custom_channels,
    )
    .await?;
    channels::add(&st.bus, &ch, player, &at).await?;
    history::mark_read(&st.bus, player, &ch, 0).await?;
    Ok(ChannelCreateResp { channel: Some(info(st, &ch).await?) })
}
