//! FriendListReq: my friends, requests and blocks, with display names; friends carry whether
//! they are online (others do not: a pending or blocked player's presence is not mine to see).

use mmo_core::bus::node;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::{FriendListReq, FriendListResp, FriendState};

use super::me;
use crate::error::OrInternal as _;
use crate::{State, friends};

pub async fn handle_friend_list(
    ctx: Ctx<State>,
    _req: FriendListReq,
) -> Result<FriendListResp, HandlerError> {
    let st = ctx.state();
    let mut list = friends::list(&st.store, me(&ctx)?).await.or_internal()?;
    let wanted: Vec<(PlayerId, bool)> =
        list.iter().map(|f| (PlayerId(f.player_id), f.state == FriendState::Friend as i32)).collect();
    // Only friends' presence is looked up; one batch for the whole list.
    let friends_only: Vec<PlayerId> = wanted.iter().filter(|(_, f)| *f).map(|(id, _)| *id).collect();
    // A failed lookup shows everyone offline rather than failing the whole list.
    let mut found = node::online_many(&st.bus, &friends_only).await.unwrap_or_default().into_iter();
    let online: Vec<bool> =
        wanted.iter().map(|(_, friend)| *friend && found.next().unwrap_or(false)).collect();
    for (f, on) in list.iter_mut().zip(online) {
        f.online = on;
    }
    Ok(FriendListResp { friends: list })
}
