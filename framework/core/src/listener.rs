//! Accepts client connections and spawns one task per connection.
//!
//! The connection cap is a semaphore. A client accepted while every permit is taken is told so
//! at once, `DisconnectNtf(SERVER_FULL)` with a retry hint, rather than left hanging in the
//! kernel's backlog until its own connect timeout: a client can tell "full, come back in a
//! second" from "down". Answering costs a file descriptor for at most `close_timeout`, and at
//! most `max_refusing` of them at once; past that, over-cap connections are closed at once.
//! The listen backlog is configured (`listen_backlog`) so a burst of connects waits for `accept`
//! instead of being dropped by the kernel. Accept errors (e.g. out of file descriptors) back off
//! exponentially rather than spin.
//!
//! Client sockets get a small kernel send buffer (`send_buffer`, inherited from the listening
//! socket): frames a slow client has not read then stay in its session queue, where droppable
//! pushes coalesce, instead of megabytes of stale ones sitting in the kernel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mmo_proto::{DisconnectNtf, ErrorCode};
use mmo_wire::{Flags, MsgType, Seq};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;

use crate::backoff::Backoff;
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
        let socket = if cfg.listen.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        if cfg.send_buffer.as_u64() > 0 {
            // Accepted sockets inherit it (and lose send-buffer autotuning, on purpose).
            socket.set_send_buffer_size(u32::try_from(cfg.send_buffer.as_u64()).unwrap_or(u32::MAX))?;
        }
        socket.bind(cfg.listen)?;
        let tcp = socket.listen(cfg.listen_backlog)?;
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
        let refusing = Arc::new(Semaphore::new(self.cfg.max_refusing));
        let limits = self.cfg.session_limits();
        let token = self.shutdown.token();
        let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_secs(1));
        loop {
            let (stream, peer) = tokio::select! {
                r = self.tcp.accept() => match r {
                    Ok(conn) => conn,
                    Err(e) => {
                        let pause = backoff.next_pause();
                        tracing::warn!(error = %e, backoff = ?pause, "accept failed");
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                },
                _ = token.cancelled() => return,
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                HOT.refused_full.increment(1);
                if let Ok(slot) = refusing.clone().try_acquire_owned() {
                    let (hint, linger) = (self.cfg.retry_hint, self.cfg.close_timeout);
                    tokio::spawn(async move {
                        refuse_full(stream, hint, linger).await;
                        drop(slot);
                    });
                }
                continue;
            };
            backoff.reset();
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

/// Tells an over-cap client the gateway is full, then closes: a half-close after the notice, and
/// the client's input read and discarded until it closes or `linger` passes, so the notice is
/// not lost to a reset.
async fn refuse_full(mut stream: TcpStream, retry_hint: Duration, linger: Duration) {
    let ntf = DisconnectNtf {
        reason: ErrorCode::ServerFull.code(),
        detail: "server full".into(),
        retry_after_ms: crate::error::retry_after_ms(Some(retry_hint)),
    };
    let _ = tokio::time::timeout(linger, async {
        stream.write_all(&ntf.to_frame_bytes(Seq(0), Flags::PUSH)).await?;
        stream.shutdown().await?;
        tokio::io::copy(&mut stream, &mut tokio::io::sink()).await
    })
    .await;
}
