//! Runs a server's [`Router`] behind the bus: reads the service stream through the consumer
//! group (instances split the load), dispatches each envelope exactly as the gateway would a
//! frame, and sends back one completion envelope per request (with its response or error), after
//! any pushes the handler queued, to the inbox of the gateway that sent it.
//!
//! The handler sees an ordinary [`Session`]: a mailbox standing in for the remote one, seeded
//! with its id, stage and player. Whatever the handler does to it (push, set the stage, bind a
//! player, kick) travels back in the envelopes and is applied by the gateway.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::{FutureExt, StreamExt};
use metrics::counter;
use mmo_proto::bus::{Batch, Envelope, Kind, Push, Request};
use mmo_proto::{DisconnectNtf, ErrorCode, MsgType};
use mmo_wire::{Frame, Header, MsgId, Seq};
use tokio::sync::Semaphore;

use super::consumer::{EntryHandler, GroupConsumer, Handled};
use super::{Bus, BusError, reply, routes};
use crate::router::{Outcome, RouteBuckets, Router};
use crate::session::{PlayerId, Session, SessionId, SessionLimits, Stage};
use crate::shutdown::Shutdown;

pub const SERVE_PANICS: &str = "mmo_serve_handler_panics_total";
/// Envelopes refused before any handler ran (a stage this node does not know, or none).
pub const SERVE_BAD_ENVELOPES: &str = "mmo_serve_bad_envelopes_total";

/// Publishes `router`'s routes under `service` and serves them from the bus until shutdown.
pub async fn serve<S: Send + Sync + 'static>(
    bus: &Bus,
    service: &str,
    router: Router<S>,
    state: Arc<S>,
    shutdown: &Shutdown,
) -> Result<(), BusError> {
    let specs = router.specs();
    routes::publish(bus, service, &specs).await?;
    tokio::spawn(routes::keep_published(bus.clone(), service.to_string(), specs, shutdown.token()));
    serve_with(GroupConsumer::for_service(bus, bus.keys().service(service), service), router, state, shutdown)
        .await
}

/// Serves `router` from `stream` through the consumer group `group`, without publishing routes:
/// for a stateful server's own inbox (a zone instance), which clients reach through a session
/// binding ([`Session::bind_service`]) rather than the route table.
pub async fn serve_stream<S: Send + Sync + 'static>(
    bus: &Bus,
    stream: Arc<str>,
    group: &str,
    router: Router<S>,
    state: Arc<S>,
    shutdown: &Shutdown,
) -> Result<(), BusError> {
    serve_with(GroupConsumer::new(bus.clone(), stream, group), router, state, shutdown).await
}

async fn serve_with<S: Send + Sync + 'static>(
    consumer: GroupConsumer,
    router: Router<S>,
    state: Arc<S>,
    shutdown: &Shutdown,
) -> Result<(), BusError> {
    consumer.bus.start_heartbeat(shutdown).await?;
    consumer.ensure_group().await?;
    let bus = consumer.bus.clone();
    let router = Arc::new(router);
    let slots = EnvelopeSlots::new(&bus);
    let handler: EntryHandler = Arc::new(move |batch| {
        let (router, state, bus, slots) = (router.clone(), state.clone(), bus.clone(), slots.clone());
        Box::pin(async move {
            handle_batch(&bus, &router, &state, &slots, batch).await;
            Handled::Ack
        })
    });
    shutdown.spawn(consumer.run(handler, shutdown.token()));
    Ok(())
}

async fn handle_batch<S: Send + Sync + 'static>(
    bus: &Bus,
    router: &Router<S>,
    state: &Arc<S>,
    slots: &EnvelopeSlots,
    batch: Batch,
) {
    let reply_to = bus.keys().inbox(&batch.from);
    slots
        .for_each(batch.envelopes, |env| {
            let reply_to = reply_to.clone();
            async move {
                for out in handle_envelope(router, state, env).await {
                    if let Err(e) = bus.send(&reply_to, out) {
                        tracing::warn!(error = %e, "reply dropped: bus buffer full");
                    }
                }
            }
        })
        .await;
}

/// The envelopes a server handles at once (`handler_concurrency`), across every stream entry
/// its consumer is working on: with entry concurrency
/// ([`GroupConsumer::for_service`]) a per-entry bound would multiply by the entries in flight.
#[derive(Clone)]
pub struct EnvelopeSlots(Arc<Semaphore>);

impl EnvelopeSlots {
    pub fn new(bus: &Bus) -> EnvelopeSlots {
        EnvelopeSlots(Arc::new(Semaphore::new(bus.config().handler_concurrency.max(1))))
    }

    /// Runs `f` on every envelope, each as soon as a slot is free.
    pub async fn for_each<F, Fut>(&self, envelopes: Vec<Envelope>, f: F)
    where
        F: Fn(Envelope) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        futures_util::stream::iter(envelopes)
            .for_each_concurrent(None, |env| {
                let handled = f(env);
                async move {
                    // Never closed; without a slot the envelope is still handled, not lost.
                    let _slot = self.0.acquire().await.ok();
                    handled.await;
                }
            })
            .await;
    }
}

/// Handles one envelope; returns those to send back, in order. Only requests are handled: a
/// server served this way keeps nothing per session, so a session's end means nothing to it.
pub async fn handle_envelope<S: Send + Sync + 'static>(
    router: &Router<S>,
    state: &Arc<S>,
    env: Envelope,
) -> Vec<Envelope> {
    match env.kind {
        Some(Kind::Request(req)) => handle_request(router, state, req).await,
        Some(Kind::Ended(_)) => Vec::new(),
        _ => {
            counter!(SERVE_BAD_ENVELOPES).increment(1);
            tracing::warn!("envelope of a kind a served router does not take; ignored");
            Vec::new()
        }
    }
}

/// Handles one request; returns the envelopes to send back, in order.
pub async fn handle_request<S: Send + Sync + 'static>(
    router: &Router<S>,
    state: &Arc<S>,
    env: Request,
) -> Vec<Envelope> {
    // The gateway enforces the real queue limits; this mailbox only collects what the handler
    // pushes during one request.
    let session = Session::new(
        SessionId(env.session),
        SessionLimits { max_bytes: 4 << 20, droppable_high_water: 1 << 20, replay_bytes: 0, max_strikes: 0 },
    );
    let stage = match Stage::from_wire(env.stage) {
        Ok(stage) => stage,
        Err(e) => {
            // A sender this node does not understand: no handler runs on a stage it cannot
            // check. The request is answered, so the gateway does not wait for it.
            counter!(SERVE_BAD_ENVELOPES).increment(1);
            tracing::warn!(error = %e, msg_id = env.msg_id, "envelope refused");
            let id = MsgId(env.msg_id as u16);
            let oneway = router.spec(id).is_some_and(|s| s.oneway);
            let code = ErrorCode::Internal;
            return vec![
                reply::rejection(env.session, env.seq, id, oneway, code, "unknown stage", None).into(),
            ];
        }
    };
    session.set_stage(stage);
    if env.player != 0 {
        session.set_player(PlayerId(env.player));
    }
    if let Ok(v4) = <[u8; 4]>::try_from(env.client_ip.as_ref()) {
        session.set_peer_ip(std::net::IpAddr::from(v4));
    } else if let Ok(v6) = <[u8; 16]>::try_from(env.client_ip.as_ref()) {
        session.set_peer_ip(std::net::IpAddr::from(v6));
    }
    let request_id = MsgId(env.msg_id as u16);
    let frame = Frame::new(Header::new(request_id, Seq(env.seq)), env.body);
    let mut buckets = RouteBuckets::default();
    let outcome =
        AssertUnwindSafe(router.dispatch(state, &session, &mut buckets, frame)).catch_unwind().await;

    let mut out = Vec::new();
    for (header, body, key) in session.take_queued() {
        if header.id == DisconnectNtf::ID {
            continue; // a kick travels as `kick` below; the gateway writes its own notice
        }
        let push = Push {
            session: env.session,
            msg_id: u32::from(header.id.0),
            flags: u32::from(header.flags.0),
            body,
            key: key.unwrap_or(0),
            ..Default::default()
        };
        out.push(push.into());
    }
    // A one-way request (its handler answers nothing on success) completes nothing: the
    // gateway did not wait for it. Only a rejection, or a change to the session, goes back.
    let oneway = router.spec(request_id).is_some_and(|s| s.oneway);
    let mut done = reply::answer(env.session, env.seq, oneway);
    if session.stage() != stage {
        done.stage = session.stage().to_wire();
    }
    if let Some(p) = session.player()
        && p.0 != env.player
    {
        done.set_player = p.0;
    }
    if let Some(code) = session.closing_reason() {
        done.kick = code.code() as u32;
    }
    // A handler binds one service per request at most (the zone binding its player).
    if let Some((service, stream)) = session.bindings().into_iter().next() {
        done.bind_service = service.to_string();
        done.bind_stream = stream.to_string();
    }
    let reject = |done: &mut mmo_proto::bus::Answer, code: ErrorCode| {
        let retry = (code == ErrorCode::Unavailable).then_some(crate::error::UNAVAILABLE_RETRY_AFTER);
        reply::reject(done, request_id, code, "", retry);
    };
    // Passed on: the server it went to completes it.
    let passed_on = matches!(outcome, Ok(Outcome::PassedOn));
    match outcome {
        Ok(Outcome::Reply { id, body }) => {
            done.msg_id = u32::from(id.0);
            done.body = body;
        }
        Ok(Outcome::Reject { code, strike }) => {
            reject(&mut done, code);
            // A body that does not decode: a protocol violation the gateway counts.
            done.strike = strike;
        }
        // Rate limits are the gateway's (per session); a server's own dispatch has none.
        Ok(Outcome::Limited { .. }) => reject(&mut done, ErrorCode::RateLimited),
        Ok(Outcome::Kick(code)) => done.kick = code.code() as u32,
        Ok(Outcome::Done | Outcome::Forwarded | Outcome::PassedOn) => {}
        Err(_) => {
            counter!(SERVE_PANICS, "msg" => mmo_proto::message_name(request_id).unwrap_or("unknown"))
                .increment(1);
            tracing::error!(msg_id = request_id.0, "handler panicked; the client gets INTERNAL");
            reject(&mut done, ErrorCode::Internal);
        }
    }
    let changes = done.msg_id != 0
        || done.stage != 0
        || done.set_player != 0
        || done.kick != 0
        || !done.bind_service.is_empty();
    if (!oneway && !passed_on) || changes {
        out.push(done.into());
    }
    out
}
