//! Token buckets for per-session, per-message rate limits.

use tokio::time::Instant;

/// A rate limit declared with a route: `per_second` tokens refill each second, up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f32,
    pub burst: f32,
}

impl RateLimit {
    /// `n` messages per second, with a burst of `n`.
    pub fn per_second(n: u32) -> Self {
        RateLimit { per_second: n as f32, burst: n.max(1) as f32 }
    }

    /// Allows bursts of up to `burst` messages.
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1) as f32;
        self
    }
}

/// One bucket. Uses tokio's clock so tests can pause and advance time.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    tokens: f32,
    last: Instant,
}

impl TokenBucket {
    pub fn full(limit: &RateLimit) -> Self {
        TokenBucket { tokens: limit.burst, last: Instant::now() }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, limit: &RateLimit) -> bool {
        self.take_or_wait(limit).is_ok()
    }

    /// Takes a token, or says how long until one is there (what `retry_after_ms` tells a
    /// client that was too fast).
    pub fn take_or_wait(&mut self, limit: &RateLimit) -> Result<(), std::time::Duration> {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limit.per_second).min(limit.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = (1.0 - self.tokens) / limit.per_second.max(f32::MIN_POSITIVE);
            Err(std::time::Duration::from_secs_f32(missing.min(3600.0)))
        }
    }
}
