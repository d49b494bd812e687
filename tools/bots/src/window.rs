//! The measurement window every bot shares, and how long answers may still come after it.

use std::time::Duration;

use tokio::time::Instant;

/// After the window closes, how long answers to measured requests are still awaited before the
/// rest count as lost.
pub const DRAIN: Duration = Duration::from_secs(2);

/// The measurement window, the same for every bot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub start: Instant,
    pub end: Instant,
    /// After this, measured requests still unanswered are lost.
    pub drain_until: Instant,
}
