//! Test support: start a router on `127.0.0.1:0` in-process, and talk to it with a typed client
//! that also knows how to misbehave (raw bytes, half frames, not reading).

mod client;
pub mod mysql;
pub mod player;
pub mod proxy;
pub mod redis;

pub use client::{ClientError, TestClient};
pub use player::Player;

use std::net::SocketAddr;
use std::sync::Arc;

use mmo_core::{Listener, ListenerConfig, Registry, Router, Shutdown};

/// A free TCP port on loopback (for a child process to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// The text of a Prometheus endpoint on `127.0.0.1:port` (empty if it does not answer yet).
pub fn scrape_metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return String::new() };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// A listener running in the current runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub registry: Registry,
    pub shutdown: Shutdown,
}

impl TestServer {
    /// Serves `router` with `state` on a free loopback port with the given limits.
    pub async fn start<S: Send + Sync + 'static>(
        cfg: ListenerConfig,
        router: Router<S>,
        state: Arc<S>,
    ) -> TestServer {
        Self::serve(cfg, router, state, Registry::new(), Shutdown::new()).await
    }

    /// Serves `router` like a gateway: messages it does not handle are forwarded over `bus` to
    /// the servers that declared them, and answers come back through this node's inbox.
    pub async fn start_gateway<S: Send + Sync + 'static>(
        cfg: ListenerConfig,
        router: Router<S>,
        state: Arc<S>,
        bus: &mmo_core::bus::Bus,
    ) -> TestServer {
        let (registry, shutdown) = (Registry::new(), Shutdown::new());
        let forwarder =
            mmo_core::bus::relay::start(bus, registry.clone(), &shutdown).await.expect("start the relay");
        Self::serve(cfg, router.forward_unknown(forwarder), state, registry, shutdown).await
    }

    async fn serve<S: Send + Sync + 'static>(
        mut cfg: ListenerConfig,
        router: Router<S>,
        state: Arc<S>,
        registry: Registry,
        shutdown: Shutdown,
    ) -> TestServer {
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = Listener::bind(cfg, router, state, registry.clone(), shutdown.clone())
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(listener.run());
        TestServer { addr, registry, shutdown }
    }

    pub async fn client(&self) -> TestClient {
        TestClient::connect(self.addr).await.expect("connect")
    }
}
