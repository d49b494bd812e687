//! Chat fan-out (BENCH.md S5: >= 0.5x redis PUBLISH deliveries/s at the same fan-out, p99 <=
//! 20 ms), each fan-out next to a baseline measured in the same run against the same Redis
//! (`MMO_REDIS_URL`, default `redis://127.0.0.1:6379`).
//!
//! - `chat`: in this process, the version, account and chat servers and two gateways on one bus (a unique
//!   key prefix, every key deleted at the end) and a fresh MySQL database (`MMO_MYSQL_URL`,
//!   dropped at the end). N members log in (device logins), half on each gateway, and join one
//!   custom channel; senders among them send ChatSendReq to it on a fixed schedule (open loop),
//!   and every member counts the ChatMessageNtfs it gets. The sender gets no copy of its own
//!   message, so each message has N - 1 receivers.
//! - `publish`: redis PUBLISH to one channel with N - 1 subscriber connections (the redis crate's
//!   pub/sub), the same number of senders (one connection each), message rate and size.
//!
//! Each message's text holds its sender, its sequence number and its scheduled send time, so a
//! receiver can tell duplicates and the latency from the schedule (not from the write: a slow
//! sender shows as latency). Deliveries/s counts unique deliveries received inside the window;
//! lost ones are those of acknowledged messages (ChatSendResp, or PUBLISH's reply) that some
//! receiver never got by the end of the drain.
//!
//! The chat server allows a player 5 messages a second and the gateway 20 ChatSendReq a second
//! per session: the bench raises the chat server's own limit and spreads the rate over enough
//! senders to stay under the gateway's (`--per-sender`).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use mmo_proto::login_req::Credential;
use mmo_proto::{
    ChannelKind, ChannelRef, DeviceCredential, ErrorResp, HelloReq, HelloResp, LoginReq, LoginResp,
    PROTOCOL_VERSION, Platform,
};
use mmo_wire::{Flags, FrameCodec, MsgType, Seq};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;

#[derive(Parser, Debug)]
struct Args {
    /// Channel sizes (members), one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    members: Vec<usize>,
    /// Messages per second sent to the channel, one per channel size (the last repeats).
    #[arg(long, value_delimiter = ',', default_values_t = [500.0, 60.0])]
    rate: Vec<f64>,
    /// Messages per second per sender; senders = rate / this, rounded up. The gateway allows a
    /// session 20 ChatSendReq a second.
    #[arg(long, default_value_t = 10.0)]
    per_sender: f64,
    /// Measured window per run, after the warm-up.
    #[arg(long, default_value = "4s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Sending before the window (not counted).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// After the window, how long deliveries are still awaited before the missing count as lost.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// Bytes of text per message (at least 40; the chat server allows 256 characters).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Logins (and joins) in flight at once while setting up.
    #[arg(long, default_value_t = 64)]
    login_concurrency: usize,
    /// Write the figures here as JSON too.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// What a run measures against: when sending starts, and the window.
struct Plan {
    base: Instant,
    window_start_us: u64,
    window_end_us: u64,
    receivers: u64,
}

impl Plan {
    /// Sending starts [`T0_US`] from now; the window after the warm-up.
    fn new(args: &Args, members: usize) -> Plan {
        let window_start_us = T0_US + args.warmup.as_micros() as u64;
        Plan {
            base: Instant::now(),
            window_start_us,
            window_end_us: window_start_us + args.duration.as_micros() as u64,
            receivers: members as u64 - 1,
        }
    }

    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }
}

/// The text of message `seq` of `sender` scheduled at `at_us`: `m12.34.5678901.` padded with
/// `x` (`w` instead of `m` in the warm-up).
fn payload(measured: bool, sender: u32, seq: u32, at_us: u64, size: usize) -> String {
    let mut s = format!("{}{sender}.{seq}.{at_us}.", if measured { 'm' } else { 'w' });
    while s.len() < size {
        s.push('x');
    }
    s
}

/// `(measured, key, scheduled µs)` of a text made by [`payload`].
fn parse(text: &[u8]) -> Option<(bool, u64, u64)> {
    let text = std::str::from_utf8(text).ok()?;
    let measured = match text.as_bytes().first()? {
        b'm' => true,
        b'w' => false,
        _ => return None,
    };
    let mut parts = text[1..].split('.');
    let sender: u32 = parts.next()?.parse().ok()?;
    let seq: u32 = parts.next()?.parse().ok()?;
    let at: u64 = parts.next()?.parse().ok()?;
    Some((measured, key(sender, seq), at))
}

fn key(sender: u32, seq: u32) -> u64 {
    (u64::from(sender) << 32) | u64::from(seq)
}

/// What one receiver (or sender) counted.
struct Counts {
    /// Unique measured deliveries, and those received inside the window.
    deliveries: u64,
    in_window: u64,
    duplicated: u64,
    seen: HashSet<u64>,
    latency_us: Histogram<u64>,
    /// Measured messages this sender had acknowledged.
    acked: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

impl Counts {
    fn new() -> Counts {
        Counts {
            deliveries: 0,
            in_window: 0,
            duplicated: 0,
            seen: HashSet::new(),
            latency_us: Histogram::new(3).expect("3 significant figures"),
            acked: Vec::new(),
            errors: BTreeMap::new(),
        }
    }

    fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    fn delivered(&mut self, text: &[u8], plan: &Plan, progress: &AtomicU64) {
        let now = plan.now_us();
        let Some((measured, k, at)) = parse(text) else {
            self.error("foreign_text");
            return;
        };
        if !measured {
            return;
        }
        if !self.seen.insert(k) {
            self.duplicated += 1;
            return;
        }
        self.deliveries += 1;
        progress.fetch_add(1, Ordering::Relaxed);
        if h_record(&mut self.latency_us, now.saturating_sub(at)).is_err() {
            self.error("latency_out_of_range");
        }
        if (plan.window_start_us..=plan.window_end_us).contains(&now) {
            self.in_window += 1;
        }
    }
}

fn h_record(h: &mut Histogram<u64>, v: u64) -> Result<(), hdrhistogram::RecordError> {
    h.record(v.max(1))
}

/// A run's figures.
#[derive(Debug, serde::Serialize)]
struct Figures {
    receivers_per_message: u64,
    senders: usize,
    messages_per_s: f64,
    /// What the schedule offers: messages/s times receivers per message.
    offered_deliveries_per_s: f64,
    sent: u64,
    acked: u64,
    deliveries: u64,
    deliveries_per_s: f64,
    expected: u64,
    lost: u64,
    duplicated: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: BTreeMap<String, u64>,
}

/// Merges every counter of a run into its figures.
fn figures(plan: &Plan, senders: usize, rate: f64, sent: u64, all: Vec<Counts>, owners: &[u32]) -> Figures {
    let mut acked: HashSet<u64> = HashSet::new();
    let mut latency = Histogram::<u64>::new(3).expect("3 significant figures");
    let (mut deliveries, mut in_window, mut duplicated) = (0, 0, 0);
    let mut errors = BTreeMap::new();
    for c in &all {
        acked.extend(c.acked.iter().copied());
        let _ = latency.add(&c.latency_us);
        deliveries += c.deliveries;
        in_window += c.in_window;
        duplicated += c.duplicated;
        for (k, n) in &c.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    // Received by each receiver, of the acknowledged messages not its own.
    let mut received = 0u64;
    for (c, owner) in all.iter().zip(owners) {
        received +=
            c.seen.iter().filter(|k| acked.contains(k) && (**k >> 32) as u32 != *owner).count() as u64;
    }
    let expected = acked.len() as u64 * plan.receivers;
    let window_s = (plan.window_end_us - plan.window_start_us) as f64 / 1e6;
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Figures {
        receivers_per_message: plan.receivers,
        senders,
        messages_per_s: rate,
        offered_deliveries_per_s: rate * plan.receivers as f64,
        sent,
        acked: acked.len() as u64,
        deliveries,
        deliveries_per_s: in_window as f64 / window_s,
        expected,
        lost: expected.saturating_sub(received),
        duplicated,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: latency.max() as f64 / 1000.0,
        errors,
    }
}

/// Sender `k` of `senders`'s schedule: its `j`th message at `t0 + k / rate + j * senders /
/// rate`, until the window ends.
struct Slots {
    /// `k`, the sender's number in the texts.
    sender: u32,
    first_us: f64,
    period_us: f64,
    j: u32,
}

/// When sending starts, after the run's plan is made.
const T0_US: u64 = 200_000;

impl Slots {
    fn new(k: usize, senders: usize, rate: f64) -> Slots {
        Slots {
            sender: k as u32,
            first_us: T0_US as f64 + k as f64 * 1e6 / rate,
            period_us: senders as f64 * 1e6 / rate,
            j: 0,
        }
    }

    /// The next message's number and scheduled time (µs after the plan's base), if it falls
    /// before the window's end.
    fn peek(&self, plan: &Plan) -> Option<(u32, u64)> {
        let at = (self.first_us + f64::from(self.j) * self.period_us) as u64;
        (at < plan.window_end_us).then_some((self.j, at))
    }

    fn advance(&mut self) {
        self.j += 1;
    }
}

/// Waits until every measured message is acknowledged and every delivery of them is in, or the
/// drain ends. (Counting on acknowledgements alone would stop early: deliveries of a message
/// can come in before its acknowledgement, and stand in for those of older ones still on the
/// way.)
async fn drain(plan: &Plan, progress: &AtomicU64, sent: &AtomicU64, acked: &AtomicU64, drain: Duration) {
    sleep_until(plan.base + Duration::from_micros(plan.window_end_us)).await;
    let deadline = Instant::now() + drain;
    let done = || {
        let sent = sent.load(Ordering::Relaxed);
        acked.load(Ordering::Relaxed) >= sent && progress.load(Ordering::Relaxed) >= sent * plan.receivers
    };
    while Instant::now() < deadline && !done() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

mod chat;
mod publish;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(!args.members.is_empty() && !args.rate.is_empty(), "--members and --rate need a value");
    ensure!(args.members.iter().all(|n| *n >= 2), "a channel needs at least 2 members");
    ensure!(args.rate.iter().all(|r| r.is_finite() && *r > 0.0), "--rate must be over 0");
    ensure!(args.per_sender > 0.0 && args.per_sender <= 20.0, "--per-sender must be in (0, 20]");
    ensure!((40..=256).contains(&args.size), "--size must be 40 to 256");
    let url = std::env::var("MMO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let cluster = chat::Cluster::start(&url).await?;
    let mut rows = Vec::new();
    let mut result = Ok(());
    for (i, &n) in args.members.iter().enumerate() {
        let rate = *args.rate.get(i).or(args.rate.last()).context("a rate")?;
        let senders = ((rate / args.per_sender).ceil() as usize).clamp(1, n);
        if rate / senders as f64 > 20.0 {
            eprintln!(
                "warning: {rate}/s over {senders} senders is over the gateway's 20 ChatSendReq/s per session"
            );
        }
        println!(
            "S5 chat fan-out: {n} members ({} receivers per message), {rate}/s from {senders} senders \
             ({:.1}/s each), {} B, {:?} warm-up + {:?} window",
            n - 1,
            rate / senders as f64,
            args.size,
            args.warmup,
            args.duration
        );
        let c = match chat::run(&cluster, &args, n, rate, senders).await {
            Ok(c) => c,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let p = match publish::run(&url, &args, n, rate, senders).await {
            Ok(p) => p,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let ratio = c.deliveries_per_s / p.deliveries_per_s.max(1e-9);
        for (name, f) in [("chat", &c), ("PUBLISH", &p)] {
            println!(
                "  {name:<8} {:>10.0} deliveries/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  \
                 ({} of {} messages acked, {} deliveries, lost {}, duplicated {}{})",
                f.deliveries_per_s,
                f.p50_ms,
                f.p99_ms,
                f.max_ms,
                f.acked,
                f.sent,
                f.deliveries,
                f.lost,
                f.duplicated,
                if f.errors.is_empty() { String::new() } else { format!(", errors {:?}", f.errors) }
            );
        }
        let failed = c.lost > 0 || c.duplicated > 0 || !c.errors.is_empty() || c.acked < c.sent;
        let verdict = if failed {
            "NOT met (failures above)"
        } else if ratio >= 0.5 && c.p99_ms <= 20.0 {
            "met"
        } else {
            "NOT met"
        };
        println!(
            "  ratio chat/PUBLISH deliveries/s {ratio:.2}x; p99 {:.2} ms  [S5 target >= 0.5x, p99 <= 20 ms: {verdict}]",
            c.p99_ms
        );
        let kept_up = |f: &Figures| f.deliveries_per_s >= 0.95 * f.offered_deliveries_per_s;
        if kept_up(&c) && kept_up(&p) {
            println!(
                "  (both carried the offered {:.0} deliveries/s: the ratio is at this load, not at either's \
                 limit; a higher --rate finds the limit)",
                c.offered_deliveries_per_s
            );
        }
        rows.push(json!({"members": n, "chat": c, "publish": p, "ratio": ratio, "verdict": verdict}));
    }
    println!(
        "  (chat server's per-player rate limit raised to {}/s for the bench, default 5/s; senders stay \
         under the gateway's 20 ChatSendReq/s per session)",
        chat::BENCH_RATE_PER_SEC
    );
    if let Some(path) = &args.json {
        let out = json!({
            "rows": rows,
            "duration_s": args.duration.as_secs_f64(),
            "warmup_s": args.warmup.as_secs_f64(),
            "size": args.size,
            "per_sender": args.per_sender,
            "chat_rate_per_sec": chat::BENCH_RATE_PER_SEC,
        });
        std::fs::write(path, out.to_string())?;
    }
    cluster.stop(&url).await?;
    result
}

/// A connection of a logged-in member: frames in, bytes out.
struct Member {
    reader: FramedRead<OwnedReadHalf, FrameCodec>,
    writer: OwnedWriteHalf,
    seq: u32,
}

impl Member {
    async fn log_in(addr: SocketAddr, device_id: String) -> anyhow::Result<Member> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut m = Member { reader: FramedRead::new(r, FrameCodec::client(1 << 20)), writer: w, seq: 0 };
        let hello = HelloReq {
            protocol_version: PROTOCOL_VERSION,
            client_version: "1.0.0".into(),
            platform: Platform::Linux as i32,
        };
        let _: HelloResp = m.call(&hello).await?;
        let login = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
        let resp: LoginResp = m.call(&login).await?;
        resp.session.context("LoginResp without a session")?;
        Ok(m)
    }

    /// Sends `req` and waits for its answer, skipping pushes.
    async fn call<Req: MsgType, Resp: MsgType>(&mut self, req: &Req) -> anyhow::Result<Resp> {
        self.seq += 1;
        let seq = Seq(self.seq);
        self.writer.write_all(&req.to_frame_bytes(seq, Flags::NONE)).await?;
        loop {
            let frame = timeout(Duration::from_secs(15), self.reader.next())
                .await
                .with_context(|| format!("no answer to {} in 15 s", Req::NAME))?
                .context("connection closed")??;
            if frame.header.flags.contains(Flags::PUSH) || frame.header.seq != seq {
                continue;
            }
            if frame.header.id == ErrorResp::ID {
                let e: ErrorResp = frame.decode_body()?;
                bail!("{} refused: {:?} {}", Req::NAME, e.code(), e.detail);
            }
            ensure!(frame.header.id == Resp::ID, "{} answered with id {}", Req::NAME, frame.header.id);
            return Ok(frame.decode_body()?);
        }
    }
}

fn custom(name: &str) -> Option<ChannelRef> {
    Some(ChannelRef { kind: ChannelKind::Custom as i32, name: name.into() })
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
