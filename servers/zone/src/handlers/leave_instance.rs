//! LeaveInstanceReq: out of a match instance, back where the player came from.

use mmo_proto::{LeaveInstanceReq, LeaveInstanceResp};

use crate::{Cx, ZoneError};

pub fn handle_leave_instance(cx: &mut Cx<'_>, _: LeaveInstanceReq) -> Result<LeaveInstanceResp, ZoneError> {
    if cx.match_id().is_none() {
        return Err(ZoneError::NotInMatch);
    }
    cx.leave_instance();
    Ok(LeaveInstanceResp {})
}
