//! CatalogReq: the items for sale (cached for `[shop] catalog_cache`).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{CatalogReq, CatalogResp};

use super::{fail, started};
use crate::State;
use crate::error::ShopError;

pub async fn handle_catalog(ctx: Ctx<State>, _req: CatalogReq) -> Result<CatalogResp, HandlerError> {
    started(&ctx).await?;
    let st = ctx.state();
    let items =
        st.catalog.get(&st.store, st.cfg.catalog_cache).await.map_err(|e| fail(st)(ShopError::from(e)))?;
    Ok(CatalogResp { items: items.as_ref().clone() })
}
