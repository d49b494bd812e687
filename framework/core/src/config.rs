//! Configuration pieces owned by the framework. The launcher assembles them, with each server's
//! own section, into one TOML file; `config.example.toml` documents every field and a test
//! parses it. Every field has a default, unknown keys are rejected, durations are written like
//! "30s" and sizes like "64KiB".

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Limits and deadlines of client connections (the `[gateway]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address the gateway listens on. Default `127.0.0.1:7777`.
    pub listen: SocketAddr,
    /// Connections held at once. A client connecting beyond it is answered
    /// `DisconnectNtf(SERVER_FULL)` with `retry_hint` and closed. Default 10000.
    pub max_connections: usize,
    /// Connections the kernel queues until they are accepted (the listen backlog; Linux caps it
    /// at `net.core.somaxconn`): what absorbs a burst of connects. Default 1024.
    pub listen_backlog: u32,
    /// Over-cap connections being answered `SERVER_FULL` at once (each is read from for up to
    /// `close_timeout`, so the client gets the answer rather than a reset); beyond it, over-cap
    /// connections are closed at once without one. Default 256.
    pub max_refusing: usize,
    /// Largest frame (header + body) accepted from a client, checked at the length prefix.
    /// Default 64KiB.
    pub max_frame_len: ByteSize,
    /// Time a new connection has to complete Hello. Default 5s.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// A connection that sends nothing for this long is closed. Default 30s.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// How often clients are told to send Ping when idle (sent in HelloResp). Default 10s.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Rejected messages (unknown, malformed, wrong stage, rate limited) before the connection
    /// is closed. Default 5.
    pub max_strikes: u32,
    /// Bytes of frames queued for one client before a reliable frame closes it as a slow
    /// consumer. Default 256KiB.
    pub outbound_queue: ByteSize,
    /// Above this many queued bytes, droppable pushes that cannot replace an older one of their
    /// kind are dropped. Default 32KiB.
    pub droppable_high_water: ByteSize,
    /// Most bytes taken from a client's queue for one write; the next are taken once the socket
    /// took all of them, so what a slow client has not read stays in the queue, where droppable
    /// pushes are replaced by newer ones. Default 16KiB.
    pub write_batch: ByteSize,
    /// The kernel's send buffer for each client socket (SO_SNDBUF; Linux doubles it for its
    /// bookkeeping). Small, so a client that falls behind leaves its frames in our queue rather
    /// than in the kernel, where nothing is replaced; "0KiB" keeps the kernel's default
    /// (autotuned, up to megabytes). Default 32KiB.
    pub send_buffer: ByteSize,
    /// A client that leaves frames unread this long (a reliable frame still queued, or bytes
    /// the socket would not take) is closed with `SLOW_CONSUMER`, whatever it is behind on.
    /// Default 10s.
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
    /// Bytes reserved for one socket read; a connection holds no read buffer while idle.
    /// Default 4KiB.
    pub read_chunk: ByteSize,
    /// Time allowed, once a connection is closing, to flush its last frames. Default 2s.
    #[serde(with = "humantime_serde")]
    pub close_timeout: Duration,
    /// How long a request forwarded to a server may go unanswered before the client gets
    /// `UNAVAILABLE`. Default 10s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long clients are told to wait (`retry_after_ms`) after `UNAVAILABLE` from the
    /// gateway (a server not answering or not known yet) or `SERVER_FULL`. Default 1s.
    #[serde(with = "humantime_serde")]
    pub retry_hint: Duration,
    /// How long a logged-in session whose connection dropped (or went idle) is kept for the
    /// client to resume it (ResumeReq); meanwhile its reliable frames queue up, bounded by
    /// `outbound_queue`. 0s turns resume off. Default 30s.
    #[serde(with = "humantime_serde")]
    pub resume_window: Duration,
    /// Bytes of already-sent reliable frames each logged-in session keeps, so a resume can replay
    /// what the client missed while the connection was dying. Default 16KiB.
    pub resume_buffer: ByteSize,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7777)),
            max_connections: 10_000,
            listen_backlog: 1024,
            max_refusing: 256,
            max_frame_len: ByteSize::kib(64),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(10),
            max_strikes: 5,
            outbound_queue: ByteSize::kib(256),
            droppable_high_water: ByteSize::kib(32),
            write_batch: ByteSize::kib(16),
            send_buffer: ByteSize::kib(32),
            send_timeout: Duration::from_secs(10),
            read_chunk: ByteSize::kib(4),
            close_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            retry_hint: Duration::from_secs(1),
            resume_window: Duration::from_secs(30),
            resume_buffer: ByteSize::kib(16),
        }
    }
}

impl ListenerConfig {
    /// The limits of each session these settings give (queue, replay buffer, strikes).
    pub fn session_limits(&self) -> crate::session::SessionLimits {
        crate::session::SessionLimits {
            max_bytes: self.outbound_queue.as_u64() as usize,
            droppable_high_water: self.droppable_high_water.as_u64() as usize,
            replay_bytes: if self.resume_window.is_zero() { 0 } else { self.resume_buffer.as_u64() as usize },
            max_strikes: self.max_strikes,
        }
    }

    /// The frame limit as the codec takes it (saturating: a limit over 4 GiB means "no limit").
    pub fn max_frame_len_u32(&self) -> u32 {
        u32::try_from(self.max_frame_len.as_u64()).unwrap_or(u32::MAX)
    }

    /// A `HelloResp` carrying what these limits tell a client (heartbeat, idle deadline, frame
    /// limit) and its session id, with status OK: whoever answers Hello starts from this.
    pub fn hello_resp(&self, session: crate::session::SessionId) -> mmo_proto::HelloResp {
        mmo_proto::HelloResp {
            protocol_version: mmo_proto::PROTOCOL_VERSION,
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u32,
            idle_timeout_ms: self.idle_timeout.as_millis() as u32,
            max_frame_len: self.max_frame_len_u32(),
            session_id: session.0,
            version_status: mmo_proto::VersionStatus::Ok as i32,
            resume_window_ms: self.resume_window.as_millis() as u32,
            ..Default::default()
        }
    }

    /// Checks relations between fields that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let min = (mmo_wire::HEADER_LEN) as u64;
        if self.max_frame_len.as_u64() < min {
            return Err(ConfigError::Invalid(format!("gateway.max_frame_len must be at least {min} bytes")));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("gateway.max_connections must be at least 1".into()));
        }
        if self.droppable_high_water > self.outbound_queue {
            return Err(ConfigError::Invalid(
                "gateway.droppable_high_water must not exceed gateway.outbound_queue".into(),
            ));
        }
        if self.read_chunk.as_u64() == 0 || self.write_batch.as_u64() == 0 {
            return Err(ConfigError::Invalid("gateway.read_chunk and write_batch must be > 0".into()));
        }
        Ok(())
    }
}

/// The Prometheus endpoint (the `[metrics]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve metrics over HTTP. Default true.
    pub enabled: bool,
    /// Address of the scrape endpoint (any path answers). Default `127.0.0.1:9100`.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 9100)) }
    }
}

/// Graceful shutdown (the `[shutdown]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// After SIGINT/SIGTERM, time given to in-flight work before the process exits anyway.
    /// A second signal exits at once. Default 10s.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { grace: Duration::from_secs(10) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Parses a TOML document into a config type (unknown keys are errors).
pub fn from_toml_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    Ok(toml::from_str(text)?)
}

/// Reads and parses a TOML file.
pub fn from_toml_file<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    from_toml_str(&text)
}

/// Replaces `field` with the environment variable `var` when it is set and not empty. URLs and
/// secrets come from the environment so they stay out of checked-in files.
pub fn env_override(field: &mut String, var: &str) {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        *field = v;
    }
}
