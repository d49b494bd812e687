//! Parties through the gateway: invites reach the invitee, blocks are respected, a queued party
//! is never split and any change to it cancels its ticket, a member's ended session takes it out.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, cluster};
use mmo_proto::{
    ErrorCode, FriendBlockReq, FriendBlockResp, MatchAcceptReq, MatchAcceptResp, MatchProposalNtf,
    MatchStartNtf, Party, PartyCreateReq, PartyCreateResp, PartyEvent, PartyGetReq, PartyGetResp,
    PartyInviteNtf, PartyInviteReq, PartyInviteResp, PartyKickReq, PartyKickResp, PartyLeaveReq,
    PartyLeaveResp, PartyNtf, PartyPromoteReq, PartyPromoteResp, PartyRespondReq, PartyRespondResp,
    QueueJoinReq, QueueJoinResp, QueueStatusReq, QueueStatusResp, TicketEndReason, TicketNtf, TicketState,
};

fn join(mode: &str) -> QueueJoinReq {
    QueueJoinReq { mode: mode.into(), ..Default::default() }
}

/// `leader` creates a party and `others` join it.
async fn party(leader: &mut Client, others: &mut [&mut Client]) -> Party {
    let created: PartyCreateResp = leader.ok(&PartyCreateReq {}).await;
    let id = created.party.unwrap().id;
    for o in others.iter_mut() {
        let _: PartyInviteResp = leader.ok(&PartyInviteReq { player: o.id }).await;
        let invite: PartyInviteNtf = o.push().await;
        assert_eq!((invite.party, invite.from_player), (id, leader.id));
        let _: PartyRespondResp = o.ok(&PartyRespondReq { party: id, accept: true }).await;
        let joined: PartyNtf = leader.push().await;
        assert_eq!((joined.event(), joined.player), (PartyEvent::Joined, o.id));
    }
    let got: PartyGetResp = leader.ok(&PartyGetReq {}).await;
    got.party.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_is_formed_led_and_left_as_documented() {
    let cl = cluster().await;
    let mut a = cl.guest("p-a").await;
    let mut b = cl.guest("p-b").await;
    let mut c = cl.guest("p-c").await;
    let p = party(&mut a, &mut [&mut b]).await;
    assert_eq!((p.leader, p.members.len()), (a.id, 2));
    // Only the leader invites, kicks, promotes.
    b.refused::<_, PartyInviteResp>(&PartyInviteReq { player: c.id }, ErrorCode::NotPartyLeader).await;
    b.refused::<_, PartyCreateResp>(&PartyCreateReq {}, ErrorCode::AlreadyInParty).await;
    // A declined invite leaves the party as it was.
    let _: PartyInviteResp = a.ok(&PartyInviteReq { player: c.id }).await;
    let invite: PartyInviteNtf = c.push().await;
    let r: PartyRespondResp = c.ok(&PartyRespondReq { party: invite.party, accept: false }).await;
    assert!(r.party.is_none());
    c.refused::<_, PartyRespondResp>(
        &PartyRespondReq { party: invite.party, accept: true },
        ErrorCode::InviteNotFound,
    )
    .await;
    // Promote, then the new leader kicks the old one.
    let promoted: PartyPromoteResp = a.ok(&PartyPromoteReq { player: b.id }).await;
    assert_eq!(promoted.party.unwrap().leader, b.id);
    let kicked: PartyKickResp = b.ok(&PartyKickReq { player: a.id }).await;
    assert_eq!(kicked.party.unwrap().members.len(), 1);
    let gone: PartyNtf = loop {
        let n: PartyNtf = a.push().await;
        if n.event() == PartyEvent::Kicked {
            break n;
        }
    };
    assert!(gone.party.is_none());
    let none: PartyGetResp = a.ok(&PartyGetReq {}).await;
    assert!(none.party.is_none());
    // The last member leaving ends the party.
    let _: PartyLeaveResp = b.ok(&PartyLeaveReq {}).await;
    b.refused::<_, PartyLeaveResp>(&PartyLeaveReq {}, ErrorCode::NotInParty).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_never_gets_an_invite_from_someone_they_blocked() {
    let cl = cluster().await;
    let mut a = cl.guest("blk-a").await;
    let mut b = cl.guest("blk-b").await;
    let _: FriendBlockResp = b.ok(&FriendBlockReq { player_id: a.id }).await;
    let _: PartyCreateResp = a.ok(&PartyCreateReq {}).await;
    a.refused::<_, PartyInviteResp>(&PartyInviteReq { player: b.id }, ErrorCode::InviteRefused).await;
    assert!(b.push_within::<PartyInviteNtf>(Duration::from_millis(300)).await.is_none());
    // Nor from an offline player's point of view: the answer is the same.
    let offline = 999_999;
    a.refused::<_, PartyInviteResp>(&PartyInviteReq { player: offline }, ErrorCode::InviteRefused).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_party_is_never_split_and_only_its_leader_queues_it() {
    let cl = cluster().await;
    let mut a = cl.guest("team-a").await;
    let mut b = cl.guest("team-b").await;
    let mut c = cl.guest("team-c").await;
    let mut d = cl.guest("team-d").await;
    party(&mut a, &mut [&mut b]).await;
    b.refused::<_, QueueJoinResp>(&join("team"), ErrorCode::NotPartyLeader).await;
    let t: QueueJoinResp = a.ok(&join("team")).await;
    let mut players = t.ticket.unwrap().players;
    players.sort();
    let mut ab = vec![a.id, b.id];
    ab.sort();
    assert_eq!(players, ab, "the party's ticket holds both");
    // The member is told, and sees the party's ticket as its own.
    let told: TicketNtf = b.push().await;
    assert_eq!(told.reason(), TicketEndReason::Queued);
    let queued = told.ticket.unwrap();
    assert_eq!((queued.state(), queued.players.len()), (TicketState::Searching, 2));
    let s: QueueStatusResp = b.ok(&QueueStatusReq {}).await;
    assert_eq!(s.ticket.unwrap().id, queued.id);
    let _: QueueJoinResp = c.ok(&join("team")).await;
    let _: QueueJoinResp = d.ok(&join("team")).await;
    for cl in [&mut a, &mut b, &mut c, &mut d] {
        let p: MatchProposalNtf = cl.push().await;
        let _: MatchAcceptResp = cl.ok(&MatchAcceptReq { proposal: p.proposal, accept: true }).await;
    }
    let start: MatchStartNtf = a.push().await;
    let mine = &start.teams[start.team as usize].players;
    assert!(mine.contains(&a.id) && mine.contains(&b.id), "party split: {:?}", start.teams);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_queued_party_cancels_its_ticket() {
    let cl = cluster().await;
    let mut a = cl.guest("chg-a").await;
    let mut b = cl.guest("chg-b").await;
    party(&mut a, &mut [&mut b]).await;
    let _: QueueJoinResp = a.ok(&join("team")).await;
    let _: PartyLeaveResp = b.ok(&PartyLeaveReq {}).await;
    let n: TicketNtf = a.push().await;
    assert_eq!(n.reason(), TicketEndReason::PartyChanged);
    let s: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    assert!(s.ticket.is_none());
    // The party (now a alone) may queue again.
    let _: QueueJoinResp = a.ok(&join("team")).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_ended_session_takes_it_out_of_the_party() {
    let cl = cluster().await;
    let mut a = cl.guest("end-a").await;
    let mut b = cl.guest("end-b").await;
    party(&mut a, &mut [&mut b]).await;
    let b_id = b.id;
    drop(b);
    // No resume window in this cluster: the session ends at once.
    let n: PartyNtf = loop {
        let n: PartyNtf = a.push().await;
        if n.event() == PartyEvent::Disconnected {
            break n;
        }
    };
    assert_eq!(n.player, b_id);
    assert_eq!(n.party.unwrap().members.len(), 1);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_change_during_the_ready_check_penalises_nobody_and_requeues_the_others() {
    let cl = cluster().await;
    let mut a = cl.guest("rc-a").await;
    let mut b = cl.guest("rc-b").await;
    let mut c = cl.guest("rc-c").await;
    let mut d = cl.guest("rc-d").await;
    party(&mut a, &mut [&mut b]).await;
    let _: QueueJoinResp = a.ok(&join("team")).await;
    let _: QueueJoinResp = c.ok(&join("team")).await;
    let _: QueueJoinResp = d.ok(&join("team")).await;
    let _: MatchProposalNtf = a.push().await;
    let _: MatchProposalNtf = c.push().await;
    // b leaves the party during the check.
    let _: PartyLeaveResp = b.ok(&PartyLeaveReq {}).await;
    let out: TicketNtf = a.push().await;
    assert_eq!((out.reason(), out.cooldown_ms), (TicketEndReason::PartyChanged, 0));
    let back: TicketNtf = c.push().await;
    assert_eq!(back.reason(), TicketEndReason::Requeued);
    // Nobody is penalised: both may queue again at once.
    let _: QueueJoinResp = a.ok(&join("team")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_elsewhere_keeps_the_players_ticket_and_party() {
    let cl = cluster().await;
    let mut a = cl.guest("dup-a").await;
    let mut b = cl.guest("dup-b").await;
    party(&mut a, &mut [&mut b]).await;
    let _: QueueJoinResp = a.ok(&join("team")).await;
    // b logs in again on another connection: the old session ends with DUPLICATE_LOGIN.
    let b2 = cl.guest("dup-b").await;
    assert_eq!(b2.id, b.id);
    assert_eq!(b.c.expect_disconnect().await.unwrap(), ErrorCode::DuplicateLogin);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    assert_eq!(s.ticket.unwrap().players.len(), 2, "the party's ticket is still open");
    let p: PartyGetResp = a.ok(&PartyGetReq {}).await;
    assert_eq!(p.party.unwrap().members.len(), 2);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_party_has_a_chat_channel_of_its_members() {
    let cl = cluster().await;
    let mut a = cl.guest("pc-a").await;
    let mut b = cl.guest("pc-b").await;
    let p = party(&mut a, &mut [&mut b]).await;
    let ch = format!("p:{}", p.id);
    let members = |bus: mmo_core::bus::Bus, ch: String| async move {
        let mut m: Vec<u64> =
            mmo_chat::channels::members(&bus, &ch).await.unwrap().into_iter().map(|(p, _)| p).collect();
        m.sort();
        m
    };
    let mut both = vec![a.id, b.id];
    both.sort();
    assert_eq!(members(cl.bus.clone(), ch.clone()).await, both);
    let added: mmo_proto::ChannelNtf = b.push().await;
    assert_eq!(added.event(), mmo_proto::ChannelEvent::Added);
    let _: PartyLeaveResp = b.ok(&PartyLeaveReq {}).await;
    assert_eq!(members(cl.bus.clone(), ch.clone()).await, [a.id]);
    let removed: mmo_proto::ChannelNtf = b.push().await;
    assert_eq!(removed.event(), mmo_proto::ChannelEvent::Removed);
    let _: PartyLeaveResp = a.ok(&PartyLeaveReq {}).await;
    assert!(members(cl.bus.clone(), ch).await.is_empty(), "the party ended, and its channel");
    cl.finish().await;
}
