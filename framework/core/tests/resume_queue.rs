//! The session queue's resume bookkeeping, without sockets: which frames count, what the replay
//! buffer keeps, and what a resume puts back, in which order.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use bytes::{Buf, Bytes, BytesMut};
use mmo_core::session::{Delivery, ResumeError, SessionLimits};
use mmo_core::{Session, SessionId, Stage};
use mmo_proto::{EchoResp, PingResp};
use mmo_wire::{MsgType, Seq};

fn session(replay_bytes: usize) -> Session {
    Session::new(
        SessionId(1),
        SessionLimits { max_bytes: 1 << 16, droppable_high_water: 1 << 12, replay_bytes, max_strikes: 0 },
    )
}

/// A reliable push whose body is its number (one byte): 12 bytes on the wire.
fn push(s: &Session, n: u8) {
    s.push_body(EchoResp::ID, Bytes::from(vec![n]), Delivery::Reliable).unwrap();
}

/// Drains the queue like a connection writing to its socket; returns the bodies' first bytes.
fn drain(s: &Session) -> Vec<u8> {
    let mut buf = BytesMut::new();
    s.drain_into(&mut buf, usize::MAX);
    let mut out = Vec::new();
    while buf.remaining() >= 11 {
        let len = buf.get_u32() as usize;
        let frame = buf.split_to(len);
        out.push(*frame.get(7).unwrap_or(&0));
    }
    out
}

#[test]
fn frames_before_login_do_not_count_and_the_login_answer_is_frame_one() {
    let s = session(1024);
    s.set_stage(Stage::Versioned);
    push(&s, 100); // e.g. the HelloResp: not counted
    assert_eq!(drain(&s), [100]);
    s.set_stage(Stage::Authenticated);
    s.respond(PingResp::ID, Seq(2), Bytes::from_static(&[1])).unwrap(); // the LoginResp
    push(&s, 2);
    assert_eq!(drain(&s), [1, 2]);
    s.detach();
    // The client got only the LoginResp: frame 2 comes back.
    assert_eq!(s.resume(1), Ok(1));
    assert_eq!(drain(&s), [2]);
}

#[test]
fn a_resume_replays_sent_then_queued_frames_in_order() {
    let s = session(1024);
    s.set_stage(Stage::Authenticated);
    for n in 1..=4 {
        push(&s, n);
    }
    assert_eq!(drain(&s), [1, 2, 3, 4]);
    s.detach();
    s.push_droppable(9, &EchoResp::default()).unwrap(); // dropped: nobody to show it to
    push(&s, 5);
    push(&s, 6);
    assert_eq!(s.resume(2), Ok(4));
    assert_eq!(drain(&s), [3, 4, 5, 6]);
    // Replayed frames are counted again once: a second drop with everything received replays nothing.
    s.detach();
    assert_eq!(s.resume(6), Ok(0));
    assert_eq!(drain(&s), Vec::<u8>::new());
}

#[test]
fn a_resume_is_refused_when_the_frames_are_gone_or_the_count_is_wrong() {
    // Room for two 12-byte frames.
    let s = session(24);
    s.set_stage(Stage::Authenticated);
    for n in 1..=5 {
        push(&s, n);
    }
    drain(&s);
    assert_eq!(s.resume(3), Err(ResumeError::Attached), "still attached to a connection");
    s.detach();
    assert_eq!(s.resume(6), Err(ResumeError::AheadOfServer));
    assert_eq!(s.resume(2), Err(ResumeError::NoLongerHeld), "frame 3 is no longer held");
    assert_eq!(s.resume(3), Ok(2), "frames 4 and 5 are");
    assert_eq!(drain(&s), [4, 5]);
    s.detach();
    s.kick(mmo_proto::ErrorCode::DuplicateLogin, "");
    assert_eq!(s.resume(5), Err(ResumeError::Closed));
}

#[test]
fn without_a_replay_buffer_only_a_complete_count_resumes() {
    let s = session(0);
    s.set_stage(Stage::Authenticated);
    push(&s, 1);
    drain(&s);
    s.detach();
    push(&s, 2);
    assert_eq!(s.resume(0), Err(ResumeError::NoLongerHeld));
    assert_eq!(s.resume(1), Ok(1));
    assert_eq!(drain(&s), [2]);
}
