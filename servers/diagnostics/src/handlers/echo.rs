//! EchoReq: answers with the same payload.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{EchoReq, EchoResp};

pub async fn handle_echo(_ctx: Ctx<()>, req: EchoReq) -> Result<EchoResp, HandlerError> {
    Ok(EchoResp { payload: req.payload })
}
