//! FriendListReq: my friends, requests and blocks, with display names; friends carry whether
//! they are online (others do not: a pending or blocked player's presence is not mine to see).

use futures_util::StreamExt as _;
use mmo_core::bus::node;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendListReq, FriendListResp, FriendState};

use super::me;
use crate::error::OrInternal as _;
use crate::{State, friends};

/// Presence lookups in flight at once for one list.
const PRESENCE_CONCURRENCY: usize = 16;

pub async fn handle_friend_list(
    ctx: Ctx<State>,
    _req: FriendListReq,
) -> Result<FriendListResp, HandlerError> {
    let st = ctx.state();
    let mut list = friends::list(&st.store, me(&ctx)?).await.or_internal()?;
    let wanted: Vec<(PlayerId, bool)> =
        list.iter().map(|f| (PlayerId(f.player_id), f.state == FriendState::Friend as i32)).collect();
    let bus = st.bus.clone();
    let online: Vec<bool> = futures_util::stream::iter(wanted)
        .map(move |(id, friend)| {
            let bus = bus.clone();
            // A lookup that fails shows the friend offline rather than failing the whole list.
            async move { friend && matches!(node::presence(&bus, id).await, Ok(Some(_))) }
        })
        .buffered(PRESENCE_CONCURRENCY)
        .collect()
        .await;
    for (f, on) in list.iter_mut().zip(online) {
        f.online = on;
    }
    Ok(FriendListResp { friends: list })
}
