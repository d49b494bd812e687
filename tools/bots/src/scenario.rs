//! The scenarios a bot can play: what it sends on each scheduled slot and what answer it expects.
//!
//! Every scenario shares the same skeleton (connect, Hello, requests on a schedule, Ping as
//! heartbeat); a scenario only decides what the *measured* request is and how its answer is
//! checked. `login` adds a login between Hello and the schedule (see `bot.rs`), and measures
//! the heartbeats of the logged-in sessions. `zone` logs in too, enters the world, and its
//! measured requests are one-way MoveReqs made by the bot's random walk (`zone.rs`): nothing
//! answers them, and what it measures is what the server pushes back.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mmo_proto::{EchoReq, EchoResp, PingReq, PingResp};
use mmo_wire::{Flags, Frame, HEADER_LEN, MsgId, MsgType, Seq};
use serde::Serialize;

/// The diagnostics server's limit on EchoReq per session and second; faster gets RATE_LIMITED
/// (a strike). A closed-loop bot never sends faster than this.
pub const ECHO_LIMIT_PER_S: u32 = 1000;

/// The largest `--payload`: an EchoResp carrying it still fits the default frame limit (header,
/// one tag byte and at most three length bytes besides the payload).
pub const MAX_PAYLOAD: usize = mmo_wire::DEFAULT_MAX_FRAME_LEN as usize - HEADER_LEN - 4;

/// A workload, chosen with `--scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hello, then PingReq on the schedule: the gateway's own round trip, no other server involved.
    Ping,
    /// Hello, then EchoReq on the schedule: client -> gateway -> bus -> diagnostics server -> bus ->
    /// gateway -> client. Needs a gateway with a bus and a diagnostics server behind it.
    Echo,
    /// Hello, then log in (--login device or password, paced by --login-rate or
    /// --login-concurrency), then idle with a Ping at the server's heartbeat interval until the
    /// window ends: logins/s, login latency, sessions held. Needs the account server (`mmo all`).
    Login,
    /// Hello, log in as `login` does, EnterWorldReq, then a random walk: a MoveReq at --move-hz
    /// on the schedule, a new direction every couple of seconds. Measures the entity updates the
    /// zone pushes back (per second, by kind, bytes) and their latency from the server's tick
    /// (`server_time_ms`) to receipt; with --metrics-url, the server's tick p50/p99. Needs the
    /// zone server (`mmo all`).
    Zone,
}

/// Why an answer of the expected id is still wrong.
#[derive(Debug)]
pub enum Check {
    /// The body does not decode.
    Decode(&'static str, prost::DecodeError),
    /// An echo came back with other bytes than were sent.
    Mismatch(String),
}

impl Check {
    /// The key under `errors_by_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Decode(..) => "decode",
            Check::Mismatch(_) => "echo.mismatch",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Decode(name, e) => write!(f, "undecodable {name}: {e}"),
            Check::Mismatch(what) => f.write_str(what),
        }
    }
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
            Scenario::Echo => "echo",
            Scenario::Login => "login",
            Scenario::Zone => "zone",
        }
    }

    /// Whether the scenario sends a payload (`--payload` means something).
    pub fn has_payload(self) -> bool {
        match self {
            Scenario::Ping | Scenario::Login | Scenario::Zone => false,
            Scenario::Echo => true,
        }
    }

    /// Whether each bot logs in before the window (and the `--login*` options apply).
    pub fn logs_in(self) -> bool {
        matches!(self, Scenario::Login | Scenario::Zone)
    }

    /// The interval between measured requests, given the one asked for and the server's heartbeat.
    ///
    /// In `ping` (and `login`) the heartbeat *is* a Ping, so a schedule slower than the heartbeat
    /// would only interleave unmeasured pings with measured ones; measuring at the heartbeat rate
    /// instead keeps every Ping on the wire counted. In `echo` the schedule is as asked: pings
    /// fill in only when it is slower than the heartbeat. In `zone` too: the MoveReqs keep the
    /// session alive, and pings fill in only before the window.
    pub fn measured_interval(self, requested: Duration, heartbeat: Duration) -> Duration {
        match self {
            Scenario::Ping | Scenario::Login => requested.min(heartbeat),
            Scenario::Echo | Scenario::Zone => requested,
        }
    }

    /// One measured request, encoded as a whole frame. `payload` is the echo's length in bytes.
    /// `None` in `zone`: its MoveReqs depend on where the bot walks, so the bot's walk makes them
    /// (`zone::Walk`).
    pub fn request(self, seq: Seq, payload: usize) -> Option<Bytes> {
        match self {
            Scenario::Ping | Scenario::Login => Some(ping(seq)),
            Scenario::Echo => {
                Some(EchoReq { payload: echo_payload(seq, payload) }.to_frame_bytes(seq, Flags::NONE))
            }
            Scenario::Zone => None,
        }
    }

    /// The id of the answer to a measured request. In `zone` MoveReqs are one-way, so the only
    /// requests that wait for an answer are heartbeats: zone answers as ping does.
    pub fn response_id(self) -> MsgId {
        match self {
            Scenario::Ping | Scenario::Login | Scenario::Zone => PingResp::ID,
            Scenario::Echo => EchoResp::ID,
        }
    }

    /// Checks an answer to the request `request(frame.header.seq, payload)`.
    pub fn check_response(self, frame: &Frame, payload: usize) -> Result<(), Check> {
        match self {
            Scenario::Ping | Scenario::Login | Scenario::Zone => decode::<PingResp>(frame).map(drop),
            Scenario::Echo => {
                let resp = decode::<EchoResp>(frame)?;
                let seq = frame.header.seq;
                let sent = echo_payload(seq, payload);
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
    }
}

fn decode<M: MsgType>(frame: &Frame) -> Result<M, Check> {
    frame.decode_body::<M>().map_err(|e| Check::Decode(M::NAME, e))
}

/// The payload of the echo with `seq`: derived from the seq, so it need not be kept while in
/// flight and an answer carrying another request's bytes (or shifted ones) does not match.
pub fn echo_payload(seq: Seq, len: usize) -> Bytes {
    let key = seq.0.to_le_bytes();
    (0..len).map(|i| key[i % 4] ^ (i / 4) as u8).collect::<Vec<u8>>().into()
}

/// A PingReq frame: the heartbeat of every scenario and the request of `ping`.
///
/// The latency is measured against the bot's monotonic clock, not against this field; the wall
/// clock is sent only because that is what the field means to the server.
pub(crate) fn ping(seq: Seq) -> Bytes {
    let client_time_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    PingReq { client_time_ms }.to_frame_bytes(seq, Flags::NONE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use mmo_wire::FrameCodec;
    use tokio_util::codec::Decoder;

    fn frame_of(bytes: &[u8]) -> Frame {
        let mut buf = BytesMut::from(bytes);
        FrameCodec::client(mmo_wire::DEFAULT_MAX_FRAME_LEN).decode(&mut buf).expect("frame").expect("whole")
    }

    #[test]
    fn an_echo_of_the_same_bytes_passes_and_of_other_bytes_is_a_mismatch() {
        let seq = Seq(42);
        let sent = echo_payload(seq, 32);
        assert_eq!(sent.len(), 32);
        let good = frame_of(&EchoResp { payload: sent }.to_frame_bytes(seq, Flags::NONE));
        assert!(Scenario::Echo.check_response(&good, 32).is_ok());

        // Another request's bytes, one flipped byte, a truncation: all mismatches.
        let other =
            frame_of(&EchoResp { payload: echo_payload(Seq(43), 32) }.to_frame_bytes(seq, Flags::NONE));
        let mut flipped = echo_payload(seq, 32).to_vec();
        flipped[31] ^= 1;
        let flipped = frame_of(&EchoResp { payload: flipped.into() }.to_frame_bytes(seq, Flags::NONE));
        let short = frame_of(&EchoResp { payload: echo_payload(seq, 31) }.to_frame_bytes(seq, Flags::NONE));
        for bad in [other, flipped, short] {
            let check = Scenario::Echo.check_response(&bad, 32).expect_err("mismatch");
            assert_eq!(check.kind(), "echo.mismatch", "{check}");
        }
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
        let frame = Scenario::Echo.request(Seq(1), MAX_PAYLOAD).expect("echo has a request");
        let echoed =
            EchoResp { payload: echo_payload(Seq(1), MAX_PAYLOAD) }.to_frame_bytes(Seq(1), Flags::NONE);
        for bytes in [frame, echoed] {
            assert!(bytes.len() - mmo_wire::LEN_PREFIX <= mmo_wire::DEFAULT_MAX_FRAME_LEN as usize);
        }
    }
}
