//! The path every message takes: the text rules, the rate limit, the word list and the
//! classifier; a fresh id; history, MySQL, then delivery (a channel's members grouped by
//! gateway, or the whisper's recipient wherever it is, or kept for its next login). A player
//! who blocked the sender never gets its messages.

use mmo_core::clock::now_ms;
use mmo_proto::{ChatMessage, ChatMessageNtf, ErrorCode, WhisperNtf};

use crate::error::ChatError;
use crate::filter::{Candidate, Verdict};
use crate::store::Row;
use crate::{State, channels, deliver, history, keys, rate, text};

/// Checks a text and makes it what will be delivered: rules, rate limit, word list, classifier.
async fn prepare(
    st: &State,
    sender: u64,
    channel: &str,
    recipient: u64,
    raw: &[u8],
) -> Result<String, ChatError> {
    let checked = text::check(raw, st.cfg.max_message_chars)
        .map_err(|e| ChatError::Refused(e.code(), e.detail(), None))?;
    rate::check(&st.bus, &st.cfg, sender).await?;
    let masked = st.words.current().mask(checked);
    let Some(classifier) = &st.classifier else { return Ok(masked) };
    let candidate = Candidate { sender, channel, recipient, text: &masked };
    match classifier.classify(&candidate).await {
        Verdict::Allow => Ok(masked),
        Verdict::Replace(t) => Ok(t),
        Verdict::Refuse => {
            Err(ChatError::Refused(ErrorCode::ChatRefused, "refused by the filter".into(), None))
        }
    }
}

/// A new message from `sender` with a fresh id.
async fn stamp(st: &State, sender: u64, text: String) -> Result<ChatMessage, ChatError> {
    let id: u64 = {
        let mut conn = st.bus.conn().await?;
        st.bus.timed(redis::cmd("INCR").arg(keys::next_message(&st.bus)).query_async(&mut *conn)).await?
    };
    let sender_name = st.people.name(&st.store, sender).await?;
    Ok(ChatMessage { id, sender, sender_name, text, sent_ms: now_ms() })
}

/// `sender` says `raw` in channel `ch`; every other member gets a ChatMessageNtf.
pub async fn to_channel(st: &State, sender: u64, ch: &str, raw: &[u8]) -> Result<ChatMessage, ChatError> {
    // The text first: a refusal for the text costs no Redis round trip.
    text::check(raw, st.cfg.max_message_chars).map_err(|e| ChatError::Refused(e.code(), e.detail(), None))?;
    if !channels::is_member(&st.bus, ch, sender).await? {
        return Err(ChatError::refused(ErrorCode::ChatChannelNotFound));
    }
    let text = prepare(st, sender, ch, 0, raw).await?;
    let msg = stamp(st, sender, text).await?;
    history::append(&st.bus, ch, &msg, st.cfg.history_len).await?;
    st.writer.push(Row {
        id: msg.id,
        channel: ch.to_string(),
        sender,
        recipient: 0,
        text: msg.text.clone(),
        sent_ms: msg.sent_ms,
    });
    history::mark_read(&st.bus, sender, ch, msg.id).await?;
    let blockers = st.people.blockers(&st.store, sender).await?;
    let members = channels::members(&st.bus, ch).await?;
    let ntf = ChatMessageNtf { channel: Some(keys::channel_ref(ch)), message: Some(msg.clone()) };
    deliver::fan_out(&st.bus, &st.people, &members, |p| p == sender || blockers.contains(&p), &ntf).await?;
    Ok(msg)
}

/// `sender` whispers `raw` to `to`: pushed if it is online, else kept for its next login.
/// Returns the message and whether it was pushed now. A recipient who blocked the sender gets
/// nothing, and the sender cannot tell (the answer is what it would have been).
pub async fn whisper(st: &State, sender: u64, to: u64, raw: &[u8]) -> Result<(ChatMessage, bool), ChatError> {
    let text = prepare(st, sender, "", to, raw).await?;
    let msg = stamp(st, sender, text).await?;
    st.writer.push(Row {
        id: msg.id,
        channel: String::new(),
        sender,
        recipient: to,
        text: msg.text.clone(),
        sent_ms: msg.sent_ms,
    });
    let at = channels::where_is(&st.bus, to).await?;
    if st.people.blockers(&st.store, sender).await?.contains(&to) {
        return Ok((msg, at.is_some()));
    }
    match &at {
        Some(at) => {
            deliver::push_at(&st.bus, at, &WhisperNtf { message: Some(msg.clone()), offline: false })?
        }
        None => history::keep_whisper(&st.bus, to, &msg, st.cfg.max_offline_whispers).await?,
    }
    Ok((msg, at.is_some()))
}
