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

/// SIGINT and SIGTERM, listened for from the moment [`Signals::install`] returns: install them
/// before announcing readiness, or an early signal takes the default action and kills the
/// process without a drain.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signals")
    }
}

impl Signals {
    /// Starts listening. Needs a tokio runtime.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Resolves on the next signal, with its name.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => "SIGTERM",
                _ = self.int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "ctrl-c"
        }
    }

    /// Resolves on the first signal, and arranges for a second one to exit the process at once
    /// (status 130).
    pub async fn first(mut self) -> &'static str {
        let name = self.recv().await;
        tokio::spawn(async move {
            let second = self.recv().await;
            tracing::warn!(signal = second, "second signal: exiting now");
            std::process::exit(130);
        });
        name
    }
}
