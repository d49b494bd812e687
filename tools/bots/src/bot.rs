//! One bot: its connection, its handshake, and its loop of requests on a fixed schedule.
//!
//! A bot is one task that owns its socket and waits for the first of: stop, the measurement
//! window opening, the socket readable, the socket writable (only while a write is pending), or
//! its next scheduled send. Reads and writes share the task through tokio's readiness API
//! (`readable`/`try_read_buf`, `try_write`), so a send on schedule never waits behind a read and
//! a read never waits behind a send, without a second task or a channel per bot. Buffers exist
//! only while bytes are in flight: an idle bot holds none.
//!
//! The schedule is open loop. Each measured request has a send time fixed in advance (window
//! start + a random phase + k * interval), and its latency runs from that time, not from when the
//! write happened: a stalled bot or a slow server shows up as latency instead of as fewer
//! requests (coordinated omission). Between measured requests a Ping goes out whenever the
//! server's heartbeat interval would otherwise pass in silence.
//!
//! In closed loop (`--closed-loop`) there is no schedule: the answer to one measured request, of
//! whatever kind, sets the next one's send time to the moment it arrived (but no sooner than the
//! server's rate limit allows), and latency runs from there.
//!
//! Life of a bot: wait for its connect slot, connect, Hello, heartbeat until the window opens,
//! measure until it closes, wait (bounded) for the last answers, report its tally, and then either
//! close or, with `--hold`, keep heartbeating until stopped.
//!
//! In `login`, the bot logs in right after Hello: with a device id, or by registering a username
//! and, when the name is taken (a rerun), logging in with its password. With
//! `--login-concurrency` it holds one of the swarm's permits from before the connect until the
//! login's answer. A bot whose login fails reports and closes; one that logs in goes on as above,
//! its measured requests being heartbeats.
//!
//! In `zone`, the bot logs in as in `login`, then sends EnterWorldReq (again after an UNAVAILABLE
//! answer, a bounded number of times), holding its permit until placed. Its measured requests are
//! the walk's MoveReqs (`zone.rs`): one-way, so none is pending and none can be lost; an
//! ErrorResp for one is a rejection, counted by code. It reads until the window closes (not just
//! until its last slot), and counts what the zone pushes inside the window.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use mmo_proto::login_req::Credential;
use mmo_proto::{
    AuthSession, DeviceCredential, DisconnectNtf, EnterWorldReq, EnterWorldResp, ErrorCode, ErrorResp,
    HelloReq, HelloResp, LoginReq, LoginResp, MoveReq, PROTOCOL_VERSION, PasswordCredential, PingResp,
    Platform, RegisterReq, RegisterResp, ZoneEnterNtf,
};
use mmo_wire::{Flags, Frame, FrameCodec, MsgId, MsgType, Seq, WireError};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::codec::Decoder;

use crate::login::{self, LoginMethod};
use crate::report::{Errors, Tally};
use crate::scenario::{self, ECHO_LIMIT_PER_S, Scenario};
use crate::zone::{self, Walk};
use crate::{Shared, Window};

/// Time allowed for the TCP connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from connected to HelloResp (the gateway's own deadline is 5 s by default).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed from the first login request to the session: beyond the gateway's request
/// timeout (10 s by default), so the server's own answer (UNAVAILABLE) is what a bot sees.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// `zone`: EnterWorldReqs sent in all before an UNAVAILABLE answer counts as a failure.
const ENTER_ATTEMPTS: u32 = 10;
/// `zone`: the least wait before sending EnterWorldReq again; the zone allows 2 per second and
/// session, and a faster retry would be RATE_LIMITED (a strike).
const ENTER_RETRY_MIN: Duration = Duration::from_millis(500);
/// `zone`: time allowed from the first EnterWorldReq to placed, retries included: every attempt
/// the gateway's request timeout (10 s), or all of them at the zone's retry_after (1 s).
const ENTER_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest frame accepted from the server. Answers in these scenarios are tiny; the limit only
/// bounds what a broken server can make a bot buffer.
const MAX_FRAME_LEN: u32 = mmo_wire::DEFAULT_MAX_FRAME_LEN;
/// Most bytes reserved for one socket read.
const READ_CHUNK: usize = 4096;
/// Requests in flight per bot before the oldest is given up as lost: keeps a bot's memory bounded
/// when the server stops answering while the schedule goes on.
const MAX_PENDING: usize = 1024;
/// The seq of HelloReq; requests count up from it.
const HELLO_SEQ: u32 = 1;
/// Stands in for the heartbeat when the server asks for none (`heartbeat_interval_ms` = 0).
const NO_HEARTBEAT: Duration = Duration::from_secs(24 * 3600);

/// Runs bot `index` to its end and sends its tally to `results`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    index: usize,
    connect_at: Instant,
    mut window: watch::Receiver<Option<Window>>,
    results: mpsc::Sender<Tally>,
) {
    let mut tally = Tally::new();
    let opened = tokio::select! {
        biased;
        () = shared.stop.cancelled() => None,
        c = start(&shared, index, connect_at, &mut tally) => c,
    };
    shared.progress.settle(tally.connected > 0, tally.login_ok > 0, opened.is_some());
    let Some(opened) = opened else {
        // The tally says why. A failed send means the swarm is gone and nobody is listening.
        let _ = results.send(tally).await;
        return;
    };
    let mut bot = Bot::new(opened, &shared.opts);
    let alive = bot.measure(&shared, &mut window, &mut tally).await;
    if alive {
        tally.held = 1;
    }
    let _ = results.send(tally).await;
    // Dropping the sender tells the swarm this bot has reported, even while it goes on holding.
    drop(results);
    if alive && shared.opts.hold {
        bot.hold(&shared).await;
    }
}

/// A bot ready for the window.
struct Opened {
    conn: Conn,
    hello: HelloResp,
    /// The last seq used.
    seq: u32,
    /// `zone`: where the bot was placed.
    zone: Option<ZoneEnterNtf>,
}

/// Waits for the bot's turn, connects, says Hello and, in `login` and `zone`, logs in; in `zone`
/// enters the world. On failure records why and returns `None`.
async fn start(shared: &Shared, index: usize, connect_at: Instant, tally: &mut Tally) -> Option<Opened> {
    sleep_until(connect_at).await;
    // Held until logged in, in `zone` placed in the world (or failed): the permit bounds bots
    // between connect and session.
    let _permit = match &shared.login_slots {
        // Never closed; `None` would only mean the swarm is going away.
        Some(slots) => Some(slots.acquire().await.ok()?),
        None => None,
    };
    let (mut conn, hello) = open(shared.opts.addr, &mut tally.errors).await?;
    tally.connected = 1;
    shared.progress.heartbeat_ms.store(hello.heartbeat_interval_ms, std::sync::atomic::Ordering::Relaxed);
    let mut seq = HELLO_SEQ;
    if shared.opts.scenario.logs_in() {
        let opts = &shared.opts;
        tally.login_attempted = 1;
        let began = Instant::now();
        match timeout(LOGIN_TIMEOUT, log_in(&mut conn, opts.login, &opts.run_tag, index, &mut seq)).await {
            Ok(Ok(registered)) => {
                tally.record_login_latency(began.elapsed());
                tally.login_ok = 1;
                tally.registered = u64::from(registered);
            }
            Ok(Err(fail)) => {
                tracing::debug!(error = %fail, "login failed");
                tally.login_failed.record(fail.login_kind(), &fail);
                return None;
            }
            Err(_) => {
                tally.login_failed.record("timeout", format_args!("no session within {LOGIN_TIMEOUT:?}"));
                return None;
            }
        }
    }
    let mut zone = None;
    if shared.opts.scenario == Scenario::Zone {
        let z = &mut tally.zone;
        z.enter_attempted = 1;
        let began = Instant::now();
        match timeout(ENTER_TIMEOUT, enter_world(&mut conn, &mut seq, &mut z.enter_retries)).await {
            Ok(Ok(placed)) => {
                z.record_enter_latency(began.elapsed());
                z.entered = 1;
                zone = Some(placed);
            }
            Ok(Err(fail)) => {
                tracing::debug!(error = %fail, "enter failed");
                z.enter_failed.record(fail.login_kind(), &fail);
                return None;
            }
            Err(_) => {
                z.enter_failed.record("timeout", format_args!("not in the world within {ENTER_TIMEOUT:?}"));
                return None;
            }
        }
    }
    Some(Opened { conn, hello, seq, zone })
}

/// Sends EnterWorldReq until placed: an UNAVAILABLE answer (the instance is not running right
/// now) is retried after its retry_after_ms, up to [`ENTER_ATTEMPTS`] requests in all (the
/// caller bounds the wait). Counts the retries in `retries`.
async fn enter_world(conn: &mut Conn, seq: &mut u32, retries: &mut u64) -> Result<ZoneEnterNtf, Fail> {
    let mut attempt = 1;
    loop {
        *seq += 1;
        let s = Seq(*seq);
        match conn.call(EnterWorldReq {}.to_frame_bytes(s, Flags::NONE), s).await {
            Ok(frame) => {
                let resp = expect::<EnterWorldResp>(&frame)?;
                return resp.zone.ok_or(Fail::NoZone);
            }
            Err(Fail::Rejected(e)) if e.code == ErrorCode::Unavailable as i32 && attempt < ENTER_ATTEMPTS => {
                attempt += 1;
                *retries += 1;
                sleep(Duration::from_millis(e.retry_after_ms).max(ENTER_RETRY_MIN)).await;
            }
            Err(fail) => return Err(fail),
        }
    }
}

/// Logs in as bot `index` (the caller bounds the wait). Returns whether the account was
/// registered just now.
async fn log_in(
    conn: &mut Conn,
    method: LoginMethod,
    tag: &str,
    index: usize,
    seq: &mut u32,
) -> Result<bool, Fail> {
    let mut next_seq = || {
        *seq += 1;
        Seq(*seq)
    };
    let login = match method {
        LoginMethod::Device => {
            let device_id = login::device_id(tag, index);
            LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) }
        }
        LoginMethod::Password => {
            let username = login::username(tag, index);
            let register = RegisterReq {
                username: username.clone(),
                password: login::PASSWORD.to_owned(),
                display_name: String::new(),
            };
            let s = next_seq();
            match conn.call(register.to_frame_bytes(s, Flags::NONE), s).await {
                Ok(frame) => {
                    let resp = expect::<RegisterResp>(&frame)?;
                    check_session(resp.session.as_ref(), RegisterResp::NAME)?;
                    return Ok(true);
                }
                // A rerun: the account is ours from an earlier run.
                Err(Fail::Rejected(e)) if e.code == ErrorCode::NameTaken as i32 => {}
                Err(fail) => return Err(fail),
            }
            let password = login::PASSWORD.to_owned();
            LoginReq { credential: Some(Credential::Password(PasswordCredential { username, password })) }
        }
    };
    let s = next_seq();
    let frame = conn.call(login.to_frame_bytes(s, Flags::NONE), s).await?;
    let resp = expect::<LoginResp>(&frame)?;
    check_session(resp.session.as_ref(), LoginResp::NAME)?;
    Ok(false)
}

/// Decodes an answer that must be an `M`.
fn expect<M: MsgType>(frame: &Frame) -> Result<M, Fail> {
    if frame.header.id != M::ID {
        return Err(Fail::Unexpected(frame.header.id));
    }
    decode::<M>(frame)
}

/// A session worth the name: a player and a token.
fn check_session(session: Option<&AuthSession>, answer: &'static str) -> Result<(), Fail> {
    match session {
        Some(s) if s.player_id != 0 && !s.token.is_empty() => Ok(()),
        _ => Err(Fail::NoSession(answer)),
    }
}

/// Connects and completes the handshake; on failure records why and returns `None`.
async fn open(addr: SocketAddr, errors: &mut Errors) -> Option<(Conn, HelloResp)> {
    let stream = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "connect failed");
            errors.record("connect", e);
            return None;
        }
        Err(_) => {
            errors.record("connect.timeout", format_args!("no connection within {CONNECT_TIMEOUT:?}"));
            return None;
        }
    };
    // Requests are tiny and latency is what is measured: Nagle's algorithm would hold them back.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "set_nodelay failed");
    }
    let mut conn = Conn::new(stream);
    let hello = HelloReq {
        protocol_version: PROTOCOL_VERSION,
        client_version: concat!(env!("CARGO_PKG_VERSION"), "+mmo-bots").to_owned(),
        platform: Platform::Linux.into(),
    };
    match timeout(HANDSHAKE_TIMEOUT, conn.hello(hello)).await {
        Ok(Ok(resp)) => Some((conn, resp)),
        Ok(Err(fail)) => {
            tracing::debug!(error = %fail, "handshake failed");
            errors.record(format!("handshake.{}", fail.kind()), &fail);
            None
        }
        Err(_) => {
            errors.record("handshake.timeout", format_args!("no HelloResp within {HANDSHAKE_TIMEOUT:?}"));
            None
        }
    }
}

/// Why a connection cannot go on (or, in the handshake, why it never started).
#[derive(Debug)]
enum Fail {
    Io(io::Error),
    /// The server closed the connection without a DisconnectNtf.
    Eof,
    Frame(WireError),
    Body(&'static str, prost::DecodeError),
    Rejected(ErrorResp),
    Disconnected(DisconnectNtf),
    Unexpected(MsgId),
    Version(u32),
    /// A login's answer without a player or a token.
    NoSession(&'static str),
    /// An EnterWorldResp without the place.
    NoZone,
}

impl Fail {
    /// The key under `errors_by_kind`.
    fn kind(&self) -> String {
        match self {
            Fail::Io(_) => "io".into(),
            Fail::Eof => "eof".into(),
            Fail::Frame(_) | Fail::Body(..) => "decode".into(),
            Fail::Rejected(e) => format!("error_resp.{}", code_name(e.code)),
            Fail::Disconnected(n) => format!("disconnect.{}", code_name(n.reason)),
            Fail::Unexpected(_) => "unexpected_message".into(),
            Fail::Version(_) => "protocol_version".into(),
            Fail::NoSession(_) => "no_session".into(),
            Fail::NoZone => "no_zone".into(),
        }
    }

    /// The key under the login report's `failed_by_kind`: a refusal by its error code alone.
    fn login_kind(&self) -> String {
        match self {
            Fail::Rejected(e) => code_name(e.code),
            other => other.kind(),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Io(e) => write!(f, "i/o: {e}"),
            Fail::Eof => f.write_str("the server closed the connection without DisconnectNtf"),
            Fail::Frame(e) => write!(f, "bad frame: {e}"),
            Fail::Body(name, e) => write!(f, "undecodable {name}: {e}"),
            Fail::Rejected(e) => {
                let request = u16::try_from(e.request_msg_id)
                    .map_or_else(|_| e.request_msg_id.to_string(), |id| msg_name(MsgId(id)));
                write!(f, "{} for {request}{}", code_name(e.code), detail(&e.detail))
            }
            Fail::Disconnected(n) => {
                write!(f, "disconnected with {}{}", code_name(n.reason), detail(&n.detail))
            }
            Fail::Unexpected(id) => write!(f, "unexpected message {}", msg_name(*id)),
            Fail::Version(v) => write!(f, "server speaks protocol {v}, we speak {PROTOCOL_VERSION}"),
            Fail::NoSession(answer) => write!(f, "{answer} without a player id or token"),
            Fail::NoZone => f.write_str("EnterWorldResp without a zone"),
        }
    }
}

/// The server's free-text detail, if it sent one.
fn detail(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

fn code_name(code: i32) -> String {
    ErrorCode::try_from(code).map_or_else(|_| format!("CODE_{code}"), |c| c.as_str_name().to_owned())
}

fn msg_name(id: MsgId) -> String {
    mmo_proto::message_name(id).map_or_else(|| format!("#{id}"), str::to_owned)
}

/// The socket and its buffers.
struct Conn {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Conn {
    fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            codec: FrameCodec::client(MAX_FRAME_LEN),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
        }
    }

    fn writing(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Writes a frame now if the socket takes it; what it does not take waits in the buffer for
    /// the writable branch. Nothing overtakes bytes already waiting.
    fn send(&mut self, frame: Bytes) -> io::Result<()> {
        if self.writing() {
            self.wbuf.extend_from_slice(&frame);
            return Ok(());
        }
        match self.stream.try_write(&frame) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                self.wbuf.extend_from_slice(&frame[n..]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.wbuf.extend_from_slice(&frame);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes buffered bytes until the buffer is empty or the socket would block.
    fn flush(&mut self) -> io::Result<()> {
        while self.writing() {
            match self.stream.try_write(&self.wbuf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.wbuf = BytesMut::new();
        Ok(())
    }

    /// Reads what the socket has, up to a complete frame or a chunk.
    fn read_some(&mut self) -> Result<(), Fail> {
        loop {
            // Reserve what the current frame still needs (at least a little, so several small
            // frames come in one read), never a whole announced length up front.
            let want = match self.codec.missing(&self.rbuf) {
                Ok(n) => n,
                // The decoder reports the framing error; read no more.
                Err(_) => return Ok(()),
            };
            self.rbuf.reserve(want.clamp(64, READ_CHUNK));
            match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(0) => return Err(Fail::Eof),
                Ok(_) => {
                    if self.rbuf.len() >= READ_CHUNK || matches!(self.codec.missing(&self.rbuf), Ok(0)) {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(Fail::Io(e)),
            }
        }
    }

    /// The next complete frame in the read buffer, if any.
    fn next_frame(&mut self) -> Result<Option<Frame>, Fail> {
        let frame = self.codec.decode(&mut self.rbuf).map_err(Fail::Frame)?;
        if frame.is_none() && self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
        Ok(frame)
    }

    /// Sends Hello and waits for its answer (the caller bounds the wait).
    async fn hello(&mut self, req: HelloReq) -> Result<HelloResp, Fail> {
        let seq = Seq(HELLO_SEQ);
        let frame = self.call(req.to_frame_bytes(seq, Flags::NONE), seq).await?;
        let resp = expect::<HelloResp>(&frame)?;
        if resp.protocol_version != PROTOCOL_VERSION {
            return Err(Fail::Version(resp.protocol_version));
        }
        Ok(resp)
    }

    /// Sends one request and waits for its answer, the next frame that is not a push (the
    /// caller bounds the wait). An ErrorResp is `Fail::Rejected`; an answer to another seq is
    /// unexpected, since nothing else is in flight. Frames after the answer stay buffered.
    async fn call(&mut self, request: Bytes, seq: Seq) -> Result<Frame, Fail> {
        self.send(request).map_err(Fail::Io)?;
        while self.writing() {
            self.stream.writable().await.map_err(Fail::Io)?;
            self.flush().map_err(Fail::Io)?;
        }
        loop {
            while let Some(frame) = self.next_frame()? {
                let h = frame.header;
                if h.id == DisconnectNtf::ID {
                    return Err(decode::<DisconnectNtf>(&frame).map_or_else(|f| f, Fail::Disconnected));
                }
                if h.flags.contains(Flags::PUSH) {
                    // Not an answer; nothing pushed before the session starts concerns the bot.
                    continue;
                }
                if h.id == ErrorResp::ID {
                    return Err(decode::<ErrorResp>(&frame).map_or_else(|f| f, Fail::Rejected));
                }
                if h.seq != seq {
                    return Err(Fail::Unexpected(h.id));
                }
                return Ok(frame);
            }
            self.stream.readable().await.map_err(Fail::Io)?;
            self.read_some()?;
        }
    }
}

fn decode<M: MsgType>(frame: &Frame) -> Result<M, Fail> {
    frame.decode_body::<M>().map_err(|e| Fail::Body(M::NAME, e))
}

/// A request waiting for its answer.
struct Pending {
    seq: u32,
    /// When the schedule said to send it: the start of its latency.
    scheduled: Instant,
    /// Scheduled inside the window (counted), or a heartbeat (not counted).
    measured: bool,
}

/// A connected bot.
struct Bot {
    conn: Conn,
    scenario: Scenario,
    /// Payload bytes per measured request, for scenarios that carry one.
    payload: usize,
    /// Send the next measured request when the last is answered, not on a schedule.
    closed_loop: bool,
    heartbeat: Duration,
    /// Between measured requests; in closed loop, the least time between two.
    interval: Duration,
    /// The last seq used.
    seq: u32,
    /// In send order; the gateway answers in order, so the match is nearly always the front.
    pending: VecDeque<Pending>,
    /// When the last request of any kind went out: the heartbeat counts from it.
    last_sent: Instant,
    /// The next measured slot, while the window is open and has slots left.
    next_measured: Option<Instant>,
    window_start: Option<Instant>,
    window_end: Option<Instant>,
    /// `zone`: the random walk, which makes the measured MoveReqs.
    walk: Option<Walk>,
}

impl Bot {
    /// A bot on the connection `start` opened.
    fn new(opened: Opened, opts: &crate::Options) -> Bot {
        let Opened { conn, hello, seq, zone } = opened;
        let heartbeat = match hello.heartbeat_interval_ms {
            0 => NO_HEARTBEAT,
            ms => Duration::from_millis(ms.into()),
        };
        let scenario = opts.scenario;
        let interval = if opts.closed_loop {
            // As fast as answers come, within the server's rate limit per session.
            Duration::from_secs(1) / ECHO_LIMIT_PER_S
        } else {
            // `login` without --ping-interval: at the server's heartbeat interval.
            scenario.measured_interval(opts.interval().unwrap_or(heartbeat), heartbeat)
        };
        Bot {
            conn,
            scenario,
            payload: opts.payload,
            closed_loop: opts.closed_loop,
            heartbeat,
            interval,
            seq,
            pending: VecDeque::new(),
            last_sent: Instant::now(),
            next_measured: None,
            window_start: None,
            window_end: None,
            walk: zone.as_ref().map(Walk::new),
        }
    }

    /// Plans the measured slots of `window`.
    fn open_window(&mut self, window: &Window) {
        // A random phase per bot spreads the swarm over one interval, so bots that connected in
        // the same millisecond do not all send in the same millisecond forever after. In closed
        // loop every bot starts at once; the answers spread them.
        let phase = if self.closed_loop { 0.0 } else { rand::random::<f64>() };
        let first = window.start + self.interval.mul_f64(phase);
        self.window_start = Some(window.start);
        self.window_end = Some(window.end);
        self.next_measured = (first < window.end).then_some(first);
    }

    /// When the next request is due: the next measured slot, or the heartbeat if it comes first.
    fn next_send(&self) -> Instant {
        let heartbeat = self.last_sent + self.heartbeat;
        self.next_measured.map_or(heartbeat, |m| m.min(heartbeat))
    }

    /// Sends every request that is due at `now` (more than one only if the bot fell behind: open
    /// loop catches up rather than skipping, and the latency shows how far behind it was).
    fn send_due(&mut self, now: Instant, tally: &mut Tally) -> Result<(), Fail> {
        while self.next_send() <= now {
            let heartbeat = self.last_sent + self.heartbeat;
            let (scheduled, measured) = match self.next_measured {
                Some(slot) if slot <= heartbeat => (slot, true),
                _ => (heartbeat, false),
            };
            // Wrapping after 4 billion requests on one connection is harmless: seqs are matched
            // against the few in flight.
            self.seq = self.seq.wrapping_add(1);
            let seq = Seq(self.seq);
            let frame = match (&mut self.walk, measured) {
                (_, false) => scenario::ping(seq),
                (Some(walk), true) => walk.move_req(seq, scheduled),
                // Only zone has no request of its own, and a zone bot always walks (`start`
                // places it in the world first).
                (None, true) => {
                    self.scenario.request(seq, self.payload).expect("a request/response scenario")
                }
            };
            self.conn.send(frame).map_err(Fail::Io)?;
            if measured {
                tally.sent += 1;
                tally.record_send_lag(now.saturating_duration_since(scheduled));
                self.next_measured = if self.closed_loop {
                    // Until the answer arrives: see `settled`.
                    None
                } else {
                    let next = scheduled + self.interval;
                    self.window_end.filter(|end| next < *end).map(|_| next)
                };
            }
            // Heartbeats are always pending; MoveReqs never are: no answer comes to one that is
            // accepted.
            let one_way = measured && self.walk.is_some();
            if !one_way {
                self.pending.push_back(Pending { seq: self.seq, scheduled, measured });
            }
            if self.pending.len() > MAX_PENDING
                && let Some(oldest) = self.pending.pop_front()
                && oldest.measured
            {
                tally.lost += 1;
            }
            // Heartbeats count from the actual send, so a stalled bot sends one, not a burst.
            self.last_sent = now;
        }
        Ok(())
    }

    fn take_pending(&mut self, seq: Seq) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.seq == seq.0)?;
        self.pending.remove(i)
    }

    fn measured_pending(&self) -> u64 {
        self.pending.iter().filter(|p| p.measured).count() as u64
    }

    /// A request got its answer (of any kind) at `now`. In closed loop, a measured one frees the
    /// next, due now or once the rate limit allows, if the window is still open.
    fn settled(&mut self, p: &Pending, now: Instant) {
        if self.closed_loop
            && p.measured
            && let Some(end) = self.window_end
            && now < end
        {
            self.next_measured = Some(now.max(p.scheduled + self.interval));
        }
    }

    /// Whether `now` is inside the measurement window (as cut short by an interrupt).
    fn in_window(&self, now: Instant) -> bool {
        self.window_start.is_some_and(|s| now >= s) && self.window_end.is_some_and(|e| now < e)
    }

    /// Handles one frame from the server, read at `now` (`wall_us` on the wall clock, in
    /// `zone`). `Err` means the connection is over.
    fn handle(&mut self, frame: Frame, now: Instant, wall_us: u64, tally: &mut Tally) -> Result<(), Fail> {
        let h = frame.header;
        let counted = self.walk.is_some() && self.in_window(now);
        if counted {
            tally.zone.bytes += frame.wire_len() as u64;
        }
        if h.id == DisconnectNtf::ID {
            return Err(decode::<DisconnectNtf>(&frame).map_or_else(|f| f, Fail::Disconnected));
        }
        if h.flags.contains(Flags::PUSH) {
            match &mut self.walk {
                Some(walk) => {
                    if let Err(check) =
                        zone::on_push(walk, &frame, counted.then_some(wall_us), &mut tally.zone)
                    {
                        tally.errors.record(check.kind(), check);
                    }
                }
                // Only zone subscribes to anything, and a push answers no request.
                None => tracing::debug!(id = %h.id, "push ignored"),
            }
            return Ok(());
        }
        if h.id == ErrorResp::ID {
            // An answer, but a refusal: not lost, not answered, an error.
            let pending = self.take_pending(h.seq);
            if let Some(p) = &pending {
                self.settled(p, now);
            }
            let fail = decode::<ErrorResp>(&frame).map_or_else(|f| f, Fail::Rejected);
            match &fail {
                // A MoveReq refused: a rejection of the walk, counted by its code.
                Fail::Rejected(e) if pending.is_none() && e.request_msg_id == u32::from(MoveReq::ID.0) => {
                    tally
                        .zone
                        .moves_rejected
                        .record(code_name(e.code), format_args!("seq {}: {fail}", h.seq.0));
                }
                _ => tally.errors.record(fail.kind(), format_args!("seq {}: {fail}", h.seq.0)),
            }
            return Ok(());
        }
        let Some(p) = self.take_pending(h.seq) else {
            tally.duplicated += 1;
            return Ok(());
        };
        self.settled(&p, now);
        let expected = if p.measured { self.scenario.response_id() } else { PingResp::ID };
        if h.id != expected {
            let what =
                format_args!("{} for seq {}, expected {}", msg_name(h.id), h.seq.0, msg_name(expected));
            tally.errors.record("unexpected_message", what);
            return Ok(());
        }
        let body = if p.measured {
            self.scenario.check_response(&frame, self.payload)
        } else {
            Scenario::Ping.check_response(&frame, 0)
        };
        if let Err(check) = body {
            tally.errors.record(check.kind(), check);
            return Ok(());
        }
        if p.measured {
            tally.answered += 1;
            tally.record_latency(now.saturating_duration_since(p.scheduled));
        }
        Ok(())
    }

    /// Handles every complete frame already read.
    fn handle_buffered(&mut self, tally: &mut Tally) -> Result<(), Fail> {
        // One clock reading per read: the frames arrived together. The wall clock only where
        // frames carry the server's (zone).
        let now = Instant::now();
        let wall_us = if self.walk.is_some() { zone::wall_us() } else { 0 };
        while let Some(frame) = self.conn.next_frame()? {
            self.handle(frame, now, wall_us, tally)?;
        }
        Ok(())
    }

    fn on_readable(&mut self, ready: io::Result<()>, tally: &mut Tally) -> Result<(), Fail> {
        ready.map_err(Fail::Io)?;
        self.conn.read_some()?;
        self.handle_buffered(tally)
    }

    /// Records why the connection ended; what was in flight will never be answered.
    fn fail(&mut self, fail: Fail, tally: &mut Tally) {
        tracing::debug!(error = %fail, "bot connection ended");
        tally.errors.record(fail.kind(), &fail);
        tally.lost += self.measured_pending();
        self.pending.clear();
    }

    /// Heartbeats until the window opens, sends measured requests through it, then waits for the
    /// last answers until the drain deadline. Returns whether the connection is still usable.
    async fn measure(
        &mut self,
        shared: &Shared,
        window_rx: &mut watch::Receiver<Option<Window>>,
        tally: &mut Tally,
    ) -> bool {
        let mut window = *window_rx.borrow_and_update();
        if let Some(w) = &window {
            self.open_window(w);
        }
        // Hello's answer may have arrived together with more frames.
        if let Err(fail) = self.handle_buffered(tally) {
            self.fail(fail, tally);
            return false;
        }
        let mut stopping = false;
        let timer = sleep_until(self.wake_at(window.as_ref()));
        tokio::pin!(timer);
        loop {
            if let Some(w) = &window
                && self.next_measured.is_none()
                && !self.listening(Instant::now())
            {
                if self.measured_pending() == 0 {
                    return true;
                }
                if Instant::now() >= w.drain_until {
                    tally.lost += self.measured_pending();
                    self.pending.retain(|p| !p.measured);
                    return true;
                }
            }
            tokio::select! {
                biased;
                () = shared.stop.cancelled(), if !stopping => {
                    // Interrupted: no more measured requests; answers already due get a short drain.
                    stopping = true;
                    self.next_measured = None;
                    // Nor does an answer free another in closed loop.
                    self.window_end = self.window_end.map(|end| end.min(Instant::now()));
                    match &mut window {
                        None => return true,
                        Some(w) => w.drain_until = w.drain_until.min(Instant::now() + crate::DRAIN),
                    }
                }
                changed = window_rx.changed(), if window.is_none() => {
                    if changed.is_err() {
                        // The swarm is gone; so is anyone to report to.
                        return true;
                    }
                    window = *window_rx.borrow_and_update();
                    if let Some(w) = &window {
                        self.open_window(w);
                    }
                }
                ready = self.conn.stream.readable() => {
                    let mut read = self.on_readable(ready, tally);
                    if self.closed_loop && read.is_ok() {
                        // The answer just read is usually what frees the next request: send it
                        // now rather than through the timer, which rounds up to its next
                        // millisecond tick.
                        read = self.send_due(Instant::now(), tally);
                    }
                    if let Err(fail) = read {
                        self.fail(fail, tally);
                        return false;
                    }
                }
                ready = self.conn.stream.writable(), if self.conn.writing() => {
                    if let Err(e) = ready.and_then(|()| self.conn.flush()) {
                        self.fail(Fail::Io(e), tally);
                        return false;
                    }
                }
                () = &mut timer => {
                    if let Err(fail) = self.send_due(Instant::now(), tally) {
                        self.fail(fail, tally);
                        return false;
                    }
                }
            }
            timer.as_mut().reset(self.wake_at(window.as_ref()));
        }
    }

    /// `zone`: the window is still open, so the bot still counts what arrives, even after its
    /// last slot.
    fn listening(&self, now: Instant) -> bool {
        self.walk.is_some() && self.window_end.is_some_and(|end| now < end)
    }

    /// The next time the loop must wake without the socket: a send, the window's end (`zone`),
    /// or the drain deadline.
    fn wake_at(&self, window: Option<&Window>) -> Instant {
        let send = self.next_send();
        match window {
            Some(_) if self.next_measured.is_none() && self.listening(Instant::now()) => {
                self.window_end.map_or(send, |end| send.min(end))
            }
            Some(w) if self.next_measured.is_none() => send.min(w.drain_until),
            _ => send,
        }
    }

    /// Keeps the connection open with heartbeats only, until stopped or the connection fails.
    /// Errors go to the swarm's hold tally, since this bot's report is already sent.
    async fn hold(&mut self, shared: &Shared) {
        let progress = &shared.progress;
        progress.held.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut tally = Tally::new();
        let timer = sleep_until(self.next_send());
        tokio::pin!(timer);
        let fail = loop {
            tokio::select! {
                biased;
                () = shared.stop.cancelled() => break None,
                ready = self.conn.stream.readable() => {
                    if let Err(fail) = self.on_readable(ready, &mut tally) {
                        break Some(fail);
                    }
                }
                ready = self.conn.stream.writable(), if self.conn.writing() => {
                    if let Err(e) = ready.and_then(|()| self.conn.flush()) {
                        break Some(Fail::Io(e));
                    }
                }
                () = &mut timer => {
                    if let Err(fail) = self.send_due(Instant::now(), &mut tally) {
                        break Some(fail);
                    }
                }
            }
            timer.as_mut().reset(self.next_send());
        };
        progress.held.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(fail) = fail {
            tracing::debug!(error = %fail, "held connection ended");
            tally.errors.record(fail.kind(), &fail);
        }
        if tally.errors.total() > 0 {
            progress
                .hold_errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .merge(tally.errors);
        }
    }
}
