//! AttackReq: checked and applied at once; onlookers see it in the next tick.

use mmo_proto::{AttackReq, AttackResp};

use crate::{Cx, EntityId, ZoneError};

pub fn handle_attack(cx: &mut Cx<'_>, req: AttackReq) -> Result<AttackResp, ZoneError> {
    let player = cx.player();
    Ok(cx.world().attack(player, EntityId(req.target_id))?.to_resp())
}
