//! MoveReq: a movement intent, queued for the next tick. One-way: nothing is answered unless the
//! input is invalid.

use mmo_core::NoReply;
use mmo_proto::MoveReq;

use crate::{Cx, MoveInput, ZoneError};

pub fn handle_move(cx: &mut Cx<'_>, req: MoveReq) -> Result<NoReply, ZoneError> {
    let input = MoveInput::from_req(&req)?;
    let player = cx.player();
    cx.world().input(player, input)?;
    Ok(NoReply)
}
