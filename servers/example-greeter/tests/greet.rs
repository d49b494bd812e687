//! GreetReq, twice: the handler alone through `Router::dispatch` (no socket, no Redis), then the
//! whole path: client -> gateway -> Redis Streams -> greeter -> gateway -> client.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use mmo_core::router::RouteBuckets;
use mmo_core::server::launch;
use mmo_core::{Ctx, HandlerError, ListenerConfig, Outcome, Router, Session, SessionId, Shutdown, Stage};
use mmo_example_greeter::State;
use mmo_example_greeter::proto::{GreetReq, GreetResp};
use mmo_proto::prost::Message as _;
use mmo_proto::wire::{Frame, Header, MsgType, Seq};
use mmo_proto::{ErrorCode, HelloReq, HelloResp};
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{ClientError, TestServer};

fn greet(name: &str) -> Frame {
    let req = GreetReq { name: name.into() };
    Frame::new(Header::new(GreetReq::ID, Seq(1)), Bytes::from(req.encode_to_vec()))
}

#[tokio::test]
async fn the_handler_greets_valid_names_and_rejects_the_rest() {
    let router = mmo_example_greeter::router();
    let state = Arc::new(State::default());
    let session = Session::new(SessionId(1), ListenerConfig::default().session_limits());
    // After Hello, before login.
    session.set_stage(Stage::Versioned);
    let mut buckets = RouteBuckets::default();

    let out = router.dispatch(&state, &session, &mut buckets, greet("Ada")).await;
    let body = Bytes::from(GreetResp { greeting: "Hello, Ada!".into() }.encode_to_vec());
    assert_eq!(out, Outcome::Reply { id: GreetResp::ID, body });

    // 32 characters is the limit, counted in characters, not bytes (each "é" is 2 bytes).
    let out = router.dispatch(&state, &session, &mut buckets, greet(&"é".repeat(32))).await;
    assert!(matches!(out, Outcome::Reply { .. }), "{out:?}");
    for bad in ["", &"a".repeat(33)] {
        let out = router.dispatch(&state, &session, &mut buckets, greet(bad)).await;
        assert_eq!(out, Outcome::Reject { code: ErrorCode::InvalidArgument, strike: false });
    }
    assert_eq!(state.greeted.load(Ordering::Relaxed), 2);

    // Before Hello the route is closed: the handler does not run, the body is not even decoded.
    session.set_stage(Stage::Connected);
    let out = router.dispatch(&state, &session, &mut buckets, greet("Ada")).await;
    assert_eq!(out, Outcome::Reject { code: ErrorCode::WrongStage, strike: true });
}

/// The generated id table is the `MessageId` enum of greeter.proto: GreetReq and GreetResp at
/// their ids, every id in the greeter's slice, ids and types one-to-one. (Written so that a
/// message added by following docs/extending.md keeps it passing.)
#[test]
fn the_ids_come_from_greeter_proto() {
    let messages = mmo_example_greeter::proto::MESSAGES;
    assert!(messages.contains(&(20000, "GreetReq")) && messages.contains(&(20001, "GreetResp")));
    assert!(messages.iter().all(|(id, _)| (20000..=20099).contains(id)), "{messages:?}");
    let types = mmo_example_greeter::proto::type_table();
    assert_eq!(types.len(), messages.len());
    assert!(types.iter().all(|(id, name)| messages.contains(&(id.0, *name))));
    assert!(types.contains(&(GreetReq::ID, GreetReq::NAME)));
    assert!(types.contains(&(GreetResp::ID, GreetResp::NAME)));
}

/// The gateway side, as in the framework's bus tests: Hello logs in at once; everything else
/// (GreetReq) is forwarded to the server that declared it.
fn gateway_router() -> Router<()> {
    Router::new().route(Stage::Connected, |ctx: Ctx<()>, _: HelloReq| async move {
        ctx.session().set_stage(Stage::Authenticated);
        Ok::<_, HandlerError>(HelloResp::default())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_greeted_through_the_gateway_and_the_bus() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    // The greeter first, so its routes are in Redis when the gateway loads the route table. The
    // launcher runs it as it runs any server (`mmo_core::server::launch`).
    let servers = vec![mmo_example_greeter::server()];
    let launched = launch(servers, &redis.cfg, "greeter-1", None, &shutdown).await.unwrap();
    redis.track(&launched.bus);
    assert_eq!(launched.running.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["greeter"]);
    let gateway_bus = redis.bus("gateway-1", &shutdown).await;
    let gateway =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gateway_bus)
            .await;

    let mut client = gateway.client().await;
    // The stage the greeter declared is enforced by the gateway, before anything crosses the bus.
    let err = client.request::<_, GreetResp>(&GreetReq { name: "Ada".into() }).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::WrongStage }), "{err:?}");

    client.hello().await.unwrap();
    let resp: GreetResp = client.request(&GreetReq { name: "Ada".into() }).await.unwrap();
    assert_eq!(resp.greeting, "Hello, Ada!");

    let err = client.request::<_, GreetResp>(&GreetReq { name: "a".repeat(33) }).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::InvalidArgument }), "{err:?}");
    // A domain rejection is not a strike: the session goes on.
    let resp: GreetResp = client.request(&GreetReq { name: "Bob".into() }).await.unwrap();
    assert_eq!(resp.greeting, "Hello, Bob!");
    shutdown.drain(Duration::from_secs(5)).await;
}
