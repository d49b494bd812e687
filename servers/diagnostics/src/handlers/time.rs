//! TimeReq: answers with the server's wall clock.

use std::time::{SystemTime, UNIX_EPOCH};

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{TimeReq, TimeResp};

pub async fn handle_time(_ctx: Ctx<()>, _req: TimeReq) -> Result<TimeResp, HandlerError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Ok(TimeResp { server_time_ms: now })
}
