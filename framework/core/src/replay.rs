//! The replay buffer of a logged-in session: the last frames it handed to the socket, kept as the
//! very bytes that were written, so a resume can send again what the client missed while its
//! connection was dying.
//!
//! Why bytes and not the queued items: a queued frame's body is a `Bytes`, and a `Bytes` keeps
//! its whole allocation alive. A body that arrived over the bus could be a slice of a stream
//! entry carrying the frames of hundreds of sessions, so keeping the item would keep that entry,
//! and the memory of a session's "16 KiB" of replay grew with everything the gateway sent (a
//! fault probe saw 525 MiB for 200 players). Here the buffer is one contiguous ring that owns
//! what it holds: its capacity never exceeds the configured bound, whatever the frames pointed
//! into, and it costs no allocation per frame.
//!
//! Frames are stored whole (length prefix, header, body), so the ring needs no index: the
//! length prefix of the oldest frame says how much to drop when a new frame needs the room.

use std::collections::VecDeque;

use bytes::Bytes;
use mmo_wire::{HEADER_LEN, Header, LEN_PREFIX};

/// The last frames written, at most `cap` bytes of them.
#[derive(Debug, Default)]
pub(crate) struct ReplayRing {
    buf: VecDeque<u8>,
    frames: usize,
    cap: usize,
}

impl ReplayRing {
    pub(crate) fn new(cap: usize) -> Self {
        ReplayRing { buf: VecDeque::new(), frames: 0, cap }
    }

    /// How many whole frames are held.
    #[cfg(test)]
    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    /// Bytes of memory the ring holds (its capacity, not just what is used).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Keeps a copy of one whole frame as written (prefix, header, body). The oldest frames make
    /// room; a frame larger than the whole ring empties it, since nothing before it could be
    /// replayed without it.
    pub(crate) fn record(&mut self, frame: &[u8]) {
        if frame.len() > self.cap || frame.len() < LEN_PREFIX + HEADER_LEN {
            self.clear();
            return;
        }
        while self.buf.len() + frame.len() > self.cap {
            self.drop_oldest();
        }
        let needed = self.buf.len() + frame.len();
        if needed > self.buf.capacity() {
            // Grow by doubling but never past the bound: `VecDeque`'s own growth could double a
            // 16 KiB ring into 32 KiB of capacity.
            let target = needed.max(self.buf.capacity() * 2).min(self.cap).max(needed);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend(frame.iter());
        self.frames += 1;
    }

    fn drop_oldest(&mut self) {
        let len = match self.frame_len_at(0) {
            Some(len) => len,
            None => {
                self.clear();
                return;
            }
        };
        self.buf.drain(..len);
        self.frames -= 1;
    }

    /// The whole length (prefix included) of the frame starting at `at`.
    fn frame_len_at(&self, at: usize) -> Option<usize> {
        let mut prefix = [0u8; LEN_PREFIX];
        for (i, b) in prefix.iter_mut().enumerate() {
            *b = *self.buf.get(at + i)?;
        }
        let len = LEN_PREFIX + u32::from_be_bytes(prefix) as usize;
        (at + len <= self.buf.len()).then_some(len)
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.frames = 0;
    }

    /// Removes the newest `n` frames and returns them oldest first, as (header, body), each body
    /// a fresh allocation of its own size. `None` if fewer than `n` are held (nothing changes).
    pub(crate) fn take_newest(&mut self, n: usize) -> Option<Vec<(Header, Bytes)>> {
        if n > self.frames {
            return None;
        }
        let mut at = 0;
        for _ in 0..self.frames - n {
            at += self.frame_len_at(at)?;
        }
        let keep = at;
        let mut out = Vec::with_capacity(n);
        while at < self.buf.len() {
            let len = self.frame_len_at(at)?;
            let bytes: Vec<u8> = self.buf.range(at..at + len).copied().collect();
            let header = Header::parse(bytes[LEN_PREFIX..LEN_PREFIX + HEADER_LEN].try_into().ok()?);
            out.push((header, Bytes::copy_from_slice(&bytes[LEN_PREFIX + HEADER_LEN..])));
            at += len;
        }
        self.buf.truncate(keep);
        self.frames -= n;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use mmo_wire::{Flags, MsgId, Seq};

    fn frame(id: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = bytes::BytesMut::new();
        Header { id: MsgId(id), flags: Flags::PUSH, seq: Seq(seq) }.write_frame(body, &mut v);
        v.to_vec()
    }

    #[test]
    fn keeps_the_newest_frames_within_its_bound() {
        let mut r = ReplayRing::new(100);
        for seq in 1..=20 {
            r.record(&frame(7, seq, &[seq as u8; 9])); // 20 bytes each
        }
        assert_eq!(r.frames(), 5);
        assert!(r.allocated() <= 100, "capacity {} over the bound", r.allocated());
        let got = r.take_newest(2).unwrap();
        assert_eq!(got.iter().map(|(h, _)| h.seq.0).collect::<Vec<_>>(), [19, 20]);
        assert_eq!(got[1].1.as_ref(), &[20u8; 9]);
        assert_eq!(got[0].0.id, MsgId(7));
        assert_eq!(r.frames(), 3);
        assert!(r.take_newest(4).is_none());
        assert_eq!(r.take_newest(3).unwrap().iter().map(|(h, _)| h.seq.0).collect::<Vec<_>>(), [16, 17, 18]);
        assert_eq!(r.take_newest(0).unwrap().len(), 0);
    }

    #[test]
    fn a_frame_larger_than_the_ring_empties_it() {
        let mut r = ReplayRing::new(64);
        r.record(&frame(1, 1, &[0; 10]));
        r.record(&frame(1, 2, &[0; 100]));
        assert_eq!(r.frames(), 0);
        r.record(&frame(1, 3, &[0; 10]));
        assert_eq!(r.take_newest(1).unwrap()[0].0.seq, Seq(3));
    }

    #[test]
    fn a_zero_bound_keeps_nothing() {
        let mut r = ReplayRing::new(0);
        r.record(&frame(1, 1, &[]));
        assert_eq!((r.frames(), r.allocated()), (0, 0));
    }
}
