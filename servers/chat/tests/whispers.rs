//! Whispers: by name across gateways, kept for an offline player (the newest few) and delivered
//! at its next login, and never delivered to a player who blocked the sender (nor its channel
//! messages).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{cluster, world};
use mmo_core::session::PlayerId;
use mmo_proto::{
    ChatMessageNtf, ErrorCode, FriendBlockReq, FriendBlockResp, UnreadReq, UnreadResp, WhisperNtf,
    WhisperReq, WhisperResp,
};

const QUIET: Duration = Duration::from_millis(300);

fn to_name(name: &str, text: &str) -> WhisperReq {
    WhisperReq { to_name: name.into(), to_player: 0, text: text.as_bytes().to_vec().into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whisper_reaches_its_recipient_on_another_gateway() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "w-a").await;
    let mut b = cl.guest_on(1, "w-b").await;
    let name = cl.name(b.id).await;
    let r: WhisperResp = a.ok(&to_name(&name.to_uppercase(), "psst")).await;
    assert!(r.delivered);
    let got: WhisperNtf = b.push().await;
    let m = got.message.unwrap();
    assert_eq!((m.id, m.sender, m.text.as_str(), got.offline), (r.message.unwrap().id, a.id, "psst", false));
    a.refused::<_, WhisperResp>(&to_name("nobody-by-that-name", "hi"), ErrorCode::ChatRecipientNotFound)
        .await;
    a.refused::<_, WhisperResp>(
        &WhisperReq { to_player: 999_999, ..to_name("", "hi") },
        ErrorCode::ChatRecipientNotFound,
    )
    .await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_player_gets_its_last_whispers_at_next_login() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "off-a").await;
    let b = cl.guest_on(1, "off-b").await;
    let (bid, name) = (b.id, cl.name(b.id).await);
    drop(b);
    let bus = cl.bus.clone();
    cl.until(|| async { mmo_core::bus::node::presence(&bus, PlayerId(bid)).await.unwrap().is_none() }).await;
    // Four whispers, three kept (max_offline_whispers = 3): the oldest goes.
    let mut ids = Vec::new();
    for text in ["one", "two", "three", "four"] {
        let r: WhisperResp = a.ok(&to_name(&name, text)).await;
        assert!(!r.delivered);
        ids.push(r.message.unwrap().id);
    }
    let mut b = cl.guest_on(1, "off-b").await;
    assert_eq!(b.id, bid);
    let mut got = Vec::new();
    for _ in 0..3 {
        let w: WhisperNtf = b.push().await;
        assert!(w.offline);
        got.push(w.message.unwrap().text);
    }
    assert_eq!(got, ["two", "three", "four"]);
    assert!(b.push_within::<WhisperNtf>(QUIET).await.is_none(), "each kept whisper once");
    let unread: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread.whispers, 0, "delivered, so no longer kept");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_sender_never_reaches_the_blocker() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "blk-a").await;
    let mut b = cl.guest_on(1, "blk-b").await;
    let mut c = cl.guest_on(0, "blk-c").await;
    let _: FriendBlockResp = b.ok(&FriendBlockReq { player_id: a.id }).await;
    // A whisper: answered as if delivered, never shown.
    let r: WhisperResp = a.ok(&WhisperReq { to_player: b.id, ..to_name("", "are you there?") }).await;
    assert!(r.delivered, "the sender cannot tell a block");
    assert!(b.push_within::<WhisperNtf>(QUIET).await.is_none());
    // A channel message: everyone else gets it, the blocker does not.
    let m = a.say(world(), "hello all").await;
    let got: ChatMessageNtf = c.push().await;
    assert_eq!(got.message.unwrap().id, m.id);
    assert!(b.push_within::<ChatMessageNtf>(QUIET).await.is_none());
    // Nor counted as unread.
    let unread: UnreadResp = b.ok(&UnreadReq {}).await;
    let w =
        unread.channels.iter().find(|u| u.channel.as_ref().unwrap().kind() == mmo_proto::ChannelKind::World);
    assert_eq!(w.map_or(0, |u| u.count), 0);
    // The other way round is allowed: b still reaches a.
    let m = b.say(world(), "I can talk").await;
    let got: ChatMessageNtf = a.push().await;
    assert_eq!(got.message.unwrap().id, m.id);
    cl.finish().await;
}
