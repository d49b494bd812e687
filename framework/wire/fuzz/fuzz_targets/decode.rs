//! Feeds arbitrary bytes to the server-side decoder in arbitrary chunks and checks what the codec
//! promises: no panic, no frame over the limit, never more buffered than one frame at the limit
//! before an error, and decoded frames survive a re-encode unchanged.
//!
//! Input layout: byte 0 picks the chunk size (1..=64), bytes 1..3 the max frame length (big
//! endian, at least `HEADER_LEN`), the rest is the stream.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mmo_wire::{Frame, FrameCodec, HEADER_LEN, LEN_PREFIX};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let [chunk, hi, lo, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from(chunk % 64) + 1;
    let max = u32::from(u16::from_be_bytes([*hi, *lo])).max(HEADER_LEN as u32);

    let mut codec = FrameCodec::server(max);
    let mut buf = BytesMut::new();
    'feed: for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => check_frame(&frame, max),
                Ok(None) => break,
                // A framing error is fatal for the connection: nothing after it is decoded.
                Err(_) => break 'feed,
            }
        }
        // What stays buffered is an incomplete frame whose announced length is within the limit.
        assert!(
            buf.len() < LEN_PREFIX + max as usize,
            "{} bytes buffered with max {max}",
            buf.len()
        );
    }
});

/// A decoded frame is within the limit and decodes back to itself once re-encoded.
fn check_frame(frame: &Frame, max: u32) {
    assert!(
        frame.body.len() + HEADER_LEN <= max as usize,
        "frame over the limit {max}"
    );
    let mut wire = BytesMut::new();
    frame.write_to(&mut wire);
    let again = FrameCodec::server(max)
        .decode(&mut wire)
        .expect("a re-encoded frame is valid")
        .expect("a re-encoded frame is whole");
    assert_eq!(&again, frame);
    assert!(wire.is_empty(), "re-encoding wrote more than one frame");
}
