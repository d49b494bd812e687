//! `login`: Hello, log in (paced by `--login-rate` or `--login-concurrency`; the steps are in
//! `session.rs`, who each bot is in the crate's `login.rs`), then idle until the window ends.
//! What is measured in the window are the heartbeats of the logged-in sessions, at the server's
//! heartbeat interval or `--ping-interval`: a session the server closes counts as lost.

use std::time::Duration;

use mmo_proto::ZoneEnterNtf;

use super::{Heartbeat, Stage, Traffic, Workload};
use crate::Options;

pub(super) struct Login;

impl Workload for Login {
    fn name(&self) -> &'static str {
        "login"
    }

    fn stage(&self) -> Stage {
        Stage::LoggedIn
    }

    /// The Pings of `--ping-interval`; without it, the server decides (its heartbeat interval).
    fn interval(&self, opts: &Options) -> Option<Duration> {
        opts.ping_interval
    }

    /// The heartbeat is a Ping too: as in `ping`, no slower than the heartbeat.
    fn bot_interval(&self, opts: &Options, heartbeat: Duration) -> Duration {
        self.interval(opts).map_or(heartbeat, |i| i.min(heartbeat))
    }

    fn traffic(&self, _: &Options, _: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Heartbeat)
    }
}
