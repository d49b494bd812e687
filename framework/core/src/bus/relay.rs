//! The gateway's side of the bus: frames without a local handler are forwarded to the service
//! that declared them, and envelopes arriving in the gateway's inbox are applied to its sessions
//! (responses, pushes, stage changes, player binding, kicks).

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use mmo_proto::bus::{COMPLETE, ENDED, Envelope, STRIKE};
use mmo_proto::{ErrorCode, MsgId};
use mmo_wire::{Flags, Frame, Seq};

use super::consumer::{GroupConsumer, Handled};
use super::routes::RouteTable;
use super::{Bus, BusError, events, node};
use crate::registry::Registry;
use crate::router::{Forward, RouteSpec};
use crate::session::{Delivery, PlayerId, Session, SessionId, Stage};
use crate::shutdown::Shutdown;

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
        let env = Envelope {
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
            ..Default::default()
        };
        self.bus.send(bound.as_ref().unwrap_or(&route.stream), env).map_err(|_| ErrorCode::Unavailable)
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
            let logins = batch.envelopes.iter().filter(|e| e.set_player != 0);
            let claims = logins.map(|e| claim(&bus, &registry, PlayerId(e.set_player), SessionId(e.session)));
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

fn apply_batched(registry: &Registry, mut env: Envelope, woken: &mut Wakes) {
    let targets: &[u64] =
        if env.sessions.is_empty() { std::slice::from_ref(&env.session) } else { &env.sessions };
    if !env.bodies.is_empty() {
        // A body per session (a zone tick): only pushes travel this way.
        let id = MsgId(env.msg_id as u16);
        let delivery = delivery_of(&env);
        for (sid, body) in targets.iter().zip(env.bodies) {
            if let Some(session) = registry.session(SessionId(*sid))
                && session.push_body_quiet(id, owned(body), delivery).is_ok()
            {
                woken.0.push(session);
            }
        }
        return;
    }
    let body = owned(std::mem::take(&mut env.body));
    for sid in targets {
        let Some(session) = registry.session(SessionId(*sid)) else { continue };
        if env.set_player != 0 {
            session.set_player(PlayerId(env.set_player));
        }
        if env.stage != 0 {
            match Stage::from_wire(env.stage) {
                Ok(stage) => session.set_stage(stage),
                // Fail closed: a stage this node does not know grants nothing.
                Err(e) => tracing::warn!(error = %e, session = env.session, "stage change ignored"),
            }
        }
        if !env.bind_service.is_empty() {
            let stream = (!env.bind_stream.is_empty()).then_some(env.bind_stream.as_str());
            session.bind_service(&env.bind_service, stream);
        }
        let id = MsgId(env.msg_id as u16);
        if env.flags & COMPLETE != 0 {
            let answer = (env.msg_id != 0).then(|| (id, body.clone()));
            if !session.complete_request(Seq(env.seq), answer) {
                metrics::counter!(RELAY_LATE_ANSWERS).increment(1);
            }
        } else if env.msg_id != 0 && !Flags(env.flags as u8).contains(Flags::PUSH) {
            // The answer to a one-way request (a rejection): a response, not a push.
            let _ = session.respond(id, Seq(env.seq), body.clone());
        } else if env.msg_id != 0 {
            let _ = session.push_body(id, body.clone(), delivery_of(&env));
        }
        if env.flags & STRIKE != 0 {
            // After the answer above: at the limit, the DisconnectNtf follows it.
            session.strike();
        }
        if env.kick != 0 {
            let code = ErrorCode::try_from(env.kick as i32).unwrap_or(ErrorCode::Kicked);
            session.kick(code, "");
        }
    }
}

fn delivery_of(env: &Envelope) -> Delivery {
    if Flags(env.flags as u8).contains(Flags::DROPPABLE) {
        Delivery::Droppable { key: env.key }
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
        let kick = Envelope { kick: ErrorCode::DuplicateLogin.code() as u32, ..Default::default() };
        if let Err(e) = node::send_to(&bus, &old, kick) {
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
    events::emit(bus, "logout", player, &[("reason", reason)]);
    // Stateful servers holding something for this session (the zone instance with the player's
    // entity) are told on the stream they bound it to, after whatever the session sent them.
    let kick = session.closing_reason().map_or(0, |c| c.code() as u32);
    for (_, stream) in session.bindings() {
        let env =
            Envelope { session: session.id().0, player: player.0, flags: ENDED, kick, ..Default::default() };
        if let Err(e) = bus.send(&stream, env) {
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
