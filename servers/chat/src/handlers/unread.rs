//! UnreadReq: per channel the sender is in or has read before, the messages after its read
//! marker; and the whispers kept for it.

use std::collections::BTreeSet;

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{UnreadReq, UnreadResp};

use super::me;
use crate::error::ChatError;
use crate::{State, channels, history};

pub async fn handle_unread(ctx: Ctx<State>, _req: UnreadReq) -> Result<UnreadResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let mut chs: BTreeSet<String> = channels::of_player(&st.bus, player).await?.into_iter().collect();
    chs.extend(history::markers(&st.bus, player).await?.into_keys());
    let chs: Vec<String> = chs.into_iter().collect();
    // Messages from players the reader blocked are not counted: they never reach it.
    let blocked: std::collections::HashSet<u64> =
        mmo_account::friends::blocks(&st.store, &[mmo_core::session::PlayerId(player)])
            .await
            .map_err(ChatError::from)?
            .into_iter()
            .filter(|(by, _)| by.0 == player)
            .map(|(_, b)| b.0)
            .collect();
    let channels =
        history::unread(&st.bus, player, &chs, st.cfg.history_len, |s| blocked.contains(&s)).await?;
    Ok(UnreadResp { channels, whispers: history::kept_whispers(&st.bus, player).await? })
}
