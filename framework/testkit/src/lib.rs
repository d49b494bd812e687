//! Test support: start a router on `127.0.0.1:0` in-process, and talk to it with a typed client
//! that also knows how to misbehave (raw bytes, half frames, not reading).

mod client;
pub mod mysql;
pub mod redis;

pub use client::{ClientError, TestClient};

use std::net::SocketAddr;
use std::sync::Arc;

use mmo_core::{Listener, ListenerConfig, Registry, Router, Shutdown};

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
