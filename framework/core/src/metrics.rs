//! The metrics of the connection runtime, named in one place, in base units, with low-cardinality
//! labels. The bus and the store name theirs at the top of their own modules
//! (`bus::producer`, `bus::consumer`, `bus::relay`, `bus::serve`, `store`). Handles are resolved
//! once (they are cheap atomics afterwards), so the recorder must be installed, by
//! [`install_prometheus`], before the first connection.

use std::net::SocketAddr;
use std::sync::LazyLock;

use metrics::{Counter, Gauge, counter, gauge};

pub const CONNECTIONS_OPEN: &str = "mmo_connections_open";
pub const CONNECTIONS_ACCEPTED: &str = "mmo_connections_accepted_total";
/// Connections accepted over `max_connections` and answered `SERVER_FULL` (or closed at once
/// past `max_refusing`).
pub const CONNECTIONS_REFUSED: &str = "mmo_connections_refused_total";
/// Label `reason`: why a connection closed (see [`CloseReason`](crate::connection::CloseReason)).
pub const CONNECTIONS_CLOSED: &str = "mmo_connections_closed_total";
pub const FRAMES_IN: &str = "mmo_frames_in_total";
pub const FRAMES_OUT: &str = "mmo_frames_out_total";
pub const BYTES_IN: &str = "mmo_bytes_in_total";
pub const BYTES_OUT: &str = "mmo_bytes_out_total";
/// Label `reason`: the error code name of a rejected message (`WRONG_STAGE`, ...).
pub const REJECTS: &str = "mmo_rejects_total";
/// Logged-in sessions without a connection, kept for resume.
pub const SESSIONS_PARKED: &str = "mmo_sessions_parked";
/// Resume attempts, by `result` (ok, or the reason it failed).
pub const RESUMES: &str = "mmo_resumes_total";
/// Droppable pushes dropped because the client's queue was over its high-water mark.
pub const PUSHES_DROPPED: &str = "mmo_pushes_dropped_total";
/// Droppable pushes that replaced an older queued one of the same kind.
pub const PUSHES_COALESCED: &str = "mmo_pushes_coalesced_total";
/// Label `reason`: the error code sent in the closing `DisconnectNtf`.
pub const KICKS: &str = "mmo_kicks_total";
/// Label `msg`: the message name. Seconds from dispatch to the handler's result.
pub const HANDLER_SECONDS: &str = "mmo_handler_duration_seconds";

/// Handles for the per-frame counters, resolved once.
pub(crate) struct Hot {
    pub connections_open: Gauge,
    pub accepted: Counter,
    pub refused_full: Counter,
    pub frames_in: Counter,
    pub frames_out: Counter,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub dropped: Counter,
    pub coalesced: Counter,
}

pub(crate) static HOT: LazyLock<Hot> = LazyLock::new(|| Hot {
    connections_open: gauge!(CONNECTIONS_OPEN),
    accepted: counter!(CONNECTIONS_ACCEPTED),
    refused_full: counter!(CONNECTIONS_REFUSED),
    frames_in: counter!(FRAMES_IN),
    frames_out: counter!(FRAMES_OUT),
    bytes_in: counter!(BYTES_IN),
    bytes_out: counter!(BYTES_OUT),
    dropped: counter!(PUSHES_DROPPED),
    coalesced: counter!(PUSHES_COALESCED),
});

/// Histogram buckets of every `_seconds` histogram without buckets of its own: 50 us to 1 s.
pub const DEFAULT_BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// Installs the global recorder and serves it for Prometheus on `addr`. Needs a tokio runtime.
/// Histograms get [`DEFAULT_BUCKETS`], except those whose name starts with a prefix in
/// `buckets` (a server's own, e.g. finer ones around a zone's tick period).
pub fn install_prometheus(
    addr: SocketAddr,
    buckets: &[(&str, &[f64])],
) -> Result<(), metrics_exporter_prometheus::BuildError> {
    let mut builder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(DEFAULT_BUCKETS)?;
    for (prefix, bounds) in buckets {
        builder = builder.set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Prefix((*prefix).to_string()),
            bounds,
        )?;
    }
    builder.install()
}
