//! The byte-level examples of proto/README.md, checked both ways: each message encodes to these
//! bytes, and the document shows exactly these bytes (in one of its code blocks). What the
//! server itself sends for the examples it can produce (HelloResp, the handshake timeout, a
//! wrong-stage error) is compared with them in `framework/testkit/tests/protocol_doc.rs`.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use mmo_proto::*;
use mmo_wire::{Flags, Seq};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Asserts `bytes` encode to `expected` and that the document shows exactly them (a code block
/// may hold several frames one after the other).
fn golden(bytes: &[u8], expected: &str) {
    assert_eq!(hex(bytes), expected);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        mmo_proto::doc::hex_blocks(&doc).iter().any(|b| format!(" {b} ").contains(&format!(" {expected} "))),
        "proto/README.md has no code block with the bytes {expected}"
    );
}

#[test]
fn hello_request() {
    let req =
        HelloReq { protocol_version: 1, client_version: "1.0.0".into(), platform: Platform::Linux as i32 };
    golden(
        &req.to_frame_bytes(Seq(1), Flags::NONE),
        "00 00 00 12 00 01 00 00 00 00 01 08 01 12 05 31 2e 30 2e 30 18 03",
    );
}

#[test]
fn hello_response() {
    let resp = HelloResp {
        protocol_version: 1,
        heartbeat_interval_ms: 10_000,
        idle_timeout_ms: 30_000,
        max_frame_len: 65_536,
        session_id: 1,
        version_status: VersionStatus::Ok as i32,
        resume_window_ms: 30_000,
        ..Default::default()
    };
    golden(
        &resp.to_frame_bytes(Seq(1), Flags::NONE),
        "00 00 00 1c 00 02 00 00 00 00 01 08 01 10 90 4e 18 b0 ea 01 20 80 80 04 28 01 30 01 50 b0 ea 01",
    );
}

#[test]
fn ping_request() {
    let req = PingReq { client_time_ms: 1000 };
    golden(&req.to_frame_bytes(Seq(2), Flags::NONE), "00 00 00 0a 00 03 00 00 00 00 02 08 e8 07");
}

#[test]
fn error_response() {
    let e = ErrorResp { code: ErrorCode::WrongStage as i32, request_msg_id: 7000, ..Default::default() };
    golden(&e.to_frame_bytes(Seq(3), Flags::NONE), "00 00 00 0c 00 05 00 00 00 00 03 08 04 10 d8 36");
}

#[test]
fn disconnect_notice() {
    let n = DisconnectNtf {
        reason: ErrorCode::HandshakeTimeout as i32,
        detail: "no Hello in time".into(),
        ..Default::default()
    };
    golden(
        &n.to_frame_bytes(Seq(0), Flags::PUSH),
        "00 00 00 1b 00 06 01 00 00 00 00 08 07 12 10 6e 6f 20 48 65 6c 6c 6f 20 69 6e 20 74 69 6d 65",
    );
}

#[test]
fn device_login_request() {
    let req = LoginReq {
        credential: Some(login_req::Credential::Device(DeviceCredential {
            device_id: "device-0123456789".into(),
        })),
    };
    golden(
        &req.to_frame_bytes(Seq(2), Flags::NONE),
        "00 00 00 1c 03 ea 00 00 00 00 02 12 13 0a 11 64 65 76 69 63 65 2d 30 31 32 33 34 35 36 37 38 39",
    );
}

#[test]
fn resume_request() {
    let req = ResumeReq { token: "A".repeat(43), received: 5 };
    let bytes = req.to_frame_bytes(Seq(2), Flags::NONE);
    assert_eq!(hex(&bytes[..13]), "00 00 00 36 00 07 00 00 00 00 02 0a 2b");
    assert!(bytes[13..56].iter().all(|b| *b == b'A'));
    assert_eq!(hex(&bytes[56..]), "10 05");
}

#[test]
fn banned_error_response() {
    let e = ErrorResp {
        code: ErrorCode::AccountBanned as i32,
        request_msg_id: 1002,
        detail: "cheating".into(),
        retry_after_ms: 3_600_000,
    };
    golden(
        &e.to_frame_bytes(Seq(2), Flags::NONE),
        "00 00 00 1c 00 05 00 00 00 00 02 08 ec 07 10 ea 07 1a 08 63 68 65 61 74 69 6e 67 20 80 dd db 01",
    );
}

#[test]
fn enter_world_request() {
    golden(&EnterWorldReq {}.to_frame_bytes(Seq(3), Flags::NONE), "00 00 00 07 07 d3 00 00 00 00 03");
}

#[test]
fn move_request() {
    let req = MoveReq {
        input_seq: 1,
        intent: Some(move_req::Intent::Direction(Vec2 { x: 1.0, y: 0.0 })),
        ..Default::default()
    };
    golden(
        &req.to_frame_bytes(Seq(4), Flags::NONE),
        "00 00 00 10 07 d0 00 00 00 00 04 08 01 1a 05 0d 00 00 80 3f",
    );
}

#[test]
fn positions_push() {
    let ntf = ZonePositionsNtf {
        tick: 7,
        server_time_ms: 1_764_000_000_000,
        moves: vec![EntityMove { id: 0x0010_0001, x: 10.0, y: 20.0 }],
    };
    golden(
        &ntf.to_frame_bytes(Seq(0), Flags::PUSH.union(Flags::DROPPABLE)),
        "00 00 00 20 07 dc 03 00 00 00 00 08 07 10 80 d0 df b4 ab 33 1a 0e 08 81 80 40 15 00 00 20 41 1d 00 00 a0 41",
    );
}

#[test]
fn queue_join_request() {
    let req = QueueJoinReq {
        mode: "duel".into(),
        latencies: vec![RegionLatency { region: "eu".into(), ms: 40 }],
        ..Default::default()
    };
    golden(
        &req.to_frame_bytes(Seq(5), Flags::NONE),
        "00 00 00 15 0c 1c 00 00 00 00 05 0a 04 64 75 65 6c 12 06 0a 02 65 75 10 28",
    );
}

#[test]
fn queue_join_response() {
    let resp = QueueJoinResp {
        ticket: Some(Ticket {
            id: 42,
            mode: "duel".into(),
            state: TicketState::Searching as i32,
            players: vec![7],
            position: 2,
            estimated_wait_ms: 12_000,
            ..Default::default()
        }),
    };
    golden(
        &resp.to_frame_bytes(Seq(5), Flags::NONE),
        "00 00 00 1b 0c 1d 00 00 00 00 05 0a 12 08 2a 12 04 64 75 65 6c 18 01 22 01 07 30 02 38 e0 5d",
    );
}

#[test]
fn queue_cooldown_error_response() {
    let e = ErrorResp {
        code: ErrorCode::QueueCooldown as i32,
        request_msg_id: 3100,
        retry_after_ms: 29_500,
        ..Default::default()
    };
    golden(
        &e.to_frame_bytes(Seq(7), Flags::NONE),
        "00 00 00 11 00 05 00 00 00 00 07 08 c1 17 10 9c 18 20 bc e6 01",
    );
}

#[test]
fn match_proposal_push() {
    let ntf = MatchProposalNtf {
        proposal: 9,
        mode: "duel".into(),
        players: 2,
        region: "eu".into(),
        deadline_ms: 1_764_000_015_000,
    };
    golden(
        &ntf.to_frame_bytes(Seq(4), Flags::PUSH),
        "00 00 00 1c 0c 31 01 00 00 00 04 08 09 12 04 64 75 65 6c 18 02 22 02 65 75 28 98 c5 e0 b4 ab 33",
    );
}

#[test]
fn match_accept_request() {
    let req = MatchAcceptReq { proposal: 9, accept: true };
    golden(&req.to_frame_bytes(Seq(6), Flags::NONE), "00 00 00 0b 0c 24 00 00 00 00 06 08 09 10 01");
}

#[test]
fn ticket_declined_push() {
    let ntf = TicketNtf {
        ticket: Some(Ticket {
            id: 43,
            mode: "duel".into(),
            state: TicketState::Cancelled as i32,
            players: vec![8],
            waited_ms: 4200,
            ..Default::default()
        }),
        reason: TicketEndReason::Declined as i32,
        cooldown_ms: 30_000,
    };
    golden(
        &ntf.to_frame_bytes(Seq(5), Flags::PUSH),
        "00 00 00 1f 0c 30 01 00 00 00 05 0a 10 08 2b 12 04 64 75 65 6c 18 05 22 01 08 28 e8 20 10 02 18 b0 ea 01",
    );
}

#[test]
fn match_start_push() {
    let ntf = MatchStartNtf {
        match_id: "m9".into(),
        mode: "duel".into(),
        instance: "arena.3".into(),
        region: "eu".into(),
        teams: vec![MatchTeam { players: vec![7] }, MatchTeam { players: vec![8] }],
        team: 0,
        role: String::new(),
        backfill: false,
    };
    golden(
        &ntf.to_frame_bytes(Seq(5), Flags::PUSH),
        "00 00 00 28 0c 32 01 00 00 00 05 0a 02 6d 39 12 04 64 75 65 6c 1a 07 61 72 65 6e 61 2e 33 \
         22 02 65 75 2a 03 0a 01 07 2a 03 0a 01 08",
    );
}

fn lobby() -> Option<ChannelRef> {
    Some(ChannelRef { kind: ChannelKind::Custom as i32, name: "lobby".into() })
}

#[test]
fn chat_send_request() {
    let req = ChatSendReq { channel: lobby(), text: "hi".into() };
    golden(
        &req.to_frame_bytes(Seq(9), Flags::NONE),
        "00 00 00 16 0f aa 00 00 00 00 09 0a 09 08 05 12 05 6c 6f 62 62 79 12 02 68 69",
    );
}

#[test]
fn chat_message_push() {
    let ntf = ChatMessageNtf {
        channel: lobby(),
        message: Some(ChatMessage {
            id: 42,
            sender: 7,
            sender_name: "Ann".into(),
            text: "hi".into(),
            sent_ms: 1_764_000_000_000,
        }),
    };
    golden(
        &ntf.to_frame_bytes(Seq(3), Flags::PUSH),
        "00 00 00 28 10 04 01 00 00 00 03 0a 09 08 05 12 05 6c 6f 62 62 79 \
         12 14 08 2a 10 07 1a 03 41 6e 6e 22 02 68 69 28 80 d0 df b4 ab 33",
    );
}

#[test]
fn whisper_request() {
    let req = WhisperReq { to_name: "Bob".into(), to_player: 0, text: "hello".into() };
    golden(
        &req.to_frame_bytes(Seq(4), Flags::NONE),
        "00 00 00 13 0f ac 00 00 00 00 04 0a 03 42 6f 62 1a 05 68 65 6c 6c 6f",
    );
}

#[test]
fn chat_muted_error() {
    let e = ErrorResp {
        code: ErrorCode::ChatMuted as i32,
        request_msg_id: 4010,
        retry_after_ms: 9500,
        ..Default::default()
    };
    golden(
        &e.to_frame_bytes(Seq(10), Flags::NONE),
        "00 00 00 10 00 05 00 00 00 00 0a 08 a8 1f 10 aa 1f 20 9c 4a",
    );
}

#[test]
fn presence_set_request() {
    let req = PresenceSetReq {
        status: PresenceStatus::Away as i32,
        rich: Some(RichPresence { text: "afk".into(), values: vec![] }),
        ..Default::default()
    };
    golden(
        &req.to_frame_bytes(Seq(5), Flags::NONE),
        "00 00 00 10 0f b4 00 00 00 00 05 08 03 1a 05 0a 03 61 66 6b",
    );
}

#[test]
fn presence_push() {
    let ntf = PresenceNtf {
        presence: Some(PresenceInfo {
            player: 7,
            status: PresenceStatus::InMatch as i32,
            match_id: "m12".into(),
            match_mode: "duel".into(),
            ..Default::default()
        }),
    };
    golden(
        &ntf.to_frame_bytes(Seq(4), Flags::PUSH),
        "00 00 00 18 10 07 01 00 00 00 04 0a 0f 08 07 10 04 32 03 6d 31 32 3a 04 64 75 65 6c",
    );
}

#[test]
fn purchase_request() {
    let req = PurchaseReq { key: "buy-1".into(), item_id: 7, quantity: 1, expected_version: 2 };
    golden(
        &req.to_frame_bytes(Seq(5), Flags::NONE),
        "00 00 00 14 17 76 00 00 00 00 05 0a 05 62 75 79 2d 31 10 07 18 01 20 02",
    );
}

#[test]
fn shop_key_reused_error() {
    let resp = ErrorResp {
        code: ErrorCode::ShopKeyReused as i32,
        request_msg_id: u32::from(PurchaseReq::ID.0),
        ..Default::default()
    };
    golden(&resp.to_frame_bytes(Seq(6), Flags::NONE), "00 00 00 0d 00 05 00 00 00 00 06 08 f5 2e 10 f6 2e");
}

#[test]
fn score_submit_request() {
    let req = ScoreSubmitReq { board: "race_time".into(), score: 61_234, skip_rank: false };
    golden(
        &req.to_frame_bytes(Seq(6), Flags::NONE),
        "00 00 00 16 13 88 00 00 00 00 06 0a 09 72 61 63 65 5f 74 69 6d 65 10 e4 bc 07",
    );
}

#[test]
fn leaderboard_around_response() {
    let entry = |player, name: &str, score, rank, achieved_ms| LeaderboardEntry {
        player,
        name: name.into(),
        score,
        rank,
        achieved_ms,
    };
    let resp = LeaderboardAroundResp {
        entries: vec![entry(3, "Bo", 900, 1, 1_764_000_000_000), entry(7, "Ann", 900, 1, 1_764_000_001_000)],
        total: 2,
        season: 0,
    };
    golden(
        &resp.to_frame_bytes(Seq(7), Flags::NONE),
        "00 00 00 32 13 8d 00 00 00 00 07 \
         0a 12 08 03 12 02 42 6f 18 88 0e 20 01 28 80 d0 df b4 ab 33 \
         0a 13 08 07 12 03 41 6e 6e 18 88 0e 20 01 28 e8 d7 df b4 ab 33 10 02",
    );
}

#[test]
fn score_rate_limited_error() {
    let e = ErrorResp {
        code: ErrorCode::ScoreRateLimited as i32,
        request_msg_id: 5000,
        retry_after_ms: 800,
        ..Default::default()
    };
    golden(
        &e.to_frame_bytes(Seq(8), Flags::NONE),
        "00 00 00 10 00 05 00 00 00 00 08 08 8a 27 10 88 27 20 a0 06",
    );
}
