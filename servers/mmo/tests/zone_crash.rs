//! A zone node is a process of its own (`mmo zone`). Killed with `kill -9` mid-play, another node
//! takes its map over once the lease runs out; the player, still connected to its gateway, comes
//! back by itself with the state of the last flush and nothing duplicated. SIGTERM saves and
//! releases every player. The metrics endpoint shows the instance's tick.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmo::{Config, Role};
use mmo_core::Shutdown;
use mmo_proto::{
    DeviceCredential, EnterReason, EnterWorldReq, EnterWorldResp, LoginReq, LoginResp, MoveReq, ZoneEnterNtf,
    ZonePositionsNtf, login_req::Credential, move_req::Intent,
};
use mmo_testkit::{TestClient, free_port, scrape_metrics as scrape};
use mmo_wire::MsgType;

struct Zone(Child);

impl Drop for Zone {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The settings shared by the zone processes and the in-process front (gateway, accounts).
const CONFIG: &str = r#"
[zone]
maps = ["start"]
save_interval = "200ms"
lease_ttl = "1s"
gateway_check_interval = "500ms"
[write_behind]
interval = "200ms"
[bus]
heartbeat_interval = "200ms"
node_ttl = "2s"
claim_idle = "300ms"
claim_interval = "100ms"
routes_refresh = "200ms"
block = "200ms"
[account]
argon2_memory_kib = 1024
argon2_iterations = 1
[shutdown]
grace = "5s"
"#;

struct Setup {
    dir: std::path::PathBuf,
    redis: mmo_testkit::redis::TestRedis,
    db: mmo_testkit::mysql::TestDb,
}

impl Setup {
    fn zone(&self, node: &str, metrics: u16) -> Zone {
        let path = self.dir.join(format!("{node}.toml"));
        std::fs::write(&path, format!("{CONFIG}\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mmo"))
            .args(["zone", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .env("MMO_NODE_ID", node)
            .env("MMO_BUS_PREFIX", &self.redis.cfg.prefix)
            .env("MMO_MYSQL_URL", &self.db.config().url)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Zone(child)
    }
}

/// The client's side of the world: its own entity's latest position and every ZoneEnterNtf.
struct Me {
    c: TestClient,
    entity: u32,
    at: (f32, f32),
    enters: Vec<ZoneEnterNtf>,
    seq: u32,
}

impl Me {
    async fn pump(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(f) = tokio::time::timeout_at(deadline, self.c.recv()).await {
            let f = f.unwrap();
            if f.header.id == ZonePositionsNtf::ID {
                let p: ZonePositionsNtf = f.decode_body().unwrap();
                if let Some(m) = p.moves.iter().find(|m| m.id == self.entity) {
                    self.at = (m.x, m.y);
                }
            } else if f.header.id == ZoneEnterNtf::ID {
                let e: ZoneEnterNtf = f.decode_body().unwrap();
                self.entity = e.entity_id;
                self.at = e.position.map(|p| (p.x, p.y)).unwrap();
                self.enters.push(e);
            }
        }
    }

    async fn walk_east(&mut self) {
        self.seq += 1;
        let intent = Some(Intent::Direction(mmo_proto::Vec2 { x: 1.0, y: 0.0 }));
        self.c.send(&MoveReq { input_seq: self.seq, intent, ..Default::default() }).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_zone_node_loses_at_most_the_last_flush_and_the_player_comes_back_by_itself() {
    let setup = Setup {
        dir: std::env::temp_dir().join(format!("mmo-zone-crash-{}", free_port())),
        redis: mmo_testkit::redis::TestRedis::new(),
        db: mmo_testkit::mysql::TestDb::new().await,
    };
    std::fs::create_dir_all(&setup.dir).unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let mut zone_a = setup.zone("zone-a", port_a);

    // The front in this process: version, accounts and a gateway, on the same Redis and MySQL.
    let mut cfg: Config = mmo_core::config::from_toml_str(CONFIG).unwrap();
    cfg.bus.prefix = setup.redis.cfg.prefix.clone();
    cfg.mysql = setup.db.config().clone();
    cfg.listener.listen = "127.0.0.1:0".parse().unwrap();
    let shutdown = Shutdown::new();
    let mut gateway = None;
    for (role, node) in [(Role::Version, "front-v"), (Role::Account, "front-a"), (Role::Gateway, "front-g")] {
        let mut c = cfg.clone();
        c.node.id = node.into();
        gateway = gateway.or(mmo::start(role, &c, &shutdown).await.unwrap().gateway);
    }
    let bus = setup.redis.bus("test", &shutdown).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while mmo_zone::directory::holder(&bus, "start").await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "zone-a never took the start map");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut c = TestClient::connect(gateway.unwrap()).await.unwrap();
    c.hello().await.unwrap();
    let login = LoginReq {
        credential: Some(Credential::Device(DeviceCredential { device_id: "crash-test-device-0001".into() })),
    };
    let player = c.request::<_, LoginResp>(&login).await.unwrap().session.unwrap().player_id;
    // A saved place and three rabbit furs, as an earlier session left them (in the JSON column
    // a zone of before the shop's inventory wrote: zone-b moves it to the shop's table as it starts).
    setup
        .db
        .store()
        .exec_drop(
            "INSERT INTO zone_players (player_id, map, x, y, level, xp, hp, inventory, owner, saved_at_ms) \
             VALUES (?, 'start', 500, 500, 4, 10, 90, '[[1,3]]', '', 0)",
            (player,),
        )
        .await
        .unwrap();
    // zone-a runs in its own process: this gateway may not have loaded its routes yet, and says
    // UNAVAILABLE until it has (as a client is told, it retries).
    let entered: EnterWorldResp = c.request_retrying(&EnterWorldReq {}, 20).await.unwrap();
    let zone = entered.zone.unwrap();
    let mut me = Me { c, entity: zone.entity_id, at: (500.0, 500.0), enters: Vec::new(), seq: 0 };
    let row = |db: &mmo_testkit::mysql::TestDb| {
        let store = db.store().clone();
        async move {
            let r: Option<(f32, f32, String, String, u32)> = store
                .exec_first(
                    "SELECT x, y, inventory, owner, level FROM zone_players WHERE player_id = ?",
                    (player,),
                )
                .await
                .unwrap();
            r.unwrap()
        }
    };
    // Walking east, an input every 200 ms; progress reaches MySQL every few hundred ms.
    for _ in 0..8 {
        me.walk_east().await;
        me.pump(Duration::from_millis(200)).await;
    }
    let before = row(&setup.db).await;
    assert!(before.0 > 502.0 && before.3.contains("#zone-a#"), "flushed while walking: {before:?}");

    let _ = zone_a.0.kill(); // SIGKILL: no drain, no final save
    let _ = zone_a.0.wait();
    let killed_at = me.at;
    let saved = row(&setup.db).await;
    let lost = killed_at.0 - saved.0;
    // Speed 6/s; saves every 200 ms plus a 200 ms flush, and the frame in flight.
    assert!(
        (0.0..=4.0).contains(&lost),
        "lost {lost} units of walking (client at {killed_at:?}, saved {saved:?})"
    );

    // Another node starts; once zone-a's lease expires it takes the map, and the player's next
    // input brings it back there.
    let mut zone_b = setup.zone("zone-b", port_b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while me.enters.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the player never came back");
        me.walk_east().await;
        me.pump(Duration::from_millis(200)).await;
    }
    let back = me.enters[0].clone();
    assert_eq!((back.map.as_str(), back.reason()), ("start", EnterReason::Recovered));
    assert_eq!(
        back.position.unwrap(),
        mmo_proto::Vec2 { x: saved.0, y: saved.1 },
        "the last flushed position"
    );
    assert_eq!(
        back.inventory.unwrap().items,
        [mmo_proto::ItemStack { item_id: 1, count: 3 }],
        "nothing duplicated"
    );
    assert_eq!(back.stats.unwrap().level, 4);
    let now = row(&setup.db).await;
    assert!(now.3.contains("#zone-b#"), "held by zone-b: {now:?}");

    // zone-b's metrics show the instance ticking with the player in it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = scrape(port_b);
    while !body.contains("mmo_zone_players{instance=\"start\"} 1") {
        assert!(Instant::now() < deadline, "no zone metrics:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
        body = scrape(port_b);
    }
    for name in [
        "mmo_zone_tick_seconds_bucket{instance=\"start\",le=\"0.005\"}",
        "mmo_zone_tick_aoi_seconds_count{instance=\"start\"}",
        "mmo_zone_entities{instance=\"start\"}",
        "mmo_zone_aoi_pairs{instance=\"start\"}",
        "mmo_zone_sent_bytes_total{instance=\"start\",delivery=\"droppable\"}",
        "mmo_zone_frame_bytes_per_tick_bucket{instance=\"start\",le=\"1024\"}",
        "mmo_zone_enters_total{reason=\"recovered\"} 1",
    ] {
        assert!(body.contains(name), "{name} missing:\n{body}");
    }

    // SIGTERM: everyone saved and released before the process exits.
    for _ in 0..3 {
        me.walk_east().await;
        me.pump(Duration::from_millis(200)).await;
    }
    let ok = Command::new("kill").args(["-TERM", &zone_b.0.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(8);
    let status = loop {
        if let Some(s) = zone_b.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "zone-b still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let last = row(&setup.db).await;
    assert!(last.3.is_empty(), "released: {last:?}");
    assert!(last.0 > saved.0, "walking after the recovery was saved: {last:?}");
    // Items are the shop's: the old JSON column was moved to its inventory table once, and the
    // kill and the recovery neither lost nor doubled them.
    let items: Vec<(u32, i64)> = setup
        .db
        .store()
        .exec("SELECT item_id, count FROM inventory WHERE player = ? ORDER BY item_id", (player,))
        .await
        .unwrap();
    assert_eq!(items, [(1, 3)], "the shop's inventory");

    shutdown.trigger();
    shutdown.drain(Duration::from_secs(5)).await;
    bus.close();
    let _ = std::fs::remove_dir_all(&setup.dir);
    setup.db.cleanup().await;
}
