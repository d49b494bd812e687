//! Accepts client connections and spawns one task per connection.
//!
//! The connection cap is a semaphore acquired *before* `accept`: at the cap we stop accepting and
//! new clients wait in the kernel's backlog instead of costing us memory. Accept errors (e.g. out
//! of file descriptors) back off exponentially rather than spin.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::ListenerConfig;
use crate::connection::Connection;
use crate::metrics::HOT;
use crate::registry::Registry;
use crate::router::Router;
use crate::shutdown::Shutdown;

/// A bound listener with everything its connections need.
pub struct Listener<S> {
    tcp: TcpListener,
    router: Arc<Router<S>>,
    state: Arc<S>,
    cfg: Arc<ListenerConfig>,
    registry: Registry,
    shutdown: Shutdown,
}

impl<S: Send + Sync + 'static> Listener<S> {
    /// Binds `cfg.listen` (port 0 picks a free port; see [`Listener::local_addr`]).
    pub async fn bind(
        cfg: ListenerConfig,
        router: Router<S>,
        state: Arc<S>,
        registry: Registry,
        shutdown: Shutdown,
    ) -> std::io::Result<Self> {
        let tcp = TcpListener::bind(cfg.listen).await?;
        Ok(Listener { tcp, router: Arc::new(router), state, cfg: Arc::new(cfg), registry, shutdown })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Accepts connections until shutdown, then asks every session to close. Connection tasks are
    /// tracked by the [`Shutdown`], so draining it waits for them.
    pub async fn run(self) {
        let registry = self.registry.clone();
        self.accept_loop().await;
        // No connection is accepted after the loop ends, so every session is in the registry.
        for session in registry.sessions() {
            session.begin_shutdown();
        }
    }

    async fn accept_loop(self) {
        let limit = Arc::new(Semaphore::new(self.cfg.max_connections));
        let limits = self.cfg.queue_limits();
        let token = self.shutdown.token();
        let mut backoff = Duration::from_millis(1);
        loop {
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = token.cancelled() => return,
            };
            let (stream, peer) = tokio::select! {
                r = self.tcp.accept() => match r {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!(error = %e, backoff = ?backoff, "accept failed");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                },
                _ = token.cancelled() => return,
            };
            backoff = Duration::from_millis(1);
            HOT.accepted.increment(1);
            // Small frames are the norm; never wait for Nagle.
            let _ = stream.set_nodelay(true);
            let (session, guard) = self.registry.open(limits);
            session.set_peer_ip(peer.ip());
            let conn = Connection::new(
                stream,
                peer,
                session,
                self.router.clone(),
                self.state.clone(),
                self.cfg.clone(),
                Some((guard, permit)),
            );
            self.shutdown.spawn(conn.run());
        }
    }
}
