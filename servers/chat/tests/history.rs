//! History and unread counts: a channel's last messages come with the join, oldest first; a
//! player who reconnects learns how many it missed per channel, and reading clears it.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{channel, cluster_with, test_config};
use mmo_proto::{
    ChannelCreateReq, ChannelCreateResp, ChannelJoinReq, ChannelJoinResp, ChannelKind, ChatMessageNtf,
    ChatReadReq, ChatReadResp, UnreadReq, UnreadResp,
};

fn relaxed() -> mmo_chat::ChatConfig {
    mmo_chat::ChatConfig { rate_per_sec: 100, mute_messages: 200, ..test_config() }
}

fn unread_in(u: &UnreadResp, name: &str) -> u32 {
    u.channels
        .iter()
        .find(|c| c.channel.as_ref().is_some_and(|c| c.kind() == ChannelKind::Custom && c.name == name))
        .map_or(0, |c| c.count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_brings_the_last_messages_oldest_first() {
    let cl = cluster_with(relaxed(), Duration::ZERO).await;
    let mut a = cl.guest_on(0, "h-a").await;
    let mut b = cl.guest_on(1, "h-b").await;
    let _: ChannelCreateResp = a.ok(&ChannelCreateReq { name: "hist".into(), password: String::new() }).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(a.say(channel(ChannelKind::Custom, "hist"), &format!("m{i}")).await.id);
    }
    let joined: ChannelJoinResp =
        b.ok(&ChannelJoinReq { name: "hist".into(), password: String::new() }).await;
    let texts: Vec<&str> = joined.history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["m2", "m3", "m4", "m5", "m6"], "history_len = 5");
    assert_eq!(joined.history.iter().map(|m| m.id).collect::<Vec<_>>(), ids[2..]);
    // What came with the join is read.
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "hist"), 0);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_are_there_right_after_a_reconnect() {
    let cl = cluster_with(relaxed(), Duration::from_secs(10)).await;
    let mut a = cl.guest_on(0, "u-a").await;
    let mut b = cl.guest_on(1, "u-b").await;
    let _: ChannelCreateResp = a.ok(&ChannelCreateReq { name: "news".into(), password: String::new() }).await;
    let _: ChannelJoinResp = b.ok(&ChannelJoinReq { name: "news".into(), password: String::new() }).await;
    // b's connection drops; its session waits for a resume, still a member.
    let b_id = b.id;
    let detached = common::Cluster::disconnect(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Messages while it is away.
    a.say(channel(ChannelKind::Custom, "news"), "first").await;
    a.say(channel(ChannelKind::Custom, "news"), "second").await;
    assert!(mmo_chat::channels::is_member(&cl.bus, "c:news", b_id).await.unwrap());
    let (mut b, _) = cl.resume(detached).await;
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "news"), 2);
    // The messages themselves came with the resume (or right after).
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let n: ChatMessageNtf = b.push().await;
        seen.push(n.message.unwrap().text);
    }
    assert_eq!(seen, ["first", "second"]);
    let _: ChatReadResp =
        b.ok(&ChatReadReq { channel: channel(ChannelKind::Custom, "news"), message_id: 0 }).await;
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "news"), 0);
    // A new message counts again.
    a.say(channel(ChannelKind::Custom, "news"), "third").await;
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "news"), 1);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_are_there_after_a_new_login() {
    let cl = cluster_with(relaxed(), Duration::ZERO).await;
    let mut a = cl.guest_on(0, "l-a").await;
    let mut b = cl.guest_on(1, "l-b").await;
    let _: ChannelCreateResp = a.ok(&ChannelCreateReq { name: "club".into(), password: String::new() }).await;
    let _: ChannelJoinResp = b.ok(&ChannelJoinReq { name: "club".into(), password: String::new() }).await;
    let b_id = b.id;
    drop(b); // no resume window: the session ends, and with it b's memberships
    cl.until(|| async { !mmo_chat::channels::is_member(&cl.bus, "c:club", b_id).await.unwrap() }).await;
    for text in ["one", "two", "three"] {
        a.say(channel(ChannelKind::Custom, "club"), text).await;
    }
    // Logged in again: the channel it read before shows what it missed.
    let mut b = cl.guest_on(1, "l-b").await;
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "club"), 3);
    // The world channel counts from the login on.
    let world = |u: &UnreadResp| {
        u.channels
            .iter()
            .find(|c| c.channel.as_ref().unwrap().kind() == ChannelKind::World)
            .map_or(0, |c| c.count)
    };
    assert_eq!(world(&u), 0, "{u:?}");
    a.say(common::world(), "after the login").await;
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(world(&u), 1, "{u:?}");
    // Joining again brings them, and they count as read.
    let joined: ChannelJoinResp =
        b.ok(&ChannelJoinReq { name: "club".into(), password: String::new() }).await;
    assert_eq!(joined.history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["one", "two", "three"]);
    let u: UnreadResp = b.ok(&UnreadReq {}).await;
    assert_eq!(unread_in(&u, "club"), 0);
    cl.finish().await;
}
