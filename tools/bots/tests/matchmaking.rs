//! The `match` scenario against a real cluster started in-process the way `mmo all` starts it
//! (gateway, accounts, zone, matchmaking, the bus, MySQL), with quick matchmaking rules: twelve
//! bots, five of them in two parties, queue for 3 v 3, decline a tenth of their ready checks,
//! play half-second matches and requeue. Matches start, declines are penalised and waited out,
//! the other tickets of a failed check are requeued, and no ticket is matched twice. Against a
//! fake server that answers on cue: a ticket started in two matches fails the run's checks, and
//! a queue that refuses every join fails it with the reason.
//!
//! Needs Redis at `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`);
//! the cluster has its own key prefix and database, deleted at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cluster::Cluster;
use mmo_bots::{Options, Scenario};
use mmo_proto::{
    AuthSession, EnterWorldReq, EnterWorldResp, ErrorCode, ErrorResp, LeaveInstanceReq, LeaveInstanceResp,
    LoginReq, LoginResp, MatchAcceptReq, MatchAcceptResp, MatchProposalNtf, MatchStartNtf, MatchTeam,
    PingReq, PingResp, QueueJoinReq, QueueJoinResp, QueueLeaveReq, QueueLeaveResp, Ticket, Vec2,
    ZoneEnterNtf,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};

const BOTS: usize = 12;
const WINDOW: Duration = Duration::from_secs(6);

/// Matchmaking as the tests of the matchmaking server run it: a pass every 50 ms, 2 s to accept,
/// a 1 s penalty for declining (2 s at most); match instances that close soon after their
/// players leave.
fn quick_rules(cfg: &mut mmo::Config) {
    let mm = &mut cfg.matchmaking;
    mm.pass_interval = Duration::from_millis(50);
    mm.lease_ttl = Duration::from_millis(600);
    mm.instance_timeout = Duration::from_secs(5);
    for mode in mm.modes.0.values_mut() {
        mode.ready_timeout = Duration::from_secs(2);
        mode.decline_penalty = Duration::from_secs(1);
        mode.max_penalty = Duration::from_secs(2);
    }
    cfg.zone.match_linger = Duration::from_millis(300);
    cfg.zone.match_start_timeout = Duration::from_secs(5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parties_and_solos_queue_accept_or_decline_play_and_requeue_and_no_ticket_is_matched_twice() {
    let cluster = Cluster::start("match", quick_rules).await;
    let opts = Options {
        addr: cluster.addr,
        bots: BOTS,
        scenario: Scenario::Match,
        duration: WINDOW,
        run_tag: "matchmakers".into(),
        // 3 v 3; 6 of the 12 bots meant for parties: one of 3 and one of 2 (the sixth is solo).
        match_mode: Some("team".into()),
        party_share: Some(0.5),
        party_size: Some(3),
        decline_rate: Some(0.1),
        match_secs: Some(0.5),
        ..Options::default()
    };
    let report = mmo_bots::run(opts).await.unwrap();
    cluster.stop().await;

    let m = report.matches.as_ref().expect("a match report");
    // Every bot logged in, entered the world, and the parties formed.
    assert_eq!(report.login.as_ref().unwrap().ok, BOTS as u64, "{report}");
    assert_eq!((m.entered, m.enter_failed), (BOTS as u64, 0), "{report}");
    assert_eq!((m.parties, m.party_players), (2, 5), "{report}");
    // Two leaders and seven solo bots queue; each got a ticket.
    assert_eq!((m.queuers, m.never_queued), (9, 0), "{report}");
    assert!(m.tickets >= m.queuers, "{report}");

    // Matches started and were played; every player of a match was told of it, so starts come
    // in sixes (less those told after the window closed), besides the backfills: `team`
    // replaces a player who leaves a match that goes on.
    assert!(m.matches >= 2, "{report}");
    let first = m.starts - m.backfills;
    assert!(first <= 6 * m.matches && first >= 6 * m.matches.saturating_sub(2), "{report}");
    assert!(m.played > 0 && m.played <= m.starts, "{report}");
    assert!((m.matches_per_s - m.matches as f64 / report.duration_s).abs() < 1e-9, "{report}");
    let ttm = m.time_to_match_ms;
    assert!(m.time_to_match_samples > 0, "{report}");
    assert!(ttm.p50 > 0.0 && ttm.p50 <= ttm.p99 && ttm.p99 <= ttm.max && ttm.max < 10_000.0, "{report}");

    // A tenth of the ready checks declined: each bot declines every tenth, from a point of its
    // own (bot 8, solo, declines its first). A decline fails the check: the other tickets go back
    // to the queue, the decliner's is over and its next join is refused until the penalty ends.
    assert_eq!(m.proposals, m.accepted + m.declined, "{report}");
    assert!(m.proposals >= BOTS as u64, "{report}");
    assert!(m.declined > 0 && m.declined * 10 <= m.proposals + 10 * BOTS as u64, "{report}");
    assert!(m.requeued > 0, "{report}");
    assert!(m.cooldowns > 0, "{report}");
    assert!(m.ticket_notices.get("DECLINED").is_some_and(|n| *n > 0), "{report}");

    // The checks held, nothing failed, and the run passed.
    assert!(m.checks.passed(), "{report}");
    assert_eq!(m.checks.examples, Vec::<String>::new());
    assert_eq!((m.failed, report.errors), (0, 0), "{report}");
    assert!(report.passed(), "{:?}\n{report}", report.failures());

    let text = report.to_string();
    for line in
        ["match        mode team", "queue ", "ready checks ", "matches ", "to match ms ", "checks       ok"]
    {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["scenario"], "match");
    for key in ["matches", "matches_per_s", "declined", "requeued", "cooldowns", "tickets"] {
        assert!(json["match"][key].is_number(), "match lacks {key}: {json}");
    }
    for key in ["p50", "p99"] {
        assert!(json["match"]["time_to_match_ms"][key].is_f64(), "time to match lacks {key}: {json}");
    }
    assert_eq!(json["match"]["checks"]["tickets_matched_twice"], 0);
}

/// How the fake matchmaker answers.
#[derive(Clone, Copy, PartialEq)]
enum Matchmaker {
    /// Every join gets ticket 5 and a ready check; every accept starts the ticket twice, in
    /// matches `a` and `b` (the zone places the player in `b`).
    Twice,
    /// Every join is refused UNKNOWN_MODE.
    NoSuchMode,
}

fn place(match_id: &str) -> ZoneEnterNtf {
    ZoneEnterNtf {
        map: if match_id.is_empty() { "start" } else { "arena" }.into(),
        width: 100.0,
        height: 100.0,
        entity_id: 1,
        position: Some(Vec2 { x: 50.0, y: 50.0 }),
        match_id: match_id.into(),
        ..Default::default()
    }
}

fn start(match_id: &str) -> Bytes {
    let teams = vec![MatchTeam { players: vec![7] }, MatchTeam { players: vec![8] }];
    let ntf = MatchStartNtf {
        match_id: match_id.into(),
        mode: "duel".into(),
        teams,
        team: 0,
        ..Default::default()
    };
    ntf.to_frame_bytes(Seq(0), Flags::PUSH)
}

/// A one-player world whose matchmaker answers as `mm` says.
async fn fake_matchmaker(mm: Matchmaker) -> SocketAddr {
    common::fake_server(move |frame: &Frame| {
        let seq = frame.header.seq;
        let ok = |m: &dyn Fn(Seq) -> Bytes| m(seq);
        let reply: Bytes = match frame.header.id {
            LoginReq::ID => {
                let session = AuthSession { player_id: 7, token: "t".repeat(43), ..Default::default() };
                LoginResp { session: Some(session) }.to_frame_bytes(seq, Flags::NONE)
            }
            PingReq::ID => PingResp::default().to_frame_bytes(seq, Flags::NONE),
            EnterWorldReq::ID => EnterWorldResp { zone: Some(place("")) }.to_frame_bytes(seq, Flags::NONE),
            QueueJoinReq::ID if mm == Matchmaker::NoSuchMode => ErrorResp {
                code: ErrorCode::UnknownMode as i32,
                request_msg_id: u32::from(QueueJoinReq::ID.0),
                detail: "no such mode".into(),
                retry_after_ms: 0,
            }
            .to_frame_bytes(seq, Flags::NONE),
            QueueJoinReq::ID => {
                let ticket = Ticket { id: 5, mode: "duel".into(), players: vec![7], ..Default::default() };
                let proposal =
                    MatchProposalNtf { proposal: 9, mode: "duel".into(), players: 2, ..Default::default() };
                [
                    QueueJoinResp { ticket: Some(ticket) }.to_frame_bytes(seq, Flags::NONE),
                    proposal.to_frame_bytes(Seq(0), Flags::PUSH),
                ]
                .concat()
                .into()
            }
            MatchAcceptReq::ID => [
                ok(&|s| MatchAcceptResp {}.to_frame_bytes(s, Flags::NONE)),
                start("a"),
                start("b"),
                place("b").to_frame_bytes(Seq(0), Flags::PUSH),
            ]
            .concat()
            .into(),
            LeaveInstanceReq::ID => [
                LeaveInstanceResp {}.to_frame_bytes(seq, Flags::NONE),
                place("").to_frame_bytes(Seq(0), Flags::PUSH),
            ]
            .concat()
            .into(),
            QueueLeaveReq::ID => QueueLeaveResp {}.to_frame_bytes(seq, Flags::NONE),
            other => panic!("unexpected message {other}"),
        };
        Some(reply)
    })
    .await
}

fn solo_opts(addr: SocketAddr) -> Options {
    Options {
        addr,
        bots: 1,
        scenario: Scenario::Match,
        duration: Duration::from_millis(500),
        run_tag: "fake".into(),
        match_mode: Some("duel".into()),
        decline_rate: Some(0.0),
        match_secs: Some(0.1),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_ticket_started_in_two_matches_fails_the_checks() {
    let addr = fake_matchmaker(Matchmaker::Twice).await;
    let report = mmo_bots::run(solo_opts(addr)).await.unwrap();
    let m = report.matches.as_ref().unwrap();
    assert!(m.tickets >= 1 && m.matches == 2 && m.starts >= 2, "{report}");
    // The second start came while the player was in the first match: a ticket in two matches,
    // a player in two at once.
    let c = &m.checks;
    assert_eq!(
        (c.tickets_matched_twice, c.players_in_two_matches, c.rosters_disagreeing),
        (1, 1, 0),
        "{report}"
    );
    assert!(c.examples.iter().any(|e| e.contains("ticket 5 started in matches")), "{report}");
    let why = report.failures();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("matchmaking checks failed: 1 tickets matched twice, 1 players"), "{why:?}");
    assert!(report.to_string().contains("checks       FAILED"), "{report}");
}

#[tokio::test]
async fn a_queue_that_refuses_every_join_fails_the_run_with_the_reason() {
    let addr = fake_matchmaker(Matchmaker::NoSuchMode).await;
    let report = mmo_bots::run(solo_opts(addr)).await.unwrap();
    let m = report.matches.as_ref().unwrap();
    assert_eq!((m.queuers, m.never_queued, m.tickets, m.matches), (1, 1, 0, 0), "{report}");
    assert_eq!(m.never_queued_by_kind.get("UNKNOWN_MODE"), Some(&1), "{report}");
    assert_eq!(m.failed_by_kind.get("join.UNKNOWN_MODE"), Some(&1), "asked once, then sat out: {report}");
    assert_eq!(
        report.failures(),
        [
            "1 of 1 queuers could not queue (UNKNOWN_MODE x1)",
            "no match started (0 tickets, 0 ready checks)",
            "1 matchmaking steps failed (join.UNKNOWN_MODE x1)",
        ]
    );
}
