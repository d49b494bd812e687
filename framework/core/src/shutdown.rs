//! Graceful shutdown. One [`Shutdown`] per process: a cancellation token that every long-running
//! task watches, and a tracker of the tasks to wait for. On the first SIGINT/SIGTERM the listener
//! stops accepting, every connection gets a `DisconnectNtf(SHUTTING_DOWN)` after its in-flight
//! handler finishes, and the process waits up to the grace period for tasks to end. A second
//! signal exits at once.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown").field("triggered", &self.is_triggered()).finish()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The token tasks watch: cancelled when shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Begins shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Spawns a task that shutdown waits for.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(fut)
    }

    /// Triggers shutdown and waits up to `grace` for tracked tasks. Returns true if all ended.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.trigger();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }

    /// Number of tracked tasks still running.
    pub fn tasks(&self) -> usize {
        self.tracker.len()
    }
}

/// Resolves on the first SIGINT or SIGTERM, and arranges for a second one to exit the process
/// at once (status 130).
pub async fn signal() -> std::io::Result<&'static str> {
    let name = wait_signal().await?;
    tokio::spawn(async {
        if let Ok(second) = wait_signal().await {
            tracing::warn!(signal = second, "second signal: exiting now");
            std::process::exit(130);
        }
    });
    Ok(name)
}

#[cfg(unix)]
async fn wait_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

#[cfg(not(unix))]
async fn wait_signal() -> std::io::Result<&'static str> {
    tokio::signal::ctrl_c().await?;
    Ok("ctrl-c")
}
