//! PurchaseReq: a purchase under the client's idempotency key ([`crate::purchase`]).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{PurchaseReq, PurchaseResp};

use super::{fail, started};
use crate::State;
use crate::purchase::Request;

pub async fn handle_purchase(ctx: Ctx<State>, req: PurchaseReq) -> Result<PurchaseResp, HandlerError> {
    let st = ctx.state();
    let r = Request {
        player: started(&ctx).await?,
        key: req.key,
        item_id: req.item_id,
        quantity: req.quantity,
        expected_version: req.expected_version,
    };
    st.purchases.purchase(&st.store, &st.bus, st.cfg.max_quantity, &r).await.map_err(fail(st))
}
