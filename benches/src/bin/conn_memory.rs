//! The idle-connection memory harness (BENCH.md S1): user memory per idle, handshaken connection
//! held by the gateway, next to a raw tokio idle-connection baseline measured in the same run.
//!
//! Each server runs as a child process, so its RSS is its own and not mixed with the clients':
//!
//! - `gateway`: `target/release/mmo gateway` with a temporary config (metrics off, a cap above the
//!   connection count, its own bus prefix), and a `mmo version` process (database
//!   `mmo_conn_memory`) behind it to answer Hello. Each client completes the handshake (HelloReq -> HelloResp) and then
//!   sends a PingReq every `--ping-interval` seconds, as a real client does, so the gateway's
//!   30 s idle timeout never closes it.
//! - `baseline`: this binary re-invoked as the hidden `baseline-server` subcommand: one task per
//!   accepted connection that waits for readability and reads into a small stack buffer. That is
//!   the least an idle tokio connection can cost (one task, one registered socket); clients
//!   connect and send nothing.
//!
//! For each server: start it, let it settle, read VmRSS ("before"); open `--conns` connections
//! at a bounded rate; let it settle again and read VmRSS ("after"). `(after - before) / conns`
//! is the user memory per connection; kernel socket buffers are not in RSS. With `--hold` longer
//! than `--ping-interval`, RSS is read once more after every gateway connection has handled a
//! heartbeat (per-route rate-limit state appears only then): S1's steady state. Both servers get the
//! same number of tokio workers (`TOKIO_WORKER_THREADS`, since pinning to one core would
//! otherwise give each a single worker) and, when `taskset` exists, run pinned to core 0 while
//! this harness runs on core 1. `--repeat` runs the pair several times and reports the median.
//!
//! File descriptors: this process holds one per client and each server one per connection; the
//! machines allow about 20,000 per process, so `--conns` stays at or below 19,000. The harness
//! checks the soft limit up front; raise it to the hard limit with `ulimit -n "$(ulimit -Hn)"`
//! (as `scripts/bench.sh` does).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use clap::{Parser, Subcommand};
use mmo_benches::Pin;
use mmo_proto::{
    DisconnectNtf, ErrorCode, ErrorResp, HelloReq, HelloResp, PROTOCOL_VERSION, PingReq, Platform,
};
use mmo_wire::{Flags, Frame, FrameCodec, MsgType, Seq};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

/// BENCH.md S1's target for the gateway.
const TARGET_BYTES_PER_CONN: f64 = 2048.0;
/// Connections the file-descriptor budget allows (about 20,000 per process, minus headroom).
const MAX_CONNS: usize = 19_000;
/// Any single step (connect, handshake, server start) that takes longer than this has failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(name = "conn_memory", about = "User memory per idle connection: gateway vs raw tokio baseline")]
#[command(args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Connections to open to each server (at most 19,000: about 20,000 fds per process).
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Times to measure each server; the median is reported.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The `mmo` launcher binary. Default: `mmo` next to this binary (target/release/mmo).
    #[arg(long)]
    mmo: Option<PathBuf>,
    /// Pin servers to core 0 and this harness to core 1 with taskset. `auto`: when taskset exists
    /// and there are at least two cores.
    #[arg(long, value_enum, default_value_t = Pin::Auto)]
    pin: Pin,
    /// Tokio worker threads of both servers (the gateway's default on the 2-core machines).
    #[arg(long, default_value_t = 2)]
    server_workers: usize,
    /// New connections per second at most (S1 asks the gateway to accept >= 5,000/s).
    #[arg(long, default_value_t = 5_000)]
    rate: u32,
    /// Connections being opened (connect + handshake) at once at most: stays under the
    /// listener's accept backlog.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds to wait after the last connection before reading RSS.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Seconds to keep the connections open after the measurement (heartbeats on), then read RSS
    /// again and check none was closed.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Seconds between PingReqs on each gateway connection.
    #[arg(long, default_value_t = 10.0)]
    ping_interval: f64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The raw tokio idle-connection server used as the baseline.
    #[command(hide = true)]
    BaselineServer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Gateway,
    Baseline,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Gateway => "gateway",
            Server::Baseline => "baseline",
        }
    }
}

/// One measurement of one server.
#[derive(Clone, Debug)]
struct Sample {
    conns: usize,
    failed: usize,
    rss_before: u64,
    rss_after: u64,
    /// RSS after `--hold` seconds with heartbeats, when held.
    rss_held: Option<u64>,
    /// Connections the server closed before the end (should be 0).
    closed_by_server: usize,
    connect_secs: f64,
}

impl Sample {
    fn bytes_per_conn(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.conns.max(1) as f64
    }

    /// The same after `--hold`: with `--hold` longer than `--ping-interval`, every gateway
    /// connection has handled a heartbeat, which is S1's steady state.
    fn bytes_per_conn_held(&self) -> Option<f64> {
        self.rss_held.map(|held| (held as f64 - self.rss_before as f64) / self.conns.max(1) as f64)
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "conns": self.conns,
            "failed": self.failed,
            "rss_before": self.rss_before,
            "rss_after": self.rss_after,
            "rss_held": self.rss_held,
            "bytes_per_conn": self.bytes_per_conn(),
            "bytes_per_conn_held": self.bytes_per_conn_held(),
            "closed_by_server": self.closed_by_server,
            "connect_secs": self.connect_secs,
            "conns_per_sec": self.conns as f64 / self.connect_secs.max(f64::EPSILON),
        })
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(Cmd::BaselineServer) = args.cmd {
        return baseline_server();
    }
    if args.conns == 0 || args.conns > MAX_CONNS {
        bail!("--conns must be between 1 and {MAX_CONNS} (about 20,000 fds per process)");
    }
    check_fd_limit(args.conns)?;
    let pin = mmo_benches::pin_self_to_core_1(args.pin)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(harness(args, pin))
}

async fn harness(args: Args, pin: bool) -> anyhow::Result<()> {
    let mmo = match &args.mmo {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("mmo"),
    };
    if !mmo.exists() {
        bail!("{} not found: build it with `cargo build --release -p mmo` or pass --mmo", mmo.display());
    }
    let config = std::env::temp_dir().join(format!("conn_memory-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            "[listener]\nlisten = \"127.0.0.1:0\"\nmax_connections = {}\n\n\
             [bus]\nprefix = \"mmo-conn-memory\"\n\n\
             [mysql]\nurl = \"mysql://root@127.0.0.1:3306/mmo_conn_memory\"\n\n\
             [metrics]\nenabled = false\n\n[log]\nfilter = \"warn\"\n",
            MAX_CONNS + 1_000,
        ),
    )
    .with_context(|| format!("writing {}", config.display()))?;

    println!(
        "conn_memory: {} connections per server, {} repeat(s), servers pinned: {}, {} server workers",
        args.conns,
        args.repeat,
        if pin { "core 0 (harness on core 1)" } else { "no" },
        args.server_workers
    );
    let mut results: Vec<(Server, Vec<Sample>)> = vec![(Server::Gateway, vec![]), (Server::Baseline, vec![])];
    let outcome = async {
        for rep in 0..args.repeat.max(1) {
            // Alternate the order, so a drift of the machine does not always favour one server.
            let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let server = results[i].0;
                let sample = measure(&args, server, &mmo, &config, pin)
                    .await
                    .with_context(|| format!("measuring {} (repeat {})", server.name(), rep + 1))?;
                eprintln!(
                    "  {} repeat {}: {:.0} bytes/conn ({} conns in {:.2}s)",
                    server.name(),
                    rep + 1,
                    sample.bytes_per_conn(),
                    sample.conns,
                    sample.connect_secs
                );
                results[i].1.push(sample);
            }
        }
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&config);
    outcome?;
    report(&args, pin, &results)
}

/// Starts `server`, measures it and stops it.
async fn measure(
    args: &Args,
    server: Server,
    mmo: &Path,
    config: &Path,
    pin: bool,
) -> anyhow::Result<Sample> {
    let (program, server_args): (PathBuf, Vec<String>) = match server {
        Server::Gateway => {
            (mmo.to_path_buf(), vec!["gateway".into(), "--config".into(), config.display().to_string()])
        }
        Server::Baseline => (std::env::current_exe()?, vec!["baseline-server".into()]),
    };
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&program);
        c
    } else {
        Command::new(&program)
    };
    cmd.args(&server_args)
        .env("TOKIO_WORKER_THREADS", args.server_workers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    // The gateway's Hellos are answered by a version server behind the bus, as in production: in
    // its own process (unpinned), so the gateway's RSS is the gateway's alone.
    let _version = match server {
        Server::Gateway => Some(
            Command::new(mmo)
                .args(["version", "--config", &config.display().to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .context("starting the version server")?,
        ),
        Server::Baseline => None,
    };
    let mut child = cmd.spawn().with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().context("server exited at once")?;
    let addr = tokio::time::timeout(STEP_TIMEOUT, listening_addr(&mut child))
        .await
        .context("server did not report its address in time")??;

    // Let start-up allocations (runtime, workers, listener) finish before the "before" reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = vm_rss(pid)?;

    let stop = CancellationToken::new();
    let closed_by_server = Arc::new(AtomicUsize::new(0));
    let (done_tx, mut done_rx) = mpsc::channel::<Result<(), String>>(args.conns);
    let opening = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let ping_every = Duration::from_secs_f64(args.ping_interval.max(0.1));
    let started = Instant::now();
    let mut holders = Vec::with_capacity(args.conns);
    for i in 0..args.conns {
        // Open loop: connection i starts at i / rate, or later if `concurrency` are in flight.
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let permit = opening.clone().acquire_owned().await.context("semaphore closed")?;
        let (done, stop, closed) = (done_tx.clone(), stop.clone(), closed_by_server.clone());
        holders.push(tokio::spawn(async move {
            let opened = tokio::time::timeout(STEP_TIMEOUT, Client::open(addr, server)).await;
            drop(permit);
            let client = match opened {
                Ok(Ok(c)) => {
                    let _ = done.send(Ok(())).await;
                    c
                }
                Ok(Err(e)) => {
                    let _ = done.send(Err(e.to_string())).await;
                    return;
                }
                Err(_) => {
                    let _ = done.send(Err("connect/handshake timed out".into())).await;
                    return;
                }
            };
            drop(done);
            if !client.hold(server, ping_every, &stop).await {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    drop(done_tx);
    let (mut ok, mut failed, mut first_error) = (0, 0, None);
    while let Some(r) = done_rx.recv().await {
        match r {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    if let Some(e) = &first_error {
        eprintln!("  {}: {failed} connection(s) failed, first: {e}", server.name());
    }
    if ok == 0 {
        bail!("no connection could be opened");
    }

    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    if let Some(status) = child.try_wait()? {
        bail!("server exited during the measurement: {status}");
    }
    let rss_after = vm_rss(pid)?;
    let rss_held = if args.hold > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
        Some(vm_rss(pid)?)
    } else {
        None
    };

    // Stop the server first: its sockets close, so ours end without TIME_WAIT on our ports.
    let closed_by_server_count = closed_by_server.load(Ordering::Relaxed);
    child.kill().await.context("stopping the server")?;
    stop.cancel();
    for h in holders {
        let _ = h.await;
    }
    Ok(Sample {
        conns: ok,
        failed,
        rss_before,
        rss_after,
        rss_held,
        closed_by_server: closed_by_server_count,
        connect_secs,
    })
}

/// Reads the server's stdout until its `... listening on ADDR` line, then keeps draining it in
/// the background so the child never blocks on a full pipe.
async fn listening_addr(child: &mut Child) -> anyhow::Result<SocketAddr> {
    let stdout = child.stdout.take().context("server stdout not captured")?;
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some((_, addr)) = line.split_once("listening on ") {
            let addr = addr.trim().parse().with_context(|| format!("parsing address in {line:?}"))?;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(addr);
        }
    }
    bail!("server closed stdout without reporting its address")
}

/// One client connection of the harness.
struct Client {
    stream: TcpStream,
    codec: FrameCodec,
    rbuf: BytesMut,
    next_seq: u32,
}

impl Client {
    /// Connects; to the gateway, also completes the handshake.
    async fn open(addr: SocketAddr, server: Server) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut c = Client { stream, codec: FrameCodec::client(1 << 20), rbuf: BytesMut::new(), next_seq: 1 };
        if server == Server::Gateway {
            let hello = HelloReq {
                protocol_version: PROTOCOL_VERSION,
                client_version: "1.0.0+conn-memory".into(),
                platform: Platform::Linux as i32,
            };
            // As a client should: UNAVAILABLE (the gateway does not know the version server's
            // route yet, right after it started) is retried after its hint, a few times.
            let mut tries = 0;
            loop {
                let frame = c.request(&hello).await?;
                if frame.header.id == HelloResp::ID {
                    break;
                }
                let retry = (frame.header.id == ErrorResp::ID)
                    .then(|| frame.decode_body::<ErrorResp>().ok())
                    .flatten()
                    .filter(|e| e.code() == ErrorCode::Unavailable && tries < 10);
                let Some(e) = retry else {
                    bail!("expected HelloResp, got message id {}", frame.header.id);
                };
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(e.retry_after_ms.max(50))).await;
            }
        }
        // Nothing stays allocated on our side while idle either.
        c.rbuf = BytesMut::new();
        Ok(c)
    }

    async fn request<M: MsgType>(&mut self, msg: &M) -> anyhow::Result<Frame> {
        let seq = Seq(self.next_seq);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stream.write_all(&msg.to_frame_bytes(seq, Flags::NONE)).await?;
        self.recv().await
    }

    async fn recv(&mut self) -> anyhow::Result<Frame> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.rbuf)? {
                return Ok(frame);
            }
            self.rbuf.reserve(256);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                bail!("server closed the connection");
            }
        }
    }

    /// Holds the connection until `stop`; pings the gateway every `every`. Returns false if the
    /// server closed it first.
    async fn hold(mut self, server: Server, every: Duration, stop: &CancellationToken) -> bool {
        let mut next_ping = tokio::time::Instant::now() + every;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return true,
                _ = tokio::time::sleep_until(next_ping), if server == Server::Gateway => {
                    next_ping += every;
                    let ping = PingReq { client_time_ms: 0 };
                    match tokio::time::timeout(STEP_TIMEOUT, self.request(&ping)).await {
                        Ok(Ok(f)) if f.header.id != DisconnectNtf::ID => self.rbuf = BytesMut::new(),
                        _ => return false,
                    }
                }
                // Anything unasked for from an idle server is its goodbye (or end of stream).
                _ = self.stream.readable() => {
                    let mut buf = [0u8; 64];
                    match self.stream.try_read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        _ => return false,
                    }
                }
            }
        }
    }
}

/// The baseline: the least an idle tokio connection costs. One task per connection awaiting
/// readability and reading into a small stack buffer; nothing else.
fn baseline_server() -> anyhow::Result<()> {
    // `TOKIO_WORKER_THREADS`, set by the harness, picks the worker count, as for the gateway.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of fds, typically: back off rather than spin.
                    eprintln!("baseline-server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    if stream.readable().await.is_err() {
                        return;
                    }
                    match stream.try_read(&mut buf) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            });
        }
    })
}

/// VmRSS of a process, in bytes.
fn vm_rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS in /proc status")?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("parsing {line:?}"))?;
    Ok(kb * 1024)
}

/// Fails early, with the fix, when the soft fd limit cannot hold the clients.
fn check_fd_limit(conns: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|s| s.parse::<usize>().ok());
    // Headroom for the runtime, stdio, the child's pipes and /proc reads.
    let need = conns + 64;
    if let Some(soft) = soft
        && soft < need
    {
        bail!(
            "the soft fd limit is {soft}, {need} are needed for {conns} connections: \
             run `ulimit -n \"$(ulimit -Hn)\"` first (the servers inherit it), or lower --conns"
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Medians of one server's samples: bytes per connection after settling, and after `--hold`.
struct Medians {
    after: f64,
    held: Option<f64>,
}

impl Medians {
    fn of(samples: &[Sample]) -> Medians {
        let held: Vec<f64> = samples.iter().filter_map(Sample::bytes_per_conn_held).collect();
        Medians {
            after: median(samples.iter().map(Sample::bytes_per_conn).collect()),
            held: if held.is_empty() { None } else { Some(median(held)) },
        }
    }
}

fn report(args: &Args, pin: bool, results: &[(Server, Vec<Sample>)]) -> anyhow::Result<()> {
    let row = |cells: [String; 9]| {
        println!(
            "{:<9} {:>6} {:>7} {:>12} {:>12} {:>14} {:>12} {:>14} {:>9}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]
        )
    };
    let num = |v: f64| format!("{v:.0}");
    let opt = |v: Option<f64>| v.map_or("-".to_string(), num);
    println!();
    row([
        "server",
        "repeat",
        "conns",
        "rss_before",
        "rss_after",
        "bytes_per_conn",
        "rss_held",
        "held_per_conn",
        "conns/s",
    ]
    .map(String::from));
    let mut medians = Vec::new();
    for (server, samples) in results {
        for (i, s) in samples.iter().enumerate() {
            row([
                server.name().into(),
                (i + 1).to_string(),
                s.conns.to_string(),
                s.rss_before.to_string(),
                s.rss_after.to_string(),
                num(s.bytes_per_conn()),
                opt(s.rss_held.map(|r| r as f64)),
                opt(s.bytes_per_conn_held()),
                num(s.conns as f64 / s.connect_secs.max(f64::EPSILON)),
            ]);
            if s.closed_by_server > 0 || s.failed > 0 {
                println!(
                    "          ! {} failed to open, {} closed by the server",
                    s.failed, s.closed_by_server
                );
            }
        }
        let m = Medians::of(samples);
        let blank = String::new;
        row([
            server.name().into(),
            "median".into(),
            blank(),
            blank(),
            blank(),
            num(m.after),
            blank(),
            opt(m.held),
            blank(),
        ]);
        medians.push((*server, m));
    }
    let of = |s: Server| medians.iter().find(|(m, _)| *m == s).map(|(_, m)| m);
    let (Some(gateway), Some(baseline)) = (of(Server::Gateway), of(Server::Baseline)) else {
        bail!("a server has no measurement");
    };
    let ratio = gateway.after / baseline.after;
    let verdict = |v: f64| if v <= TARGET_BYTES_PER_CONN { "met" } else { "NOT met" };
    println!();
    println!(
        "gateway {:.0} B/conn, baseline {:.0} B/conn, ratio gateway/baseline {ratio:.2}; \
         target <= {TARGET_BYTES_PER_CONN:.0} B/conn: {}",
        gateway.after,
        baseline.after,
        verdict(gateway.after)
    );
    let held_ratio = gateway.held.zip(baseline.held).map(|(g, b)| g / b);
    if let (Some(g), Some(b), Some(r)) = (gateway.held, baseline.held, held_ratio) {
        println!(
            "after holding {}s (gateway heartbeats every {}s): gateway {g:.0} B/conn, baseline {b:.0} B/conn, \
             ratio {r:.2}; target: {}",
            args.hold,
            args.ping_interval,
            verdict(g)
        );
    }

    if let Some(path) = &args.json {
        let servers: serde_json::Map<String, serde_json::Value> = medians
            .iter()
            .zip(results)
            .map(|((server, m), (_, samples))| {
                let v = json!({
                    "samples": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
                    "median_bytes_per_conn": m.after,
                    "median_bytes_per_conn_held": m.held,
                });
                (server.name().to_string(), v)
            })
            .collect();
        let doc = json!({
            "scenario": "S1 idle connections: user memory per connection",
            "conns": args.conns,
            "repeat": args.repeat,
            "pinned": pin,
            "server_workers": args.server_workers,
            "hold_secs": args.hold,
            "ping_interval_secs": args.ping_interval,
            "servers": servers,
            "ratio_gateway_over_baseline": ratio,
            "ratio_gateway_over_baseline_held": held_ratio,
            "target_bytes_per_conn": TARGET_BYTES_PER_CONN,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
