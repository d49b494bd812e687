//! PingReq: heartbeat and round-trip probe, answered with the server's clock.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{PingReq, PingResp};

use crate::State;

pub async fn handle_ping(_ctx: Ctx<State>, req: PingReq) -> Result<PingResp, HandlerError> {
    let now = mmo_core::clock::now_ms();
    Ok(PingResp { client_time_ms: req.client_time_ms, server_time_ms: now })
}
