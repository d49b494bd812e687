//! What the server really sends, compared with the bytes of proto/README.md: a client written
//! from the document must see on the wire exactly what the document shows.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use mmo_core::ListenerConfig;
use mmo_core::session::SessionId;
use mmo_proto::{EchoReq, ErrorCode, MsgType};
use mmo_wire::{Flags, Frame, Seq};

/// Asserts the document shows exactly these bytes in one of its code blocks.
fn documented(frame: &[u8]) {
    let hex = frame.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto/README.md")).unwrap();
    assert!(
        mmo_proto::doc::hex_blocks(&doc).iter().any(|b| format!(" {b} ").contains(&format!(" {hex} "))),
        "proto/README.md does not show what the server sends: {hex}"
    );
}

fn wire(f: &Frame) -> Vec<u8> {
    f.to_bytes().to_vec()
}

#[test]
fn the_hello_answer_of_a_default_server_is_the_documented_one() {
    let resp = ListenerConfig::default().hello_resp(SessionId(1));
    documented(&resp.to_frame_bytes(Seq(1), Flags::NONE));
}

#[tokio::test(start_paused = true)]
async fn the_handshake_timeout_and_a_wrong_stage_answer_are_the_documented_bytes() {
    let (server, _) = common::start(ListenerConfig::default()).await;
    let mut c = server.client().await;
    // Request seq 3, an EchoReq before Hello.
    c.send_frame(EchoReq::ID.0, 3, b"").await.unwrap();
    let f = c.recv().await.unwrap();
    let e: mmo_proto::ErrorResp = f.decode_body().unwrap();
    assert_eq!(e.code(), ErrorCode::WrongStage);
    documented(&wire(&f));
    // Then silence until the handshake deadline.
    let f = c.recv().await.unwrap();
    assert_eq!(f.header.id, mmo_proto::DisconnectNtf::ID);
    documented(&wire(&f));
}
