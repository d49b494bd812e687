//! `ping`: Hello, then PingReq on the schedule, the gateway's own round trip. The PingReq is also
//! every scenario's heartbeat ([`Heartbeat`]), so the measured Pings go no slower than the
//! heartbeat: a slower schedule would only interleave unmeasured Pings with measured ones.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mmo_proto::{PingReq, ZoneEnterNtf};
use mmo_wire::{Flags, MsgType, Seq};
use tokio::time::Instant;

use super::{Traffic, Workload};
use crate::Options;

/// `ping`'s interval without `--ping-interval`.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(1);

pub(super) struct Ping;

impl Workload for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn interval(&self, opts: &Options) -> Option<Duration> {
        Some(opts.ping_interval.unwrap_or(DEFAULT_PING_INTERVAL))
    }

    fn bot_interval(&self, opts: &Options, heartbeat: Duration) -> Duration {
        self.interval(opts).map_or(heartbeat, |i| i.min(heartbeat))
    }

    fn traffic(&self, _: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Heartbeat)
    }
}

/// A PingReq, answered by a PingResp (the default answer of [`Traffic`]): the heartbeat of
/// every scenario, and what `ping` and `login` measure.
pub(crate) struct Heartbeat;

impl Traffic for Heartbeat {
    /// The latency is measured against the bot's monotonic clock, not against `client_time_ms`;
    /// the wall clock is sent only because that is what the field means to the server.
    fn request(&mut self, seq: Seq, _slot: Instant) -> Bytes {
        let client_time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        PingReq { client_time_ms }.to_frame_bytes(seq, Flags::NONE)
    }
}
