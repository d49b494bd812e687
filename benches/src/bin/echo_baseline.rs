//! The baseline for request/response through the gateway (BENCH.md S2): a bare tokio server that
//! speaks the same frames and answers HelloReq and EchoReq inline, with no framework, no stages,
//! no limits and no bus. `mmo-bots --scenario echo` against it, then against `mmo all`, in the
//! same run, gives the cost of everything between the socket and the handler as a ratio.
//!
//! Usage: `echo_baseline [ADDR]` (default 127.0.0.1:17778); prints `listening on ADDR`.

use bytes::BytesMut;
use mmo_proto::{EchoReq, EchoResp, HelloReq, HelloResp, MsgType, PROTOCOL_VERSION};
use mmo_wire::{Flags, FrameCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Decoder;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:17778".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream));
    }
}

/// Reads what is there, answers every complete frame, writes all answers in one write.
async fn serve(mut stream: TcpStream) {
    let mut codec = FrameCodec::server(64 * 1024);
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut wbuf = Vec::with_capacity(4096);
    loop {
        match stream.read_buf(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let frame = match codec.decode(&mut rbuf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return,
            };
            let seq = frame.header.seq;
            if frame.header.id == HelloReq::ID {
                let resp = HelloResp { protocol_version: PROTOCOL_VERSION, ..Default::default() };
                wbuf.extend_from_slice(&resp.to_frame_bytes(seq, Flags::NONE));
            } else if frame.header.id == EchoReq::ID {
                let Ok(req) = frame.decode_body::<EchoReq>() else { return };
                wbuf.extend_from_slice(&EchoResp { payload: req.payload }.to_frame_bytes(seq, Flags::NONE));
            }
        }
        if !wbuf.is_empty() {
            if stream.write_all(&wbuf).await.is_err() {
                return;
            }
            wbuf.clear();
        }
    }
}
