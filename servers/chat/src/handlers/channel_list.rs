//! ChannelListReq: the sender's channels, and the custom channels there are.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ChannelListReq, ChannelListResp};

use super::{info, me};
use crate::{State, channels};

/// Custom channel names listed at most.
const LISTED: usize = 100;

pub async fn handle_channel_list(
    ctx: Ctx<State>,
    _req: ChannelListReq,
) -> Result<ChannelListResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let mut joined = Vec::new();
    for ch in channels::of_player(&st.bus, player).await? {
        joined.push(info(st, &ch).await?);
    }
    Ok(ChannelListResp { joined, custom: channels::custom_names(&st.bus, LISTED).await? })
}
