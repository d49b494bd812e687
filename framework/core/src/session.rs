//! A session is the handle through which anything in the process reaches one client connection:
//! its id, its stage and its outbound queue. The connection task owns the socket; everyone else
//! (handlers, fan-out, kicks from other nodes) holds a cheap clone of [`Session`] and talks to
//! the connection only through the queue, which is bounded in bytes:
//!
//! - **reliable** frames (responses, reliable pushes) are never dropped; if accepting one would
//!   put the queue over its limit, the client is too slow to keep up and the session is closed
//!   (`SLOW_CONSUMER`) instead;
//! - **droppable** pushes carry a key (e.g. an entity id): a newer push replaces a queued older
//!   one with the same key (latest wins), and above the high-water mark pushes that cannot
//!   replace anything are dropped. A client that stops reading therefore costs a bounded amount
//!   of memory and still gets the latest state when it wakes up.
//!
//! The queue lock is never held across an `.await`: pushing is a short critical section, then a
//! [`Notify`] wakes the connection task, which drains the queue into its write buffer.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use mmo_proto::{DisconnectNtf, ErrorCode};
use mmo_wire::{Flags, HEADER_LEN, Header, LEN_PREFIX, MsgId, MsgType, Seq};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::HOT;
use crate::replay::ReplayRing;

mod ids;

pub use ids::{PlayerId, SessionId, Stage, StageSet, UnknownStage};

/// The session is closing or closed; nothing more will reach its client.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("session closed")]
pub struct SessionClosed;

/// Why a session could not be resumed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("the session is closing")]
    Closed,
    #[error("the session still has a connection")]
    Attached,
    #[error("the client claims more frames than were sent")]
    AheadOfServer,
    #[error("the frames to replay are no longer held")]
    NoLongerHeld,
}

/// What [`Session::drain_into`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Frames moved.
    pub frames: usize,
    /// When the oldest reliable one of them was queued.
    pub oldest_reliable: Option<Instant>,
}

/// What the queue does with a push.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Delivery {
    /// Never dropped; closes a client that lets them back up.
    Reliable,
    /// May be replaced by a newer push with the same key, or dropped under pressure.
    Droppable { key: u64 },
}

/// A session's limits, from [`ListenerConfig`](crate::ListenerConfig): its outbound queue, its
/// replay buffer, and the protocol violations it may commit.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionLimits {
    pub max_bytes: usize,
    pub droppable_high_water: usize,
    /// Bytes of already-sent reliable frames kept for replay after a resume (0 = no resume).
    pub replay_bytes: usize,
    /// Strikes (see [`Session::strike`]) that close the session with `TOO_MANY_STRIKES`
    /// (0 = no limit: a server's mailbox session).
    pub max_strikes: u32,
}

#[derive(Clone)]
struct Item {
    header: Header,
    body: Bytes,
    /// The key of a droppable push; `None` for reliable frames.
    key: Option<u64>,
    /// A reliable frame queued once the session was logged in: counted for resume (see
    /// [`Session::resume`]).
    counted: bool,
    /// A reliable frame's queueing time: how long a client has left reliable frames unread (see
    /// [`Session::oldest_reliable`]). `None` for droppable pushes, which never make a client
    /// slow (they are replaced), so the hot fan-out path reads no clock for them.
    queued_at: Option<Instant>,
}

impl Item {
    fn reliable(header: Header, body: Bytes) -> Item {
        Item { header, body, key: None, counted: false, queued_at: Some(Instant::now()) }
    }

    fn droppable(header: Header, body: Bytes, key: u64) -> Item {
        Item { header, body, key: Some(key), counted: false, queued_at: None }
    }

    fn wire_len(&self) -> usize {
        LEN_PREFIX + HEADER_LEN + self.body.len()
    }
}

#[derive(Default)]
struct Outbound {
    items: VecDeque<Item>,
    bytes: usize,
    /// Sequence number of the last reliable push (pushes count 1, 2, 3...).
    push_seq: u32,
    /// Set once the session must close: the reason goes to the client in a `DisconnectNtf`.
    closing: Option<(ErrorCode, String)>,
    /// Counted frames handed to the socket so far (what a resuming client's count is compared to).
    sent_total: u64,
    /// The last counted frames handed to the socket, at most `replay_bytes` of them, as written:
    /// replayed on resume if the client did not get them before its connection died.
    sent: ReplayRing,
    /// No connection: droppable pushes are discarded, reliable ones queue up for a resume.
    detached: bool,
}

/// [`Inner::handover`] bits.
const LET_GO: u8 = 1;
const ADOPT: u8 = 2;

struct Inner {
    id: SessionId,
    stage: AtomicU8,
    shutdown: AtomicBool,
    player: AtomicU64,
    /// The request forwarded over the bus and not yet answered: `1 << 32 | seq`, or 0.
    pending: AtomicU64,
    /// Hand-over between connections: [`LET_GO`] (a resuming connection wants this session: its
    /// current connection must let go) and [`ADOPT`] (this session's connection is to take
    /// another session over, see [`crate::Registry::hand_over`]).
    handover: AtomicU8,
    /// Protocol violations so far (see [`Session::strike`]).
    strikes: AtomicU32,
    /// Service -> stream overrides for forwarded messages (see [`Session::bind_service`]).
    bindings: Mutex<Vec<(Arc<str>, Arc<str>)>>,
    limits: SessionLimits,
    /// The client's address (for per-address limits such as login attempts).
    peer_ip: std::sync::OnceLock<IpAddr>,
    out: Mutex<Outbound>,
    wake: Notify,
}

/// A cheap, cloneable handle to one client session.
#[derive(Clone)]
pub struct Session(Arc<Inner>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.0.id).field("stage", &self.stage()).finish()
    }
}

impl Session {
    pub fn new(id: SessionId, limits: SessionLimits) -> Session {
        Session(Arc::new(Inner {
            id,
            stage: AtomicU8::new(Stage::Connected as u8),
            shutdown: AtomicBool::new(false),
            player: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            handover: AtomicU8::new(0),
            strikes: AtomicU32::new(0),
            bindings: Mutex::new(Vec::new()),
            limits,
            peer_ip: std::sync::OnceLock::new(),
            out: Mutex::new(Outbound { sent: ReplayRing::new(limits.replay_bytes), ..Default::default() }),
            wake: Notify::new(),
        }))
    }

    pub fn id(&self) -> SessionId {
        self.0.id
    }

    pub fn stage(&self) -> Stage {
        // Only `set_stage` writes it, with a valid stage.
        Stage::from_index(self.0.stage.load(Ordering::Acquire))
    }

    /// Moves the session to another stage (Hello -> Versioned, Login -> Authenticated).
    pub fn set_stage(&self, stage: Stage) {
        self.0.stage.store(stage as u8, Ordering::Release);
    }

    /// The player bound to this session, once logged in.
    pub fn player(&self) -> Option<PlayerId> {
        match self.0.player.load(Ordering::Acquire) {
            0 => None,
            p => Some(PlayerId(p)),
        }
    }

    /// The client's IP address: set by the connection on a gateway, and from the envelope on
    /// a server handling a forwarded request made before login.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.0.peer_ip.get().copied()
    }

    /// Records the client's address (once; later calls are ignored).
    pub fn set_peer_ip(&self, ip: IpAddr) {
        let _ = self.0.peer_ip.set(ip);
    }

    pub fn set_player(&self, player: PlayerId) {
        self.0.player.store(player.0, Ordering::Release);
    }

    /// Sends this session's messages for `service` to `stream` from now on, instead of the
    /// service's shared stream: a stateful server (the zone instance that owns the player) binds
    /// its players to its own inbox. `None` removes the binding.
    pub fn bind_service(&self, service: &str, stream: Option<&str>) {
        let mut b = self.0.bindings.lock();
        b.retain(|(s, _)| &**s != service);
        if let Some(stream) = stream {
            b.push((service.into(), stream.into()));
        }
    }

    /// The stream `service`'s messages of this session go to, if bound.
    pub fn bound_stream(&self, service: &str) -> Option<Arc<str>> {
        self.0.bindings.lock().iter().find(|(s, _)| &**s == service).map(|(_, st)| st.clone())
    }

    /// Every binding, as (service, stream).
    pub fn bindings(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.0.bindings.lock().clone()
    }

    /// Records that the request `seq` was forwarded and its answer is awaited. The connection
    /// handles no further frame of this session until [`Session::complete_request`]: that is
    /// what keeps one session's requests in order across several instances of a service.
    pub fn begin_request(&self, seq: Seq) {
        self.0.pending.store(1 << 32 | u64::from(seq.0), Ordering::Release);
    }

    /// The forwarded request awaiting its answer, if any.
    pub fn pending_request(&self) -> Option<Seq> {
        match self.0.pending.load(Ordering::Acquire) {
            0 => None,
            p => Some(Seq(p as u32)),
        }
    }

    /// Ends the pending request `seq`, queueing its answer (if any) in the same step, so an
    /// answer and a timeout can never both reach the client. Returns false if `seq` was not
    /// pending (already answered, timed out, or delivered twice): the answer is then dropped.
    pub fn complete_request(&self, seq: Seq, answer: Option<(MsgId, Bytes)>) -> bool {
        let mut out = self.0.out.lock();
        let done = self
            .0
            .pending
            .compare_exchange(1 << 32 | u64::from(seq.0), 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if done
            && out.closing.is_none()
            && let Some((id, body)) = answer
        {
            let _ = self.enqueue_reliable(&mut out, Item::reliable(Header::new(id, seq), body));
        }
        drop(out);
        if done {
            self.0.wake.notify_one();
        }
        done
    }

    /// Counts a protocol violation (an unknown id, a body that does not decode, a wrong stage, a
    /// rate limit), whether the gateway saw it or a server behind it did. The one that reaches
    /// `max_strikes` closes the session with `TOO_MANY_STRIKES`; the rejection's `ErrorResp`,
    /// queued before this call, still goes out first.
    pub fn strike(&self) {
        let strikes = self.0.strikes.fetch_add(1, Ordering::AcqRel) + 1;
        let max = self.0.limits.max_strikes;
        if max > 0 && strikes >= max {
            self.kick(ErrorCode::TooManyStrikes, "too many rejected messages");
        }
    }

    /// Queues a reliable push (flag PUSH, the next push sequence number).
    pub fn push<M: MsgType>(&self, msg: &M) -> Result<(), SessionClosed> {
        self.push_body(M::ID, Bytes::from(msg.encode_to_vec()), Delivery::Reliable)
    }

    /// Queues a droppable push: it replaces a queued push with the same `key`, or is dropped if
    /// the client is behind. Returns `Ok` even when dropped: dropping is the contract.
    pub fn push_droppable<M: MsgType>(&self, key: u64, msg: &M) -> Result<(), SessionClosed> {
        self.push_body(M::ID, Bytes::from(msg.encode_to_vec()), Delivery::Droppable { key })
    }

    /// Queues an already-encoded body. Fan-out encodes a body once and pushes the same `Bytes` to
    /// many sessions; each session adds its own header when writing.
    pub fn push_body(&self, id: MsgId, body: Bytes, delivery: Delivery) -> Result<(), SessionClosed> {
        self.push_body_quiet(id, body, delivery)?;
        self.0.wake.notify_one();
        Ok(())
    }

    /// [`Session::push_body`] without waking the connection: the caller queues several frames
    /// (one tick's reliable and droppable frames) and then calls [`Session::wake`] once, so the
    /// connection writes them in one go rather than waking for the first.
    pub fn push_body_quiet(&self, id: MsgId, body: Bytes, delivery: Delivery) -> Result<(), SessionClosed> {
        let mut out = self.0.out.lock();
        if out.closing.is_some() {
            return Err(SessionClosed);
        }
        match delivery {
            Delivery::Reliable => {
                out.push_seq = out.push_seq.wrapping_add(1);
                let header = Header { id, flags: Flags::PUSH, seq: Seq(out.push_seq) };
                self.enqueue_reliable(&mut out, Item::reliable(header, body))?;
            }
            Delivery::Droppable { key } => {
                let header = Header { id, flags: Flags::PUSH.union(Flags::DROPPABLE), seq: Seq(0) };
                let item = Item::droppable(header, body, key);
                if out.detached {
                    // Nobody to show it to; the state is sent again after a resume anyway.
                    HOT.dropped.increment(1);
                    return Ok(());
                }
                if let Some(old) = out.items.iter_mut().find(|i| i.key == Some(key)) {
                    let (new_len, old_len) = (item.wire_len(), old.wire_len());
                    *old = item;
                    out.bytes = out.bytes + new_len - old_len;
                    HOT.coalesced.increment(1);
                } else if out.bytes + item.wire_len() > self.0.limits.droppable_high_water {
                    HOT.dropped.increment(1);
                    return Ok(());
                } else {
                    out.bytes += item.wire_len();
                    out.items.push_back(item);
                }
            }
        }
        Ok(())
    }

    /// Wakes the connection to write what is queued (after [`Session::push_body_quiet`]).
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    /// Queues the response to a request: reliable, no flags, the request's sequence number.
    pub fn respond(&self, id: MsgId, seq: Seq, body: Bytes) -> Result<(), SessionClosed> {
        let mut out = self.0.out.lock();
        if out.closing.is_some() {
            return Err(SessionClosed);
        }
        self.enqueue_reliable(&mut out, Item::reliable(Header::new(id, seq), body))?;
        drop(out);
        self.0.wake.notify_one();
        Ok(())
    }

    fn enqueue_reliable(&self, out: &mut Outbound, mut item: Item) -> Result<(), SessionClosed> {
        // The LoginResp is queued after the stage changed, so it is the first counted frame.
        item.counted = self.stage() == Stage::Authenticated;
        if out.bytes + item.wire_len() > self.0.limits.max_bytes {
            Self::close_slow(out, "reliable messages backed up");
            self.0.wake.notify_one();
            return Err(SessionClosed);
        }
        out.bytes += item.wire_len();
        out.items.push_back(item);
        Ok(())
    }

    /// Closes the session: the client gets a `DisconnectNtf` with `reason` after what is already
    /// queued, then the connection closes. Later pushes fail with [`SessionClosed`]. Idempotent:
    /// the first reason wins.
    pub fn kick(&self, reason: ErrorCode, detail: impl Into<String>) {
        let mut out = self.0.out.lock();
        if out.closing.is_none() {
            Self::begin_close(&mut out, reason, detail.into());
        }
        drop(out);
        self.0.wake.notify_one();
    }

    /// Closes the session as a slow consumer (`SLOW_CONSUMER`): its reliable frames backed up
    /// past the queue limit, or were left unread too long (the connection's `send_timeout`).
    /// Idempotent, like [`Session::kick`].
    pub fn kick_slow_consumer(&self, detail: &str) {
        let mut out = self.0.out.lock();
        if out.closing.is_none() {
            Self::close_slow(&mut out, detail);
        }
        drop(out);
        self.0.wake.notify_one();
    }

    fn close_slow(out: &mut Outbound, detail: &str) {
        // The client is not reading. What is queued will never be read in time: drop it and
        // leave only the reason, so the close costs nothing more.
        out.items.clear();
        out.bytes = 0;
        Self::begin_close(out, ErrorCode::SlowConsumer, detail);
    }

    fn begin_close(out: &mut Outbound, reason: ErrorCode, detail: impl Into<String>) {
        let detail = detail.into();
        let ntf = DisconnectNtf { reason: reason.code(), detail: detail.clone(), ..Default::default() };
        let body = Bytes::from(prost::Message::encode_to_vec(&ntf));
        let header = Header { id: DisconnectNtf::ID, flags: Flags::PUSH, seq: Seq(0) };
        // The closing frame bypasses the byte limit: it is the last one, and small.
        out.bytes += LEN_PREFIX + HEADER_LEN + body.len();
        out.items.push_back(Item::reliable(header, body));
        out.closing = Some((reason, detail));
    }

    /// Asks the session to close for shutdown once the message it is handling (if any) is
    /// answered: the client then gets `DisconnectNtf(SHUTTING_DOWN)`.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }

    pub fn shutdown_requested(&self) -> bool {
        self.0.shutdown.load(Ordering::Acquire)
    }

    /// Why the session is closing, once it is.
    pub fn closing_reason(&self) -> Option<ErrorCode> {
        self.0.out.lock().closing.as_ref().map(|(c, _)| *c)
    }

    /// Bytes currently queued for the client.
    pub fn queued_bytes(&self) -> usize {
        self.0.out.lock().bytes
    }

    /// Waits until something is queued or the session starts closing. A wake-up sent while
    /// nobody waits is kept, so none is lost between a drain and the next wait.
    pub async fn wait_queued(&self) {
        self.0.wake.notified().await;
    }

    /// Moves queued frames into `dst` (prefix + header + body each) until `dst` holds at least
    /// `max` bytes or the queue is empty. Returns how many frames were moved and when the oldest
    /// reliable one of them was queued.
    pub fn drain_into(&self, dst: &mut BytesMut, max: usize) -> Drained {
        let mut out = self.0.out.lock();
        let mut drained = Drained::default();
        while dst.len() < max {
            let Some(item) = out.items.pop_front() else { break };
            out.bytes -= item.wire_len();
            let start = dst.len();
            item.header.write_frame(&item.body, dst);
            drained.frames += 1;
            if let Some(at) = item.queued_at {
                drained.oldest_reliable = Some(drained.oldest_reliable.map_or(at, |t| t.min(at)));
            }
            if item.counted {
                out.sent_total += 1;
                // A copy of the bytes just written, never the item: its body may be a slice of a
                // much larger buffer (see `replay.rs`).
                out.sent.record(&dst[start..]);
            }
        }
        if out.items.is_empty() && out.items.capacity() > 0 {
            // Idle sessions hold no queue storage.
            out.items = VecDeque::new();
        }
        drained
    }

    /// When the oldest reliable frame still queued (not yet handed to the socket) was queued:
    /// how far behind a client that does not read is on frames it must get.
    pub fn oldest_reliable(&self) -> Option<Instant> {
        let out = self.0.out.lock();
        out.items.iter().find_map(|i| i.queued_at)
    }

    /// Marks the session as having no connection (it was parked for resume): queued droppable
    /// pushes are discarded and new ones dropped; reliable frames keep queueing, bounded by the
    /// queue limit, for a resume to deliver.
    pub fn detach(&self) {
        let mut out = self.0.out.lock();
        out.detached = true;
        out.items.retain(|i| i.key.is_none());
        out.bytes = out.items.iter().map(Item::wire_len).sum();
    }

    pub fn is_detached(&self) -> bool {
        self.0.out.lock().detached
    }

    /// Asks the connection holding this session to let go of it (a resume from a new connection
    /// while the old one has not noticed it is dead). The old connection parks the session.
    pub fn request_takeover(&self) {
        self.0.handover.fetch_or(LET_GO, Ordering::AcqRel);
        self.0.wake.notify_one();
    }

    pub fn takeover_requested(&self) -> bool {
        self.0.handover.load(Ordering::Acquire) & LET_GO != 0
    }

    /// Marks that a session was handed over to this session's connection, to serve instead of
    /// this one ([`crate::Registry::hand_over`]).
    pub(crate) fn request_adoption(&self) {
        self.0.handover.fetch_or(ADOPT, Ordering::AcqRel);
    }

    /// Whether a session waits to be adopted by this session's connection; clears the mark.
    pub(crate) fn take_adoption(&self) -> bool {
        self.0.handover.load(Ordering::Relaxed) & ADOPT != 0
            && self.0.handover.fetch_and(!ADOPT, Ordering::AcqRel) & ADOPT != 0
    }

    /// Re-attaches a detached session for a client that has received `received` counted frames
    /// (reliable frames since login). The frames it missed that were already handed to the old
    /// socket go back to the front of the queue, in order, ahead of those queued since. Returns
    /// how many counted frames the client will now get before anything new.
    pub fn resume(&self, received: u64) -> Result<u64, ResumeError> {
        let mut out = self.0.out.lock();
        if out.closing.is_some() {
            return Err(ResumeError::Closed);
        }
        if !out.detached {
            return Err(ResumeError::Attached);
        }
        if received > out.sent_total {
            return Err(ResumeError::AheadOfServer);
        }
        let missing = out.sent_total - received;
        let Some(replay) = usize::try_from(missing).ok().and_then(|n| out.sent.take_newest(n)) else {
            return Err(ResumeError::NoLongerHeld);
        };
        let queued = out.items.iter().filter(|i| i.counted).count() as u64;
        for (header, body) in replay.into_iter().rev() {
            let item = Item { counted: true, ..Item::reliable(header, body) };
            out.bytes += item.wire_len();
            out.items.push_front(item);
        }
        out.sent_total = received;
        out.detached = false;
        self.0.handover.fetch_and(!LET_GO, Ordering::AcqRel);
        drop(out);
        self.0.wake.notify_one();
        Ok(missing + queued)
    }

    /// Takes every queued frame as (header, body, droppable key): used where a session is a
    /// mailbox rather than a socket (a server handling a forwarded request).
    pub fn take_queued(&self) -> Vec<(Header, Bytes, Option<u64>)> {
        let mut out = self.0.out.lock();
        out.bytes = 0;
        std::mem::take(&mut out.items).into_iter().map(|i| (i.header, i.body, i.key)).collect()
    }

    /// True when nothing is queued.
    pub fn is_drained(&self) -> bool {
        self.0.out.lock().items.is_empty()
    }
}
