//! Running a transaction again after a conflict: deadlock (1213), lock wait timeout (1205) and
//! snapshot-isolation conflict (1020). These errors mean the server rolled the work back and
//! another try will probably succeed; every other error is returned at once, because repeating
//! a statement that failed for any other reason (a bug, a lost connection after a commit was
//! sent) is either useless or unsafe.

use std::future::Future;
use std::time::Duration;

use super::{STORE_RETRIES, StoreError};

/// How many times to try and how long to pause in between. Built from
/// [`MysqlConfig::retry_policy`](super::MysqlConfig::retry_policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub attempts: u32,
    /// Nominal pause before the first retry; it doubles for each further one.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { attempts: 5, backoff: Duration::from_millis(20) }
    }
}

impl RetryPolicy {
    /// Decides what follows failed attempt number `attempt` (1-based): `Some(pause)` to retry
    /// after the pause, `None` to give up. Counts the retry in [`STORE_RETRIES`].
    pub(crate) fn after_failure(&self, attempt: u32, err: &StoreError) -> Option<Duration> {
        if !err.is_retryable() || attempt >= self.attempts {
            return None;
        }
        let code = match err.server_code() {
            Some(super::ER_LOCK_DEADLOCK) => "1213",
            Some(super::ER_LOCK_WAIT_TIMEOUT) => "1205",
            _ => "1020",
        };
        metrics::counter!(STORE_RETRIES, "code" => code).increment(1);
        tracing::debug!(attempt, code, "store: conflict, retrying");
        Some(self.pause(attempt))
    }

    /// The pause after failed attempt `attempt`: `backoff * 2^(attempt-1)`, drawn uniformly
    /// from its upper half. Jitter matters: two transactions that deadlocked each other and
    /// retried after the same pause would meet again.
    pub fn pause(&self, attempt: u32) -> Duration {
        let nominal = self.backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        crate::backoff::jittered(nominal)
    }
}

/// Runs `f` until it succeeds, fails with an error that is not a conflict, or has been tried
/// `policy.attempts` times. `f` must redo the whole unit of work each time: start its own
/// transaction, read, write, commit. [`Store::in_tx`](super::Store::in_tx) is that loop with
/// the transaction handled for you; use `retry` directly when the work is not one transaction
/// on the store's pool.
///
/// ```no_run
/// # use mmo_core::store::{retry, Store, StoreError};
/// # async fn demo(store: &Store) -> Result<(), StoreError> {
/// use mysql_async::{TxOpts, prelude::Queryable};
/// retry(store.retry_policy(), || async {
///     let mut tx = store.pool().start_transaction(TxOpts::default()).await?;
///     tx.exec_drop("UPDATE wallets SET gold = gold - 10 WHERE player = ?", (7,)).await?;
///     tx.commit().await?;
///     Ok(())
/// })
/// .await
/// # }
/// ```
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, mut f: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) => match policy.after_failure(attempt, &e) {
                Some(pause) => {
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                None => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_within_jitter() {
        let p = RetryPolicy { attempts: 5, backoff: Duration::from_millis(20) };
        for attempt in 1..=4u32 {
            let nominal = Duration::from_millis(20 * (1 << (attempt - 1)));
            for _ in 0..100 {
                let d = p.pause(attempt);
                assert!(d >= nominal / 2 && d <= nominal, "attempt {attempt}: {d:?}");
            }
        }
        // A silly attempt number saturates instead of overflowing.
        let _ = p.pause(u32::MAX);
    }

    #[tokio::test(start_paused = true)]
    async fn only_conflicts_are_retried() {
        let p = RetryPolicy { attempts: 3, backoff: Duration::from_millis(10) };
        let deadlock = || {
            StoreError::Mysql(mysql_async::Error::Server(mysql_async::ServerError {
                code: 1213,
                message: "Deadlock found".into(),
                state: "40001".into(),
            }))
        };
        let mut calls = 0;
        let r: Result<(), _> = retry(&p, || {
            calls += 1;
            let e = deadlock();
            async move { Err(e) }
        })
        .await;
        assert_eq!(r.err().and_then(|e| e.server_code()), Some(1213));
        assert_eq!(calls, 3, "bounded by attempts");

        let mut calls = 0;
        let r: Result<(), _> = retry(&p, || {
            calls += 1;
            async { Err(StoreError::Timeout(Duration::from_secs(1))) }
        })
        .await;
        assert!(matches!(r, Err(StoreError::Timeout(_))));
        assert_eq!(calls, 1, "a timeout is not a conflict");
    }
}
