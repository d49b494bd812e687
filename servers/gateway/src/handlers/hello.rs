//! HelloReq when the gateway runs without a bus (standalone): checks the protocol version and
//! moves the session to `Versioned`. Behind a bus, Hello goes to the version server instead,
//! which also checks the client build.

use mmo_core::{Ctx, HandlerError, Stage};
use mmo_proto::{ErrorCode, HelloReq, HelloResp, PROTOCOL_VERSION};

use crate::State;

pub async fn handle_hello(ctx: Ctx<State>, req: HelloReq) -> Result<HelloResp, HandlerError> {
    if req.protocol_version != PROTOCOL_VERSION {
        return Err(HandlerError::Kick(ErrorCode::UnsupportedProtocol));
    }
    ctx.session().set_stage(Stage::Versioned);
    Ok(ctx.state().listener.hello_resp(ctx.session().id()))
}
