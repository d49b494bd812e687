//! ChatSendReq: a message to a channel the sender is in.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChatSendReq, ChatSendResp};

use super::{channel_key, me};
use crate::{State, send};

pub async fn handle_chat_send(ctx: Ctx<State>, req: ChatSendReq) -> Result<ChatSendResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let ch = channel_key(req.channel.as_ref())?;
    let message = send::to_channel(st, player, &ch, &req.text).await?;
    Ok(ChatSendResp { message: Some(message) })
}
