//! A TCP proxy a test puts between a server and one of its dependencies (MySQL, Redis), so the
//! dependency can "go down" for that server alone: [`TcpProxy::cut`] closes every connection
//! through it and refuses new ones, [`TcpProxy::restore`] lets them through again. The real
//! service, which other tests share, is never touched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running proxy to one target address. Stops when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    up: AtomicBool,
    /// Cancelled by `cut`: ends every connection opened before it.
    links: Mutex<CancellationToken>,
    stop: CancellationToken,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let inner = Arc::new(Inner {
            up: AtomicBool::new(true),
            links: Mutex::new(CancellationToken::new()),
            stop: CancellationToken::new(),
        });
        tokio::spawn(accept_loop(listener, target, inner.clone()));
        TcpProxy { addr, inner }
    }

    /// Where clients connect instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The dependency goes away: open connections are closed, new ones closed at once.
    pub fn cut(&self) {
        self.inner.up.store(false, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.inner.links.lock());
        old.cancel();
    }

    /// The dependency is back: new connections go through.
    pub fn restore(&self) {
        self.inner.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.inner.stop.cancel();
        self.cut();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, inner: Arc<Inner>) {
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = inner.stop.cancelled() => return,
        };
        let Ok((client, _)) = accepted else { continue };
        if !inner.up.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let cut = inner.links.lock().clone();
        tokio::spawn(link(client, target, cut));
    }
}

async fn link(mut client: TcpStream, target: SocketAddr, cut: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(target).await else { return };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.cancelled() => {}
    }
}
