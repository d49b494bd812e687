//! A typed test client. It speaks the protocol correctly by default and offers raw access for
//! tests that must not.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use mmo_proto::{DisconnectNtf, ErrorCode, ErrorResp, HelloReq, HelloResp, PROTOCOL_VERSION, Platform};
use mmo_wire::{Flags, Frame, FrameCodec, Header, MsgType, Seq};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("bad frame from server: {0}")]
    Wire(#[from] mmo_wire::WireError),
    #[error("server answered with error {code:?}")]
    Rejected { code: ErrorCode },
    #[error("server disconnected us: {reason:?}")]
    Disconnected { reason: ErrorCode },
    #[error("unexpected message id {0}")]
    Unexpected(u16),
    #[error("undecodable body: {0}")]
    Decode(#[from] prost::DecodeError),
}

pub struct TestClient {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    next_seq: u32,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<TestClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TestClient { stream, codec: FrameCodec::client(16 << 20), rbuf: BytesMut::new(), next_seq: 1 })
    }

    /// Sends a request with the next sequence number and returns that number.
    pub async fn send<M: MsgType>(&mut self, msg: &M) -> Result<Seq, ClientError> {
        let seq = Seq(self.next_seq);
        self.next_seq += 1;
        self.stream.write_all(&msg.to_frame_bytes(seq, Flags::NONE)).await?;
        Ok(seq)
    }

    /// Sends a frame with any id, seq and body.
    pub async fn send_frame(&mut self, id: u16, seq: u32, body: &[u8]) -> Result<(), ClientError> {
        let frame = Frame::new(
            Header { id: mmo_wire::MsgId(id), flags: Flags::NONE, seq: Seq(seq) },
            Bytes::copy_from_slice(body),
        );
        self.stream.write_all(&frame.to_bytes()).await?;
        Ok(())
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// The next frame from the server; `Closed` at end of stream.
    pub async fn recv(&mut self) -> Result<Frame, ClientError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.rbuf)? {
                return Ok(frame);
            }
            self.rbuf.reserve(4096);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(ClientError::Closed);
            }
        }
    }

    /// Sends `req` and waits for its answer (skipping pushes): the response, or the error.
    pub async fn request<Req: MsgType, Resp: MsgType>(&mut self, req: &Req) -> Result<Resp, ClientError> {
        self.exchange(req).await?.map_err(|err| ClientError::Rejected { code: err.code() })
    }

    /// [`TestClient::request`] as the protocol document tells a client to: an `UNAVAILABLE`
    /// answer is retried after its `retry_after_ms`, at most `attempts` times in all.
    pub async fn request_retrying<Req: MsgType, Resp: MsgType>(
        &mut self,
        req: &Req,
        attempts: u32,
    ) -> Result<Resp, ClientError> {
        for _ in 1..attempts {
            match self.exchange(req).await? {
                Err(err) if err.code() == ErrorCode::Unavailable => {
                    tokio::time::sleep(std::time::Duration::from_millis(err.retry_after_ms)).await;
                }
                answer => return answer.map_err(|err| ClientError::Rejected { code: err.code() }),
            }
        }
        self.request(req).await
    }

    /// Sends `req` and waits for its answer, the response or the `ErrorResp`.
    async fn exchange<Req: MsgType, Resp: MsgType>(
        &mut self,
        req: &Req,
    ) -> Result<Result<Resp, ErrorResp>, ClientError> {
        let seq = self.send(req).await?;
        loop {
            let frame = self.recv().await?;
            if frame.header.flags.contains(Flags::PUSH) {
                if frame.header.id == DisconnectNtf::ID {
                    let ntf: DisconnectNtf = frame.decode_body()?;
                    return Err(ClientError::Disconnected { reason: ntf.reason() });
                }
                continue;
            }
            if frame.header.seq != seq {
                continue;
            }
            if frame.header.id == ErrorResp::ID {
                return Ok(Err(frame.decode_body()?));
            }
            if frame.header.id != Resp::ID {
                return Err(ClientError::Unexpected(frame.header.id.0));
            }
            return Ok(Ok(frame.decode_body()?));
        }
    }

    /// Performs the handshake with the current protocol version.
    pub async fn hello(&mut self) -> Result<HelloResp, ClientError> {
        self.request(&HelloReq {
            protocol_version: PROTOCOL_VERSION,
            client_version: "1.0.0".into(),
            platform: Platform::Linux as i32,
        })
        .await
    }

    /// Reads until the server's `DisconnectNtf` and then the end of the stream; returns the
    /// reason. Fails if the stream ends without one.
    pub async fn expect_disconnect(&mut self) -> Result<ErrorCode, ClientError> {
        let mut reason = None;
        loop {
            match self.recv().await {
                Ok(f) if f.header.id == DisconnectNtf::ID => {
                    reason = Some(f.decode_body::<DisconnectNtf>()?.reason());
                }
                Ok(_) => {}
                Err(ClientError::Closed) => return reason.ok_or(ClientError::Closed),
                // A reset after the notice still counts as closed with that reason.
                Err(ClientError::Io(_)) if reason.is_some() => return reason.ok_or(ClientError::Closed),
                Err(e) => return Err(e),
            }
        }
    }

    /// The underlying stream, for tests that need socket options.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}
