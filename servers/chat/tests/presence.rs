//! Presence through the gateways: friends are told of a login, a session's end, a match's
//! start and end, away and rich presence, privacy changes; one status however the player's
//! sessions come and go (a resume, a login elsewhere); invisible appears offline; a blocked
//! player never sees the blocker; do-not-disturb refuses whispers.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, Cluster, cluster, cluster_with, test_config};
use mmo_core::bus::events;
use mmo_core::session::PlayerId;
use mmo_proto::bus::MatchClosed;
use mmo_proto::bus::game_event::Detail;
use mmo_proto::{
    ErrorCode, FriendAcceptReq, FriendAcceptResp, FriendBlockReq, FriendBlockResp, FriendRequestReq,
    FriendRequestResp, Party, PartyMember, PresenceInfo, PresenceNtf, PresencePrivacy, PresenceQueryReq,
    PresenceQueryResp, PresenceSetReq, PresenceSetResp, PresenceStatus, PresenceValue, RichPresence,
    WhisperNtf, WhisperReq, WhisperResp,
};
use prost::Message;

/// How long a push that must not come is waited for.
const QUIET: Duration = Duration::from_millis(400);

async fn befriend(a: &mut Client, b: &mut Client) {
    let _: FriendRequestResp = a.ok(&FriendRequestReq { player_id: b.id, username: String::new() }).await;
    let _: FriendAcceptResp = b.ok(&FriendAcceptReq { player_id: a.id }).await;
}

/// The next PresenceNtf about `of`.
async fn told(c: &mut Client, of: u64) -> PresenceInfo {
    loop {
        let n: PresenceNtf = c.push().await;
        let p = n.presence.unwrap();
        if p.player == of {
            return p;
        }
    }
}

/// Whether a PresenceNtf about `of` comes within QUIET.
async fn told_within(c: &mut Client, of: u64) -> Option<PresenceInfo> {
    c.pushes_within::<PresenceNtf>(QUIET)
        .await
        .into_iter()
        .filter_map(|n| n.presence)
        .find(|p| p.player == of)
}

async fn query(c: &mut Client, of: u64) -> PresenceInfo {
    let r: PresenceQueryResp = c.ok(&PresenceQueryReq { players: vec![of] }).await;
    r.presences.into_iter().next().unwrap()
}

fn set_privacy(p: PresencePrivacy) -> PresenceSetReq {
    PresenceSetReq { privacy: p as i32, ..Default::default() }
}

fn set_status(s: PresenceStatus) -> PresenceSetReq {
    PresenceSetReq { status: s as i32, ..Default::default() }
}

fn match_event(cl: &Cluster, kind: &str, match_id: &str, players: &[u64]) {
    if kind == "match_closed" {
        // The zone's report is typed.
        let closed =
            MatchClosed { match_id: match_id.into(), players: players.to_vec(), ..Default::default() };
        events::emit_typed(&cl.bus, kind, PlayerId(0), Detail::MatchClosed(closed));
        return;
    }
    let players = players.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let attrs = [("match_id", match_id), ("mode", "duel"), ("players", players.as_str())];
    events::emit(&cl.bus, kind, PlayerId(0), &attrs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_are_told_of_logout_login_and_matches() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "pr-a").await;
    let mut b = cl.guest_on(1, "pr-b").await;
    befriend(&mut a, &mut b).await;
    assert_eq!(query(&mut b, a.id).await.status(), PresenceStatus::Online);
    // No resume window: the session ends with the connection.
    let aid = a.id;
    drop(a);
    assert_eq!(told(&mut b, aid).await.status(), PresenceStatus::Offline);
    assert_eq!(query(&mut b, aid).await.status(), PresenceStatus::Offline);
    let a = cl.guest_on(0, "pr-a").await;
    assert_eq!(a.id, aid);
    assert_eq!(told(&mut b, aid).await.status(), PresenceStatus::Online);
    // A match starts (as matchmaking announces it), then closes (as the zone does).
    match_event(&cl, "match_started", "m7", &[aid, 999_999]);
    let p = told(&mut b, aid).await;
    assert_eq!(
        (p.status(), p.match_id.as_str(), p.match_mode.as_str()),
        (PresenceStatus::InMatch, "m7", "duel")
    );
    assert_eq!(query(&mut b, aid).await, p);
    match_event(&cl, "match_closed", "m7", &[]);
    let p = told(&mut b, aid).await;
    assert_eq!((p.status(), p.match_id.as_str()), (PresenceStatus::Online, ""));
    // Backfilled into a running match: in it as well.
    match_event(&cl, "match_backfilled", "m8", &[aid]);
    assert_eq!(told(&mut b, aid).await.match_id, "m8");
    // Leaving it while it goes on (the zone's match_left): out of it.
    events::emit(&cl.bus, "match_left", PlayerId(aid), &[("match_id", "m8"), ("instance", "arena.8")]);
    let p = told(&mut b, aid).await;
    assert_eq!((p.status(), p.match_id.as_str()), (PresenceStatus::Online, ""));
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joinable_party_is_shown_to_friends() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "pa-a").await;
    let mut b = cl.guest_on(1, "pa-b").await;
    befriend(&mut a, &mut b).await;
    // A party as matchmaking keeps it: the member's pointer and the party's body.
    let mut party = Party {
        id: 41,
        leader: a.id,
        members: vec![PartyMember { player: a.id, ..Default::default() }],
        ..Default::default()
    };
    let mut conn = cl.bus.conn().await.unwrap();
    let pointer = cl.bus.keys().owned("matchmaking", &format!("pp:{}", a.id));
    let body = cl.bus.keys().owned("matchmaking", "party:41");
    let _: () = redis::cmd("SET").arg(&pointer).arg(41).query_async(&mut *conn).await.unwrap();
    let store = |party: &Party| redis::cmd("HSET").arg(&body).arg("b").arg(party.encode_to_vec()).clone();
    let _: () = store(&party).query_async(&mut *conn).await.unwrap();
    assert_eq!(query(&mut b, a.id).await.party_id, 41);
    // Queued: not joinable.
    party.ticket = 5;
    let _: () = store(&party).query_async(&mut *conn).await.unwrap();
    assert_eq!(query(&mut b, a.id).await.party_id, 0);
    drop(conn);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn away_and_rich_presence_reach_friends() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "aw-a").await;
    let mut b = cl.guest_on(1, "aw-b").await;
    befriend(&mut a, &mut b).await;
    let rich = RichPresence {
        text: "In the harbor".into(),
        values: vec![PresenceValue { key: "map".into(), value: "harbor".into() }],
    };
    let r: PresenceSetResp =
        a.ok(&PresenceSetReq { rich: Some(rich.clone()), ..set_status(PresenceStatus::Away) }).await;
    assert_eq!(r.presence.as_ref().unwrap().status(), PresenceStatus::Away);
    assert_eq!(r.privacy(), PresencePrivacy::Friends);
    let p = told(&mut b, a.id).await;
    assert_eq!((p.status(), p.rich.as_ref()), (PresenceStatus::Away, Some(&rich)));
    // Back: still the same rich presence.
    let _: PresenceSetResp = a.ok(&set_status(PresenceStatus::Online)).await;
    let p = told(&mut b, a.id).await;
    assert_eq!((p.status(), p.rich.as_ref()), (PresenceStatus::Online, Some(&rich)));
    // Setting what it already is tells nobody.
    let _: PresenceSetResp = a.ok(&set_status(PresenceStatus::Online)).await;
    assert!(told_within(&mut b, a.id).await.is_none());
    // Too large, or a status only the server sets.
    let big = RichPresence { text: "x".repeat(257), values: vec![] };
    a.refused::<_, PresenceSetResp>(
        &PresenceSetReq { rich: Some(big), ..Default::default() },
        ErrorCode::ChatInvalidPresence,
    )
    .await;
    a.refused::<_, PresenceSetResp>(&set_status(PresenceStatus::InMatch), ErrorCode::ChatInvalidPresence)
        .await;
    a.refused::<_, PresenceQueryResp>(&PresenceQueryReq { players: vec![1; 101] }, ErrorCode::ChatLimit)
        .await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_levels_invisible_dnd_and_everyone() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "pv-a").await;
    let mut b = cl.guest_on(1, "pv-b").await;
    let mut stranger = cl.guest_on(0, "pv-c").await;
    befriend(&mut a, &mut b).await;
    // Friends only by default: a stranger sees nothing.
    assert_eq!(query(&mut stranger, a.id).await, mmo_chat::presence::offline(a.id));
    // Invisible: offline to everyone, friends told so.
    let _: PresenceSetResp = a.ok(&set_privacy(PresencePrivacy::Invisible)).await;
    assert_eq!(told(&mut b, a.id).await.status(), PresenceStatus::Offline);
    assert_eq!(query(&mut b, a.id).await, mmo_chat::presence::offline(a.id));
    // While invisible, going away tells nobody.
    let _: PresenceSetResp = a.ok(&set_status(PresenceStatus::Away)).await;
    assert!(told_within(&mut b, a.id).await.is_none());
    // A whisper reaches it, but the sender is not told it was online.
    let w = WhisperReq { to_player: a.id, to_name: String::new(), text: b"still there?".to_vec().into() };
    let r: WhisperResp = b.ok(&w).await;
    assert!(!r.delivered, "an invisible player appears offline to a whisperer");
    let got: WhisperNtf = a.push().await;
    assert!(!got.offline);
    // Do not disturb: shown, and whispers refused.
    let _: PresenceSetResp = a.ok(&set_privacy(PresencePrivacy::Dnd)).await;
    let p = told(&mut b, a.id).await;
    assert_eq!((p.status(), p.dnd), (PresenceStatus::Away, true));
    let w = WhisperReq { to_player: a.id, to_name: String::new(), text: b"hey".to_vec().into() };
    b.refused::<_, WhisperResp>(&w, ErrorCode::ChatRecipientDnd).await;
    // Everyone: a stranger's query sees it too (it is not pushed to strangers).
    let _: PresenceSetResp = a.ok(&set_privacy(PresencePrivacy::Everyone)).await;
    assert!(!told(&mut b, a.id).await.dnd);
    assert_eq!(query(&mut stranger, a.id).await.status(), PresenceStatus::Away);
    assert!(told_within(&mut stranger, a.id).await.is_none());
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_player_never_sees_the_blocker() {
    let cl = cluster().await;
    let mut a = cl.guest_on(0, "bl-a").await;
    let mut b = cl.guest_on(1, "bl-b").await;
    befriend(&mut a, &mut b).await;
    let _: PresenceSetResp = a.ok(&set_privacy(PresencePrivacy::Everyone)).await;
    assert_eq!(query(&mut b, a.id).await.status(), PresenceStatus::Online);
    let _: FriendBlockResp = a.ok(&FriendBlockReq { player_id: b.id }).await;
    assert_eq!(query(&mut b, a.id).await, mmo_chat::presence::offline(a.id));
    let _: PresenceSetResp = a.ok(&set_status(PresenceStatus::Away)).await;
    assert!(told_within(&mut b, a.id).await.is_none());
    assert_eq!(query(&mut b, a.id).await, mmo_chat::presence::offline(a.id));
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_status_through_a_resume_and_a_login_elsewhere() {
    let cl = cluster_with(test_config(), Duration::from_secs(10)).await;
    let mut a = cl.guest_on(0, "one-a").await;
    let mut b = cl.guest_on(1, "one-b").await;
    befriend(&mut a, &mut b).await;
    let _: PresenceSetResp = a.ok(&set_status(PresenceStatus::Away)).await;
    assert_eq!(told(&mut b, a.id).await.status(), PresenceStatus::Away);
    // The connection drops: the session waits for a resume, and the player is still there.
    let aid = a.id;
    let detached = Cluster::disconnect(a);
    assert!(told_within(&mut b, aid).await.is_none());
    assert_eq!(query(&mut b, aid).await.status(), PresenceStatus::Away);
    let (_a, _) = cl.resume(detached).await;
    assert!(told_within(&mut b, aid).await.is_none());
    // A login on the other gateway ends that session: still one player, never offline.
    let a2 = cl.guest_on(1, "one-a").await;
    assert_eq!(a2.id, aid);
    cl.until(|| async { cl.events().await.iter().any(|e| e.kind == "logout" && e.player == aid) }).await;
    assert!(
        told_within(&mut b, aid).await.is_none_or(|p| p.status() != PresenceStatus::Offline),
        "a login elsewhere must not show offline"
    );
    assert_ne!(query(&mut b, aid).await.status(), PresenceStatus::Offline);
    cl.finish().await;
}
