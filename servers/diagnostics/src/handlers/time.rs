//! TimeReq: answers with the server's wall clock.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{TimeReq, TimeResp};

pub async fn handle_time(_ctx: Ctx<()>, _req: TimeReq) -> Result<TimeResp, HandlerError> {
    let now = mmo_core::clock::now_ms();
    Ok(TimeResp { server_time_ms: now })
}
