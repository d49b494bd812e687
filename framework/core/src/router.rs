//! The handler table. A server registers one plain async function per message type:
//!
//! ```
//! use mmo_core::{Ctx, HandlerError, Router, Stage, RateLimit};
//! use mmo_proto::{PingReq, PingResp};
//!
//! async fn handle_ping(_ctx: Ctx<()>, req: PingReq) -> Result<PingResp, HandlerError> {
//!     Ok(PingResp { client_time_ms: req.client_time_ms, server_time_ms: 0 })
//! }
//!
//! let router = Router::new()
//!     .route(Stage::Connected.and(Stage::Versioned).and(Stage::Authenticated)
//!                .rate_limit(RateLimit::per_second(20)), handle_ping);
//! assert_eq!(router.len(), 1);
//! ```
//!
//! The message type comes from the handler's argument; its id from the generated `MsgType`
//! impl. Each route declares the stages it may run in and an optional per-session rate limit
//! (TrinityCore's opcode table does the same): a message sent in another stage, or too fast, is
//! rejected before its body is even decoded, so off-stage input never reaches a handler.
//! Registering the same id twice panics at start-up, naming both call sites. Routers compose with
//! [`Router::merge`]. [`Router::dispatch`] needs no socket, so handlers are tested directly.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use metrics::Histogram;
use mmo_proto::ErrorCode;
use mmo_wire::{Frame, MsgId, MsgType, Seq};

use crate::error::HandlerError;
use crate::metrics::HANDLER_SECONDS;
use crate::rate::TokenBucket;
use crate::session::{Session, StageSet};
use crate::table::{RouteSpec, Routes};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
type Erased<S> = Box<dyn Fn(Ctx<S>, Bytes) -> BoxFuture<Outcome> + Send + Sync>;

/// What a handler gets besides its message: the server's state, the session, the request's seq.
pub struct Ctx<S> {
    state: Arc<S>,
    session: Session,
    seq: Seq,
}

impl<S> Ctx<S> {
    pub fn new(state: Arc<S>, session: Session, seq: Seq) -> Self {
        Ctx { state, session, seq }
    }

    /// The state the server was started with.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// A shared handle to the state, for work that outlives the handler.
    pub fn state_arc(&self) -> Arc<S> {
        self.state.clone()
    }

    /// The session that sent the message.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The sequence number of the request (echoed in the response).
    pub fn seq(&self) -> Seq {
        self.seq
    }
}

/// A handler result that sends no response. Its route is **one-way**: a gateway forwarding it
/// over the bus does not wait for an answer before handling the session's next frame, and the
/// server sends nothing back unless the message is rejected (then an `ErrorResp` with the
/// request's seq). Movement inputs are the typical case.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoReply;

/// A handler result of a server behind the bus that passed the request on to another server,
/// which answers it (the zone's shared stream sends an EnterWorldReq to the instance that is to
/// hold the player). This server sends no answer: the gateway keeps waiting for the other's.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassedOn;

/// What a handler may return on success: a message (the response), [`NoReply`] or [`PassedOn`].
pub trait IntoReply: Send + 'static {
    /// True when the handler never answers a success (its route is one-way, see [`NoReply`]).
    const ONEWAY: bool = false;
    /// True when another server answers for it (see [`PassedOn`]).
    const PASSED_ON: bool = false;
    fn into_reply(self) -> Option<(MsgId, Bytes)>;
}

impl IntoReply for PassedOn {
    const PASSED_ON: bool = true;
    fn into_reply(self) -> Option<(MsgId, Bytes)> {
        None
    }
}

impl<M: MsgType> IntoReply for M {
    fn into_reply(self) -> Option<(MsgId, Bytes)> {
        Some((M::ID, Bytes::from(self.encode_to_vec())))
    }
}

impl IntoReply for NoReply {
    const ONEWAY: bool = true;
    fn into_reply(self) -> Option<(MsgId, Bytes)> {
        None
    }
}

/// The result of dispatching one frame, for the connection to act on.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Send this response (with the request's seq).
    Reply { id: MsgId, body: Bytes },
    /// The handler ran and has nothing to send.
    Done,
    /// Send an `ErrorResp` with this code. `strike` counts towards closing the connection
    /// (protocol violations do; a handler's domain rejection does not).
    Reject { code: ErrorCode, strike: bool },
    /// Sent faster than the route's rate limit (per session): an `ErrorResp(RATE_LIMITED)` with
    /// `retry_after_ms`, and a strike.
    Limited { retry_after: std::time::Duration },
    /// Send a `DisconnectNtf` with this reason and close.
    Kick(ErrorCode),
    /// Sent on to another node; the answer arrives later through the session, which is
    /// already marked as waiting for it ([`Session::begin_request`]).
    Forwarded,
    /// A server behind the bus passed the request on to another one, which answers it
    /// ([`PassedOn`]): nothing to send from here.
    PassedOn,
}

/// Where messages without a local handler go: the gateway forwards them over the bus to the
/// server that declared them. The declaration (stages, rate limit) is checked here exactly as
/// for local routes, before anything is sent.
pub trait Forward: Send + Sync + 'static {
    /// The route declared for `id` by the server that handles it, if any.
    fn spec(&self, id: MsgId) -> Option<RouteSpec>;
    /// Sends the frame on. An error code is answered to the client (e.g. `UNAVAILABLE`).
    fn forward(&self, session: &Session, frame: Frame) -> Result<(), ErrorCode>;
    /// True if `id` is a request some server handles although no route for it is known right
    /// now (its server is starting, or Redis lost the route table): the client gets a retryable
    /// `UNAVAILABLE`, not an `UNKNOWN_MESSAGE` strike.
    fn expected(&self, _id: MsgId) -> bool {
        false
    }
}

/// A route's handler and its latency histogram (created on first use).
struct AsyncHandler<S> {
    call: Erased<S>,
    latency: OnceLock<Histogram>,
}

/// The handler table of one server. `S` is the server's state, shared by all its handlers.
pub struct Router<S = ()> {
    routes: Routes<AsyncHandler<S>>,
    forward: Option<Arc<dyn Forward>>,
}

impl<S> Default for Router<S> {
    fn default() -> Self {
        Router { routes: Routes::new(), forward: None }
    }
}

impl<S> std::fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("routes", &self.routes).finish()
    }
}

/// Checks a route's stages and rate limit for one message, before its body is decoded.
fn admit(spec: &RouteSpec, id: MsgId, session: &Session, buckets: &mut RouteBuckets) -> Result<(), Outcome> {
    if !spec.stages.contains(session.stage()) {
        return Err(Outcome::Reject { code: ErrorCode::WrongStage, strike: true });
    }
    if let Some(limit) = &spec.rate {
        let bucket = match buckets.0.iter().position(|(i, _)| *i == id) {
            Some(pos) => &mut buckets.0[pos].1,
            None => {
                // Exactly one more slot: most sessions use one or two limited routes.
                buckets.0.reserve_exact(1);
                buckets.0.push((id, TokenBucket::full(limit)));
                &mut buckets.0.last_mut().expect("just pushed").1
            }
        };
        if let Err(retry_after) = bucket.take_or_wait(limit) {
            return Err(Outcome::Limited { retry_after });
        }
    }
    Ok(())
}

/// The `ErrorResp` of a refusal (a rejection with a detail and a retry hint).
fn refused<T: MsgType>(r: &crate::error::Refusal) -> Outcome {
    metrics::counter!(crate::metrics::REJECTS, "reason" => r.code.as_str_name()).increment(1);
    let body = crate::error::error_body(T::ID, r.code, &r.detail, r.retry_after);
    Outcome::Reply { id: mmo_proto::ErrorResp::ID, body }
}

/// Per-connection state of the rate-limited routes: one bucket per route, created on first use.
#[derive(Default, Debug)]
pub struct RouteBuckets(Vec<(MsgId, TokenBucket)>);

impl<S: Send + Sync + 'static> Router<S> {
    pub fn new() -> Self {
        Router::default()
    }

    /// Registers `handler` for the message type of its second argument.
    ///
    /// # Panics
    /// If a handler is already registered for that message id: at start-up, naming both places.
    #[track_caller]
    pub fn route<T, R, F, Fut>(mut self, spec: impl Into<RouteSpec>, handler: F) -> Self
    where
        T: MsgType,
        R: IntoReply,
        F: Fn(Ctx<S>, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, HandlerError>> + Send + 'static,
    {
        let location = Location::caller();
        let handler = Arc::new(handler);
        let erased: Erased<S> = Box::new(move |ctx, body| {
            let handler = handler.clone();
            Box::pin(async move {
                // Decode here, after the stage and rate checks passed.
                let msg = match T::decode(body) {
                    Ok(m) => m,
                    Err(_) => return Outcome::Reject { code: ErrorCode::MalformedBody, strike: true },
                };
                match handler(ctx, msg).await {
                    Ok(r) => match r.into_reply() {
                        Some((id, body)) => Outcome::Reply { id, body },
                        None if R::PASSED_ON => Outcome::PassedOn,
                        None => Outcome::Done,
                    },
                    Err(HandlerError::Reject(code)) => Outcome::Reject { code, strike: false },
                    Err(HandlerError::Kick(code)) => Outcome::Kick(code),
                    Err(HandlerError::Refused(r)) => refused::<T>(&r),
                    Err(HandlerError::Internal(e)) => match crate::unavailable_dependency(&*e) {
                        Some(what) => {
                            tracing::warn!(msg = T::NAME, error = %e, "{what}; the client is told to retry");
                            refused::<T>(&crate::error::Refusal {
                                code: ErrorCode::Unavailable,
                                detail: what.into(),
                                retry_after: Some(crate::error::UNAVAILABLE_RETRY_AFTER),
                            })
                        }
                        None => {
                            tracing::error!(msg = T::NAME, error = %e, "handler failed");
                            Outcome::Reject { code: ErrorCode::Internal, strike: false }
                        }
                    },
                }
            })
        });
        let spec = RouteSpec { oneway: R::ONEWAY, ..spec.into() };
        self.routes.insert::<T>(spec, location, AsyncHandler { call: erased, latency: OnceLock::new() });
        self
    }

    /// Sends messages with no local handler to `forward` (which knows their declarations).
    pub fn forward_unknown(mut self, forward: Arc<dyn Forward>) -> Self {
        self.forward = Some(forward);
        self
    }

    /// Adds every route of `other`.
    ///
    /// # Panics
    /// If both routers handle the same message id, naming where each was registered.
    pub fn merge(mut self, other: Router<S>) -> Self {
        self.routes.merge(other.routes);
        self
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// True if a handler is registered for `id`.
    pub fn handles(&self, id: MsgId) -> bool {
        self.routes.get(id).is_some()
    }

    /// The declaration of the route for `id`, if this router handles it.
    pub fn spec(&self, id: MsgId) -> Option<RouteSpec> {
        self.routes.spec(id)
    }

    /// The routes as (id, name, stages), in id order: for docs and diagnostics.
    pub fn describe(&self) -> Vec<(MsgId, &'static str, StageSet)> {
        self.routes.describe()
    }

    /// The routes with their full declarations, in id order: what a server publishes so the
    /// gateway can gate and rate-limit its messages before forwarding them.
    pub fn specs(&self) -> Vec<(MsgId, &'static str, RouteSpec)> {
        self.routes.specs()
    }

    /// Runs the handler for one frame: looks the id up, checks the stage and the rate limit
    /// (before the body is decoded), then decodes and calls the handler.
    pub async fn dispatch(
        &self,
        state: &Arc<S>,
        session: &Session,
        buckets: &mut RouteBuckets,
        frame: Frame,
    ) -> Outcome {
        let id = frame.header.id;
        let Some(route) = self.routes.get(id) else {
            return match self.forward.as_ref().and_then(|f| f.spec(id).map(|spec| (f, spec))) {
                Some((forward, spec)) => match admit(&spec, id, session, buckets) {
                    Err(rejected) => rejected,
                    Ok(()) if spec.oneway => match forward.forward(session, frame) {
                        // Nothing to wait for; a rejection comes back on its own.
                        Ok(()) => Outcome::Done,
                        Err(code) => Outcome::Reject { code, strike: false },
                    },
                    Ok(()) => {
                        // Pending before it is sent: the answer may come back before `forward`
                        // even returns, and must find the request waiting for it.
                        let seq = frame.header.seq;
                        session.begin_request(seq);
                        match forward.forward(session, frame) {
                            Ok(()) => Outcome::Forwarded,
                            Err(code) => {
                                session.complete_request(seq, None);
                                Outcome::Reject { code, strike: false }
                            }
                        }
                    }
                },
                None if self.forward.as_ref().is_some_and(|f| f.expected(id)) => {
                    Outcome::Reject { code: ErrorCode::Unavailable, strike: false }
                }
                None => Outcome::Reject { code: ErrorCode::UnknownMessage, strike: true },
            };
        };
        if let Err(rejected) = admit(&route.spec, id, session, buckets) {
            return rejected;
        }
        let ctx = Ctx { state: state.clone(), session: session.clone(), seq: frame.header.seq };
        let started = Instant::now();
        let outcome = (route.handler.call)(ctx, frame.body).await;
        route
            .handler
            .latency
            .get_or_init(|| metrics::histogram!(HANDLER_SECONDS, "msg" => route.name))
            .record(started.elapsed().as_secs_f64());
        outcome
    }
}
