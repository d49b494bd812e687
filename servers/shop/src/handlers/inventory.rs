//! InventoryReq: the sender's items.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{InventoryItem, InventoryReq, InventoryResp};

use super::{fail, started};
use crate::error::ShopError;
use crate::{State, wallet};

pub async fn handle_inventory(ctx: Ctx<State>, _req: InventoryReq) -> Result<InventoryResp, HandlerError> {
    let st = ctx.state();
    let rows =
        wallet::inventory(&st.store, started(&ctx).await?).await.map_err(|e| fail(st)(ShopError::from(e)))?;
    Ok(InventoryResp {
        items: rows.into_iter().map(|(item_id, count)| InventoryItem { item_id, count }).collect(),
    })
}
