//! The `zone` scenario. Against a real cluster started in-process the way `mmo all` starts it
//! (gateway, accounts, zone node, the bus, MySQL) with the metrics endpoint `mmo` serves: every
//! bot logs in, enters the world and walks; the zone's updates come back with their latency, and
//! the server's own tick figures are read from its metrics page over the window. Against a fake
//! server that answers on cue: an UNAVAILABLE enter is retried, rejected moves are counted by
//! code, every pushed update is counted once, and a refused enter or a silent world fails the
//! run with its reason.
//!
//! Needs Redis at `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`);
//! the cluster test has its own key prefix and database, deleted at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cluster::Cluster;
use mmo_bots::{Options, Report, Scenario};
use mmo_proto::{
    AuthSession, EnterWorldReq, EnterWorldResp, EntityEnter, EntityMove, ErrorCode, ErrorResp, LoginReq,
    LoginResp, MoveReq, PingReq, PingResp, Vec2, ZoneEnterNtf, ZonePositionsNtf, ZoneTickNtf,
};
use mmo_wire::{Flags, Frame, MsgType, Seq};

const BOTS: usize = 20;
const MOVE_HZ: f64 = 10.0;
const WINDOW: Duration = Duration::from_secs(2);
/// Every slot of every bot's schedule falls in the window: the open loop sends all of them.
const MOVES: u64 = BOTS as u64 * 20;

fn zone_opts(addr: SocketAddr, run_tag: &str) -> Options {
    Options {
        addr,
        bots: BOTS,
        scenario: Scenario::Zone,
        run_tag: run_tag.to_owned(),
        duration: WINDOW,
        move_hz: Some(MOVE_HZ),
        ..Options::default()
    }
}

/// The metrics endpoint of this process, as `mmo` serves it (same bucket bounds for the zone's
/// tick). The recorder is global, so a test process installs it once.
fn metrics_url() -> String {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let buckets: &[(&str, &[f64])] = &[("mmo_zone_tick", mmo_zone::metrics::TICK_BUCKETS)];
        mmo_core::metrics::install_prometheus(addr, buckets).unwrap();
        format!("http://{addr}/metrics")
    })
    .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_bots_enter_walk_and_get_the_zones_updates_with_the_servers_tick() {
    let url = metrics_url();
    let cluster = Cluster::start("zone", |_| {}).await;
    let opts = Options { metrics_url: Some(url.clone()), ..zone_opts(cluster.addr, "walkers") };
    let report = mmo_bots::run(opts).await.unwrap();
    cluster.stop().await;

    // Every bot logged in as a guest, entered the world and held its session to the end.
    let login = report.login.as_ref().expect("a login report");
    assert_eq!((login.ok, login.failed, login.sessions_lost), (BOTS as u64, 0, 0), "{report}");
    let zone = report.zone.as_ref().expect("a zone report");
    assert_eq!(
        (zone.enter_attempted, zone.entered, zone.enter_failed),
        (BOTS as u64, BOTS as u64, 0),
        "{report}"
    );
    assert!(zone.enter_latency_ms.p50 > 0.0, "{report}");

    // Every slot of the schedule went out, and the zone took every MoveReq.
    assert_eq!((report.sent, zone.moves_sent, zone.moves_rejected), (MOVES, MOVES, 0), "{report}");
    assert_eq!((report.answered, report.lost), (0, 0), "one-way: {report}");

    let k = zone.updates_by_kind;
    assert_eq!(zone.updates, k.moves + k.enters + k.leaves + k.stops, "{report}");
    let positions = zone.frames.positions.frames;
    assert!(k.moves >= positions, "each frame has the bot's own move: {report}");
    assert!(zone.updates_per_s > 0.0 && zone.bytes_per_s > 0.0, "{report}");
    assert!(zone.bytes >= zone.frames.positions.bytes + zone.frames.tick.bytes, "{report}");
    // Nothing sent them elsewhere.
    assert_eq!(zone.frames.enter.frames, 0, "{report}");

    // A latency for every frame, from the server's tick to the bot; the clocks are the same, so
    // it is positive and nowhere near the seconds a foreign clock would put in.
    assert_eq!(zone.update_latency_samples, positions + zone.frames.tick.frames, "{report}");
    let l = zone.update_latency_ms;
    assert!(l.p50 > 0.0 && l.p50 <= l.p99 && l.p99 <= l.max && l.max < 10_000.0, "{report}");

    // The server's side: the bots' instance has them all, it ticked through the window and sent
    // updates; its quantiles come from the histogram's buckets.
    let server = zone.server.as_ref().expect("server figures with --metrics-url");
    assert_eq!(server.url, url);
    assert_eq!(server.instance.as_deref(), Some("start"), "{report}");
    let (_, start) = server.headline().unwrap();
    assert_eq!(start.players, BOTS as u64, "{report}");
    assert!(start.ticks > 0, "{report}");
    let (p50, p99) = (start.tick_p50_ms.unwrap(), start.tick_p99_ms.unwrap());
    assert!(p50 > 0.0 && p50 <= p99, "{report}");
    assert!(start.updates_per_s > 0.0 && server.updates_per_s >= start.updates_per_s, "{report}");

    // At most one positions frame per bot and tick (two more for the window's edges, which are
    // not exactly the scrapes'); a bot that walks all the window sees itself move in most ticks.
    let (bots, ticks) = (BOTS as u64, start.ticks);
    assert!(positions <= bots * (ticks + 2), "{positions} frames in {ticks} ticks: {report}");
    assert!(positions * 4 >= bots * ticks, "{positions} frames in {ticks} ticks: {report}");

    assert_eq!(report.errors, 0, "{report}");
    assert!(report.passed(), "{:?}\n{report}", report.failures());
    let text = report.to_string();
    for line in ["enter ", "moves ", "updates ", "frames/s ", "update ms ", "server tick  instance start"] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["scenario"], "zone");
    for key in ["moves_sent", "moves_rejected_by_code", "updates_per_s", "bytes_per_s", "enter_retries"] {
        assert!(json["zone"].get(key).is_some(), "zone lacks {key}: {json}");
    }
    for key in ["p50", "p90", "p99", "max"] {
        assert!(json["zone"]["update_latency_ms"][key].is_f64(), "update latency lacks {key}: {json}");
    }
    for kind in ["positions", "tick", "enter"] {
        assert!(json["zone"]["frames"][kind]["per_s"].is_f64(), "frames lack {kind}: {json}");
    }
    assert!(json["zone"]["server"]["instances"]["start"]["tick_p99_ms"].is_f64(), "{json}");
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn placed(entity_id: u32) -> ZoneEnterNtf {
    ZoneEnterNtf {
        map: "start".into(),
        width: 1000.0,
        height: 1000.0,
        entity_id,
        position: Some(Vec2 { x: 500.0, y: 500.0 }),
        tick_rate: 20,
        ..Default::default()
    }
}

/// How the fake world answers.
#[derive(Clone, Copy, PartialEq)]
enum World {
    /// Enters: the first UNAVAILABLE, the retry placed. Each MoveReq is answered with a
    /// ZonePositionsNtf of 3 moves and a ZoneTickNtf of an enter, a leave and a stop; every 4th
    /// (by input_seq) is rejected INVALID_ARGUMENT as well, and every 10th moves the bot to
    /// another instance (a ZoneEnterNtf).
    Lively,
    /// Enters are refused NOT_IN_ZONE.
    Closed,
    /// Enters succeed; MoveReqs are taken and nothing ever comes back.
    Silent,
}

/// An ErrorResp with `code` for a request of id `id`.
fn refusal(code: ErrorCode, id: mmo_wire::MsgId, retry_after_ms: u64, seq: Seq) -> Bytes {
    let err = ErrorResp {
        code: code as i32,
        request_msg_id: u32::from(id.0),
        detail: "refused".into(),
        retry_after_ms,
    };
    err.to_frame_bytes(seq, Flags::NONE)
}

/// A session for any login, and a world that answers as `world` says.
async fn fake_world(world: World) -> SocketAddr {
    common::fake_server(move |frame: &Frame| {
        let seq = frame.header.seq;
        let reply = match frame.header.id {
            LoginReq::ID => {
                let session = AuthSession { player_id: 1, token: "t".repeat(43), ..Default::default() };
                LoginResp { session: Some(session) }.to_frame_bytes(seq, Flags::NONE)
            }
            PingReq::ID => PingResp::default().to_frame_bytes(seq, Flags::NONE),
            EnterWorldReq::ID => match world {
                // Hello is seq 1 and the login seq 2: the first EnterWorldReq is seq 3.
                World::Lively if seq == Seq(3) => refusal(ErrorCode::Unavailable, EnterWorldReq::ID, 1, seq),
                World::Closed => refusal(ErrorCode::NotInZone, EnterWorldReq::ID, 0, seq),
                _ => EnterWorldResp { zone: Some(placed(7)) }.to_frame_bytes(seq, Flags::NONE),
            },
            MoveReq::ID if world == World::Silent => return None,
            MoveReq::ID => {
                let m: MoveReq = frame.decode_body().unwrap();
                let server_time_ms = now_ms();
                let moves = (0..3).map(|i| EntityMove { id: 7 + i, x: 500.0, y: 500.0 }).collect();
                let positions = ZonePositionsNtf { tick: 1, server_time_ms, moves };
                let tick = ZoneTickNtf {
                    tick: 1,
                    server_time_ms,
                    enters: vec![EntityEnter { id: 30, ..Default::default() }],
                    leaves: vec![31],
                    stops: vec![EntityMove { id: 32, x: 1.0, y: 1.0 }],
                    ..Default::default()
                };
                let mut out = vec![
                    positions.to_frame_bytes(Seq(0), Flags::PUSH.union(Flags::DROPPABLE)),
                    tick.to_frame_bytes(Seq(0), Flags::PUSH),
                ];
                if m.input_seq.is_multiple_of(4) {
                    out.push(refusal(ErrorCode::InvalidArgument, MoveReq::ID, 0, seq));
                }
                if m.input_seq.is_multiple_of(10) {
                    out.push(placed(8).to_frame_bytes(Seq(0), Flags::PUSH));
                }
                out.concat().into()
            }
            other => panic!("unexpected message {other}"),
        };
        Some(reply)
    })
    .await
}

fn assert_between(what: &str, n: u64, low: u64, high: u64, report: &Report) {
    assert!(n >= low && n <= high, "{what} {n} not in {low}..={high}:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_enter_is_retried_and_every_update_and_rejection_is_counted() {
    let addr = fake_world(World::Lively).await;
    let report = mmo_bots::run(zone_opts(addr, "fake")).await.unwrap();
    let zone = report.zone.as_ref().unwrap();
    let bots = BOTS as u64;

    // Each bot was told UNAVAILABLE once and got in on the retry, after waiting for it.
    assert_eq!((zone.entered, zone.enter_retries, zone.enter_failed), (bots, bots, 0), "{report}");
    assert!(zone.enter_latency_ms.p50 >= 500.0, "the retry waits at least 500 ms: {report}");

    // All 20 slots of each bot went out. Of 20 consecutive input_seqs, 5 are multiples of 4 and
    // 2 of 10. What the server sent back for a bot's last move may land after the window closed:
    // at most one move's worth per bot goes uncounted.
    assert_eq!(zone.moves_sent, MOVES, "{report}");
    assert_between("positions frames", zone.frames.positions.frames, MOVES - bots, MOVES, &report);
    // The fake sends a move's positions frame, then its tick frame: the window may close between
    // the two of a bot's last move.
    let (positions, ticks) = (zone.frames.positions.frames, zone.frames.tick.frames);
    assert_between("tick frames", ticks, positions.saturating_sub(bots), positions, &report);
    let k = zone.updates_by_kind;
    assert_eq!(
        (k.moves, k.enters, k.leaves, k.stops),
        (3 * k.enters, k.enters, k.enters, k.enters),
        "{report}"
    );
    assert_eq!(k.enters, zone.frames.tick.frames, "{report}");
    assert_eq!(zone.updates, 6 * zone.frames.positions.frames, "{report}");
    assert_between("rejections", zone.moves_rejected, 5 * bots - bots, 5 * bots, &report);
    assert_eq!(zone.moves_rejected_by_code.get("INVALID_ARGUMENT"), Some(&zone.moves_rejected), "{report}");
    assert!(zone.moves_rejected_examples["INVALID_ARGUMENT"].contains("for MoveReq"), "{report}");
    assert_between("enter pushes", zone.frames.enter.frames, 2 * bots - bots, 2 * bots, &report);
    assert_eq!(zone.update_latency_samples, 2 * zone.frames.positions.frames, "{report}");
    assert!(zone.bytes > zone.frames.positions.bytes + zone.frames.tick.bytes, "{report}");
    assert!((zone.updates_per_s - zone.updates as f64 / report.duration_s).abs() < 1e-6, "{report}");

    // Rejections are the zone's, not the connection's: no errors, but the run fails on them.
    assert_eq!(report.errors, 0, "{report}");
    let why = report.failures();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].contains("moves rejected (INVALID_ARGUMENT x"), "{why:?}");
    assert!(report.zone.as_ref().unwrap().server.is_none());
}

#[tokio::test]
async fn a_refused_enter_and_a_silent_world_fail_the_run_with_their_reasons() {
    let addr = fake_world(World::Closed).await;
    let report = mmo_bots::run(Options { bots: 3, ..zone_opts(addr, "closed") }).await.unwrap();
    let zone = report.zone.as_ref().unwrap();
    assert_eq!((zone.enter_attempted, zone.entered, zone.enter_failed), (3, 0, 3), "{report}");
    assert_eq!(zone.enter_failed_by_kind.get("NOT_IN_ZONE"), Some(&3), "{report}");
    assert_eq!((zone.enter_retries, report.sent), (0, 0), "{report}");
    // Logged in, then closed on purpose: not sessions lost.
    let login = report.login.as_ref().unwrap();
    assert_eq!((login.ok, login.sessions_lost), (3, 0), "{report}");
    assert_eq!(report.failures(), ["3 of 3 bots could not enter the world (NOT_IN_ZONE x3)"]);

    let addr = fake_world(World::Silent).await;
    let opts = Options { bots: 2, duration: Duration::from_millis(500), ..zone_opts(addr, "silent") };
    let report = mmo_bots::run(opts).await.unwrap();
    let zone = report.zone.as_ref().unwrap();
    assert_eq!((zone.entered, zone.moves_sent, zone.updates), (2, 10, 0), "{report}");
    assert_eq!(report.failures(), ["10 moves sent but no entity update came back"]);
}

#[test]
fn the_bots_read_the_metric_names_the_zone_writes() {
    use mmo_bots::metrics as bots;
    use mmo_zone::metrics as zone;
    assert_eq!(
        [bots::TICK_SECONDS, bots::TICK_OVERRUNS, bots::UPDATES, bots::PLAYERS],
        [zone::TICK_SECONDS, zone::TICK_OVERRUNS, zone::UPDATES, zone::PLAYERS]
    );
}
