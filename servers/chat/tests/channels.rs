//! Channels through two gateways: each kind reaches exactly its members, wherever they are
//! connected, once each; custom channels keep their password and their owner's kicks; party,
//! match and zone channels follow the API other servers call; an ended session leaves them.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, channel, cluster, world};
use mmo_core::session::PlayerId;
use mmo_proto::{
    ChannelCreateReq, ChannelCreateResp, ChannelEvent, ChannelJoinReq, ChannelJoinResp, ChannelKickReq,
    ChannelKickResp, ChannelKind, ChannelListReq, ChannelListResp, ChannelNtf, ChatMessageNtf, ChatSendReq,
    ChatSendResp, ErrorCode,
};

const QUIET: Duration = Duration::from_millis(300);

/// `msg` reached exactly `to` (once each) and nobody of `not`.
async fn reached(id: u64, to: &mut [&mut Client], not: &mut [&mut Client]) {
    for c in to.iter_mut() {
        let got: ChatMessageNtf = c.push().await;
        assert_eq!(got.message.unwrap().id, id, "player {}", c.id);
    }
    for c in to.iter_mut() {
        let extra: Vec<ChatMessageNtf> = c.pushes_within(QUIET).await;
        assert!(extra.is_empty(), "player {} got {extra:?}", c.id);
    }
    for c in not.iter_mut() {
        let extra: Vec<ChatMessageNtf> = c.pushes_within(QUIET).await;
        assert!(extra.is_empty(), "player {} got {extra:?}", c.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_and_custom_channels_reach_exactly_their_members_on_both_gateways() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "ch-a").await;
    let mut b = cl.guest_on(1, "ch-b").await;
    let mut c = cl.guest_on(0, "ch-c").await;
    // World: everyone logged in, on either gateway; not the sender (it has its answer).
    let m = a.say(world(), "hello world").await;
    assert_eq!((m.sender, m.text.as_str()), (a.id, "hello world"));
    assert_eq!(m.sender_name, cl.name(a.id).await);
    reached(m.id, &mut [&mut b, &mut c], &mut [&mut a]).await;
    // A custom channel: its members only.
    let created: ChannelCreateResp =
        a.ok(&ChannelCreateReq { name: "Lobby".into(), password: String::new() }).await;
    assert_eq!(created.channel.as_ref().unwrap().owner, a.id);
    let joined: ChannelJoinResp =
        b.ok(&ChannelJoinReq { name: "lobby".into(), password: String::new() }).await;
    assert_eq!(joined.channel.unwrap().members, 2);
    a.refused::<_, ChannelCreateResp>(
        &ChannelCreateReq { name: "LOBBY".into(), password: String::new() },
        ErrorCode::ChatChannelExists,
    )
    .await;
    let m2 = b.say(channel(ChannelKind::Custom, "lobby"), "in the lobby").await;
    assert!(m2.id > m.id, "ids increase");
    reached(m2.id, &mut [&mut a], &mut [&mut b, &mut c]).await;
    // Not a member: refused, delivered to nobody.
    c.refused::<_, ChatSendResp>(
        &ChatSendReq { channel: channel(ChannelKind::Custom, "lobby"), text: "hi".into() },
        ErrorCode::ChatChannelNotFound,
    )
    .await;
    let list: ChannelListResp = b.ok(&ChannelListReq {}).await;
    let kinds: Vec<ChannelKind> = list.joined.iter().map(|i| i.channel.as_ref().unwrap().kind()).collect();
    assert_eq!(kinds, [ChannelKind::Custom, ChannelKind::World]);
    assert_eq!(list.custom, ["lobby"]);
    // Leaving the world channel stops world messages.
    let _: mmo_proto::ChannelLeaveResp = c.ok(&mmo_proto::ChannelLeaveReq { channel: world() }).await;
    let m3 = a.say(world(), "again").await;
    reached(m3.id, &mut [&mut b], &mut [&mut c]).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn party_match_and_zone_channels_follow_their_owners() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "sys-a").await;
    let mut b = cl.guest_on(1, "sys-b").await;
    let mut c = cl.guest_on(1, "sys-c").await;
    let bus = &cl.bus;
    mmo_chat::channels::open_system(bus, ChannelKind::Party, "7", &[PlayerId(a.id), PlayerId(b.id)])
        .await
        .unwrap();
    for p in [&mut a, &mut b] {
        let n: ChannelNtf = p.push().await;
        assert_eq!((n.event(), n.channel.unwrap().name.as_str()), (ChannelEvent::Added, "7"));
    }
    let m = a.say(channel(ChannelKind::Party, "7"), "party time").await;
    reached(m.id, &mut [&mut b], &mut [&mut a, &mut c]).await;
    c.refused::<_, ChatSendResp>(
        &ChatSendReq { channel: channel(ChannelKind::Party, "7"), text: "let me in".into() },
        ErrorCode::ChatChannelNotFound,
    )
    .await;
    // A match team.
    mmo_chat::channels::open_system(bus, ChannelKind::Match, "m1.0", &[PlayerId(b.id), PlayerId(c.id)])
        .await
        .unwrap();
    for p in [&mut b, &mut c] {
        let n: ChannelNtf = p.push().await;
        assert_eq!((n.event(), n.channel.unwrap().kind()), (ChannelEvent::Added, ChannelKind::Match));
    }
    let m = c.say(channel(ChannelKind::Match, "m1.0"), "gl hf").await;
    reached(m.id, &mut [&mut b], &mut [&mut a, &mut c]).await;
    mmo_chat::channels::close_system(bus, ChannelKind::Match, "m1.0").await.unwrap();
    let removed: ChannelNtf = b.push().await;
    assert_eq!(removed.event(), ChannelEvent::Removed);
    b.refused::<_, ChatSendResp>(
        &ChatSendReq { channel: channel(ChannelKind::Match, "m1.0"), text: "gg".into() },
        ErrorCode::ChatChannelNotFound,
    )
    .await;
    // A zone instance: whoever the zone put in it.
    mmo_chat::channels::join_zone(bus, "start.1", PlayerId(a.id)).await.unwrap();
    mmo_chat::channels::join_zone(bus, "start.1", PlayerId(c.id)).await.unwrap();
    let m = a.say(channel(ChannelKind::Zone, "start.1"), "anyone here?").await;
    reached(m.id, &mut [&mut c], &mut [&mut a, &mut b]).await;
    mmo_chat::channels::leave_zone(bus, "start.1", PlayerId(c.id)).await.unwrap();
    let m = a.say(channel(ChannelKind::Zone, "start.1"), "hello?").await;
    reached(m.id, &mut [], &mut [&mut b, &mut c]).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_channel_keeps_its_password_and_its_owner_kicks() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "pw-a").await;
    let mut b = cl.guest_on(1, "pw-b").await;
    let created: ChannelCreateResp =
        a.ok(&ChannelCreateReq { name: "secret".into(), password: "hunter22".into() }).await;
    assert!(created.channel.unwrap().has_password);
    let join = |pw: &str| ChannelJoinReq { name: "secret".into(), password: pw.into() };
    b.refused::<_, ChannelJoinResp>(&join("hunter2"), ErrorCode::ChatWrongPassword).await;
    b.refused::<_, ChannelJoinResp>(&join(""), ErrorCode::ChatWrongPassword).await;
    b.refused::<_, ChannelJoinResp>(
        &ChannelJoinReq { name: "nope".into(), password: String::new() },
        ErrorCode::ChatChannelNotFound,
    )
    .await;
    let _: ChannelJoinResp = b.ok(&join("hunter22")).await;
    // Only the owner kicks.
    b.refused::<_, ChannelKickResp>(
        &ChannelKickReq { name: "secret".into(), player: a.id },
        ErrorCode::ChatNotChannelOwner,
    )
    .await;
    let _: ChannelKickResp = a.ok(&ChannelKickReq { name: "secret".into(), player: b.id }).await;
    let n: ChannelNtf = b.push().await;
    assert_eq!((n.event(), n.channel.unwrap().kind()), (ChannelEvent::Kicked, ChannelKind::Custom));
    b.refused::<_, ChatSendResp>(
        &ChatSendReq { channel: channel(ChannelKind::Custom, "secret"), text: "still here?".into() },
        ErrorCode::ChatChannelNotFound,
    )
    .await;
    let m = a.say(channel(ChannelKind::Custom, "secret"), "alone").await;
    reached(m.id, &mut [], &mut [&mut b]).await;
    // The last member leaves: the channel ends, its name is free again (without a password).
    let _: mmo_proto::ChannelLeaveResp =
        a.ok(&mmo_proto::ChannelLeaveReq { channel: channel(ChannelKind::Custom, "secret") }).await;
    b.refused::<_, ChannelJoinResp>(&join("hunter22"), ErrorCode::ChatChannelNotFound).await;
    let list: ChannelListResp = b.ok(&ChannelListReq {}).await;
    assert!(list.custom.is_empty(), "{:?}", list.custom);
    let created: ChannelCreateResp =
        b.ok(&ChannelCreateReq { name: "secret".into(), password: String::new() }).await;
    assert!(!created.channel.unwrap().has_password);
    let joined: ChannelJoinResp = a.ok(&join("")).await;
    assert!(joined.history.is_empty(), "the old history went with the old channel");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_leaves_its_channels() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "end-a").await;
    let b = cl.guest_on(1, "end-b").await;
    let _: ChannelCreateResp = a.ok(&ChannelCreateReq { name: "room".into(), password: String::new() }).await;
    let (bid, bus) = (b.id, cl.bus.clone());
    let mut b = b;
    let _: ChannelJoinResp = b.ok(&ChannelJoinReq { name: "room".into(), password: String::new() }).await;
    drop(b); // no resume window: the session ends with the connection
    cl.until(|| async { mmo_chat::channels::of_player(&bus, bid).await.unwrap().is_empty() }).await;
    assert!(!mmo_chat::channels::is_member(&bus, "c:room", bid).await.unwrap());
    assert!(!mmo_chat::channels::is_member(&bus, "w", bid).await.unwrap());
    assert!(mmo_chat::channels::is_member(&bus, "c:room", a.id).await.unwrap());
    // The owner's session ends too: the channel, now empty, ends with it.
    let aid = a.id;
    drop(a);
    cl.until(|| async { mmo_chat::channels::custom(&bus, "c:room").await.unwrap().is_none() }).await;
    assert!(mmo_chat::channels::custom_names(&bus, 10).await.unwrap().is_empty());
    assert!(!mmo_chat::channels::is_member(&bus, "c:room", aid).await.unwrap());
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chat_instances_share_the_work_and_deliver_each_message_once() {
    let cl = cluster().await;
    let bus2 = cl.redis.bus("node-2", &cl.shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus2.clone(), cl.shutdown.token()));
    let _second = common::chat(&bus2, &cl.db, common::test_config(), None, &cl.shutdown).await;
    let mut a = cl.guest_on(0, "two-a").await;
    let mut b = cl.guest_on(1, "two-b").await;
    let _: ChannelCreateResp =
        a.ok(&ChannelCreateReq { name: "shared".into(), password: String::new() }).await;
    let _: ChannelJoinResp = b.ok(&ChannelJoinReq { name: "shared".into(), password: String::new() }).await;
    // Slower than the rate limit, so nothing is refused; either instance may take each one.
    let mut sent = Vec::new();
    for i in 0..8 {
        sent.push(a.say(channel(ChannelKind::Custom, "shared"), &format!("n{i}")).await.id);
        tokio::time::sleep(Duration::from_millis(210)).await;
    }
    let mut got: Vec<u64> = Vec::new();
    while got.len() < sent.len() {
        let n: ChatMessageNtf = b.push().await;
        got.push(n.message.unwrap().id);
    }
    assert_eq!(got, sent, "each message once, in order");
    assert!(b.pushes_within::<ChatMessageNtf>(QUIET).await.is_empty(), "no duplicate");
    cl.finish().await;
}
