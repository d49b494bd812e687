//! Codec tests: golden vectors (the bytes the protocol document shows), property tests (round
//! trip, any chunking, arbitrary bytes never panic and never buffer past the limit).

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use bytes::{Bytes, BytesMut};
use mmo_wire::{Flags, Frame, FrameCodec, HEADER_LEN, Header, MsgId, Seq, WireError};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn frame(id: u16, flags: u8, seq: u32, body: &[u8]) -> Frame {
    Frame::new(Header { id: MsgId(id), flags: Flags(flags), seq: Seq(seq) }, Bytes::copy_from_slice(body))
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut b = BytesMut::new();
    FrameCodec::client(u32::MAX).encode(f, &mut b).unwrap();
    b.to_vec()
}

/// Golden vectors: these exact bytes appear in proto/README.md. Changing them is a protocol break.
#[test]
fn golden_vectors() {
    // PingReq { client_time_ms: 1000 } as request seq 1: body 08 e8 07.
    assert_eq!(
        encode(&frame(3, 0, 1, &[0x08, 0xe8, 0x07])),
        [0, 0, 0, 10, 0, 3, 0, 0, 0, 0, 1, 0x08, 0xe8, 0x07]
    );
    // An empty body: the length is exactly the header.
    assert_eq!(encode(&frame(3, 0, 7, &[])), [0, 0, 0, 7, 0, 3, 0, 0, 0, 0, 7]);
    // A droppable push: flags PUSH|DROPPABLE = 0x03, seq 0.
    assert_eq!(encode(&frame(0x1234, 3, 0, &[0xff])), [0, 0, 0, 8, 0x12, 0x34, 3, 0, 0, 0, 0, 0xff]);
    // Big-endian everywhere.
    assert_eq!(encode(&frame(0xabcd, 0, 0x0102_0304, &[])), [0, 0, 0, 7, 0xab, 0xcd, 0, 1, 2, 3, 4]);
}

#[test]
fn decodes_golden_bytes() {
    let mut b = BytesMut::from(&[0u8, 0, 0, 10, 0, 3, 0, 0, 0, 0, 1, 0x08, 0xe8, 0x07][..]);
    let f = FrameCodec::server(64 * 1024).decode(&mut b).unwrap().unwrap();
    assert_eq!(f, frame(3, 0, 1, &[0x08, 0xe8, 0x07]));
    assert!(b.is_empty());
}

fn decode_err(bytes: &[u8], max: u32) -> WireError {
    let mut b = BytesMut::from(bytes);
    let cap_before = b.capacity();
    let err = FrameCodec::server(max).decode(&mut b).unwrap_err();
    assert_eq!(b.capacity(), cap_before, "the decoder must not grow the buffer on a bad prefix");
    err
}

#[test]
fn rejects_bad_prefixes_before_buffering() {
    let max = 64 * 1024;
    assert!(matches!(decode_err(&[0, 0, 0, 0], max), WireError::TooShort { len: 0 }));
    assert!(matches!(decode_err(&[0, 0, 0, 6], max), WireError::TooShort { len: 6 }));
    let over = (max + 1).to_be_bytes();
    assert!(matches!(decode_err(&over, max), WireError::TooLarge { len, .. } if len == max + 1));
    assert!(matches!(decode_err(&[0x80, 0, 0, 0], max), WireError::TooLarge { len: 0x8000_0000, .. }));
    assert!(matches!(decode_err(&[0xff; 4], max), WireError::TooLarge { len: u32::MAX, .. }));
    // Exactly the limit is fine: waits for the rest.
    let mut b = BytesMut::from(&max.to_be_bytes()[..]);
    assert!(FrameCodec::server(max).decode(&mut b).unwrap().is_none());
    assert_eq!(FrameCodec::server(max).missing(&b).unwrap(), max as usize);
}

#[test]
fn rejects_flags_from_clients_as_soon_as_the_header_is_in() {
    // Header present, body still missing: the error comes now, not when the body arrives.
    let bytes = [0, 0, 0, 100, 0, 3, 0x01, 0, 0, 0, 1];
    assert!(matches!(decode_err(&bytes, 1024), WireError::BadFlags { flags: 1, allowed: 0 }));
    // The client side accepts the known flags but not unknown ones.
    let mut b = BytesMut::from(&[0u8, 0, 0, 7, 0, 3, 0x03, 0, 0, 0, 0][..]);
    assert!(FrameCodec::client(1024).decode(&mut b).unwrap().is_some());
    let mut b = BytesMut::from(&[0u8, 0, 0, 7, 0, 3, 0x80, 0, 0, 0, 0][..]);
    assert!(FrameCodec::client(1024).decode(&mut b).is_err());
}

fn arb_frame(max_body: usize) -> impl Strategy<Value = Frame> {
    (any::<u16>(), any::<u32>(), proptest::collection::vec(any::<u8>(), 0..max_body))
        .prop_map(|(id, seq, body)| frame(id, 0, seq, &body))
}

proptest! {
    #[test]
    fn round_trip(frames in proptest::collection::vec(arb_frame(300), 0..20)) {
        let mut codec = FrameCodec::server(1024);
        let mut buf = BytesMut::new();
        for f in &frames {
            codec.encode(f, &mut buf).unwrap();
        }
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, frames);
    }

    /// However the stream is cut into reads, the same frames come out in the same order.
    #[test]
    fn any_chunking_gives_same_frames(
        frames in proptest::collection::vec(arb_frame(200), 1..10),
        cuts in proptest::collection::vec(1usize..64, 1..200),
    ) {
        let mut codec = FrameCodec::server(1024);
        let mut stream = BytesMut::new();
        for f in &frames {
            codec.encode(f, &mut stream).unwrap();
        }
        let stream = stream.freeze();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - pos);
            i += 1;
            buf.extend_from_slice(&stream[pos..pos + n]);
            pos += n;
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        prop_assert_eq!(out, frames);
    }

    /// Arbitrary bytes fed in arbitrary chunks never panic, and what stays buffered never
    /// exceeds one frame at the limit (prefix + max length) before an error is reported.
    #[test]
    fn arbitrary_bytes_never_panic_nor_overbuffer(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..512,
        max in (HEADER_LEN as u32)..2048,
    ) {
        let mut codec = FrameCodec::server(max);
        let mut buf = BytesMut::new();
        'outer: for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match codec.decode(&mut buf) {
                    Ok(Some(f)) => prop_assert!(f.body.len() + HEADER_LEN <= max as usize),
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
            // While no error was reported, what is buffered is an incomplete frame whose
            // announced length is within the limit.
            prop_assert!(buf.len() < 4 + max as usize);
        }
    }
}
