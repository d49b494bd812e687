//! HelloReq when the gateway runs without a bus (standalone): checks the protocol version and
//! moves the session to `Versioned`. Behind a bus, Hello goes to the version server instead,
//! which also checks the client build.

use mmo_core::{Ctx, HandlerError, Stage};
use mmo_proto::{ErrorCode, HelloReq, HelloResp, PROTOCOL_VERSION, VersionStatus};

use crate::State;

pub async fn handle_hello(ctx: Ctx<State>, req: HelloReq) -> Result<HelloResp, HandlerError> {
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(HandlerError::Kick(ErrorCode::UnsupportedProtocol));
    }
    ctx.session().set_stage(Stage::Versioned);
    let l = &ctx.state().listener;
    Ok(HelloResp {
        protocol_version: PROTOCOL_VERSION,
        heartbeat_interval_ms: l.heartbeat_interval.as_millis() as u32,
        idle_timeout_ms: l.idle_timeout.as_millis() as u32,
        max_frame_len: l.max_frame_len_u32(),
        session_id: ctx.session().id().0,
        version_status: VersionStatus::Ok as i32,
        ..Default::default()
    })
}
