//! WalletReq: the sender's balances.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{Balance, WalletReq, WalletResp};

use super::{fail, started};
use crate::error::ShopError;
use crate::{State, wallet};

pub async fn handle_wallet(ctx: Ctx<State>, _req: WalletReq) -> Result<WalletResp, HandlerError> {
    let st = ctx.state();
    let rows =
        wallet::balances(&st.store, started(&ctx).await?).await.map_err(|e| fail(st)(ShopError::from(e)))?;
    Ok(WalletResp {
        balances: rows.into_iter().map(|(currency, amount)| Balance { currency, amount }).collect(),
    })
}
