//! GreetReq: answers "Hello, NAME!" to a name of 1 to 32 characters.

use std::sync::atomic::Ordering;

use mmo_core::{Ctx, HandlerError};
use mmo_proto::ErrorCode;

use crate::State;
use crate::proto::{GreetReq, GreetResp};

/// The longest name accepted, in characters (code points: "Zoë" is 3, though 4 bytes).
pub const MAX_NAME_CHARS: usize = 32;

pub async fn handle_greet(ctx: Ctx<State>, req: GreetReq) -> Result<GreetResp, HandlerError> {
    if req.name.is_empty() || req.name.chars().count() > MAX_NAME_CHARS {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    }
    ctx.state().greeted.fetch_add(1, Ordering::Relaxed);
    Ok(GreetResp { greeting: format!("Hello, {}!", req.name) })
}
