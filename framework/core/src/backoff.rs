//! Exponential backoff with jitter: the one way the runtime waits before trying again (a bus
//! read or write that failed, an accept that failed, a transaction that hit a conflict).
//!
//! Each pause is drawn from the upper half of the nominal one, which doubles up to a cap. The
//! jitter matters: two transactions that deadlocked each other, or a hundred consumers that lost
//! the same Redis, would otherwise retry in step and collide again.

use std::time::Duration;

/// A pause drawn uniformly from `[nominal / 2, nominal]`.
pub fn jittered(nominal: Duration) -> Duration {
    let nanos = u64::try_from(nominal.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(nanos / 2 + rand::random_range(0..=nanos / 2))
}

/// Successive pauses after failures: `first`, doubling up to `max` (each jittered), back to
/// `first` after a success.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    nominal: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max: max.max(first), nominal: first }
    }

    /// The pause to take now; the next one will be twice as long (up to the cap).
    pub fn next_pause(&mut self) -> Duration {
        let pause = jittered(self.nominal);
        self.nominal = (self.nominal * 2).min(self.max);
        pause
    }

    /// True once the pauses have reached the cap: failures have gone on for a while.
    pub fn at_max(&self) -> bool {
        self.nominal >= self.max
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.nominal = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_within_their_jitter_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_millis(45));
        for nominal in [10, 20, 40, 45, 45] {
            let p = b.next_pause();
            assert!(p >= Duration::from_millis(nominal) / 2 && p <= Duration::from_millis(nominal), "{p:?}");
        }
        assert!(b.at_max());
        b.reset();
        assert!(!b.at_max());
        assert!(b.next_pause() <= Duration::from_millis(10));
    }
}
