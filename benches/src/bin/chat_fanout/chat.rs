//! The chat side: the cluster (version, account and chat servers and two gateways on one bus, a fresh
//! database) and one run of N members in one custom channel, senders among them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use mmo_chat::ChatConfig;
use mmo_core::bus::{Bus, BusConfig};
use mmo_core::server::Launch;
use mmo_core::{ListenerConfig, Registry, Shutdown};
use mmo_proto::{
    ChannelCreateReq, ChannelCreateResp, ChannelJoinReq, ChannelJoinResp, ChatMessageNtf, ChatSendReq,
    ChatSendResp, DisconnectNtf, ErrorResp, PingReq,
};
use mmo_testkit::mysql::TestDb;
use mmo_wire::{Flags, FrameCodec, MsgType, Seq};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, sleep_until};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::{Args, Counts, Figures, Member, Plan, Slots, custom, drain, figures, parse, rand_u64};

/// The chat server's per-player limit in the bench (default 5 a second; the gateway's 20
/// ChatSendReq a second per session still applies).
pub const BENCH_RATE_PER_SEC: u32 = 1000;
/// How often an idle member pings (the gateway's heartbeat interval is 10 s, its idle timeout
/// 30 s).
const PING_EVERY: Duration = Duration::from_secs(5);

pub struct Cluster {
    gateways: [SocketAddr; 2],
    shutdown: Shutdown,
    buses: Vec<Bus>,
    db: TestDb,
    prefix: String,
}

impl Cluster {
    /// The servers on a fresh key prefix and database, the gateways on free ports.
    pub async fn start(url: &str) -> anyhow::Result<Cluster> {
        let prefix = format!("mmobench:{:016x}", rand_u64());
        let cfg = BusConfig { url: url.into(), prefix: prefix.clone(), ..BusConfig::default() };
        let shutdown = Shutdown::new();
        let db = TestDb::new().await;
        for m in [mmo_version::migrations(), mmo_account::migrations(), mmo_chat::migrations()] {
            db.store().migrate(&m).await?;
        }
        let bus = Bus::connect(cfg.clone(), "s5-servers", &shutdown).await?;
        tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
        // The gateway asks the version server about every Hello.
        mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await?;
        mmo_account::run(&bus, db.store().clone(), mmo_account::AccountConfig::default(), &shutdown).await?;
        let chat = ChatConfig {
            rate_per_sec: BENCH_RATE_PER_SEC,
            mute_messages: BENCH_RATE_PER_SEC * 10,
            ..ChatConfig::default()
        };
        let launch = Launch::new(mmo_chat::SERVICE, bus.clone(), Some(db.store().clone()), shutdown.clone());
        mmo_chat::server(chat).start(launch).await?;
        let mut buses = vec![bus];
        let mut gateways = Vec::new();
        for node in ["s5-gw-1", "s5-gw-2"] {
            let gw_bus = Bus::connect(cfg.clone(), node, &shutdown).await?;
            let listener = ListenerConfig { listen: "127.0.0.1:0".parse()?, ..ListenerConfig::default() };
            let gateway = mmo_gateway::bind(
                listener,
                mmo_gateway::GatewayConfig::default(),
                Registry::new(),
                shutdown.clone(),
                Some(&gw_bus),
            )
            .await?;
            gateways.push(gateway.local_addr()?);
            tokio::spawn(gateway.run());
            buses.push(gw_bus);
        }
        Ok(Cluster { gateways: [gateways[0], gateways[1]], shutdown, buses, db, prefix })
    }

    /// Stops the servers, deletes every key under the prefix and drops the database.
    pub async fn stop(self, url: &str) -> anyhow::Result<()> {
        self.shutdown.trigger();
        self.shutdown.drain(Duration::from_secs(5)).await;
        for bus in &self.buses {
            bus.close();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query_async(&mut conn).await?;
        for chunk in keys.chunks(1000) {
            redis::cmd("DEL").arg(chunk).query_async::<()>(&mut conn).await?;
        }
        self.db.cleanup().await;
        Ok(())
    }
}

/// One run: `n` members log in and join a new channel, `senders` of them send `rate` messages a
/// second in all.
pub async fn run(
    cluster: &Cluster,
    args: &Args,
    n: usize,
    rate: f64,
    senders: usize,
) -> anyhow::Result<Figures> {
    let tag = rand_u64() % 1_000_000_000;
    let channel = format!("s5-{n}-{tag}");
    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(args.login_concurrency.max(1)));
    let mut logins = Vec::new();
    for i in 0..n {
        let (addr, slots) = (cluster.gateways[i % 2], slots.clone());
        let device = format!("s5-{tag}-{i:06}-0123456789");
        logins.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await?;
            Member::log_in(addr, device).await
        }));
    }
    let mut members = Vec::new();
    for h in logins {
        members.push(h.await?.context("a member's login")?);
    }
    let logged_in = started.elapsed();
    let create = ChannelCreateReq { name: channel.clone(), password: String::new() };
    let _: ChannelCreateResp = members[0].call(&create).await?;
    let mut joins = Vec::new();
    for mut m in members.drain(1..) {
        let (slots, name) = (slots.clone(), channel.clone());
        joins.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let _: ChannelJoinResp = m.call(&ChannelJoinReq { name, password: String::new() }).await?;
            anyhow::Ok(m)
        }));
    }
    for h in joins {
        members.push(h.await?.context("a member's join")?);
    }
    println!(
        "  chat: {n} members logged in in {:.1} s, joined {channel} in {:.1} s",
        logged_in.as_secs_f64(),
        (started.elapsed() - logged_in).as_secs_f64()
    );

    let plan = Arc::new(Plan::new(args, n));
    let progress = Arc::new(AtomicU64::new(0));
    let (sent, acked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = CancellationToken::new();
    let (mut readers, mut writers) = (Vec::new(), Vec::new());
    for (i, m) in members.into_iter().enumerate() {
        let Member { reader, writer, seq } = m;
        let r = Reader {
            plan: plan.clone(),
            progress: progress.clone(),
            acked: acked.clone(),
            stop: stop.clone(),
        };
        readers.push(tokio::spawn(r.read(reader)));
        let w = Writer {
            plan: plan.clone(),
            sent: sent.clone(),
            stop: stop.clone(),
            channel: channel.clone(),
            slots: (i < senders).then(|| Slots::new(i, senders, rate)),
            seq,
            size: args.size,
        };
        writers.push(tokio::spawn(w.write(writer)));
    }
    drain(&plan, &progress, &sent, &acked, args.drain).await;
    stop.cancel();
    let mut all = Vec::new();
    for h in readers {
        all.push(h.await?);
    }
    // The connections close (the writing halves dropped) only once every reader has stopped.
    let mut halves = Vec::new();
    for h in writers {
        halves.push(h.await?);
    }
    drop(halves);
    let owners: Vec<u32> = (0..n as u32).collect();
    Ok(figures(&plan, senders, rate, sent.load(Ordering::Relaxed), all, &owners))
}

/// A member's reading side: deliveries, acknowledgements, refusals.
struct Reader {
    plan: Arc<Plan>,
    progress: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Reader {
    async fn read(self, mut frames: FramedRead<OwnedReadHalf, FrameCodec>) -> Counts {
        let mut c = Counts::new();
        loop {
            let frame = tokio::select! {
                // First: once stopped, the other side may close at any moment, which is no error.
                biased;
                () = self.stop.cancelled() => break,
                f = frames.next() => f,
            };
            let frame = match frame {
                Some(Ok(f)) => f,
                Some(Err(_)) => {
                    c.error("bad_frame");
                    break;
                }
                None => {
                    c.error("closed");
                    break;
                }
            };
            match frame.header.id {
                ChatMessageNtf::ID => match frame.decode_body::<ChatMessageNtf>() {
                    Ok(ntf) => {
                        let text = ntf.message.map(|m| m.text).unwrap_or_default();
                        c.delivered(text.as_bytes(), &self.plan, &self.progress);
                    }
                    Err(_) => c.error("decode"),
                },
                ChatSendResp::ID => {
                    let resp = frame.decode_body::<ChatSendResp>().ok().and_then(|r| r.message);
                    match resp.and_then(|m| parse(m.text.as_bytes())) {
                        Some((true, k, _)) => {
                            c.acked.push(k);
                            self.acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Some((false, ..)) => {}
                        None => c.error("bad_ack"),
                    }
                }
                ErrorResp::ID => {
                    let code = frame.decode_body::<ErrorResp>().map(|e| e.code());
                    c.error(code.map_or_else(|_| "decode".to_owned(), |code| format!("{code:?}")));
                }
                DisconnectNtf::ID => c.error("disconnected"),
                _ => {}
            }
        }
        c
    }
}

/// A member's writing side: its messages on the schedule (if it sends) and a ping now and then.
struct Writer {
    plan: Arc<Plan>,
    sent: Arc<AtomicU64>,
    stop: CancellationToken,
    channel: String,
    slots: Option<Slots>,
    seq: u32,
    size: usize,
}

impl Writer {
    /// Returns the writing half, so the connection closes when the caller says.
    async fn write(mut self, mut w: OwnedWriteHalf) -> OwnedWriteHalf {
        let mut next_ping = Instant::now() + PING_EVERY;
        loop {
            let send = self.slots.as_ref().and_then(|s| s.peek(&self.plan));
            let wake =
                send.map_or(next_ping, |(_, at)| next_ping.min(self.plan.base + Duration::from_micros(at)));
            tokio::select! {
                () = self.stop.cancelled() => return w,
                () = sleep_until(wake) => {}
            }
            self.seq += 1;
            let frame = match send {
                Some((j, at)) if Instant::now() >= self.plan.base + Duration::from_micros(at) => {
                    let measured = at >= self.plan.window_start_us;
                    let sender = self.slots.as_ref().map_or(0, |s| s.sender);
                    let text = crate::payload(measured, sender, j, at, self.size);
                    if let Some(s) = &mut self.slots {
                        s.advance();
                    }
                    if measured {
                        self.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    ChatSendReq { channel: custom(&self.channel), text: text.into_bytes().into() }
                        .to_frame_bytes(Seq(self.seq), Flags::NONE)
                }
                _ => {
                    next_ping = Instant::now() + PING_EVERY;
                    PingReq::default().to_frame_bytes(Seq(self.seq), Flags::NONE)
                }
            };
            if w.write_all(&frame).await.is_err() {
                return w;
            }
        }
    }
}
