//! `echo`: Hello, then EchoReq on the schedule: client -> gateway -> bus -> diagnostics server ->
//! bus -> gateway -> client. The schedule is `--rate` across all bots, or, with
//! `--closed-loop`, none: each bot sends its next EchoReq as soon as the last is answered, within
//! the server's limit per session. Each echo carries `--payload` bytes derived from its seq, so
//! the answer is checked without keeping what was sent.

use std::time::Duration;

use anyhow::ensure;
use bytes::Bytes;
use mmo_proto::{EchoReq, EchoResp, ZoneEnterNtf};
use mmo_wire::{Flags, Frame, HEADER_LEN, MsgType, Seq};
use tokio::time::Instant;

use super::{Check, MAX_INTERVAL, MIN_INTERVAL, Traffic, Workload, expect};
use crate::Options;

/// The diagnostics server's limit on EchoReq per session and second; faster gets RATE_LIMITED
/// (a strike). A closed-loop bot never sends faster than this.
pub const ECHO_LIMIT_PER_S: u32 = 1000;

/// The largest `--payload`: an EchoResp carrying it still fits the default frame limit (header,
/// one tag byte and at most three length bytes besides the payload).
pub const MAX_PAYLOAD: usize = mmo_wire::DEFAULT_MAX_FRAME_LEN as usize - HEADER_LEN - 4;

/// EchoReqs per second and bot without `--rate`.
pub const DEFAULT_ECHO_RATE_PER_BOT: f64 = 10.0;

pub(super) struct Echo;

impl Workload for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn validate(&self, opts: &Options) -> anyhow::Result<()> {
        if let Some(rate) = opts.rate {
            ensure!(rate.is_finite() && rate > 0.0, "--rate must be more than 0");
        }
        ensure!(opts.payload <= MAX_PAYLOAD, "--payload must be at most {MAX_PAYLOAD} bytes (one frame)");
        if let Some(interval) = self.interval(opts) {
            ensure!(
                (MIN_INTERVAL..=MAX_INTERVAL).contains(&interval),
                "--rate gives each bot one request every {interval:?}; it must be between \
                 {MIN_INTERVAL:?} and {MAX_INTERVAL:?}"
            );
        }
        Ok(())
    }

    /// `bots / rate`; none in closed loop.
    fn interval(&self, opts: &Options) -> Option<Duration> {
        let rate = self.total_rate(opts)?;
        // Unrepresentable only for rates so small that `validate` refuses the result anyway.
        Some(Duration::try_from_secs_f64(opts.bots as f64 / rate).unwrap_or(Duration::MAX))
    }

    /// `--rate`, or [`DEFAULT_ECHO_RATE_PER_BOT`] for each bot; none in closed loop.
    fn total_rate(&self, opts: &Options) -> Option<f64> {
        if opts.closed_loop {
            return None;
        }
        Some(opts.rate.unwrap_or(opts.bots as f64 * DEFAULT_ECHO_RATE_PER_BOT))
    }

    /// The schedule as asked, even when it is slower than the heartbeat (Pings fill in). In closed
    /// loop, as fast as answers come within the server's rate limit per session.
    fn bot_interval(&self, opts: &Options, heartbeat: Duration) -> Duration {
        if opts.closed_loop {
            return Duration::from_secs(1) / ECHO_LIMIT_PER_S;
        }
        self.interval(opts).unwrap_or(heartbeat)
    }

    fn payload_len(&self, opts: &Options) -> Option<usize> {
        Some(opts.payload)
    }

    fn traffic(&self, opts: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Echoes { payload: opts.payload })
    }
}

/// One bot's echoes.
struct Echoes {
    /// Bytes of payload in each.
    payload: usize,
}

impl Traffic for Echoes {
    fn request(&mut self, seq: Seq, _slot: Instant) -> Bytes {
        EchoReq { payload: echo_payload(seq, self.payload) }.to_frame_bytes(seq, Flags::NONE)
    }

    fn check_answer(&self, frame: &Frame) -> Result<(), Check> {
        let resp = expect::<EchoResp>(frame)?;
        let seq = frame.header.seq;
        let sent = echo_payload(seq, self.payload);
        if resp.payload == sent {
            return Ok(());
        }
        let at = resp.payload.iter().zip(sent.iter()).position(|(a, b)| a != b);
        let what = match at {
            Some(i) => format!("first difference at byte {i}"),
            None => "one is a prefix of the other".to_owned(),
        };
        Err(Check::Mismatch(format!(
            "seq {}: sent {} bytes, got {} back; {what}",
            seq.0,
            sent.len(),
            resp.payload.len()
        )))
    }
}

/// The payload of the echo with `seq`: derived from the seq, so it need not be kept while in
/// flight and an answer carrying another request's bytes (or shifted ones) does not match.
fn echo_payload(seq: Seq, len: usize) -> Bytes {
    let key = seq.0.to_le_bytes();
    (0..len).map(|i| key[i % 4] ^ (i / 4) as u8).collect::<Vec<u8>>().into()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use mmo_proto::PingResp;
    use mmo_wire::FrameCodec;
    use tokio_util::codec::Decoder;

    use super::*;

    fn frame_of(bytes: &[u8]) -> Frame {
        let mut buf = BytesMut::from(bytes);
        FrameCodec::client(mmo_wire::DEFAULT_MAX_FRAME_LEN).decode(&mut buf).expect("frame").expect("whole")
    }

    #[test]
    fn an_echo_of_the_same_bytes_passes_and_of_other_bytes_is_a_mismatch() {
        let echoes = Echoes { payload: 32 };
        let seq = Seq(42);
        let sent = echo_payload(seq, 32);
        assert_eq!(sent.len(), 32);
        let good = frame_of(&EchoResp { payload: sent }.to_frame_bytes(seq, Flags::NONE));
        assert!(echoes.check_answer(&good).is_ok());

        // Another request's bytes, one flipped byte, a truncation: all mismatches.
        let other =
            frame_of(&EchoResp { payload: echo_payload(Seq(43), 32) }.to_frame_bytes(seq, Flags::NONE));
        let mut flipped = echo_payload(seq, 32).to_vec();
        flipped[31] ^= 1;
        let flipped = frame_of(&EchoResp { payload: flipped.into() }.to_frame_bytes(seq, Flags::NONE));
        let short = frame_of(&EchoResp { payload: echo_payload(seq, 31) }.to_frame_bytes(seq, Flags::NONE));
        for bad in [other, flipped, short] {
            let check = echoes.check_answer(&bad).expect_err("mismatch");
            assert_eq!(check.kind(), "echo.mismatch", "{check}");
        }

        // Another message altogether is unexpected, and says what was expected.
        let pong = frame_of(&PingResp::default().to_frame_bytes(seq, Flags::NONE));
        let check = echoes.check_answer(&pong).expect_err("not an echo");
        assert_eq!(check.kind(), "unexpected_message");
        assert_eq!(check.to_string(), "PingResp for seq 42, expected EchoResp");
    }

    #[test]
    fn payloads_differ_between_seqs_and_positions() {
        let a = echo_payload(Seq(1), 64);
        let b = echo_payload(Seq(2), 64);
        assert_ne!(a, b);
        // Not periodic in 4: a shifted copy does not match itself.
        assert_ne!(a[..4], a[4..8]);
        assert!(echo_payload(Seq(7), 0).is_empty());
    }

    #[test]
    fn the_largest_payload_fits_a_frame() {
        let frame = Echoes { payload: MAX_PAYLOAD }.request(Seq(1), Instant::now());
        let echoed =
            EchoResp { payload: echo_payload(Seq(1), MAX_PAYLOAD) }.to_frame_bytes(Seq(1), Flags::NONE);
        for bytes in [frame, echoed] {
            assert!(bytes.len() - mmo_wire::LEN_PREFIX <= mmo_wire::DEFAULT_MAX_FRAME_LEN as usize);
        }
    }
}
