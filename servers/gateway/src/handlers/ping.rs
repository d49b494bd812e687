//! PingReq: heartbeat and round-trip probe, answered with the server's clock.

use std::time::{SystemTime, UNIX_EPOCH};

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{PingReq, PingResp};

use crate::State;

pub async fn handle_ping(_ctx: Ctx<State>, req: PingReq) -> Result<PingResp, HandlerError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    Ok(PingResp { client_time_ms: req.client_time_ms, server_time_ms: now })
}
