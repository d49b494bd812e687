//! The handler table without a socket: dispatch, stage gating, merge, duplicate detection.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::sync::Arc;

use bytes::Bytes;
use mmo_core::router::RouteBuckets;
use mmo_core::session::SessionLimits;
use mmo_core::{Ctx, HandlerError, NoReply, Outcome, Router, Session, SessionId, Stage};
use mmo_proto::{EchoReq, EchoResp, ErrorCode, PingReq};
use mmo_wire::{Frame, Header, MsgType, Seq};
use prost::Message as _;

async fn echo(_: Ctx<()>, req: EchoReq) -> Result<EchoResp, HandlerError> {
    if req.payload.is_empty() {
        return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
    }
    Ok(EchoResp { payload: req.payload })
}

async fn ping(_: Ctx<()>, _: PingReq) -> Result<NoReply, HandlerError> {
    Ok(NoReply)
}

fn session(stage: Stage) -> Session {
    let s = Session::new(
        SessionId(1),
        SessionLimits { max_bytes: 1 << 16, droppable_high_water: 1 << 12, replay_bytes: 0, max_strikes: 0 },
    );
    s.set_stage(stage);
    s
}

fn frame<M: MsgType>(m: &M) -> Frame {
    Frame::new(Header::new(M::ID, Seq(1)), Bytes::from(m.encode_to_vec()))
}

#[tokio::test]
async fn dispatch_runs_the_handler_for_the_message_type() {
    let router = Router::new().route(Stage::Authenticated, echo).route(Stage::Authenticated, ping);
    let (state, s, mut b) = (Arc::new(()), session(Stage::Authenticated), RouteBuckets::default());
    let out =
        router.dispatch(&state, &s, &mut b, frame(&EchoReq { payload: Bytes::from_static(b"a") })).await;
    let body = Bytes::from(EchoResp { payload: Bytes::from_static(b"a") }.encode_to_vec());
    assert_eq!(out, Outcome::Reply { id: EchoResp::ID, body });
    let out = router.dispatch(&state, &s, &mut b, frame(&EchoReq::default())).await;
    assert_eq!(out, Outcome::Reject { code: ErrorCode::InvalidArgument, strike: false });
    assert_eq!(router.dispatch(&state, &s, &mut b, frame(&PingReq::default())).await, Outcome::Done);
}

#[tokio::test]
async fn off_stage_and_unknown_messages_never_reach_a_handler() {
    let router = Router::new().route(Stage::Authenticated, |_: Ctx<()>, _: EchoReq| async {
        panic!("handler ran");
        #[allow(unreachable_code)]
        Ok::<_, HandlerError>(NoReply)
    });
    let (state, s, mut b) = (Arc::new(()), session(Stage::Versioned), RouteBuckets::default());
    let out = router.dispatch(&state, &s, &mut b, frame(&EchoReq::default())).await;
    assert_eq!(out, Outcome::Reject { code: ErrorCode::WrongStage, strike: true });
    let out = router.dispatch(&state, &s, &mut b, frame(&PingReq::default())).await;
    assert_eq!(out, Outcome::Reject { code: ErrorCode::UnknownMessage, strike: true });
}

#[test]
fn merge_composes_routers() {
    let a = Router::new().route(Stage::Authenticated, echo);
    let b = Router::new().route(Stage::Connected, ping);
    let r = a.merge(b);
    assert_eq!(r.len(), 2);
    assert!(r.handles(EchoReq::ID) && r.handles(PingReq::ID));
    let names: Vec<_> = r.describe().into_iter().map(|(_, n, _)| n).collect();
    assert_eq!(names, ["PingReq", "EchoReq"]);
}

#[test]
fn a_duplicate_route_panics_naming_both_places() {
    let err = std::panic::catch_unwind(|| {
        let a = Router::new().route(Stage::Authenticated, echo);
        let b = Router::new().route(Stage::Authenticated, echo);
        a.merge(b)
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(msg.contains("EchoReq"), "{msg}");
    assert_eq!(msg.matches("framework/core/tests/router.rs").count(), 2, "{msg}");
}

async fn pass_on(_: Ctx<()>, _: EchoReq) -> Result<mmo_core::PassedOn, HandlerError> {
    Ok(mmo_core::PassedOn)
}

#[tokio::test]
async fn behind_the_bus_a_passed_on_request_is_not_completed_here_and_a_handled_one_is() {
    use mmo_core::bus::serve::handle_envelope;
    use mmo_proto::bus::{Envelope, Kind, Request};
    let env = |m: &EchoReq| -> Envelope {
        Request {
            session: 7,
            seq: 3,
            msg_id: u32::from(EchoReq::ID.0),
            body: Bytes::from(m.encode_to_vec()),
            stage: Stage::Authenticated.to_wire(),
            ..Default::default()
        }
        .into()
    };
    let req = EchoReq { payload: Bytes::from_static(b"x") };
    let passing = Router::new().route(Stage::Authenticated, pass_on);
    assert!(handle_envelope(&passing, &Arc::new(()), env(&req)).await.is_empty());
    let answering = Router::new().route(Stage::Authenticated, echo);
    let out = handle_envelope(&answering, &Arc::new(()), env(&req)).await;
    assert_eq!(out.len(), 1);
    let Some(Kind::Answer(a)) = &out[0].kind else { panic!("not an answer: {:?}", out[0]) };
    assert_eq!((a.msg_id, a.seq, a.complete), (u32::from(EchoResp::ID.0), 3, true));
}
