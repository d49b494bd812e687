//! Retention (`[eventlog] retention`, 0 keeps events forever): every `cleanup_interval`,
//! events older than `retention` are deleted `cleanup_batch` rows at a time until none are
//! left, so no statement holds locks for long.

use mmo_core::Shutdown;
use mmo_core::clock::now_ms;
use mmo_core::store::{Store, StoreError};

use crate::{EventlogConfig, rows};

/// Deletes every event older than `retention` (if it is not 0), in batches; returns how many.
pub async fn clean(store: &Store, cfg: &EventlogConfig) -> Result<u64, StoreError> {
    if cfg.retention.is_zero() {
        return Ok(0);
    }
    let before = now_ms().saturating_sub(cfg.retention.as_millis() as u64);
    let mut total = 0;
    loop {
        let n = rows::delete_older(store, before, cfg.cleanup_batch).await?;
        total += n;
        if n < u64::from(cfg.cleanup_batch) {
            return Ok(total);
        }
    }
}

/// Runs [`clean`] every `cleanup_interval` until shutdown (nothing if retention is 0).
pub fn start(store: Store, cfg: EventlogConfig, shutdown: &Shutdown) {
    if cfg.retention.is_zero() {
        return;
    }
    let token = shutdown.token();
    shutdown.spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(cfg.cleanup_interval) => {}
                _ = token.cancelled() => return,
            }
            match clean(&store, &cfg).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "events past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "event retention failed; tried again later"),
            }
        }
    });
}
