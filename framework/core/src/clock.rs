//! The wall clock, in the one unit every stored and sent timestamp uses: milliseconds since the
//! Unix epoch. Deadlines and durations use tokio's monotonic clock instead; this is for what
//! other processes and clients read (tokens' expiry, heartbeats, `server_time_ms`, rows).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the system clock is set before it).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
