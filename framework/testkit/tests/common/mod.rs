//! A small router for exercising the framework: Hello authenticates at once, Echo counts calls.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mmo_core::{Ctx, HandlerError, ListenerConfig, NoReply, RateLimit, Router, Stage, StageSet};
use mmo_proto::{EchoReq, EchoResp, HelloReq, HelloResp, MoveReq, PingReq, PingResp, TimeReq, TimeResp};
use mmo_testkit::TestServer;

#[derive(Default)]
pub struct Counters {
    pub handled: AtomicUsize,
}

pub fn router() -> Router<Counters> {
    Router::new()
        .route(Stage::Connected, |ctx: Ctx<Counters>, _req: HelloReq| async move {
            ctx.state().handled.fetch_add(1, Ordering::SeqCst);
            ctx.session().set_stage(Stage::Authenticated);
            Ok::<_, HandlerError>(HelloResp { session_id: ctx.session().id().0, ..Default::default() })
        })
        .route(StageSet::ANY, |_ctx: Ctx<Counters>, req: PingReq| async move {
            Ok::<_, HandlerError>(PingResp { client_time_ms: req.client_time_ms, server_time_ms: 0 })
        })
        .route(Stage::Authenticated, |ctx: Ctx<Counters>, req: EchoReq| async move {
            ctx.state().handled.fetch_add(1, Ordering::SeqCst);
            if req.payload.as_ref() == b"slow" {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok::<_, HandlerError>(EchoResp { payload: req.payload })
        })
        .route(
            Stage::Authenticated.rate_limit(RateLimit::per_second(2)),
            |ctx: Ctx<Counters>, _: TimeReq| async move {
                ctx.state().handled.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HandlerError>(TimeResp { server_time_ms: 1 })
            },
        )
        // A one-way input, like a zone's movement: answered with nothing.
        .route(Stage::Authenticated, |ctx: Ctx<Counters>, _: MoveReq| async move {
            ctx.state().handled.fetch_add(1, Ordering::SeqCst);
            Ok::<_, HandlerError>(NoReply)
        })
}

pub async fn start(cfg: ListenerConfig) -> (TestServer, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    (TestServer::start(cfg, router(), counters.clone()).await, counters)
}

/// Waits (bounded) until `f` holds, yielding to the server between checks.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f()
}
