//! A bot's framed connection: frames out and in over one socket, a request and its answer, and
//! why a connection cannot go on ([`Fail`]).
//!
//! The bot's task owns the socket and drives it through tokio's readiness API
//! (`readable`/`try_read_buf`, `try_write`), so a send on schedule never waits behind a read and
//! a read never waits behind a send, without a second task or a channel per bot. [`Conn::send`]
//! writes what the socket takes at once and buffers the rest for the task's writable branch
//! ([`Conn::flush`]); [`Conn::read_some`] reads at most a frame or a chunk, and
//! [`Conn::next_frame`] decodes what is complete. Buffers exist only while bytes are in flight:
//! an idle bot holds none.
//!
//! Before the measurement window a bot has one request at a time in flight (Hello, a login,
//! entering the world): [`Conn::call`] sends it and waits for its answer.

use std::fmt;
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use mmo_proto::{DisconnectNtf, ErrorCode, ErrorResp, HelloReq, HelloResp, PROTOCOL_VERSION};
use mmo_wire::{Flags, Frame, FrameCodec, MsgId, MsgType, Seq, WireError};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// Largest frame accepted from the server. Answers in these scenarios are tiny; the limit only
/// bounds what a broken server can make a bot buffer.
const MAX_FRAME_LEN: u32 = mmo_wire::DEFAULT_MAX_FRAME_LEN;
/// Most bytes reserved for one socket read.
const READ_CHUNK: usize = 4096;
/// The seq of HelloReq; requests count up from it.
pub(crate) const HELLO_SEQ: u32 = 1;

/// Why a connection cannot go on (or, in the handshake, why it never started).
#[derive(Debug)]
pub(crate) enum Fail {
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
    pub(crate) fn kind(&self) -> String {
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
    pub(crate) fn login_kind(&self) -> String {
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

/// An error code by its name in the protocol (`CODE_<n>` for one this build does not know).
pub(crate) fn code_name(code: i32) -> String {
    ErrorCode::try_from(code).map_or_else(|_| format!("CODE_{code}"), |c| c.as_str_name().to_owned())
}

/// A message id by its message's name (`#<id>` for one this build does not know).
pub(crate) fn msg_name(id: MsgId) -> String {
    mmo_proto::message_name(id).map_or_else(|| format!("#{id}"), str::to_owned)
}

/// Decodes a frame's body as an `M`, whatever its id.
pub(crate) fn decode<M: MsgType>(frame: &Frame) -> Result<M, Fail> {
    frame.decode_body::<M>().map_err(|e| Fail::Body(M::NAME, e))
}

/// Decodes an answer that must be an `M`.
pub(crate) fn expect<M: MsgType>(frame: &Frame) -> Result<M, Fail> {
    if frame.header.id != M::ID {
        return Err(Fail::Unexpected(frame.header.id));
    }
    decode::<M>(frame)
}

/// A DisconnectNtf as the end of the connection it announces.
pub(crate) fn disconnected(frame: &Frame) -> Fail {
    decode::<DisconnectNtf>(frame).map_or_else(|f| f, Fail::Disconnected)
}

/// An ErrorResp as the refusal it carries.
pub(crate) fn rejected(frame: &Frame) -> Fail {
    decode::<ErrorResp>(frame).map_or_else(|f| f, Fail::Rejected)
}

/// The socket and its buffers.
pub(crate) struct Conn {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    wbuf: BytesMut,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            codec: FrameCodec::client(MAX_FRAME_LEN),
            rbuf: BytesMut::new(),
            wbuf: BytesMut::new(),
        }
    }

    /// Whether bytes wait to be written (then the task waits for the socket to be writable).
    pub(crate) fn writing(&self) -> bool {
        !self.wbuf.is_empty()
    }

    /// Waits until the socket may have bytes to read.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.stream.readable().await
    }

    /// Waits until the socket may take bytes.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        self.stream.writable().await
    }

    /// Writes a frame now if the socket takes it; what it does not take waits in the buffer for
    /// the writable branch. Nothing overtakes bytes already waiting.
    pub(crate) fn send(&mut self, frame: Bytes) -> io::Result<()> {
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
    pub(crate) fn flush(&mut self) -> io::Result<()> {
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

    /// Closes the sending side (what is buffered is dropped); the server sees the connection end.
    pub(crate) async fn shutdown(&mut self) {
        use tokio::io::AsyncWriteExt as _;
        self.wbuf = BytesMut::new();
        let _ = self.stream.shutdown().await;
    }

    /// Reads what the socket has, up to a complete frame or a chunk.
    pub(crate) fn read_some(&mut self) -> Result<(), Fail> {
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
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame>, Fail> {
        let frame = self.codec.decode(&mut self.rbuf).map_err(Fail::Frame)?;
        if frame.is_none() && self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
        }
        Ok(frame)
    }

    /// Sends Hello and waits for its answer (the caller bounds the wait).
    pub(crate) async fn hello(&mut self, req: HelloReq) -> Result<HelloResp, Fail> {
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
    pub(crate) async fn call(&mut self, request: Bytes, seq: Seq) -> Result<Frame, Fail> {
        self.send(request).map_err(Fail::Io)?;
        while self.writing() {
            self.stream.writable().await.map_err(Fail::Io)?;
            self.flush().map_err(Fail::Io)?;
        }
        loop {
            while let Some(frame) = self.next_frame()? {
                let h = frame.header;
                if h.id == DisconnectNtf::ID {
                    return Err(disconnected(&frame));
                }
                if h.flags.contains(Flags::PUSH) {
                    // Not an answer; nothing pushed before the session starts concerns the bot.
                    continue;
                }
                if h.id == ErrorResp::ID {
                    return Err(rejected(&frame));
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
