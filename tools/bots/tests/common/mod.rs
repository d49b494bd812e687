//! A fake server for the bots' own tests: it does the handshake properly and answers every other
//! message the way a test wants (wrongly, twice, with an error, or not at all).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mmo_proto::{HelloReq, HelloResp, PROTOCOL_VERSION};
use mmo_wire::{DEFAULT_MAX_FRAME_LEN, Flags, Frame, FrameCodec, MsgType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

/// What the server writes back for a frame other than Hello; `None` answers nothing.
pub type Answer = Arc<dyn Fn(&Frame) -> Option<Bytes> + Send + Sync>;

/// Starts the fake server on a free loopback port.
pub async fn fake_server(answer: impl Fn(&Frame) -> Option<Bytes> + Send + Sync + 'static) -> SocketAddr {
    let answer: Answer = Arc::new(answer);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, answer.clone()));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, answer: Answer) {
    let mut codec = FrameCodec::server(DEFAULT_MAX_FRAME_LEN);
    let mut rbuf = BytesMut::new();
    loop {
        while let Some(frame) = codec.decode(&mut rbuf).expect("the bots send valid frames") {
            let reply = match frame.header.id {
                HelloReq::ID => HelloResp {
                    protocol_version: PROTOCOL_VERSION,
                    heartbeat_interval_ms: 10_000,
                    idle_timeout_ms: 30_000,
                    max_frame_len: DEFAULT_MAX_FRAME_LEN,
                    session_id: 1,
                    ..Default::default()
                }
                .to_frame_bytes(frame.header.seq, Flags::NONE),
                _ => match answer(&frame) {
                    Some(reply) => reply,
                    None => continue,
                },
            };
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
        rbuf.reserve(4096);
        match stream.read_buf(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
