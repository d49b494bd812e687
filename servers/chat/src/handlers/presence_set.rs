//! PresenceSetReq: the sender sets its status (online or away), privacy or rich presence; its
//! friends are told what changed for them.

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, PresencePrivacy, PresenceSetReq, PresenceSetResp, PresenceStatus};

use super::me;
use crate::State;
use crate::error::ChatError;
use crate::presence::{self, Change};

pub async fn handle_presence_set(
    ctx: Ctx<State>,
    req: PresenceSetReq,
) -> Result<PresenceSetResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    let invalid = |detail: String| ChatError::Refused(ErrorCode::ChatInvalidPresence, detail, None);
    let away = match PresenceStatus::try_from(req.status) {
        Ok(PresenceStatus::Unspecified) => None,
        Ok(PresenceStatus::Online) => Some(false),
        Ok(PresenceStatus::Away) => Some(true),
        _ => return Err(invalid("a client sets ONLINE or AWAY".into()).into()),
    };
    let privacy = match PresencePrivacy::try_from(req.privacy) {
        Ok(PresencePrivacy::Unspecified) => None,
        Ok(p) => Some(p),
        Err(_) => return Err(invalid("unknown privacy".into()).into()),
    };
    let limit = st.cfg.max_rich_presence_bytes as usize;
    if req.rich.as_ref().is_some_and(|r| presence::rich_size(r) > limit) {
        return Err(invalid(format!("rich presence over {limit} bytes")).into());
    }
    let rich = req.rich.map(|r| (!r.text.is_empty() || !r.values.is_empty()).then_some(r));
    presence::set(&st.bus, player, &Change { away, privacy, rich }).await.map_err(ChatError::from)?;
    presence::announce(st, player, None).await?;
    let (stored, view) = presence::friend_view(st, player, None).await?;
    Ok(PresenceSetResp { presence: Some(view), privacy: stored.privacy as i32 })
}
