//! ReceiptRedeemReq: a real-money receipt verified by the platform's validator and redeemed
//! once ([`crate::receipts`]).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, ReceiptRedeemReq, ReceiptRedeemResp};

use super::{fail, started};
use crate::{State, receipts};

pub async fn handle_receipt_redeem(
    ctx: Ctx<State>,
    req: ReceiptRedeemReq,
) -> Result<ReceiptRedeemResp, HandlerError> {
    let st = ctx.state();
    let player = started(&ctx).await?;
    let Some(v) = st.validators.iter().find(|v| v.platform() as i32 == req.platform) else {
        return Err(HandlerError::refuse(ErrorCode::ShopReceiptInvalid, "platform not configured", None));
    };
    receipts::redeem(&st.store, &st.bus, v.as_ref(), &st.products, player, &req.signed_transaction)
        .await
        .map_err(fail(st))
}
