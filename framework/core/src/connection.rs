//! One task per client connection. It owns the socket and runs this loop until the connection
//! closes:
//!
//! 1. handle the complete frames already buffered (a bounded batch, in order, one at a time);
//! 2. move queued frames from the session's outbound queue into the write buffer and write what
//!    the socket takes now (one write carries many frames);
//! 3. wait for the first of: shutdown, something queued, the socket writable (if we have bytes
//!    left), the socket readable, or the deadline.
//!
//! Reads and writes share one task through tokio's readiness API (`readable`/`try_read_buf`),
//! so a connection is one task with no channel in between. Buffers are allocated only while
//! bytes are in flight and released when empty: an idle connection holds no buffer at all.
//!
//! Deadlines: a connection in stage `Connected` must finish the handshake within
//! `handshake_timeout` of accept; after that, it must send a complete frame at least every
//! `idle_timeout` (bytes trickling in without completing a frame do not count: slowloris). A
//! closing connection gets `close_timeout` to flush its last frames; it half-closes and keeps
//! discarding input meanwhile, so the kernel sends FIN, not RST, and the client reads why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use metrics::counter;
use mmo_proto::{DisconnectNtf, ErrorCode, ErrorResp};
use mmo_wire::{Flags, Frame, FrameCodec, MsgId, MsgType, Seq};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::Decoder;

use crate::config::ListenerConfig;
use crate::error::error_body;
use tokio::sync::OwnedSemaphorePermit;

use crate::metrics::{CONNECTIONS_CLOSED, HOT, KICKS, REJECTS};
use crate::registry::RegistryGuard;
use crate::router::{Outcome, RouteBuckets, Router};
use crate::session::{Session, Stage};

/// Frames handled per turn of the loop before queued output is flushed and other events are
/// looked at: keeps one chatty client from starving the writes of its own responses.
const FRAMES_PER_TURN: usize = 32;

/// Why a connection ended, as the `reason` label of `mmo_connections_closed_total`: an error code
/// name (the client was sent a `DisconnectNtf` with it) or one of these.
const PEER_CLOSED: &str = "PEER_CLOSED";
const IO_ERROR: &str = "IO_ERROR";
const RESUMED_ELSEWHERE: &str = "RESUMED_ELSEWHERE";

pub(crate) struct Connection<S> {
    stream: TcpStream,
    peer: SocketAddr,
    session: Session,
    router: Arc<Router<S>>,
    state: Arc<S>,
    cfg: Arc<ListenerConfig>,
    codec: FrameCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
    buckets: RouteBuckets,
    accepted_at: Instant,
    last_rx: Instant,
    /// Set once closing: the reason and when to give up flushing.
    closing: Option<(ErrorCode, Instant)>,
    /// Closing for idleness but keeping the session for a resume: the `DisconnectNtf` is written
    /// straight to the socket, nothing more is taken from the session's queue (its reliable
    /// frames wait for the resume), and the session is parked, not ended.
    parking: bool,
    fin_sent: bool,
    /// While the write buffer holds reliable frames: when the oldest of them was queued.
    unwritten_since: Option<Instant>,
    /// When the pending forwarded request was sent (see [`Session::begin_request`]).
    pending_since: Instant,
    /// Held for the connection's life: the registry entry and the connection-cap permit are
    /// released when the connection (and so this struct) is dropped.
    slot: Option<(RegistryGuard, OwnedSemaphorePermit)>,
}

impl<S: Send + Sync + 'static> Connection<S> {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        session: Session,
        router: Arc<Router<S>>,
        state: Arc<S>,
        cfg: Arc<ListenerConfig>,
        slot: Option<(RegistryGuard, OwnedSemaphorePermit)>,
    ) -> Self {
        let now = Instant::now();
        Connection {
            codec: FrameCodec::server(cfg.max_frame_len_u32()),
            stream,
            peer,
            session,
            router,
            state,
            cfg,
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
            buckets: RouteBuckets::default(),
            accepted_at: now,
            last_rx: now,
            closing: None,
            parking: false,
            fin_sent: false,
            unwritten_since: None,
            pending_since: now,
            slot,
        }
    }

    /// Runs the connection to its end and records why it ended.
    ///
    /// Written as a plain `fn` returning one `async move` block, and spawned as is: an
    /// `async fn` taking `self`, or a wrapper block around it, keeps extra copies of the struct
    /// in the task for its whole life, which an idle connection pays for in memory.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn run(mut self) -> impl std::future::Future<Output = ()> + Send {
        async move {
            HOT.connections_open.increment(1.0);
            let reason = self.run_loop().await;
            tracing::debug!(session = %self.session.id(), peer = %self.peer, reason, "connection closed");
            counter!(CONNECTIONS_CLOSED, "reason" => reason).increment(1);
            HOT.connections_open.decrement(1.0);
            if self.resumable()
                && (self.parking || self.closing.is_none())
                && self.session.closing_reason().is_none()
                && let Some((guard, permit)) = self.slot.take()
            {
                // The connection died, not the session: keep it for the client to resume.
                drop(permit);
                let registry = guard.registry().clone();
                registry.park(guard, self.cfg.resume_window);
            }
        }
    }

    async fn run_loop(&mut self) -> &'static str {
        let timer = tokio::time::sleep_until(self.deadline());
        tokio::pin!(timer);
        loop {
            if (self.closing.is_none() || self.parking) && self.session.takeover_requested() {
                // A new connection is resuming this session: let go of it without closing it.
                return RESUMED_ELSEWHERE;
            }
            if self.closing.is_none() && self.session.shutdown_requested() {
                // Checked here, between frames: the handler in flight when shutdown began has
                // finished and its response is queued ahead of the notice.
                self.session.kick(ErrorCode::ShuttingDown, "server shutting down");
            }
            if self.rbuf.is_empty() {
                // A read that found nothing (spurious readiness) may have reserved a chunk.
                if self.rbuf.capacity() > 0 {
                    self.rbuf = BytesMut::new();
                }
            } else if self.closing.is_none() && self.session.pending_request().is_none() {
                // Boxed: the dispatch state only exists while frames are handled, so it must not
                // count in the size of every idle connection's future.
                Box::pin(self.handle_buffered()).await;
            }
            if self.closing.is_none()
                && let Some(reason) = self.session.closing_reason()
            {
                // Kicked by a handler, a limit, another task or shutdown: flush, then close.
                counter!(KICKS, "reason" => reason.as_str_name()).increment(1);
                let deadline = Instant::now() + self.cfg.close_timeout;
                self.closing = Some((reason, deadline));
                self.rbuf = BytesMut::new();
                timer.as_mut().reset(deadline);
            }
            if let Err(e) = self.flush() {
                tracing::debug!(session = %self.session.id(), error = %e, "write failed");
                return self.end_reason(IO_ERROR);
            }
            // The timer is re-armed when it fires; a deadline that came nearer since (a request
            // forwarded, the handshake done with a shorter idle timeout, writes blocked) pulls it
            // in now.
            let deadline = self.deadline();
            if deadline < timer.deadline() {
                timer.as_mut().reset(deadline);
            }
            if let Some((reason, _)) = self.closing
                && self.wbuf.is_empty()
                && (self.parking || self.session.is_drained())
                && !self.fin_sent
            {
                // Everything is written: half-close and wait (bounded) for the peer to close.
                self.fin_sent = true;
                if self.stream.shutdown().await.is_err() {
                    return reason.as_str_name();
                }
            }
            if self.closing.is_none()
                && self.wbuf.is_empty()
                && self.session.pending_request().is_none()
                && self.frame_ready()
            {
                // More complete frames are buffered: handle them before sleeping, but let the
                // scheduler run others first.
                tokio::task::yield_now().await;
                continue;
            }

            // Keep reading while our writes back up: a client that is slow to read still sends
            // (inputs, heartbeats), and must not be taken for idle. What it asks for queues up,
            // bounded: reliable frames left unread too long or past `outbound_queue` close it
            // (SLOW_CONSUMER). One `ready` future serves both directions: it is part of every
            // idle connection's footprint.
            let interest = if self.wbuf.is_empty() {
                Interest::READABLE
            } else {
                Interest::READABLE.add(Interest::WRITABLE)
            };
            tokio::select! {
                biased;
                _ = self.session.wait_queued() => {}
                r = self.stream.ready(interest) => {
                    let Ok(ready) = r else { return self.end_reason(IO_ERROR) };
                    if ready.is_readable() || ready.is_read_closed() {
                        match self.read_some() {
                            Ok(true) => {}
                            Ok(false) => return self.end_reason(PEER_CLOSED),
                            Err(_) => return self.end_reason(IO_ERROR),
                        }
                    }
                }
                _ = &mut timer => {
                    let now = Instant::now();
                    if let Some(seq) = self.session.pending_request()
                        && now >= self.pending_since + self.cfg.request_timeout
                    {
                        // The server did not answer in time; a late answer will be dropped.
                        let retry = Some(self.cfg.retry_hint);
                        let body = error_body(MsgId(0), ErrorCode::Unavailable, "no answer in time", retry);
                        let answer = (ErrorResp::ID, body);
                        if self.session.complete_request(seq, Some(answer)) {
                            counter!(REJECTS, "reason" => ErrorCode::Unavailable.as_str_name()).increment(1);
                        }
                    }
                    if self.closing.is_none()
                        && let Some(since) = self.unread_since()
                        && now >= since + self.cfg.send_timeout
                    {
                        // Whatever it is behind on, a client that leaves frames it must get
                        // unread this long is not keeping up.
                        self.session.kick_slow_consumer("reliable frames left unread too long");
                    } else if now >= self.base_deadline() {
                        match self.closing {
                            // The peer did not read its last frames in time: give up.
                            Some((reason, _)) => return reason.as_str_name(),
                            None if self.session.stage() == Stage::Connected => {
                                self.session.kick(ErrorCode::HandshakeTimeout, "no Hello in time");
                            }
                            // A logged-in client gone quiet has most likely lost its network:
                            // tell it (if it still listens), and keep the session for it to
                            // resume (parked when this returns).
                            None if self.resumable() => self.begin_parking(ErrorCode::IdleTimeout),
                            None => self.session.kick(ErrorCode::IdleTimeout, "nothing received in time"),
                        }
                    }
                    timer.as_mut().reset(self.deadline());
                }
            }
        }
    }

    /// Whether this session would be kept for resume if its connection died now.
    fn resumable(&self) -> bool {
        !self.cfg.resume_window.is_zero()
            && self.session.stage() == Stage::Authenticated
            // Resume finds a session through its player's token and presence.
            && self.session.player().is_some()
            && !self.session.shutdown_requested()
            && self.slot.is_some()
    }

    /// Closes the connection with a `DisconnectNtf(reason)` written after what the socket
    /// already has, but keeps the session for a resume: nothing more is taken from its queue.
    /// The notice is not a counted frame (section 5.2 of the protocol document).
    fn begin_parking(&mut self, reason: ErrorCode) {
        let ntf = DisconnectNtf { reason: reason.code(), ..Default::default() };
        Frame::from_msg(&ntf, Seq(0), Flags::PUSH).write_to(&mut self.wbuf);
        counter!(KICKS, "reason" => reason.as_str_name()).increment(1);
        self.parking = true;
        self.closing = Some((reason, Instant::now() + self.cfg.close_timeout));
        self.rbuf = BytesMut::new();
    }

    /// Since when this client has left reliable frames unread: the oldest of those in the write
    /// buffer (the socket would not take them) and of those still queued. Droppable frames do
    /// not count: they are replaced, not piled up.
    fn unread_since(&self) -> Option<Instant> {
        if self.wbuf.is_empty() {
            // Flushing stops only when the queue is empty or the socket is full: nothing waits.
            return None;
        }
        match (self.unwritten_since, self.session.oldest_reliable()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// After a handler handed this connection another session ([`crate::Registry::hand_over`],
    /// a resume): that session replaces this connection's own, which ends. What the handler
    /// queued on the old one (its reply) is written first.
    fn adopt_handed_over(&mut self) {
        let Some((guard, _)) = self.slot.as_ref() else { return };
        let Some((session, guard)) = guard.registry().take_handover(&self.session) else { return };
        let drained = self.session.drain_into(&mut self.wbuf, usize::MAX);
        if self.unwritten_since.is_none() {
            self.unwritten_since = drained.oldest_reliable;
        }
        self.session = session;
        if let Some(slot) = self.slot.as_mut() {
            // Drops the temporary session's guard: it ends (it has no player, so nothing fires).
            slot.0 = guard;
        }
        self.pending_since = Instant::now();
    }

    /// The reason to record when the connection ends before it could finish closing.
    fn end_reason(&self, fallback: &'static str) -> &'static str {
        match self.closing {
            Some((reason, _)) => reason.as_str_name(),
            None => fallback,
        }
    }

    /// The connection's own deadline: handshake, idle, or the end of a close.
    fn base_deadline(&self) -> Instant {
        match self.closing {
            Some((_, deadline)) => deadline,
            None if self.session.stage() == Stage::Connected => self.accepted_at + self.cfg.handshake_timeout,
            None => self.last_rx + self.cfg.idle_timeout,
        }
    }

    /// When the timer must next wake: the connection's deadline, the pending request's, and how
    /// long the client may leave frames unread.
    fn deadline(&self) -> Instant {
        let mut deadline = self.base_deadline();
        if self.session.pending_request().is_some() {
            deadline = deadline.min(self.pending_since + self.cfg.request_timeout);
        }
        if self.closing.is_none()
            && let Some(since) = self.unread_since()
        {
            deadline = deadline.min(since + self.cfg.send_timeout);
        }
        deadline
    }

    fn frame_ready(&self) -> bool {
        matches!(self.codec.missing(&self.rbuf), Ok(0)) && !self.rbuf.is_empty()
    }

    /// Reads what the socket has. Returns `Ok(false)` at end of stream.
    fn read_some(&mut self) -> std::io::Result<bool> {
        loop {
            // Reserve only what the current frame still needs (at least a small chunk, so several
            // small frames come in one read), never the whole announced length up front.
            let want = match self.codec.missing(&self.rbuf) {
                Ok(n) => n,
                // A framing error is reported when the frames are handled; read no more.
                Err(_) => return Ok(true),
            };
            let chunk = self.cfg.read_chunk.as_u64() as usize;
            self.rbuf.reserve(want.clamp(64, chunk));
            match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    HOT.bytes_in.increment(n as u64);
                    if self.closing.is_some() {
                        // Lingering close: discard input until the peer closes or time runs out.
                        self.rbuf.clear();
                        continue;
                    }
                    if self.rbuf.len() >= chunk || self.frame_ready() {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) => return Err(e),
            }
        }
    }

    /// Handles up to [`FRAMES_PER_TURN`] complete frames from the read buffer, in order.
    async fn handle_buffered(&mut self) {
        for _ in 0..FRAMES_PER_TURN {
            match self.codec.decode(&mut self.rbuf) {
                Ok(Some(frame)) => {
                    HOT.frames_in.increment(1);
                    self.last_rx = Instant::now();
                    self.handle(frame).await;
                    if self.session.closing_reason().is_some() || self.session.pending_request().is_some() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    counter!(REJECTS, "reason" => ErrorCode::BadFrame.as_str_name()).increment(1);
                    tracing::debug!(session = %self.session.id(), peer = %self.peer, error = %e, "bad frame");
                    self.session.kick(ErrorCode::BadFrame, e.to_string());
                    break;
                }
            }
        }
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
    }

    async fn handle(&mut self, frame: mmo_wire::Frame) {
        let (id, seq) = (frame.header.id, frame.header.seq);
        let outcome = self.router.dispatch(&self.state, &self.session, &mut self.buckets, frame).await;
        match outcome {
            Outcome::Reply { id: reply_id, body } => {
                // An error here means the session is closing; the connection loop notices.
                let _ = self.session.respond(reply_id, seq, body);
                self.adopt_handed_over();
            }
            // Passing a request on is for servers behind the bus; here it has nothing to send.
            Outcome::Done | Outcome::PassedOn => {}
            // The router marked the request pending before sending it.
            Outcome::Forwarded => self.pending_since = Instant::now(),
            Outcome::Reject { code, strike } => {
                self.reject(id, seq, code, None);
                if strike {
                    self.session.strike();
                }
            }
            Outcome::Limited { retry_after } => {
                self.reject(id, seq, ErrorCode::RateLimited, Some(retry_after));
                self.session.strike();
            }
            Outcome::Kick(code) => self.session.kick(code, ""),
        }
    }

    fn reject(
        &self,
        id: mmo_wire::MsgId,
        seq: mmo_wire::Seq,
        code: ErrorCode,
        retry_after: Option<Duration>,
    ) {
        counter!(REJECTS, "reason" => code.as_str_name()).increment(1);
        // UNAVAILABLE from the gateway itself: the server is not known yet, or the bus is full.
        let retry = retry_after.or((code == ErrorCode::Unavailable).then_some(self.cfg.retry_hint));
        let _ = self.session.respond(ErrorResp::ID, seq, error_body(id, code, "", retry));
    }

    /// Writes queued frames until the queue is empty or the socket would block (bytes are left
    /// in the write buffer).
    ///
    /// Only `write_batch` bytes at a time leave the queue, and only once the socket took the last
    /// batch whole: frames still in the queue can be replaced by newer ones (latest wins), frames
    /// in the write buffer or the kernel cannot. The kernel's share is bounded by `send_buffer`.
    fn flush(&mut self) -> std::io::Result<()> {
        let batch = self.cfg.write_batch.as_u64() as usize;
        loop {
            if self.wbuf.is_empty() {
                self.unwritten_since = None;
                if self.parking {
                    break;
                }
                let drained = self.session.drain_into(&mut self.wbuf, batch);
                if drained.frames == 0 {
                    break;
                }
                self.unwritten_since = drained.oldest_reliable;
                HOT.frames_out.increment(drained.frames as u64);
            }
            match self.stream.try_write(&self.wbuf) {
                Ok(n) => {
                    HOT.bytes_out.increment(n as u64);
                    self.wbuf.advance(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        if self.wbuf.is_empty() {
            self.unwritten_since = None;
            if self.wbuf.capacity() > 0 {
                self.wbuf = BytesMut::new();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{SessionId, SessionLimits};

    /// The connection future lives as long as the connection: its size is most of what an idle
    /// connection costs in user memory, so it must not grow by accident.
    #[tokio::test]
    async fn an_idle_connection_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        let session = Session::new(
            SessionId(1),
            SessionLimits { max_bytes: 1024, droppable_high_water: 512, replay_bytes: 0, max_strikes: 0 },
        );
        let conn = Connection::new(
            stream,
            peer,
            session,
            Arc::new(Router::<()>::new()),
            Arc::new(()),
            Arc::new(ListenerConfig::default()),
            None,
        );
        let fut = conn.run();
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 768, "connection future is {size} bytes");
        eprintln!("connection future: {size} bytes");
    }
}
