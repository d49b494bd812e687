//! WhisperReq: a message to one player, by id or display name; kept for its next login if it
//! is offline.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, WhisperReq, WhisperResp};

use super::me;
use crate::error::ChatError;
use crate::{State, send};

pub async fn handle_whisper(ctx: Ctx<State>, req: WhisperReq) -> Result<WhisperResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let not_found = || ChatError::refused(ErrorCode::ChatRecipientNotFound);
    let to = if req.to_player != 0 {
        if !st.people.exists(&st.store, req.to_player).await.map_err(ChatError::from)? {
            return Err(not_found().into());
        }
        req.to_player
    } else {
        st.people.by_name(&st.store, &req.to_name).await.map_err(ChatError::from)?.ok_or_else(not_found)?
    };
    if to == player {
        return Err(ChatError::refused(ErrorCode::InvalidArgument).into());
    }
    let (message, delivered) = send::whisper(st, player, to, &req.text).await?;
    Ok(WhisperResp { message: Some(message), delivered })
}
