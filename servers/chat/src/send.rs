//! The path every message takes: the text rules, the rate limit, the word list and the
//! classifier; a fresh id; history, MySQL, then delivery (a channel's members grouped by
//! gateway, or the whisper's recipient wherever it is, or kept for its next login). A player
//! who blocked the sender never gets its messages.

use mmo_core::clock::now_ms;
use mmo_proto::{ChatMessage, ChatMessageNtf, ErrorCode, PresencePrivacy, WhisperNtf};

use crate::error::ChatError;
use crate::filter::{Candidate, Verdict};
use crate::store::Row;
use crate::{State, channels, deliver, history, keys, presence, rate, text};

/// Checks and prepares a text: rules, then (one round trip) membership of `ch` if any and the
/// rate limit, then the word list and the classifier.
async fn prepare(
    st: &State,
    sender: u64,
    ch: Option<&str>,
    recipient: u64,
    raw: &[u8],
) -> Result<String, ChatError> {
    let checked = text::check(raw, st.cfg.max_message_chars)
        .map_err(|e| ChatError::Refused(e.code(), e.detail(), None))?;
    rate::check(&st.bus, &st.cfg, sender, ch).await?;
    let masked = st.words.current().mask(checked);
    let Some(classifier) = &st.classifier else { return Ok(masked) };
    let candidate = Candidate { sender, channel: ch.unwrap_or(""), recipient, text: &masked };
    match classifier.classify(&candidate).await {
        Verdict::Allow => Ok(masked),
        Verdict::Replace(t) => Ok(t),
        Verdict::Refuse => {
            Err(ChatError::Refused(ErrorCode::ChatRefused, "refused by the filter".into(), None))
        }
    }
}

/// A message from `sender`, its id not yet set.
async fn draft(st: &State, sender: u64, text: String) -> Result<ChatMessage, ChatError> {
    let sender_name = st.people.name(&st.store, sender).await?;
    Ok(ChatMessage { id: 0, sender, sender_name, text, sent_ms: now_ms() })
}

/// `sender` says `raw` in channel `ch`; every other member gets a ChatMessageNtf. Two Redis
/// round trips: the checks ([`rate::check`]), then the commit ([`history::commit`]).
pub async fn to_channel(st: &State, sender: u64, ch: &str, raw: &[u8]) -> Result<ChatMessage, ChatError> {
    let text = prepare(st, sender, Some(ch), 0, raw).await?;
    let mut msg = draft(st, sender, text).await?;
    let (id, members) = history::commit(&st.bus, ch, &msg, st.cfg.history_len).await?;
    msg.id = id;
    st.writer.push(Row {
        id,
        channel: ch.to_string(),
        sender,
        recipient: 0,
        text: msg.text.clone(),
        sent_ms: msg.sent_ms,
    });
    let blockers = st.people.blockers(&st.store, sender).await?;
    let ntf = ChatMessageNtf { channel: Some(keys::channel_ref(ch)), message: Some(msg.clone()) };
    deliver::fan_out(&st.bus, &st.people, &members, |p| p == sender || blockers.contains(&p), &ntf).await?;
    Ok(msg)
}

/// `sender` whispers `raw` to `to`: pushed if it is online, else kept for its next login.
/// Returns the message and whether it was pushed now (false for an invisible recipient, which
/// gets it all the same); refused for a recipient in do-not-disturb
/// (`CHAT_RECIPIENT_DND`). A recipient who blocked the sender gets
/// nothing, and the sender cannot tell (the answer is what it would have been).
pub async fn whisper(st: &State, sender: u64, to: u64, raw: &[u8]) -> Result<(ChatMessage, bool), ChatError> {
    // Do not disturb: refused, online or not (told only to those it has not blocked).
    let privacy = presence::privacy(&st.bus, to).await?;
    if privacy == PresencePrivacy::Dnd && !st.people.blockers(&st.store, sender).await?.contains(&to) {
        return Err(ChatError::Refused(ErrorCode::ChatRecipientDnd, "do not disturb".into(), None));
    }
    let text = prepare(st, sender, None, to, raw).await?;
    let mut msg = draft(st, sender, text).await?;
    msg.id = history::next_id(&st.bus).await?;
    st.writer.push(Row {
        id: msg.id,
        channel: String::new(),
        sender,
        recipient: to,
        text: msg.text.clone(),
        sent_ms: msg.sent_ms,
    });
    let at = channels::where_is(&st.bus, to).await?;
    // An invisible recipient appears offline to every sender, here too (it still gets it).
    let shown = at.is_some() && privacy != PresencePrivacy::Invisible;
    if st.people.blockers(&st.store, sender).await?.contains(&to) {
        return Ok((msg, shown));
    }
    match &at {
        Some(at) => {
            deliver::push_at(&st.bus, at, &WhisperNtf { message: Some(msg.clone()), offline: false })?
        }
        None => history::keep_whisper(&st.bus, to, &msg, st.cfg.max_offline_whispers).await?,
    }
    Ok((msg, shown))
}
