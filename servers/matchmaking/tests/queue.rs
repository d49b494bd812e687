//! Queues through the gateway: matching, the ready check (accept, decline, timeout,
//! disconnect), penalties and requeues, and the match instance players land in.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{Client, cluster};
use mmo_proto::{
    EnterWorldReq, EnterWorldResp, ErrorCode, MatchAcceptReq, MatchAcceptResp, MatchProposalNtf,
    MatchStartNtf, QueueJoinReq, QueueJoinResp, QueueLeaveReq, QueueLeaveResp, QueueStatusReq,
    QueueStatusResp, TicketEndReason, TicketNtf, TicketState, ZoneEnterNtf,
};

fn join(mode: &str) -> QueueJoinReq {
    QueueJoinReq { mode: mode.into(), ..Default::default() }
}

async fn in_world(c: &mut Client) {
    let _: EnterWorldResp = c.ok(&EnterWorldReq {}).await;
}

async fn accept(c: &mut Client, proposal: u64) {
    let _: MatchAcceptResp = c.ok(&MatchAcceptReq { proposal, accept: true }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_close_solo_players_are_matched_into_the_same_instance() {
    let cl = cluster().await;
    let mut a = cl.guest("solo-a").await;
    let mut b = cl.guest("solo-b").await;
    in_world(&mut a).await;
    in_world(&mut b).await;
    let ja: QueueJoinResp = a.ok(&join("duel")).await;
    let t = ja.ticket.unwrap();
    assert_eq!(
        (t.state(), t.mode.as_str(), t.players.as_slice()),
        (TicketState::Searching, "duel", &[a.id][..])
    );
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let pa: MatchProposalNtf = a.push().await;
    let pb: MatchProposalNtf = b.push().await;
    assert_eq!(pa.proposal, pb.proposal);
    assert_eq!((pa.players, pa.mode.as_str(), pa.region.as_str()), (2, "duel", "default"));
    let status: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    assert_eq!(status.ticket.unwrap().state(), TicketState::Proposed);
    accept(&mut a, pa.proposal).await;
    accept(&mut b, pb.proposal).await;
    let sa: MatchStartNtf = a.push().await;
    let sb: MatchStartNtf = b.push().await;
    assert_eq!(sa.match_id, sb.match_id);
    assert_eq!(sa.instance, sb.instance);
    assert!(sa.instance.starts_with("arena."), "{}", sa.instance);
    assert_eq!(sa.teams.len(), 2);
    assert_ne!(sa.team, sb.team, "a 1 v 1 puts them on opposite teams");
    assert_eq!(sa.teams[sa.team as usize].players, vec![a.id]);
    // Each team has a chat channel of its players.
    let team_ch = format!("m:{}.{}", sa.match_id, sa.team);
    let members = mmo_chat::channels::members(&cl.bus, &team_ch).await.unwrap();
    assert_eq!(members.iter().map(|(p, _)| *p).collect::<Vec<_>>(), [a.id]);
    // The zone moves both into the match instance.
    let ea: ZoneEnterNtf = a.push().await;
    let eb: ZoneEnterNtf = b.push().await;
    assert_eq!((ea.map.as_str(), ea.match_id.as_str()), ("arena", sa.match_id.as_str()));
    assert_eq!((ea.instance, eb.instance), (eb.instance, ea.instance));
    assert_eq!(ea.instance.to_string(), sa.instance.trim_start_matches("arena."));
    // The ticket is done: the player may queue again.
    let status: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    assert!(status.ticket.is_none(), "{status:?}");
    let kinds: Vec<String> = cl.events().await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "queue_joined").count(), 2);
    assert!(kinds.iter().any(|k| k == "match_started"), "{kinds:?}");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ticket_unknown_mode_and_leaving_are_answered() {
    let cl = cluster().await;
    let mut a = cl.guest("rules-a").await;
    a.refused::<_, QueueJoinResp>(&join("nope"), ErrorCode::UnknownMode).await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    a.refused::<_, QueueJoinResp>(&join("team"), ErrorCode::AlreadyQueued).await;
    let status: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    let t = status.ticket.unwrap();
    assert_eq!((t.state(), t.position), (TicketState::Searching, 0));
    let _: QueueLeaveResp = a.ok(&QueueLeaveReq {}).await;
    a.refused::<_, QueueLeaveResp>(&QueueLeaveReq {}, ErrorCode::NotQueued).await;
    let status: QueueStatusResp = a.ok(&QueueStatusReq {}).await;
    assert!(status.ticket.is_none());
    let _: QueueJoinResp = a.ok(&join("team")).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_penalises_the_decliner_and_requeues_the_acceptor_first_with_its_wait_kept() {
    let cl = cluster().await;
    let mut a = cl.guest("decl-a").await;
    let mut b = cl.guest("decl-b").await;
    let first: QueueJoinResp = a.ok(&join("duel")).await;
    let a_ticket = first.ticket.unwrap().id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let p: MatchProposalNtf = a.push().await;
    let _: MatchProposalNtf = b.push().await;
    accept(&mut a, p.proposal).await;
    let _: MatchAcceptResp = b.ok(&MatchAcceptReq { proposal: p.proposal, accept: false }).await;
    // The acceptor is back in the queue, with the time it had waited.
    let back: TicketNtf = a.push().await;
    assert_eq!(back.reason(), TicketEndReason::Requeued);
    let t = back.ticket.unwrap();
    assert_eq!((t.id, t.state()), (a_ticket, TicketState::Searching));
    assert!(t.waited_ms >= 300, "wait kept: {}", t.waited_ms);
    // The decliner is out, with the mode's penalty.
    let out: TicketNtf = b.push().await;
    assert_eq!(
        (out.reason(), out.ticket.unwrap().state()),
        (TicketEndReason::Declined, TicketState::Cancelled)
    );
    assert_eq!(out.cooldown_ms, 30_000);
    let e = b.refused::<_, QueueJoinResp>(&join("duel"), ErrorCode::QueueCooldown).await;
    assert!(e.retry_after_ms > 29_000 && e.retry_after_ms <= 30_000, "{}", e.retry_after_ms);
    // A newcomer is matched with the requeued acceptor, who is first in line.
    let mut c = cl.guest("decl-c").await;
    let _: QueueJoinResp = c.ok(&join("duel")).await;
    let p2: MatchProposalNtf = a.push().await;
    let p2c: MatchProposalNtf = c.push().await;
    assert_eq!(p2.proposal, p2c.proposal);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_check_nobody_answers_times_out_as_a_decline_by_everyone_silent() {
    let cl = cluster().await;
    let mut a = cl.guest("late-a").await;
    let mut b = cl.guest("late-b").await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let p: MatchProposalNtf = a.push().await;
    accept(&mut a, p.proposal).await;
    // b never answers: after the 2 s deadline, b is penalised and a requeued.
    let back: TicketNtf = a.push().await;
    assert_eq!(back.reason(), TicketEndReason::Requeued);
    let out: TicketNtf = b.push().await;
    assert_eq!(out.reason(), TicketEndReason::Declined);
    assert!(out.cooldown_ms > 0);
    // Too late to accept now.
    a.refused::<_, MatchAcceptResp>(
        &MatchAcceptReq { proposal: p.proposal, accept: true },
        ErrorCode::ProposalNotFound,
    )
    .await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_during_the_check_counts_as_a_decline() {
    let cl = cluster().await;
    let mut a = cl.guest("drop-a").await;
    let mut b = cl.guest("drop-b").await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let p: MatchProposalNtf = a.push().await;
    accept(&mut a, p.proposal).await;
    let b_id = b.id;
    drop(b);
    let back: TicketNtf = a.push().await;
    assert_eq!(back.reason(), TicketEndReason::Requeued);
    // b was penalised (no resume window in this cluster: its session ended at once).
    let mut b = cl.guest("drop-b").await;
    assert_eq!(b.id, b_id);
    b.refused::<_, QueueJoinResp>(&join("duel"), ErrorCode::QueueCooldown).await;
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_resumed_during_the_check_keeps_its_ticket() {
    let mut cfg = common::test_config();
    for m in cfg.modes.0.values_mut() {
        m.ready_timeout = Duration::from_secs(6);
    }
    let cl = common::cluster_with(cfg, Duration::from_secs(10)).await;
    let mut a = cl.guest("res-a").await;
    let mut b = cl.guest("res-b").await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let (token, b_id) = (b.token.clone(), b.id);
    // b's connection drops; its session waits for a resume.
    drop(b);
    let p: MatchProposalNtf = a.push().await;
    accept(&mut a, p.proposal).await;
    let mut c = cl.client().await;
    c.hello().await.unwrap();
    // Received so far: LoginResp and QueueJoinResp; the proposal is replayed after the answer.
    let _: mmo_proto::ResumeResp =
        c.request_retrying(&mmo_proto::ResumeReq { token, received: 2 }, 10).await.unwrap();
    let mut b = Client::new(c, b_id, String::new(), 1);
    let pb: MatchProposalNtf = b.push().await;
    assert_eq!(pb.proposal, p.proposal);
    accept(&mut b, pb.proposal).await;
    let sa: MatchStartNtf = a.push().await;
    let sb: MatchStartNtf = b.push().await;
    assert_eq!(sa.match_id, sb.match_id);
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_pair_is_never_matched_together() {
    let cl = cluster().await;
    let mut a = cl.guest("blkq-a").await;
    let mut b = cl.guest("blkq-b").await;
    let _: mmo_proto::FriendBlockResp = a.ok(&mmo_proto::FriendBlockReq { player_id: b.id }).await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    // Alone together in the queue, the two are not matched.
    assert!(a.push_within::<MatchProposalNtf>(Duration::from_millis(600)).await.is_none());
    let mut c = cl.guest("blkq-c").await;
    let _: QueueJoinResp = c.ok(&join("duel")).await;
    let pa: MatchProposalNtf = a.push().await;
    let pc: MatchProposalNtf = c.push().await;
    assert_eq!(pa.proposal, pc.proposal, "a is matched with c, the one it did not block");
    assert!(b.push_within::<MatchProposalNtf>(Duration::from_millis(200)).await.is_none());
    cl.finish().await;
}

/// The blocks a join reads are cached in Redis: a block or unblock made after a first join
/// must reach the next one (the account server forgets the cached blocks on every change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_changed_after_a_join_is_seen_by_the_next_join() {
    let cl = cluster().await;
    let mut a = cl.guest("blkc-a").await;
    let b = cl.guest("blkc-b").await;
    let blocked = |cl: &common::Cluster, who: u64| {
        let bus = cl.bus.clone();
        async move {
            let row = mmo_matchmaking::tickets::of_player(&bus, who).await.unwrap().expect("a ticket");
            row.body.blocked
        }
    };
    // The first join caches "no blocks" for a.
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    assert_eq!(blocked(&cl, a.id).await, Vec::<u64>::new());
    let _: QueueLeaveResp = a.ok(&QueueLeaveReq {}).await;

    let _: mmo_proto::FriendBlockResp = a.ok(&mmo_proto::FriendBlockReq { player_id: b.id }).await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    assert_eq!(blocked(&cl, a.id).await, vec![b.id], "the block made after the first join");
    let _: QueueLeaveResp = a.ok(&QueueLeaveReq {}).await;

    let _: mmo_proto::FriendUnblockResp = a.ok(&mmo_proto::FriendUnblockReq { player_id: b.id }).await;
    let _: QueueJoinResp = a.ok(&join("duel")).await;
    assert_eq!(blocked(&cl, a.id).await, Vec::<u64>::new(), "the block lifted after the second join");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_asking_why_a_ticket_is_not_matched_gets_the_rule() {
    let cl = cluster().await;
    let mut a = cl.guest("why-a").await;
    let mut b = cl.guest("why-b").await;
    let mut c = cl.guest("why-c").await;
    cl.set_rating(b.id, "duel", 2500.0).await;
    let _: mmo_proto::FriendBlockResp = a.ok(&mmo_proto::FriendBlockReq { player_id: c.id }).await;
    let ta: QueueJoinResp = a.ok(&join("duel")).await;
    let _: QueueJoinResp = b.ok(&join("duel")).await;
    let _: QueueJoinResp = c.ok(&join("duel")).await;
    let ticket = ta.ticket.unwrap().id;
    // b is 1000 away (the window does not widen in these rules), c is blocked.
    let why = cl.mm.explain(ticket).await.unwrap().expect("a is searching").to_string();
    assert!(why.contains("rating window"), "{why}");
    assert!(why.contains("blocked"), "{why}");
    assert!(why.contains(&b.id.to_string()) || why.contains("1000"), "{why}");
    assert!(cl.mm.explain(999_999).await.unwrap().is_none());
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_with_roles_fills_each_team_and_tells_each_player_its_role() {
    let mut cfg = common::test_config();
    let roles = vec![
        mmo_matchmaking::config::RoleRule { name: "tank".into(), per_team: 1 },
        mmo_matchmaking::config::RoleRule { name: "healer".into(), per_team: 1 },
    ];
    let mode = mmo_matchmaking::ModeRules { team_size: 2, teams: 2, roles, ..cfg.modes.0["duel"].clone() };
    cfg.modes.0.insert("roles".into(), mode);
    let cl = common::cluster_with(cfg, Duration::ZERO).await;
    let mut players = Vec::new();
    for (i, role) in ["tank", "tank", "healer", "healer"].iter().enumerate() {
        let mut c = cl.guest(&format!("role-{i}")).await;
        let choice = mmo_proto::RoleChoice { player: c.id, roles: vec![role.to_string()] };
        let req = QueueJoinReq { mode: "roles".into(), roles: vec![choice], ..Default::default() };
        let _: QueueJoinResp = c.ok(&req).await;
        players.push((c, role.to_string()));
    }
    let mut e = cl.guest("role-bad").await;
    let choice = |player, role: &str| mmo_proto::RoleChoice { player, roles: vec![role.into()] };
    for wrong in [choice(e.id, "mage"), choice(players[0].0.id, "tank")] {
        let bad = QueueJoinReq { mode: "roles".into(), roles: vec![wrong], ..Default::default() };
        e.refused::<_, QueueJoinResp>(&bad, ErrorCode::InvalidArgument).await;
    }
    for (c, _) in players.iter_mut() {
        let p: MatchProposalNtf = c.push().await;
        accept(c, p.proposal).await;
    }
    for (c, role) in players.iter_mut() {
        let s: MatchStartNtf = c.push().await;
        assert_eq!(&s.role, role, "player {} plays what it chose", c.id);
        assert_eq!(s.teams.len(), 2);
    }
    cl.finish().await;
}
