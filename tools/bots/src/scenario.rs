//! The scenarios a bot can play: what it sends on each scheduled slot and what answer it expects.
//!
//! Every scenario shares the same skeleton (connect, Hello, requests on a fixed schedule, Ping as
//! heartbeat); a scenario only decides what the *measured* request is. Later versions add
//! `echo`, `login` and `zone` here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mmo_proto::{PingReq, PingResp};
use mmo_wire::{Flags, Frame, MsgId, MsgType, Seq};
use serde::Serialize;

/// A workload, chosen with `--scenario`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Hello, then PingReq on the schedule: the gateway's own round trip, no other server involved.
    Ping,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ping => "ping",
        }
    }

    /// The interval between measured requests, given the one asked for and the server's heartbeat.
    ///
    /// In `ping` the heartbeat *is* a Ping, so a schedule slower than the heartbeat would only
    /// interleave unmeasured pings with measured ones; measuring at the heartbeat rate instead
    /// keeps every Ping on the wire counted.
    pub fn measured_interval(self, requested: Duration, heartbeat: Duration) -> Duration {
        match self {
            Scenario::Ping => requested.min(heartbeat),
        }
    }

    /// One measured request, encoded as a whole frame.
    pub fn request(self, seq: Seq) -> Bytes {
        match self {
            Scenario::Ping => ping(seq),
        }
    }

    /// The id of the answer to [`Scenario::request`].
    pub fn response_id(self) -> MsgId {
        match self {
            Scenario::Ping => PingResp::ID,
        }
    }

    /// Checks that an answer's body decodes as the expected message.
    pub fn check_response(self, frame: &Frame) -> Result<(), prost::DecodeError> {
        match self {
            Scenario::Ping => frame.decode_body::<PingResp>().map(drop),
        }
    }
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
