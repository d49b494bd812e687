//! What may not be sent: text that is too long, not UTF-8, or hides characters gets its own
//! code and the session goes on; floods slow the sender down, then mute it for a while; the
//! word list masks and is reloaded from its file; reports and moderators leave a trace.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{cluster, cluster_with, test_config, world};
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{
    ChatMessageNtf, ChatReportReq, ChatReportResp, ChatSendReq, ChatSendResp, ErrorCode, ErrorResp,
    WhisperReq, WhisperResp,
};
use mmo_wire::MsgType as _;

fn send(text: &[u8]) -> ChatSendReq {
    ChatSendReq { channel: world(), text: text.to_vec().into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_text_gets_the_documented_code_and_the_session_goes_on() {
    let cl = cluster().await;
    let mut a = cl.guest("txt-a").await;
    let long = "é".repeat(257); // 257 code points, 514 bytes
    let e = a.refused::<_, ChatSendResp>(&send(long.as_bytes()), ErrorCode::ChatTooLong).await;
    assert!(e.detail.contains("256"), "{}", e.detail);
    a.say(world(), &"é".repeat(256)).await;
    for bad in ["bell\u{7}", "line\nbreak", "rtl\u{202E}override", "zero\u{200B}width", "   "] {
        a.refused::<_, ChatSendResp>(&send(bad.as_bytes()), ErrorCode::ChatInvalidText).await;
    }
    a.refused::<_, ChatSendResp>(&send(&[0x68, 0x69, 0xff, 0xfe]), ErrorCode::ChatInvalidUtf8).await;
    let nobody = a.id + 1000;
    a.refused::<_, WhisperResp>(
        &WhisperReq { to_player: nobody, to_name: String::new(), text: vec![0xc3].into() },
        ErrorCode::ChatRecipientNotFound,
    )
    .await;
    // None of this was a strike: the connection is still open and works.
    a.say(world(), "still here").await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_slows_then_mutes_and_the_mute_ends() {
    let cl = cluster().await;
    let mut a = cl.guest("flood-a").await;
    // Eleven at once, as fast as the connection takes them.
    let mut seqs = Vec::new();
    for i in 0..11 {
        seqs.push(a.c.send(&send(format!("spam {i}").as_bytes())).await.unwrap());
    }
    let mut answers = Vec::new();
    while answers.len() < seqs.len() {
        let f = a.c.recv().await.unwrap();
        if seqs.contains(&f.header.seq) && !f.header.flags.contains(mmo_wire::Flags::PUSH) {
            answers.push(f);
        }
    }
    let codes: Vec<Option<ErrorCode>> = answers
        .iter()
        .map(|f| (f.header.id == ErrorResp::ID).then(|| f.decode_body::<ErrorResp>().unwrap().code()))
        .collect();
    // Five within the rate, the sixth starts slow mode (and passes), then slow mode, then the
    // eleventh within the mute window mutes.
    assert_eq!(codes[..6], [None; 6]);
    assert!(codes[6..10].iter().all(|c| *c == Some(ErrorCode::ChatSlowMode)), "{codes:?}");
    assert_eq!(codes[10], Some(ErrorCode::ChatMuted));
    let muted: ErrorResp = answers[10].decode_body().unwrap();
    assert!(muted.retry_after_ms > 0 && muted.retry_after_ms <= 800, "{}", muted.retry_after_ms);
    // Still muted a moment later, with less time left.
    let again = a.refused::<_, ChatSendResp>(&send(b"please"), ErrorCode::ChatMuted).await;
    assert!(again.retry_after_ms <= muted.retry_after_ms);
    tokio::time::sleep(Duration::from_millis(again.retry_after_ms + 350)).await;
    a.say(world(), "back").await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_words_are_masked_and_the_list_reloads_from_its_file() {
    let dir = std::env::temp_dir().join(format!("mmo-chat-words-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("words.txt");
    std::fs::write(&file, "# test list\nbadword\n").unwrap();
    let cfg = mmo_chat::ChatConfig {
        word_list: file.clone(),
        word_list_poll: Duration::from_millis(50),
        ..test_config()
    };
    let cl = cluster_with(cfg, Duration::ZERO).await;
    let mut a = cl.guest("word-a").await;
    let mut b = cl.guest("word-b").await;
    let m = a.say(world(), "what a BadWord, really").await;
    assert_eq!(m.text, "what a *******, really");
    let got: ChatMessageNtf = b.push().await;
    assert_eq!(got.message.unwrap().text, "what a *******, really");
    // A new list, picked up without a restart (a changed modification time).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&file, "newword\n").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let m = a.say(world(), "newword badword").await;
        if m.text == "******* badword" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "list not reloaded: {}", m.text);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_and_moderators_leave_a_trace() {
    let cl = cluster().await;
    let mut a = cl.guest("rep-a").await;
    let mut b = cl.guest("rep-b").await;
    let m = a.say(world(), "something rude").await;
    let _: ChatMessageNtf = b.push().await;
    let r: ChatReportResp =
        b.ok(&ChatReportReq { message_ids: vec![m.id, 987_654_321], reason: "rude".into() }).await;
    assert_eq!(r.reported, 1);
    let report =
        cl.events().await.into_iter().find(|e| e.kind == "chat_report").expect("a chat_report event");
    let Some(Detail::ChatReport(detail)) = &report.detail else { panic!("a typed report: {report:?}") };
    assert_eq!((report.player, detail.reason.as_str()), (b.id, "rude"));
    let snapshot = &detail.messages[..];
    assert!(
        snapshot.len() == 1
            && (snapshot[0].id, snapshot[0].sender, snapshot[0].place.as_str()) == (m.id, a.id, "w")
            && snapshot[0].text == "something rude",
        "{snapshot:?}"
    );
    // A moderator mutes a, deletes the message: both audited.
    let st = &cl.chat;
    mmo_chat::admin::mute(&st.store, &st.bus, "mod-1", a.id, Duration::from_secs(60), "rude").await.unwrap();
    let e = a.refused::<_, ChatSendResp>(&send(b"sorry"), ErrorCode::ChatMuted).await;
    assert!(e.retry_after_ms > 50_000);
    assert!(mmo_chat::admin::delete(&st.store, &st.bus, "mod-1", m.id, "rude", 5).await.unwrap());
    let deleted: mmo_proto::ChannelNtf = b.push().await;
    assert_eq!((deleted.event(), deleted.message_id), (mmo_proto::ChannelEvent::MessageDeleted, m.id));
    let history = mmo_chat::history::last(&st.bus, "w", 5).await.unwrap();
    assert!(history.iter().all(|h| h.id != m.id));
    let audit: Vec<(String, String, u64, u64)> = st
        .store
        .exec("SELECT moderator, action, player, message_id FROM chat_audit ORDER BY id", ())
        .await
        .unwrap();
    assert_eq!(audit, [("mod-1".into(), "mute".into(), a.id, 0), ("mod-1".into(), "delete".into(), 0, m.id)]);
    assert!(mmo_chat::admin::unmute(&st.store, &st.bus, "mod-1", a.id).await.unwrap());
    a.say(world(), "sorry").await;
    cl.finish().await;
}

/// A classifier that refuses texts holding "forbidden" and rewrites "rude" to "nice".
struct Strict;

impl mmo_chat::Classifier for Strict {
    fn classify<'a>(
        &'a self,
        msg: &'a mmo_chat::Candidate<'a>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = mmo_chat::Verdict> + Send + 'a>> {
        Box::pin(async move {
            if msg.text.contains("forbidden") {
                mmo_chat::Verdict::Refuse
            } else if msg.text.contains("rude") {
                mmo_chat::Verdict::Replace(msg.text.replace("rude", "nice"))
            } else {
                mmo_chat::Verdict::Allow
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classifier_refuses_or_rewrites_messages() {
    let cl =
        common::cluster_classified(test_config(), Duration::ZERO, Some(std::sync::Arc::new(Strict))).await;
    let mut a = cl.guest("cls-a").await;
    let mut b = cl.guest("cls-b").await;
    a.refused::<_, ChatSendResp>(&send(b"a forbidden thing"), ErrorCode::ChatRefused).await;
    a.refused::<_, WhisperResp>(
        &WhisperReq { to_player: b.id, to_name: String::new(), text: b"forbidden whisper".to_vec().into() },
        ErrorCode::ChatRefused,
    )
    .await;
    let m = a.say(world(), "a rude word").await;
    assert_eq!(m.text, "a nice word");
    let got: ChatMessageNtf = b.push().await;
    assert_eq!(got.message.unwrap().text, "a nice word");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_past_their_retention_are_deleted_and_a_moderator_kick_is_audited() {
    let cl = cluster().await;
    let mut a = cl.guest("ret-a").await;
    let mut b = cl.guest("ret-b").await;
    let st = &cl.chat;
    let m = a.say(world(), "recent").await;
    st.store
        .exec_drop(
            "INSERT INTO chat_messages (id, channel, sender, recipient, text, sent_ms) VALUES (?, 'w', ?, 0, 'ancient', 1000)",
            (m.id + 1_000_000, a.id),
        )
        .await
        .unwrap();
    cl.until(|| async { mmo_chat::store::lookup(&st.store, &[m.id]).await.unwrap().len() == 1 }).await;
    let deleted = mmo_chat::store::cleanup(&st.store, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(deleted, 1, "only the message older than the retention");
    assert_eq!(mmo_chat::store::lookup(&st.store, &[m.id, m.id + 1_000_000]).await.unwrap().len(), 1);
    // A moderator's kick from a custom channel: the member is told, and the audit says who.
    let _: mmo_proto::ChannelCreateResp =
        a.ok(&mmo_proto::ChannelCreateReq { name: "modded".into(), password: String::new() }).await;
    let _: mmo_proto::ChannelJoinResp =
        b.ok(&mmo_proto::ChannelJoinReq { name: "modded".into(), password: String::new() }).await;
    assert!(mmo_chat::admin::kick(&st.store, &st.bus, "mod-2", "modded", b.id, "spam").await.unwrap());
    let n: mmo_proto::ChannelNtf = b.push().await;
    assert_eq!(n.event(), mmo_proto::ChannelEvent::Kicked);
    let audit: Vec<(String, String, u64, String)> =
        st.store.exec("SELECT moderator, action, player, channel FROM chat_audit", ()).await.unwrap();
    assert_eq!(audit, [("mod-2".into(), "kick".into(), b.id, "c:modded".into())]);
    cl.finish().await;
}
