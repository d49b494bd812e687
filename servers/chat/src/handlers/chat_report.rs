//! ChatReportReq: a player reports messages; a snapshot of them (sender, channel, time, text)
//! goes onto the events stream as a `chat_report` event for the moderators. Whispers can be
//! reported only by their recipient or sender.

use std::time::Duration;

use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_core::{Ctx, HandlerError};
use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{ChatReport, ReportedMessage};
use mmo_proto::{ChatReportReq, ChatReportResp, ErrorCode};

use super::me;
use crate::error::ChatError;
use crate::{State, store};

/// Messages are written to MySQL in batches: one reported at once may be a moment away.
const LOOKUPS: u32 = 5;
const LOOKUP_PAUSE: Duration = Duration::from_millis(100);

pub async fn handle_chat_report(ctx: Ctx<State>, req: ChatReportReq) -> Result<ChatReportResp, HandlerError> {
    let st = ctx.state();
    let player = me(&ctx)?;
    if req.message_ids.is_empty() || req.message_ids.len() > st.cfg.max_report_ids as usize {
        return Err(ChatError::refused(ErrorCode::ChatLimit).into());
    }
    let mut found = Vec::new();
    for i in 0..LOOKUPS {
        found = store::lookup(&st.store, &req.message_ids).await.map_err(ChatError::from)?;
        if found.len() == req.message_ids.len() || i + 1 == LOOKUPS {
            break;
        }
        tokio::time::sleep(LOOKUP_PAUSE).await;
    }
    found.retain(|r| !r.channel.is_empty() || r.recipient == player || r.sender == player);
    if found.is_empty() {
        return Ok(ChatReportResp { reported: 0 });
    }
    let reason: String = req.reason.chars().take(200).collect();
    let messages = found
        .iter()
        .map(|r| ReportedMessage {
            id: r.id,
            sender: r.sender,
            place: if r.channel.is_empty() { format!("whisper:{}", r.recipient) } else { r.channel.clone() },
            sent_ms: r.sent_ms,
            text: r.text.clone(),
        })
        .collect();
    let detail = Detail::ChatReport(ChatReport { reason, messages });
    events::emit_typed(&st.bus, "chat_report", PlayerId(player), detail);
    Ok(ChatReportResp { reported: found.len() as u32 })
}
