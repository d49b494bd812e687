//! The gateway's side of the bus: frames without a local handler are forwarded to the service
//! that declared them, and envelopes arriving in the gateway's inbox are applied to its sessions
//! (responses, pushes, stage changes, player binding, kicks).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use mmo_proto::bus::game_event::Detail;
use mmo_proto::bus::{Answer, Envelope, FanOut, Kind, Logout, Request, SessionEnded};
use mmo_proto::{ErrorCode, MsgId};
use mmo_wire::{Flags, Frame, Seq};

use super::consumer::{GroupConsumer, Handled};
use super::routes::RouteTable;
use super::{Bus, BusError, events, node};
use crate::registry::Registry;
use crate::router::Forward;
use crate::session::{Delivery, PlayerId, Session, SessionId, Stage};
use crate::shutdown::Shutdown;
use crate::table::RouteSpec;

pub const RELAY_LATE_ANSWERS: &str = "mmo_relay_late_answers_total";

/// Forwards frames to the services that declared them.
pub struct Forwarder {
    bus: Bus,
    table: RouteTable,
}

impl Forward for Forwarder {
    fn spec(&self, id: MsgId) -> Option<RouteSpec> {
        self.table.route(id).map(|r| r.spec)
    }

    /// The protocol's own requests (every `*Req` of `mmo-proto`) always have a server. (An id
    /// whose route this gateway has seen never gets here: routes are never forgotten.)
    fn expected(&self, id: MsgId) -> bool {
        let expected = mmo_proto::message_name(id).is_some_and(|name| name.ends_with("Req"));
        if expected {
            // Its server may have published since the last reload: look again soon, so the
            // client's retry (after `retry_hint`) finds it.
            self.table.reload_soon();
        }
        expected
    }

    fn forward(&self, session: &Session, frame: Frame) -> Result<(), ErrorCode> {
        let route = self.table.route(frame.header.id).ok_or(ErrorCode::UnknownMessage)?;
        let bound = session.bound_stream(&route.service);
        let env = Request {
            session: session.id().0,
            player: session.player().map_or(0, |p| p.0),
            msg_id: u32::from(frame.header.id.0),
            seq: frame.header.seq.0,
            body: frame.body,
            stage: session.stage().to_wire(),
            // Only logins need it (per-address attempt limits); authenticated traffic saves the bytes.
            client_ip: match (session.stage(), session.peer_ip()) {
                (Stage::Authenticated, _) | (_, None) => Bytes::new(),
                (_, Some(IpAddr::V4(ip))) => Bytes::copy_from_slice(&ip.octets()),
                (_, Some(IpAddr::V6(ip))) => Bytes::copy_from_slice(&ip.octets()),
            },
        };
        self.bus.send(bound.as_ref().unwrap_or(&route.stream), env.into()).map_err(|_| ErrorCode::Unavailable)
    }
}

/// Starts the gateway relay: loads the route table (and keeps it fresh) and consumes this node's
/// inbox into `registry`. Returns the forwarder to install with `Router::forward_unknown`.
///
/// It also keeps the presence directory: a session bound to a player (login) claims the
/// player's presence, and the session that held it before (here or on another gateway) is
/// closed with `DUPLICATE_LOGIN`, so an account has one session in the whole cluster. When a
/// logged-in session ends, its presence is released and a `logout` event is emitted.
pub async fn start(bus: &Bus, registry: Registry, shutdown: &Shutdown) -> Result<Arc<Forwarder>, BusError> {
    registry.on_end({
        let bus = bus.clone();
        move |session| session_ended(&bus, session)
    });
    // Presence entries of this node count only while it heartbeats.
    bus.start_heartbeat(shutdown).await?;
    let table = RouteTable::default();
    table.reload(bus).await?;
    tokio::spawn(table.clone().refresh_loop(bus.clone(), shutdown.token()));
    let inbox = GroupConsumer::new(bus.clone(), bus.keys().inbox(bus.node()), "gateway");
    inbox.ensure_group().await?;
    let bus2 = bus.clone();
    let handler: super::consumer::EntryHandler = Arc::new(move |batch| {
        let (registry, bus) = (registry.clone(), bus2.clone());
        Box::pin(async move {
            // Logins in this entry claim their players' presence before their answers reach the
            // clients, so a push to a player who has been told they are logged in finds them.
            // One round trip for all of them; closing older sessions happens after, unawaited.
            let logins = batch.envelopes.iter().filter_map(|e| match &e.kind {
                Some(Kind::Answer(a)) if a.set_player != 0 => {
                    Some((PlayerId(a.set_player), SessionId(a.session)))
                }
                _ => None,
            });
            let claims = logins.map(|(player, session)| claim(&bus, &registry, player, session));
            futures_util::future::join_all(claims).await;
            let mut woken = Wakes::default();
            for env in batch.envelopes {
                apply_batched(&registry, env, &mut woken);
            }
            woken.wake_all();
            Handled::Ack
        })
    });
    // Not stopped by the shutdown token: the inbox is read through the drain, so answers to
    // requests in flight still reach their clients; `Bus::close` stops it afterwards.
    tokio::spawn(inbox.run(handler, bus.closed()));
    Ok(Arc::new(Forwarder { bus: bus.clone(), table }))
}

/// Sessions given frames by a per-session fan-out of one stream entry, woken once the whole
/// entry is applied: a tick's reliable and droppable frames then go out in one write.
#[derive(Default)]
struct Wakes(Vec<Session>);

impl Wakes {
    fn wake_all(self) {
        for s in self.0 {
            s.wake();
        }
    }
}

/// Applies one envelope from a server to the session(s) it names.
pub fn apply(registry: &Registry, env: Envelope) {
    let mut woken = Wakes::default();
    apply_batched(registry, env, &mut woken);
    woken.wake_all();
}

/// A body to queue for a client, in an allocation of its own.
///
/// An envelope's bodies are slices of the stream entry they came in (prost decodes `bytes`
/// fields zero-copy), and a `Bytes` slice keeps its whole buffer alive: one tick's entry holds
/// the frames of every session of this gateway. A queued frame pinning it would make a slow
/// client, or a queue that is never quite empty, cost the whole entry instead of its frame, and
/// the memory held would follow the bytes sent rather than the queue limits. One copy here,
/// shared by every session a fan-out names, keeps what a session holds equal to what it counts.
fn owned(body: Bytes) -> Bytes {
    Bytes::copy_from_slice(&body)
}

fn apply_batched(registry: &Registry, env: Envelope, woken: &mut Wakes) {
    match env.kind {
        Some(Kind::Answer(a)) => apply_answer(registry, a),
        Some(Kind::Push(p)) => {
            let Some(session) = registry.session(SessionId(p.session)) else { return };
            if !p.bind_service.is_empty() {
                bind(&session, &p.bind_service, &p.bind_stream);
            }
            let _ = session.push_body(MsgId(p.msg_id as u16), owned(p.body), delivery(p.flags, p.key));
        }
        Some(Kind::FanOut(f)) => fan_out(registry, f, woken),
        Some(Kind::Kick(k)) => {
            if let Some(session) = registry.session(SessionId(k.session)) {
                session.kick(ErrorCode::try_from(k.reason as i32).unwrap_or(ErrorCode::Kicked), "");
            }
        }
        // Requests, session ends and commands go to servers, never to a gateway's inbox.
        Some(Kind::Request(_) | Kind::Ended(_) | Kind::Command(_)) | None => {
            tracing::warn!("envelope of a kind a gateway does not take; ignored");
        }
    }
}

/// The answer to a request the session forwarded, and the changes its handler made.
fn apply_answer(registry: &Registry, a: Answer) {
    let Some(session) = registry.session(SessionId(a.session)) else { return };
    if a.set_player != 0 {
        session.set_player(PlayerId(a.set_player));
    }
    if a.stage != 0 {
        match Stage::from_wire(a.stage) {
            Ok(stage) => session.set_stage(stage),
            // Fail closed: a stage this node does not know grants nothing.
            Err(e) => tracing::warn!(error = %e, session = a.session, "stage change ignored"),
        }
    }
    if !a.bind_service.is_empty() {
        bind(&session, &a.bind_service, &a.bind_stream);
    }
    let frame = (a.msg_id != 0).then(|| (MsgId(a.msg_id as u16), owned(a.body)));
    if a.complete {
        if !session.complete_request(Seq(a.seq), frame) {
            metrics::counter!(RELAY_LATE_ANSWERS).increment(1);
        }
    } else if let Some((id, body)) = frame {
        // The answer to a one-way request (a rejection): a response, not a push.
        let _ = session.respond(id, Seq(a.seq), body);
    }
    if a.strike {
        // After the answer above: at the limit, the DisconnectNtf follows it.
        session.strike();
    }
    if a.kick != 0 {
        session.kick(ErrorCode::try_from(a.kick as i32).unwrap_or(ErrorCode::Kicked), "");
    }
}

fn fan_out(registry: &Registry, f: FanOut, woken: &mut Wakes) {
    let (id, delivery) = (MsgId(f.msg_id as u16), delivery(f.flags, f.key));
    if f.bodies.is_empty() {
        let body = owned(f.body);
        for sid in f.sessions {
            if let Some(session) = registry.session(SessionId(sid)) {
                let _ = session.push_body(id, body.clone(), delivery);
            }
        }
        return;
    }
    // A body per session (a zone tick): woken once the whole entry is applied.
    for (sid, body) in f.sessions.into_iter().zip(f.bodies) {
        if let Some(session) = registry.session(SessionId(sid))
            && session.push_body_quiet(id, owned(body), delivery).is_ok()
        {
            woken.0.push(session);
        }
    }
}

fn bind(session: &Session, service: &str, stream: &str) {
    session.bind_service(service, (!stream.is_empty()).then_some(stream));
}

fn delivery(flags: u32, key: u64) -> Delivery {
    if Flags(flags as u8).contains(Flags::DROPPABLE) {
        Delivery::Droppable { key }
    } else {
        Delivery::Reliable
    }
}

/// Makes `session` the one session of `player`; the one that held it before is closed
/// afterwards, without waiting.
async fn claim(bus: &Bus, registry: &Registry, player: PlayerId, session: SessionId) {
    let old = match node::claim_presence(bus, player, session).await {
        Ok(old) => old,
        Err(e) => {
            tracing::warn!(error = %e, %player, "presence claim failed; an older session may stay open");
            return;
        }
    };
    if let Some(old) = old {
        tokio::spawn(close_older(bus.clone(), registry.clone(), player, session, old));
    }
}

/// Closes the session that held `player` before `session` took it.
async fn close_older(
    bus: Bus,
    registry: Registry,
    player: PlayerId,
    session: SessionId,
    old: node::Presence,
) {
    if old.node == bus.node() {
        if old.session != session
            && let Some(s) = registry.session(old.session)
        {
            s.kick(ErrorCode::DuplicateLogin, "logged in elsewhere");
        }
    } else {
        // A session on a node that died is gone already: its inbox is read by nobody, and
        // writing to it would only leave a stream behind.
        match node::live_nodes(&bus).await {
            Ok(live) if !live.contains(&old.node) => return,
            _ => {}
        }
        if let Err(e) = node::kick_at(&bus, &old, ErrorCode::DuplicateLogin) {
            tracing::warn!(error = %e, %player, node = old.node, "duplicate-login kick not sent");
        }
    }
}

/// A session of this gateway ended: if it was logged in, release its presence (unless a newer
/// login took it) and emit `logout`.
fn session_ended(bus: &Bus, session: &Session) {
    let Some(player) = session.player() else { return };
    let reason = match session.closing_reason() {
        Some(code) => code.as_str_name(),
        None if session.is_detached() => "RESUME_WINDOW_EXPIRED",
        None => "DISCONNECTED",
    };
    // With the session's id: a server reacting to it can tell this session from a newer one of
    // the same player (a login elsewhere ends this one with DUPLICATE_LOGIN).
    let detail = Detail::Logout(Logout { reason: reason.to_string(), session: session.id().0 });
    events::emit_typed(bus, "logout", player, detail);
    // Stateful servers holding something for this session (the zone instance with the player's
    // entity) are told on the stream they bound it to, after whatever the session sent them.
    let reason = session.closing_reason().map_or(0, |c| c.code() as u32);
    for (_, stream) in session.bindings() {
        let ended = SessionEnded { session: session.id().0, player: player.0, reason };
        if let Err(e) = bus.send(&stream, ended.into()) {
            tracing::warn!(error = %e, %player, %stream, "session end not sent to its bound server");
        }
    }
    let (bus, id) = (bus.clone(), session.id());
    tokio::spawn(async move {
        if let Err(e) = node::release_presence(&bus, player, id).await {
            tracing::warn!(error = %e, %player, "presence release failed");
        }
    });
}

/// Deletes this node's inbox (on a clean shutdown, once no answer can still be useful): node ids
/// are per process, so an inbox left behind would never be read again.
pub async fn remove_inbox(bus: &Bus) -> Result<(), BusError> {
    // Stop the reader first, or it would recreate the stream and its group (NOGROUP recovery).
    bus.close();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("DEL").arg(&*bus.keys().inbox(bus.node())).query_async::<()>(&mut *conn)).await
}
