//! Cost of one request through `Router::dispatch` (PingReq -> PingResp, the gateway's own
//! handler), next to baselines measured in the same run.
//!
//! All cases live in the group `dispatch/ping`:
//!
//! - `router`: what a connection does per request: decode the frame from a read buffer, dispatch
//!   it (route lookup, stage check, body decode, handler, reply encode) and write the reply frame;
//! - `router_rate_limited`: the same with a (never exhausted) per-session rate limit on the route,
//!   as the gateway declares Ping: adds the token bucket and a clock read;
//! - `router_session_queue`: `router`, but the reply goes through the session's outbound queue
//!   (`respond` + `drain_into`) as in the real connection loop, instead of straight to the buffer;
//! - `baseline_direct_handler`: the handler function called directly with an already decoded
//!   message: the work no framework can save;
//! - `baseline_decode_encode`: frame decode, body decode, body encode and reply frame encode
//!   with no router and no handler: the wire work the router's path also does.
//!
//! So `router - baseline_decode_encode - baseline_direct_handler` is roughly what the router
//! itself adds (boxing the handler future, `Arc` clones for the `Ctx`, the latency histogram).
//! A current-thread runtime keeps scheduler noise out; dispatch never yields for this handler.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mmo_core::router::RouteBuckets;
use mmo_core::session::SessionLimits;
use mmo_core::{Ctx, ListenerConfig, Outcome, RateLimit, Router, Session, SessionId, Stage, StageSet};
use mmo_gateway::handlers::ping::handle_ping;
use mmo_gateway::{GatewayConfig, State};
use mmo_proto::{PingReq, PingResp};
use mmo_wire::{DEFAULT_MAX_FRAME_LEN, Flags, Frame, FrameCodec, Header, MsgType, Seq};
use prost::Message as _;
use tokio_util::codec::Decoder;

/// Everything the cases share, built once.
struct Fixture {
    state: Arc<State>,
    session: Session,
    /// One PingReq frame as it arrives on the wire.
    wire: Bytes,
    req: PingReq,
    /// A server clock reading of today's magnitude, so the baseline's reply has the same size as
    /// the handler's.
    server_time_ms: u64,
}

impl Fixture {
    fn new() -> Fixture {
        let state = Arc::new(State {
            gateway: GatewayConfig::default(),
            listener: ListenerConfig::default(),
            registry: mmo_core::Registry::new(),
            bus: None,
        });
        let session = Session::new(
            SessionId(1),
            SessionLimits {
                max_bytes: 256 << 10,
                droppable_high_water: 32 << 10,
                replay_bytes: 0,
                max_strikes: 0,
            },
        );
        // A session past Hello, as every ping after the handshake is.
        session.set_stage(Stage::Versioned);
        let server_time_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let req = PingReq { client_time_ms: server_time_ms - 17 };
        let wire = req.to_frame_bytes(Seq(42), Flags::NONE);
        Fixture { state, session, wire, req, server_time_ms }
    }

    /// A fresh read buffer holding the request, as after one socket read.
    fn read_buffer(&self) -> BytesMut {
        BytesMut::from(&self.wire[..])
    }
}

fn ping_router(rate_limited: bool) -> Router<State> {
    let spec = if rate_limited {
        // High enough never to reject: the bench measures the bucket's cost, not its verdict.
        StageSet::ANY.rate_limit(RateLimit::per_second(u32::MAX))
    } else {
        StageSet::ANY.into()
    };
    Router::new().route(spec, handle_ping)
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let fx = Fixture::new();
    let mut group = c.benchmark_group("dispatch/ping");
    group.throughput(Throughput::Elements(1));

    for (name, rate_limited, via_queue) in [
        ("router", false, false),
        ("router_rate_limited", true, false),
        ("router_session_queue", false, true),
    ] {
        let router = ping_router(rate_limited);
        // The connection keeps its buckets across requests; a `Cell` lends them to each
        // iteration's future without a borrow held across the `.await`.
        let buckets = Cell::new(RouteBuckets::default());
        let (router, buckets, fx) = (&router, &buckets, &fx);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async move {
                let mut codec = FrameCodec::server(DEFAULT_MAX_FRAME_LEN);
                let mut rbuf = fx.read_buffer();
                let frame = codec.decode(&mut rbuf).expect("valid frame").expect("whole frame");
                let seq = frame.header.seq;
                let mut bk = buckets.take();
                let outcome = router.dispatch(&fx.state, &fx.session, &mut bk, frame).await;
                buckets.set(bk);
                let Outcome::Reply { id, body } = outcome else { panic!("ping not answered: {outcome:?}") };
                let mut wbuf = BytesMut::new();
                if via_queue {
                    fx.session.respond(id, seq, body).expect("session open");
                    fx.session.drain_into(&mut wbuf, 64 << 10);
                } else {
                    Frame::new(Header::new(id, seq), body).write_to(&mut wbuf);
                }
                black_box(wbuf)
            })
        });
    }

    group.bench_function("baseline_direct_handler", |b| {
        let fx = &fx;
        b.to_async(&rt).iter(|| async move {
            let ctx = Ctx::new(fx.state.clone(), fx.session.clone(), Seq(42));
            black_box(handle_ping(ctx, fx.req).await.expect("ping never fails"))
        })
    });

    group.bench_function("baseline_decode_encode", |b| {
        let fx = &fx;
        b.to_async(&rt).iter(|| async move {
            let mut codec = FrameCodec::server(DEFAULT_MAX_FRAME_LEN);
            let mut rbuf = fx.read_buffer();
            let frame = codec.decode(&mut rbuf).expect("valid frame").expect("whole frame");
            let req = PingReq::decode(frame.body).expect("valid body");
            let resp = PingResp { client_time_ms: req.client_time_ms, server_time_ms: fx.server_time_ms };
            let body = Bytes::from(resp.encode_to_vec());
            let mut wbuf = BytesMut::new();
            Frame::new(Header::new(PingResp::ID, frame.header.seq), body).write_to(&mut wbuf);
            black_box(wbuf)
        })
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
