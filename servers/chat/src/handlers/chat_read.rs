//! ChatReadReq: moves the sender's read marker in a channel (0: to its newest message).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChatReadReq, ChatReadResp};

use super::{channel_key, me};
use crate::{State, history};

pub async fn handle_chat_read(ctx: Ctx<State>, req: ChatReadReq) -> Result<ChatReadResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let ch = channel_key(req.channel.as_ref())?;
    let id = if req.message_id == 0 { history::latest(&st.bus, &ch).await? } else { req.message_id };
    history::mark_read(&st.bus, player, &ch, id).await?;
    Ok(ChatReadResp {})
}
