//! LedgerReq: the sender's ledger rows, newest first, a page at a time.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{LedgerEntry, LedgerReq, LedgerResp};

use super::{fail, started};
use crate::error::ShopError;
use crate::{State, wallet};

/// Rows per page when the request says 0.
const DEFAULT_PAGE: u32 = 20;

pub async fn handle_ledger(ctx: Ctx<State>, req: LedgerReq) -> Result<LedgerResp, HandlerError> {
    let st = ctx.state();
    let limit = if req.limit == 0 { DEFAULT_PAGE } else { req.limit }.min(st.cfg.max_ledger_page);
    let rows = wallet::ledger(&st.store, started(&ctx).await?, req.before_id, limit)
        .await
        .map_err(|e| fail(st)(ShopError::from(e)))?;
    let next_before_id = if rows.len() == limit as usize { rows.last().map_or(0, |r| r.id) } else { 0 };
    Ok(LedgerResp {
        entries: rows
            .into_iter()
            .map(|r| LedgerEntry {
                id: r.id,
                currency: r.currency,
                amount: r.amount,
                balance_after: r.balance_after,
                reason: r.reason,
                reference: r.reference,
                at_ms: r.at_ms,
            })
            .collect(),
        next_before_id,
    })
}
