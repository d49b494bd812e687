//! The bus under faults, against real Redis: a consumer killed between read and ack, a consumer
//! alive but slower than `claim_idle`, a poison entry, and Redis flushed (FLUSHALL) and
//! restarted. The last one runs on a private
//! redis-server the test starts on its own port, so it never touches anyone else's data.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmo_core::bus::consumer::{EntryHandler, GroupConsumer, Handled};
use mmo_core::bus::serve::serve;
use mmo_core::bus::{Batch, Envelope};
use mmo_core::{Ctx, HandlerError, ListenerConfig, Router, Shutdown, Stage};
use mmo_proto::bus::{Kind, Request};
use mmo_proto::{EchoReq, EchoResp, ErrorCode, ErrorResp, HelloReq, HelloResp};
use mmo_testkit::TestServer;
use mmo_testkit::redis::TestRedis;
use parking_lot::Mutex;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

/// XRANGE reply: entries as (id, [(field, value)]).
type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;
/// XPENDING summary: (count, smallest id, greatest id, [(consumer, count)]).
type PendingSummary = (u64, Option<String>, Option<String>, Option<Vec<(String, String)>>);

fn envelope(seq: u32) -> Envelope {
    Request { seq, ..Default::default() }.into()
}

/// The seq of a request envelope (0 for any other kind).
fn seq(env: &Envelope) -> u32 {
    match &env.kind {
        Some(Kind::Request(r)) => r.seq,
        _ => 0,
    }
}

/// Records the seqs of the envelopes it handles.
fn recorder(seen: Arc<Mutex<Vec<u32>>>, retry_seq: Option<u32>) -> EntryHandler {
    Arc::new(move |batch: Batch| {
        let seen = seen.clone();
        Box::pin(async move {
            for env in &batch.envelopes {
                if Some(seq(env)) == retry_seq {
                    return Handled::Retry;
                }
            }
            seen.lock().extend(batch.envelopes.iter().map(seq));
            Handled::Ack
        })
    })
}

/// A consumer of stream "work" on bus node `node`, recording what it handles (and asking for a
/// retry of `retry_seq`). Returns the bus, the stream, the consumer, what it saw and its token.
async fn recording_consumer(
    redis: &TestRedis,
    shutdown: &Shutdown,
    node: &str,
    retry_seq: Option<u32>,
) -> (mmo_core::bus::Bus, Arc<str>, GroupConsumer, Arc<Mutex<Vec<u32>>>, CancellationToken) {
    let bus = redis.bus(node, shutdown).await;
    let stream = bus.keys().service("work");
    let consumer = GroupConsumer::new(bus.clone(), stream.clone(), "work");
    consumer.ensure_group().await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let token = CancellationToken::new();
    tokio::spawn(consumer.clone().run(recorder(seen.clone(), retry_seq), token.clone()));
    (bus, stream, consumer, seen, token)
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_consumer_killed_before_acking_are_handled_by_another() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = redis.bus("producer", &shutdown).await;
    let stream = bus.keys().service("work");

    // Consumer A reads the entry and hangs before acknowledging it; then it is killed.
    let a_bus = redis.bus("consumer-a", &shutdown).await;
    let a = GroupConsumer::new(a_bus, stream.clone(), "work");
    a.ensure_group().await.unwrap();
    let (got_tx, got_rx) = tokio::sync::oneshot::channel::<u32>();
    let got_tx = Arc::new(Mutex::new(Some(got_tx)));
    let hang: EntryHandler = Arc::new(move |batch: Batch| {
        let got_tx = got_tx.clone();
        Box::pin(async move {
            if let Some(tx) = got_tx.lock().take() {
                let _ = tx.send(seq(&batch.envelopes[0]));
            }
            std::future::pending::<()>().await;
            Handled::Ack
        })
    });
    let a_task = tokio::spawn(a.run(hang, CancellationToken::new()));
    bus.send(&stream, envelope(1)).unwrap();
    assert!(bus.flush(Duration::from_secs(2)).await);
    assert_eq!(got_rx.await.unwrap(), 1);
    a_task.abort();

    // Consumer B takes it over once it has been idle for claim_idle.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = GroupConsumer::new(redis.bus("consumer-b", &shutdown).await, stream.clone(), "work");
    let token = CancellationToken::new();
    tokio::spawn(b.run(recorder(seen.clone(), None), token.clone()));
    eventually("consumer B to handle the abandoned entry", || seen.lock().contains(&1)).await;
    assert_eq!(*seen.lock(), vec![1], "handled once by B");
    token.cancel();
}

/// Records each envelope's seq after `delay`: a consumer that is alive but slower than
/// `claim_idle`.
fn slow_recorder(seen: Arc<Mutex<Vec<u32>>>, delay: Duration) -> EntryHandler {
    Arc::new(move |batch: Batch| {
        let seen = seen.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            seen.lock().extend(batch.envelopes.iter().map(seq));
            Handled::Ack
        })
    })
}

/// An overloaded server must not take its own entries over while it is still working on them:
/// each would be handled again, and a server behind would fall further behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_slower_than_claim_idle_handles_each_entry_once() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let bus = redis.bus("producer", &shutdown).await;
    // In stream order, and in tasks of their own.
    for (name, concurrency) in [("ordered", 1), ("concurrent", 8)] {
        let stream = bus.keys().service(name);
        let consumer = GroupConsumer::new(redis.bus("slow", &shutdown).await, stream.clone(), name)
            .with_entry_concurrency(concurrency);
        consumer.ensure_group().await.unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        // Three times claim_idle (300 ms), with the reclaimer looking every 100 ms.
        let handler = slow_recorder(seen.clone(), Duration::from_millis(900));
        let token = CancellationToken::new();
        tokio::spawn(consumer.run(handler, token.clone()));
        for seq in 1..=3 {
            bus.send(&stream, envelope(seq)).unwrap();
            assert!(bus.flush(Duration::from_secs(2)).await);
        }
        eventually("the three entries", || seen.lock().len() >= 3).await;
        // Long enough for any second delivery to have been handled too.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let mut got = seen.lock().clone();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2, 3], "{name}: each handled once");
        token.cancel();
    }
}

/// Consumer A of group "work" on a node that heartbeats, handling with `handler`; one entry
/// (seq 1) is sent and read by A before this returns. Returns A's token and task.
async fn live_consumer_a_with_one_entry(
    redis: &TestRedis,
    shutdown: &Shutdown,
    handler: EntryHandler,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let bus = redis.bus("producer", shutdown).await;
    let stream = bus.keys().service("work");
    let a_bus = redis.bus("consumer-a", shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(a_bus.clone(), shutdown.token()));
    let a = GroupConsumer::new(a_bus, stream.clone(), "work");
    a.ensure_group().await.unwrap();
    let a_token = CancellationToken::new();
    let a_task = tokio::spawn(a.run(handler, a_token.clone()));
    bus.send(&stream, envelope(1)).unwrap();
    assert!(bus.flush(Duration::from_secs(2)).await);
    // Read by A: pending, with nothing left undelivered.
    let client = redis::Client::open(redis.cfg.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let start = Instant::now();
    loop {
        let pending: PendingSummary =
            redis::cmd("XPENDING").arg(&*stream).arg("work").query_async(&mut conn).await.unwrap();
        if pending.0 == 1 {
            return (a_token, a_task);
        }
        assert!(start.elapsed() < Duration::from_secs(5), "A never read the entry");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A consumer whose node is alive keeps its slow entries: another consumer of the group does not
/// take them over (a dead node's entries are, as the test above shows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_nodes_slow_entry_is_not_taken_over_by_another() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let a_seen = Arc::new(Mutex::new(Vec::new()));
    let slow = slow_recorder(a_seen.clone(), Duration::from_millis(1500));
    let (a_token, _) = live_consumer_a_with_one_entry(&redis, &shutdown, slow).await;
    let (_, _, _, b_seen, b_token) = recording_consumer(&redis, &shutdown, "consumer-b", None).await;
    eventually("A to handle its entry", || !a_seen.lock().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((a_seen.lock().clone(), b_seen.lock().clone()), (vec![1], vec![]));
    a_token.cancel();
    b_token.cancel();
}

/// A consumer that stops while its node lives on (a zone instance moving to another node) hands
/// back what it leaves unacknowledged: another consumer of the group takes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_left_by_a_consumer_that_stops_on_a_live_node_are_taken_over() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    // A asks for a retry: the entry stays pending with A.
    let retry = recorder(Arc::new(Mutex::new(Vec::new())), Some(1));
    let (a_token, a_task) = live_consumer_a_with_one_entry(&redis, &shutdown, retry).await;
    a_token.cancel();
    a_task.await.unwrap();
    let (_, _, _, b_seen, b_token) = recording_consumer(&redis, &shutdown, "consumer-b", None).await;
    eventually("B to take over the entry A left", || b_seen.lock().contains(&1)).await;
    assert_eq!(*b_seen.lock(), vec![1]);
    b_token.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_entry_is_dead_lettered_after_max_deliveries_while_others_continue() {
    let mut redis = TestRedis::new();
    redis.cfg.max_deliveries = 3;
    let shutdown = Shutdown::new();
    let (bus, stream, _consumer, seen, token) = recording_consumer(&redis, &shutdown, "node", Some(5)).await;
    for seq in 1..=10 {
        bus.send(&stream, envelope(seq)).unwrap();
        // One entry per envelope, so the poison one is alone in its entry.
        assert!(bus.flush(Duration::from_secs(2)).await);
    }
    eventually("the nine good entries", || seen.lock().len() == 9).await;

    let dead = bus.keys().dead_letter(&stream);
    let client = redis::Client::open(redis.cfg.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let start = Instant::now();
    let entries = loop {
        let v: Entries =
            redis::cmd("XRANGE").arg(&dead).arg("-").arg("+").query_async(&mut conn).await.unwrap();
        if !v.is_empty() {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "nothing dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entries.len(), 1);
    let fields = &entries[0].1;
    let blob = &fields.iter().find(|(k, _)| k == "b").unwrap().1;
    let batch = Batch::decode(blob.as_slice()).unwrap();
    assert_eq!(seq(&batch.envelopes[0]), 5);
    let deliveries = fields.iter().find(|(k, _)| k == "deliveries").unwrap().1.clone();
    assert_eq!(String::from_utf8(deliveries).unwrap(), "3");
    // Nothing is left pending, and the poison entry was never handled.
    let pending: PendingSummary =
        redis::cmd("XPENDING").arg(&*stream).arg("work").query_async(&mut conn).await.unwrap();
    assert_eq!(pending.0, 0);
    assert!(!seen.lock().contains(&5));
    token.cancel();
}

/// A handler that panics does not take its consumer down: the others go on, and the entry it
/// panicked on is retried, then dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_costs_only_its_entry() {
    let mut redis = TestRedis::new();
    redis.cfg.max_deliveries = 2;
    let shutdown = Shutdown::new();
    let bus = redis.bus("node", &shutdown).await;
    let stream = bus.keys().service("work");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: EntryHandler = {
        let seen = seen.clone();
        Arc::new(move |batch: Batch| {
            let seen = seen.clone();
            Box::pin(async move {
                let seq = seq(&batch.envelopes[0]);
                assert_ne!(seq, 2, "the handler's own bug");
                seen.lock().push(seq);
                Handled::Ack
            })
        })
    };
    for (name, concurrency) in [("ordered", 1), ("concurrent", 8)] {
        let stream: Arc<str> = format!("{stream}-{name}").into();
        let consumer =
            GroupConsumer::new(bus.clone(), stream.clone(), "work").with_entry_concurrency(concurrency);
        consumer.ensure_group().await.unwrap();
        let token = CancellationToken::new();
        tokio::spawn(consumer.run(handler.clone(), token.clone()));
        for seq in 1..=3 {
            bus.send(&stream, envelope(seq)).unwrap();
            assert!(bus.flush(Duration::from_secs(2)).await);
        }
        let dead = bus.keys().dead_letter(&stream);
        let client = redis::Client::open(redis.cfg.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let start = Instant::now();
        loop {
            let n: u64 = redis::cmd("XLEN").arg(&dead).query_async(&mut conn).await.unwrap();
            if n == 1 && seen.lock().len() == 2 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{name}: dead letters {n}, seen {:?}",
                seen.lock()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut got = std::mem::take(&mut *seen.lock());
        got.sort_unstable();
        assert_eq!(got, vec![1, 3], "{name}");
        token.cancel();
    }
}

/// A redis-server of the test's own, on a free port, with nothing on disk.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/services.sh installs it)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "private redis did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends one EchoReq and reads its answer: `Ok` for the echo, the `ErrorResp` otherwise.
async fn echo_once(c: &mut mmo_testkit::TestClient) -> Result<(), ErrorResp> {
    use mmo_wire::MsgType as _;
    let seq = c.send(&EchoReq { payload: b"ping".to_vec().into() }).await.unwrap();
    let f = c.recv().await.unwrap();
    assert_eq!(f.header.seq, seq);
    if f.header.id == ErrorResp::ID {
        return Err(f.decode_body().unwrap());
    }
    assert_eq!(f.decode_body::<EchoResp>().unwrap().payload.as_ref(), b"ping");
    Ok(())
}

/// Echoes until one is answered: meanwhile only UNAVAILABLE with a retry hint is acceptable.
/// A strike (UNKNOWN_MESSAGE) for a message whose server is merely restarting is a failure.
async fn echo_eventually(c: &mut mmo_testkit::TestClient, what: &str) {
    let start = Instant::now();
    loop {
        match echo_once(c).await {
            Ok(()) => return,
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::Unavailable, "{what}: {e:?}");
                assert!(e.retry_after_ms > 0, "{what}: UNAVAILABLE without a retry hint");
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what}: never answered again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_recover_after_redis_is_flushed_and_after_it_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut private = PrivateRedis::start(port);
    let redis = TestRedis::at(&private.url());
    let shutdown = Shutdown::new();
    let server_bus = redis.bus("server", &shutdown).await;
    let server = Router::new().route(Stage::Authenticated, |_: Ctx<()>, req: EchoReq| async move {
        Ok::<_, HandlerError>(EchoResp { payload: req.payload })
    });
    serve(&server_bus, "echo", server, Arc::new(()), &shutdown).await.unwrap();
    let gw_bus = redis.bus("gateway", &shutdown).await;
    let gateway = || {
        Router::new().route(Stage::Connected, |ctx: Ctx<()>, _: HelloReq| async move {
            ctx.session().set_stage(Stage::Authenticated);
            Ok::<_, HandlerError>(HelloResp::default())
        })
    };
    let cfg = ListenerConfig { request_timeout: Duration::from_secs(1), ..Default::default() };
    let gw = TestServer::start_gateway(cfg.clone(), gateway(), Arc::new(()), &gw_bus).await;
    let mut c = gw.client().await;
    c.hello().await.unwrap();
    echo_eventually(&mut c, "before").await;

    // Clients keep echoing through everything that follows.
    let stop = CancellationToken::new();
    let traffic: Vec<_> = (0..4)
        .map(|i| {
            let (addr, stop) = (gw.addr, stop.clone());
            tokio::spawn(async move {
                let mut c = mmo_testkit::TestClient::connect(addr).await.unwrap();
                c.hello().await.unwrap();
                let mut answered = 0;
                while !stop.is_cancelled() {
                    echo_eventually(&mut c, &format!("client {i} under traffic")).await;
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Everything is wiped: streams, groups, the route table. Nodes recreate their groups on
    // NOGROUP and servers re-publish their routes; the gateway keeps the routes it knew.
    let client = redis::Client::open(private.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    // A gateway started now has never seen the route, and the server has not re-published it
    // yet: a request of the protocol still gets a retryable UNAVAILABLE, not a strike.
    let fresh_bus = redis.bus("fresh-gateway", &shutdown).await;
    let fresh = TestServer::start_gateway(cfg, gateway(), Arc::new(()), &fresh_bus).await;
    let mut f = fresh.client().await;
    f.hello().await.unwrap();
    for _ in 0..(ListenerConfig::default().max_strikes + 1) {
        match echo_once(&mut f).await {
            Ok(()) => {}
            Err(e) => assert_eq!((e.code(), e.retry_after_ms > 0), (ErrorCode::Unavailable, true), "{e:?}"),
        }
    }
    echo_eventually(&mut f, "fresh gateway after FLUSHALL").await;
    echo_eventually(&mut c, "after FLUSHALL").await;

    // Redis dies and comes back empty on the same port: pooled connections are replaced.
    private.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _private2 = PrivateRedis::start(port);
    echo_eventually(&mut c, "after restart").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for t in traffic {
        assert!(t.await.unwrap() > 0, "a client under traffic was answered");
    }
    drop(redis);
    let _ = tokio::time::timeout(Duration::from_secs(3), shutdown.drain(Duration::from_secs(2))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_trimmed_to_what_is_still_unhandled() {
    let mut redis = TestRedis::new();
    // The consumer's own maintenance (every claim_interval) must not trim before the test looks.
    redis.cfg.claim_interval = Duration::from_secs(3600);
    let shutdown = Shutdown::new();
    let (bus, stream, consumer, seen, token) = recording_consumer(&redis, &shutdown, "node", None).await;
    for seq in 0..2000 {
        bus.send(&stream, envelope(seq)).unwrap();
        if seq % 10 == 0 {
            assert!(bus.flush(Duration::from_secs(2)).await);
        }
    }
    assert!(bus.flush(Duration::from_secs(2)).await);
    eventually("all handled", || seen.lock().len() == 2000).await;
    let client = redis::Client::open(redis.cfg.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let before: u64 = redis::cmd("XLEN").arg(&*stream).query_async(&mut conn).await.unwrap();
    assert!(before >= 200, "one entry per flush at least: {before}");
    consumer.maintain().await.unwrap();
    let after: u64 = redis::cmd("XLEN").arg(&*stream).query_async(&mut conn).await.unwrap();
    // Approximate trimming removes whole radix-tree nodes (100 entries by default).
    assert!(after < 100, "handled entries still held: {after} of {before}");
    token.cancel();
}

/// A server that never heartbeats on its own: `serve` makes its node live, so a second instance
/// of the service never takes over (and runs again) a request the first is slow on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_servers_heartbeat_without_being_told_so_slow_requests_run_once() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let handled: Arc<Mutex<Vec<u32>>> = Arc::default();
    for node in ["server-a", "server-b"] {
        let bus = redis.bus(node, &shutdown).await;
        let router =
            Router::new().route(Stage::Authenticated, |ctx: Ctx<Mutex<Vec<u32>>>, req: EchoReq| async move {
                // Three times claim_idle (300 ms), with reclaimers looking every 100 ms.
                tokio::time::sleep(Duration::from_millis(900)).await;
                ctx.state().lock().push(u32::from_be_bytes(req.payload[..4].try_into().unwrap()));
                Ok::<_, HandlerError>(EchoResp { payload: req.payload })
            });
        serve(&bus, "slow", router, handled.clone(), &shutdown).await.unwrap();
    }
    let producer = redis.bus("producer", &shutdown).await;
    let stream = producer.keys().service("slow");
    for seq in 1..=4u32 {
        let env = Request {
            session: 1,
            seq,
            msg_id: u32::from(<EchoReq as mmo_wire::MsgType>::ID.0),
            stage: Stage::Authenticated.to_wire(),
            body: EchoReq { payload: seq.to_be_bytes().to_vec().into() }.encode_to_vec().into(),
            ..Default::default()
        };
        producer.send(&stream, env.into()).unwrap();
    }
    assert!(producer.flush(Duration::from_secs(2)).await);
    eventually("the four requests", || handled.lock().len() >= 4).await;
    // Long enough for a second delivery to have run too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = handled.lock().clone();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4], "each request handled once");
    shutdown.trigger();
}
