//! Client -> gateway -> Redis Streams -> server -> Redis Streams -> gateway -> client, against a
//! real Redis: requests, pushes from another node, load sharing with per-session order.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::serve::serve;
use mmo_core::bus::{Bus, Envelope};
use mmo_core::{Ctx, HandlerError, ListenerConfig, NoReply, Router, Shutdown, Stage};
use mmo_proto::bus::{Answer, FanOut, Kind, Push, Request};
use mmo_proto::{EchoReq, EchoResp, ErrorCode, HelloReq, HelloResp, MsgType, TimeReq, TimeResp};
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{ClientError, TestServer};
use parking_lot::Mutex;
use prost::Message as _;

/// The answer in `env` (a test failure if it is another kind).
fn answer(env: &Envelope) -> &Answer {
    match &env.kind {
        Some(Kind::Answer(a)) => a,
        other => panic!("not an answer: {other:?}"),
    }
}

/// The gateway side: Hello logs in at once; everything else is forwarded.
fn gateway_router() -> Router<()> {
    Router::new().route(Stage::Connected, |ctx: Ctx<()>, _: HelloReq| async move {
        ctx.session().set_stage(Stage::Authenticated);
        Ok::<_, HandlerError>(HelloResp::default())
    })
}

/// The server side: echoes, and records which node handled which session's payloads.
#[derive(Default)]
struct Seen {
    by_node: Mutex<HashMap<String, usize>>,
}

fn server_router(node: &'static str) -> Router<Seen> {
    Router::new()
        .route(Stage::Authenticated, move |ctx: Ctx<Seen>, req: EchoReq| async move {
            *ctx.state().by_node.lock().entry(node.to_string()).or_default() += 1;
            // A push queued by the handler reaches the client before the response.
            if req.payload.as_ref() == b"with-push" {
                ctx.session().push(&TimeResp { server_time_ms: 7 }).unwrap();
            }
            Ok::<_, HandlerError>(EchoResp { payload: req.payload })
        })
        .route(
            Stage::Authenticated.rate_limit(mmo_core::RateLimit::per_second(1)),
            |_: Ctx<Seen>, _: TimeReq| async { Ok::<_, HandlerError>(TimeResp { server_time_ms: 1 }) },
        )
}

/// Serves `server_router("server-1")` as the service "echo" on node server-1 and returns a
/// gateway (node gateway-1) in front of the bus with `cfg`.
async fn echo_behind_gateway(redis: &TestRedis, shutdown: &Shutdown, cfg: ListenerConfig) -> TestServer {
    let server_bus = redis.bus("server-1", shutdown).await;
    serve(&server_bus, "echo", server_router("server-1"), Arc::new(Seen::default()), shutdown).await.unwrap();
    let gw_bus = redis.bus("gateway-1", shutdown).await;
    TestServer::start_gateway(cfg, gateway_router(), Arc::new(()), &gw_bus).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_crosses_the_bus_and_pushes_arrive_from_another_node() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let gw = echo_behind_gateway(&redis, &shutdown, ListenerConfig::default()).await;

    let mut c = gw.client().await;
    // Before the handshake the forwarded route's stage is enforced at the gateway.
    let err = c.request::<_, EchoResp>(&EchoReq::default()).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::WrongStage }), "{err:?}");
    c.hello().await.unwrap();
    let r: EchoResp = c.request(&EchoReq { payload: b"hello bus".to_vec().into() }).await.unwrap();
    assert_eq!(r.payload.as_ref(), b"hello bus");

    // The handler's push arrives first, then the response.
    let seq = c.send(&EchoReq { payload: b"with-push".to_vec().into() }).await.unwrap();
    let push = c.recv().await.unwrap();
    assert!(push.header.flags.contains(mmo_wire::Flags::PUSH));
    assert_eq!(push.decode_body::<TimeResp>().unwrap().server_time_ms, 7);
    let resp = c.recv().await.unwrap();
    assert_eq!((resp.header.id, resp.header.seq), (EchoResp::ID, seq));

    // The route's rate limit, declared by the server, is enforced by the gateway.
    let _: TimeResp = c.request(&TimeReq {}).await.unwrap();
    let err = c.request::<_, TimeResp>(&TimeReq {}).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::RateLimited }), "{err:?}");

    // Another node pushes to this session through the gateway's inbox.
    let other = redis.bus("other-node", &shutdown).await;
    let session = gw.registry.sessions()[0].id().0;
    let push = Push {
        session,
        msg_id: u32::from(TimeResp::ID.0),
        flags: u32::from(mmo_wire::Flags::PUSH.0),
        body: TimeResp { server_time_ms: 42 }.encode_to_vec().into(),
        ..Default::default()
    };
    other.send(&other.keys().inbox("gateway-1"), push.into()).unwrap();
    let f = c.recv().await.unwrap();
    assert_eq!(f.decode_body::<TimeResp>().unwrap().server_time_ms, 42);
    assert_eq!(f.header.seq.0, 2, "the second reliable push to this session");

    // A late or duplicate completion for a request that is no longer pending is dropped.
    let stale =
        Answer { session, seq: 999, complete: true, msg_id: u32::from(EchoResp::ID.0), ..Default::default() };
    other.send(&other.keys().inbox("gateway-1"), stale.into()).unwrap();
    let r: EchoResp = c.request(&EchoReq { payload: b"after".to_vec().into() }).await.unwrap();
    assert_eq!(r.payload.as_ref(), b"after");
    shutdown.drain(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_load_and_each_session_stays_in_order() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let seen = Arc::new(Seen::default());
    for node in ["server-a", "server-b"] {
        let bus = redis.bus(node, &shutdown).await;
        serve(&bus, "echo", server_router(node), seen.clone(), &shutdown).await.unwrap();
    }
    let gw_bus: Bus = redis.bus("gateway-1", &shutdown).await;
    let gw =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gw_bus).await;

    let mut tasks = Vec::new();
    for client in 0..8u32 {
        let addr = gw.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = mmo_testkit::TestClient::connect(addr).await.unwrap();
            c.hello().await.unwrap();
            // Pipelined: all 40 requests are sent before any answer is read.
            let mut seqs = Vec::new();
            for i in 0..40u32 {
                let payload = [client.to_be_bytes(), i.to_be_bytes()].concat();
                seqs.push((c.send(&EchoReq { payload: payload.into() }).await.unwrap(), i));
            }
            for (seq, i) in seqs {
                let f = c.recv().await.unwrap();
                assert_eq!(f.header.seq, seq, "answers in request order");
                let r: EchoResp = f.decode_body().unwrap();
                assert_eq!(r.payload[4..], i.to_be_bytes());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let by_node = seen.by_node.lock().clone();
    assert_eq!(by_node.values().sum::<usize>(), 8 * 40);
    assert!(by_node.len() == 2 && by_node.values().all(|n| *n > 0), "both instances worked: {by_node:?}");
    shutdown.drain(Duration::from_secs(5)).await;
}

/// A stateful server (a zone instance) takes a session's messages for its service: the shared
/// service's handler binds the session to the instance's own stream, and from then on the gateway
/// sends that session's messages of the service there; other sessions still go to the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_bound_to_an_instance_stream_sends_the_service_messages_there() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let server_bus = redis.bus("server-1", &shutdown).await;
    let instance: Arc<str> = server_bus.keys().inbox("zone-node:7").to_string().into();
    // The shared service answers "shared" and binds the session when asked to.
    let shared = Router::new().route(Stage::Authenticated, {
        let instance = instance.clone();
        move |ctx: Ctx<()>, req: EchoReq| {
            let instance = instance.clone();
            async move {
                if req.payload.as_ref() == b"bind" {
                    ctx.session().bind_service("echo", Some(&instance));
                }
                Ok::<_, HandlerError>(EchoResp { payload: b"shared".to_vec().into() })
            }
        }
    });
    serve(&server_bus, "echo", shared, Arc::new(()), &shutdown).await.unwrap();
    let own = Router::new().route(Stage::Authenticated, |_: Ctx<()>, _: EchoReq| async move {
        Ok::<_, HandlerError>(EchoResp { payload: b"instance 7".to_vec().into() })
    });
    mmo_core::bus::serve::serve_stream(&server_bus, instance.clone(), "zone", own, Arc::new(()), &shutdown)
        .await
        .unwrap();
    let gw_bus = redis.bus("gateway-1", &shutdown).await;
    let gw =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gw_bus).await;
    let (mut bound, mut other) = (gw.client().await, gw.client().await);
    bound.hello().await.unwrap();
    other.hello().await.unwrap();
    let echo = |p: &'static [u8]| EchoReq { payload: p.to_vec().into() };
    let r: EchoResp = bound.request(&echo(b"bind")).await.unwrap();
    assert_eq!(r.payload.as_ref(), b"shared");
    for _ in 0..3 {
        let r: EchoResp = bound.request(&echo(b"x")).await.unwrap();
        assert_eq!(r.payload.as_ref(), b"instance 7");
        let r: EchoResp = other.request(&echo(b"x")).await.unwrap();
        assert_eq!(r.payload.as_ref(), b"shared");
    }
    // The instance unbinds the session (e.g. the player left the zone): back to the service.
    let session = gw.registry.sessions().into_iter().find(|s| !s.bindings().is_empty()).unwrap().id().0;
    let unbind = Answer { session, bind_service: "echo".into(), ..Default::default() };
    server_bus.send(&server_bus.keys().inbox("gateway-1"), unbind.into()).unwrap();
    for _ in 0..200 {
        if gw.registry.sessions().iter().all(|s| s.bindings().is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r: EchoResp = bound.request(&echo(b"x")).await.unwrap();
    assert_eq!(r.payload.as_ref(), b"shared");
    shutdown.drain(Duration::from_secs(5)).await;
}

/// A one-way route (its handler returns `NoReply`) is forwarded without waiting: the session's
/// next frames go on at once, nothing comes back on success, and a rejection comes back as an
/// ErrorResp with the request's seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_route_is_not_waited_for_and_only_rejections_come_back() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let server_bus = redis.bus("server-1", &shutdown).await;
    let handled = Arc::new(Mutex::new(Vec::new()));
    let router = Router::new()
        .route(Stage::Authenticated, |ctx: Ctx<Mutex<Vec<u64>>>, req: TimeReq| async move {
            // The one-way message: remembered, never answered.
            let _ = req;
            ctx.state().lock().push(ctx.seq().0.into());
            if ctx.seq().0.is_multiple_of(2) {
                return Err(HandlerError::Reject(ErrorCode::InvalidArgument));
            }
            Ok::<_, HandlerError>(NoReply)
        })
        .route(Stage::Authenticated, |_: Ctx<Mutex<Vec<u64>>>, req: EchoReq| async move {
            Ok::<_, HandlerError>(EchoResp { payload: req.payload })
        });
    assert!(router.spec(TimeReq::ID).unwrap().oneway);
    assert!(!router.spec(EchoReq::ID).unwrap().oneway);
    serve(&server_bus, "oneway", router, handled.clone(), &shutdown).await.unwrap();
    let gw_bus = redis.bus("gateway-1", &shutdown).await;
    let gw =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gw_bus).await;
    let mut c = gw.client().await;
    c.hello().await.unwrap();
    // Seqs 2..=6: 2, 4 and 6 are rejected. Sent back to back with an echo after them.
    for _ in 0..5 {
        c.send(&TimeReq {}).await.unwrap();
    }
    let echo_seq = c.send(&EchoReq { payload: b"after".to_vec().into() }).await.unwrap();
    let mut rejected = Vec::new();
    loop {
        let f = tokio::time::timeout(Duration::from_secs(5), c.recv()).await.unwrap().unwrap();
        if f.header.id == EchoResp::ID {
            assert_eq!(f.header.seq, echo_seq);
            break;
        }
        assert_eq!(f.header.id, mmo_proto::ErrorResp::ID, "only rejections come back");
        assert!(!f.header.flags.contains(mmo_wire::Flags::PUSH), "a response to its request");
        let err: mmo_proto::ErrorResp = f.decode_body().unwrap();
        assert_eq!((err.code(), err.request_msg_id), (ErrorCode::InvalidArgument, u32::from(TimeReq::ID.0)));
        rejected.push(f.header.seq.0);
    }
    assert_eq!(rejected, [2, 4, 6], "every rejection, in order, before the later request's answer");
    assert_eq!(*handled.lock(), [2, 3, 4, 5, 6]);
    shutdown.drain(Duration::from_secs(5)).await;
}

/// What the server sends back for one-way requests, envelope by envelope: nothing on success, an
/// uncompleting ErrorResp on rejection (a completion would be a late answer at the gateway).
#[tokio::test]
async fn a_one_way_request_completes_nothing() {
    let router = Router::new().route(Stage::Authenticated, |_: Ctx<()>, req: TimeReq| async move {
        let _ = req;
        Ok::<_, HandlerError>(NoReply)
    });
    let env = |body: Vec<u8>| -> Envelope {
        Request {
            session: 1,
            msg_id: u32::from(TimeReq::ID.0),
            seq: 9,
            stage: Stage::Authenticated.to_wire(),
            body: body.into(),
            ..Default::default()
        }
        .into()
    };
    let state = Arc::new(());
    assert!(mmo_core::bus::serve::handle_envelope(&router, &state, env(Vec::new())).await.is_empty());
    let out = mmo_core::bus::serve::handle_envelope(&router, &state, env(vec![0xff])).await;
    assert_eq!(out.len(), 1);
    // A rejection that completes nothing; an undecodable body is also a strike.
    let a = answer(&out[0]);
    assert_eq!(
        (a.complete, a.strike, a.seq, a.msg_id),
        (false, true, 9, u32::from(mmo_proto::ErrorResp::ID.0))
    );
}

/// A session bound to a server's stream ends: that stream gets an ENDED envelope for it (after
/// whatever the session sent before), so the server can drop what it holds for the session.
/// And one envelope can carry a different body for each of many sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bound_server_hears_when_its_session_ends_and_bodies_fan_out_per_session() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let server_bus = redis.bus("server-1", &shutdown).await;
    let stream: Arc<str> = server_bus.keys().owned("test", "instance").into();
    // Binding needs a logged-in session: the gateway router logs in at Hello; set a player too.
    let router = Router::new().route(Stage::Authenticated, {
        let stream = stream.clone();
        move |ctx: Ctx<()>, _: EchoReq| {
            let stream = stream.clone();
            async move {
                ctx.session().set_player(mmo_core::session::PlayerId(ctx.session().id().0 + 100));
                ctx.session().bind_service("bound", Some(&stream));
                Ok::<_, HandlerError>(EchoResp::default())
            }
        }
    });
    serve(&server_bus, "bound", router, Arc::new(()), &shutdown).await.unwrap();
    let received = Arc::new(Mutex::new(Vec::<Envelope>::new()));
    let consumer = mmo_core::bus::consumer::GroupConsumer::new(server_bus.clone(), stream.clone(), "test");
    consumer.ensure_group().await.unwrap();
    let sink = received.clone();
    let handler: mmo_core::bus::consumer::EntryHandler = Arc::new(move |batch| {
        sink.lock().extend(batch.envelopes);
        Box::pin(async { mmo_core::bus::consumer::Handled::Ack })
    });
    tokio::spawn(consumer.run(handler, shutdown.token()));
    let gw_bus = redis.bus("gateway-1", &shutdown).await;
    let listener = ListenerConfig { resume_window: Duration::ZERO, ..ListenerConfig::default() };
    let gw = TestServer::start_gateway(listener, gateway_router(), Arc::new(()), &gw_bus).await;
    let (mut a, mut b) = (gw.client().await, gw.client().await);
    for c in [&mut a, &mut b] {
        c.hello().await.unwrap();
        let _: EchoResp = c.request(&EchoReq::default()).await.unwrap();
    }
    let ids: Vec<u64> = {
        let mut v: Vec<u64> = gw.registry.sessions().iter().map(|s| s.id().0).collect();
        v.sort_unstable();
        v
    };

    // One envelope, a body per session.
    let fanout = FanOut {
        msg_id: u32::from(TimeResp::ID.0),
        flags: u32::from(mmo_wire::Flags::PUSH.0),
        sessions: ids.clone(),
        bodies: ids.iter().map(|id| TimeResp { server_time_ms: *id }.encode_to_vec().into()).collect(),
        ..Default::default()
    };
    server_bus.send(&server_bus.keys().inbox("gateway-1"), fanout.into()).unwrap();
    let mut got = Vec::new();
    for c in [&mut a, &mut b] {
        let f = tokio::time::timeout(Duration::from_secs(5), c.recv()).await.unwrap().unwrap();
        assert!(f.header.flags.contains(mmo_wire::Flags::PUSH));
        got.push(f.decode_body::<TimeResp>().unwrap().server_time_ms);
    }
    got.sort_unstable();
    assert_eq!(got, ids, "each session got its own body");

    // Session a leaves; the bound stream hears of it, with its player.
    drop(a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let ended = loop {
        let ended: Vec<_> = received
            .lock()
            .iter()
            .filter_map(|e| match &e.kind {
                Some(Kind::Ended(ended)) => Some(*ended),
                _ => None,
            })
            .collect();
        if !ended.is_empty() || tokio::time::Instant::now() > deadline {
            break ended;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].player, ended[0].session + 100);
    assert!(ids.contains(&ended[0].session));
    shutdown.drain(Duration::from_secs(5)).await;
}

/// A server handles requests of different sessions at once even when they arrive in different
/// stream entries: a slow request (a database round trip, a hash) does not hold up the requests
/// read after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_different_entries_are_handled_at_once() {
    struct Meet {
        arrived: tokio::sync::Notify,
        barrier: tokio::sync::Barrier,
    }
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let server_bus = redis.bus("server-1", &shutdown).await;
    let meet = Arc::new(Meet { arrived: tokio::sync::Notify::new(), barrier: tokio::sync::Barrier::new(2) });
    // Each request waits for the other one to be in a handler too, for at most 5 s.
    let router = Router::new().route(Stage::Authenticated, |ctx: Ctx<Meet>, _: EchoReq| async move {
        ctx.state().arrived.notify_one();
        let met = tokio::time::timeout(Duration::from_secs(5), ctx.state().barrier.wait()).await.is_ok();
        Ok::<_, HandlerError>(EchoResp { payload: if met { &b"met"[..] } else { b"alone" }.to_vec().into() })
    });
    serve(&server_bus, "meet", router, meet.clone(), &shutdown).await.unwrap();
    let gw_bus = redis.bus("gateway-1", &shutdown).await;
    let gw =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gw_bus).await;
    let (mut first, mut second) = (gw.client().await, gw.client().await);
    first.hello().await.unwrap();
    second.hello().await.unwrap();
    let echo = EchoReq { payload: b"x".to_vec().into() };
    first.send(&echo).await.unwrap();
    // The first request is in its handler, so its entry has been read: the second one travels
    // in another entry.
    meet.arrived.notified().await;
    second.send(&echo).await.unwrap();
    for c in [&mut first, &mut second] {
        let f = tokio::time::timeout(Duration::from_secs(10), c.recv()).await.unwrap().unwrap();
        let r: EchoResp = f.decode_body().unwrap();
        assert_eq!(r.payload.as_ref(), b"met");
    }
    shutdown.drain(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_a_server_cannot_decode_is_a_strike_at_the_gateway() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let cfg = ListenerConfig { max_strikes: 2, ..Default::default() };
    let gw = echo_behind_gateway(&redis, &shutdown, cfg).await;
    let mut c = gw.client().await;
    c.hello().await.unwrap();
    // A truncated bytes field: only the server decodes the body, and says MALFORMED_BODY; the
    // gateway counts it like its own. The second strike is the last: its answer, then the close.
    for seq in [1, 2] {
        c.send_frame(EchoReq::ID.0, seq, &[0x0a, 0x0a, 0x01]).await.unwrap();
        let f = c.recv().await.unwrap();
        assert_eq!((f.header.id, f.header.seq.0), (mmo_proto::ErrorResp::ID, seq));
        let e: mmo_proto::ErrorResp = f.decode_body().unwrap();
        assert_eq!(e.code(), ErrorCode::MalformedBody);
    }
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::TooManyStrikes);
    drop(redis);
}

/// An envelope whose stage number names no stage (a newer or broken sender) fails closed: no
/// handler runs, and the request is answered so the gateway does not wait for it.
#[tokio::test]
async fn an_unknown_stage_from_the_bus_reaches_no_handler() {
    let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let router = Router::new().route(
        Stage::Authenticated,
        |ctx: Ctx<std::sync::atomic::AtomicUsize>, _: TimeReq| async move {
            ctx.state().fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, HandlerError>(TimeResp { server_time_ms: 1 })
        },
    );
    for stage in [0, 4, 7, i32::MAX, -1] {
        let env =
            Request { session: 1, msg_id: u32::from(TimeReq::ID.0), seq: 4, stage, ..Default::default() };
        let out = mmo_core::bus::serve::handle_envelope(&router, &ran, env.into()).await;
        assert_eq!(out.len(), 1);
        let a = answer(&out[0]);
        assert_eq!((a.complete, a.seq, a.msg_id), (true, 4, u32::from(mmo_proto::ErrorResp::ID.0)));
        assert_eq!(a.stage, 0, "no stage change");
        let e = mmo_proto::ErrorResp::decode(a.body.clone()).unwrap();
        assert_eq!(e.code(), ErrorCode::Internal);
    }
    assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
    // The stage it names in range still works.
    let env = Request {
        session: 1,
        msg_id: u32::from(TimeReq::ID.0),
        seq: 5,
        stage: Stage::Authenticated.to_wire(),
        ..Default::default()
    };
    let out = mmo_core::bus::serve::handle_envelope(&router, &ran, env.into()).await;
    assert_eq!(answer(&out[0]).msg_id, u32::from(TimeResp::ID.0));
}

/// A gateway that started before a server published its routes learns them soon after a client
/// asks, not only at the next `routes_refresh`: the client's retry after UNAVAILABLE works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_route_yet_makes_the_gateway_look_again_soon() {
    let mut redis = TestRedis::new();
    redis.cfg.routes_refresh = Duration::from_secs(60);
    let shutdown = Shutdown::new();
    let gw_bus = redis.bus("gateway-1", &shutdown).await;
    let gw =
        TestServer::start_gateway(ListenerConfig::default(), gateway_router(), Arc::new(()), &gw_bus).await;
    let mut c = gw.client().await;
    c.hello().await.unwrap();
    let err = c.request::<_, EchoResp>(&EchoReq { payload: b"x".to_vec().into() }).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::Unavailable }), "{err:?}");

    let server_bus = redis.bus("server-1", &shutdown).await;
    serve(&server_bus, "echo", server_router("server-1"), Arc::new(Seen::default()), &shutdown)
        .await
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        match c.request::<_, EchoResp>(&EchoReq { payload: b"x".to_vec().into() }).await {
            Ok(r) => {
                assert_eq!(r.payload.as_ref(), b"x");
                break;
            }
            Err(ClientError::Rejected { code: ErrorCode::Unavailable }) => {}
            Err(e) => panic!("{e:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(5), "the route was not reloaded on a miss");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(redis);
}
