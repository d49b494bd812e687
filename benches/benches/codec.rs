//! Frame codec throughput (decode and encode of 1,000 frames), each next to a plain-memcpy baseline.
//!
//! Every group holds the codec and its baseline, measured in the same run:
//!
//! - `decode/1000x{32B,1KiB}/codec`: copy the wire bytes into a read buffer (as a socket read
//!   would) and decode every frame with `FrameCodec::server`;
//!   `.../baseline_memcpy_split`: the same copy, then `split_to` each frame's size. The baseline
//!   is the floor for any decoder that hands out owned frames: its difference to the codec is
//!   the cost of parsing and checking prefix and header.
//! - `encode/1000x{32B,1KiB}/codec`: write every frame into one buffer with the `Encoder`;
//!   `.../baseline_memcpy`: `extend_from_slice` each frame's already-encoded bytes into the same
//!   kind of buffer.
//!
//! Throughput is reported both in frames/s (elements) and in bytes/s, so the 32-byte case shows
//! per-frame overhead and the 1 KiB case shows copy bandwidth.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mmo_wire::{DEFAULT_MAX_FRAME_LEN, Flags, Frame, FrameCodec, Header, MsgId, Seq};
use tokio_util::codec::{Decoder, Encoder};

const FRAMES: usize = 1_000;

/// The frames of one case, and the same frames as they appear on the wire.
struct Case {
    label: String,
    frames: Vec<Frame>,
    wire: Bytes,
    /// Wire length of each frame, for the baseline's `split_to`.
    sizes: Vec<usize>,
}

impl Case {
    fn new(body_len: usize, label: &str) -> Case {
        let frames: Vec<Frame> = (0..FRAMES)
            .map(|i| {
                // Varied ids, seqs and body bytes, so nothing is constant-folded away.
                let body: Vec<u8> = (0..body_len).map(|j| (i + j) as u8).collect();
                let header =
                    Header { id: MsgId(1 + (i % 64) as u16), flags: Flags::NONE, seq: Seq(i as u32) };
                Frame::new(header, Bytes::from(body))
            })
            .collect();
        let mut wire = BytesMut::new();
        for f in &frames {
            f.write_to(&mut wire);
        }
        let sizes = frames.iter().map(Frame::wire_len).collect();
        Case { label: format!("{FRAMES}x{label}"), frames, wire: wire.freeze(), sizes }
    }

    fn throughput(&self) -> Throughput {
        Throughput::ElementsAndBytes { elements: FRAMES as u64, bytes: self.wire.len() as u64 }
    }
}

fn cases() -> [Case; 2] {
    [Case::new(32, "32B"), Case::new(1024, "1KiB")]
}

fn decode(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("decode/{}", case.label));
        group.throughput(case.throughput());
        group.bench_function("codec", |b| {
            let mut codec = FrameCodec::server(DEFAULT_MAX_FRAME_LEN);
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(case.wire.len());
                buf.extend_from_slice(&case.wire);
                let mut n = 0;
                while let Some(frame) = codec.decode(&mut buf).expect("bench input is valid") {
                    black_box(&frame);
                    n += 1;
                }
                assert_eq!(n, FRAMES);
            })
        });
        group.bench_function("baseline_memcpy_split", |b| {
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(case.wire.len());
                buf.extend_from_slice(&case.wire);
                for &size in &case.sizes {
                    // Freeze like the codec does with each body, so both hand out `Bytes`.
                    black_box(buf.split_to(size).freeze());
                }
                assert!(buf.is_empty());
            })
        });
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for case in cases() {
        let mut group = c.benchmark_group(format!("encode/{}", case.label));
        group.throughput(case.throughput());
        group.bench_function("codec", |b| {
            let mut codec = FrameCodec::server(DEFAULT_MAX_FRAME_LEN);
            b.iter(|| {
                let mut dst = BytesMut::with_capacity(case.wire.len());
                for frame in &case.frames {
                    codec.encode(frame, &mut dst).expect("encoding into memory cannot fail");
                }
                black_box(dst)
            })
        });
        group.bench_function("baseline_memcpy", |b| {
            b.iter(|| {
                let mut dst = BytesMut::with_capacity(case.wire.len());
                let mut at = 0;
                for &size in &case.sizes {
                    dst.extend_from_slice(&case.wire[at..at + size]);
                    at += size;
                }
                black_box(dst)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
