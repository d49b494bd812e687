//! EnterWorldReq from a player already in this instance: the state as it stands, for a client that
//! lost track. (Entering in the first place is the instance's own business: a claim in MySQL
//! comes first; see `instance.rs`.)

use mmo_proto::{EnterWorldReq, EnterWorldResp};

use crate::{Cx, EnterReason, ZoneError};

pub fn handle_enter_world(cx: &mut Cx<'_>, _: EnterWorldReq) -> Result<EnterWorldResp, ZoneError> {
    let zone = cx.enter_ntf(EnterReason::Login).ok_or(ZoneError::NotInZone)?;
    // The client starts its picture afresh: the next tick announces everything in view again.
    let player = cx.player();
    cx.world().resend_view(player);
    Ok(EnterWorldResp { zone: Some(zone) })
}
