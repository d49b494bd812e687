//! The cluster the zone's bus tests run against: real Redis and MariaDB, a gateway on port 0, the
//! version and account servers and one or more zone nodes behind the bus, as in production. And
//! a client that logs in as a guest, enters the world and keeps the picture of what it sees.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::Bus;
use mmo_core::store::WriteBehindConfig;
use mmo_core::{ListenerConfig, Router, Shutdown};
use mmo_proto::{
    DeviceCredential, DisconnectNtf, EnterWorldReq, EnterWorldResp, ErrorResp, LoginReq, LoginResp, MoveReq,
    ZoneEnterNtf, ZonePositionsNtf, ZoneTickNtf, login_req::Credential, move_req::Intent,
};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{TestClient, TestServer};
use mmo_wire::{Flags, Frame, MsgType};
use mmo_zone::{ZoneConfig, ZoneNode, ZoneServerConfig};
use mysql_async::prelude::Queryable;

/// How long any single answer, push or condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Two small open maps joined by portals, for tests: "field" (spawn at its centre, a portal at
/// its east edge to "meadow") and "meadow" (a portal back), plus "arena" for matches.
const FIELD: &str = r#"
name = "field"
width = 400.0
height = 400.0
spawn = { x = 200.0, y = 200.0 }

[npc_types.dummy]
level = 1
hp = 10
damage = 1
speed = 0.0
xp = 150
respawn = "30s"
loot = [{ item = 7, chance = 1.0, count = 2 }]

[[npc]]
type = "dummy"
at = { x = 50.0, y = 50.0 }
count = 1

[[portal]]
at = { x = 395.0, y = 200.0 }
radius = 4.0
to_map = "meadow"
to = { x = 20.0, y = 100.0 }
"#;

const MEADOW: &str = r#"
name = "meadow"
width = 200.0
height = 200.0
spawn = { x = 100.0, y = 100.0 }

[[portal]]
at = { x = 5.0, y = 100.0 }
radius = 3.0
to_map = "field"
to = { x = 380.0, y = 200.0 }
"#;

const ARENA: &str = r#"
name = "arena"
width = 100.0
height = 100.0
spawn = { x = 50.0, y = 50.0 }
"#;

/// Rules that make tests quick: fast players, a small view.
pub fn test_world() -> ZoneConfig {
    ZoneConfig { player_speed: 30.0, view_radius: 20.0, view_hysteresis: 2.0, ..ZoneConfig::default() }
}

pub fn zone_config(maps: &[&str], dir: &TestMaps) -> ZoneServerConfig {
    ZoneServerConfig {
        maps: maps.iter().map(|m| m.to_string()).collect(),
        start_map: "field".into(),
        maps_dir: dir.0.display().to_string(),
        save_interval: Duration::from_millis(200),
        lease_ttl: Duration::from_secs(1),
        handoff_timeout: Duration::from_secs(2),
        gateway_check_interval: Duration::from_millis(300),
        match_start_timeout: Duration::from_secs(5),
        match_linger: Duration::from_millis(500),
        world: test_world(),
        ..ZoneServerConfig::default()
    }
}

pub fn write_behind() -> WriteBehindConfig {
    WriteBehindConfig { interval: Duration::from_millis(200), ..WriteBehindConfig::default() }
}

/// A folder with the test maps, removed afterwards.
pub struct TestMaps(pub PathBuf);

impl TestMaps {
    pub fn new() -> TestMaps {
        let dir = std::env::temp_dir().join(format!("mmo-zone-maps-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in [("field", FIELD), ("meadow", MEADOW), ("arena", ARENA)] {
            std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
        }
        TestMaps(dir)
    }
}

impl Drop for TestMaps {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Cluster {
    pub gateway: TestServer,
    pub bus: Bus,
    pub db: TestDb,
    pub redis: TestRedis,
    pub shutdown: Shutdown,
    pub zone: ZoneNode,
    pub maps: TestMaps,
}

/// A gateway, the account server and one zone node hosting "field" and "meadow".
pub async fn cluster() -> Cluster {
    cluster_with(&["field", "meadow"], |_| {}).await
}

pub async fn cluster_with(maps: &[&str], adjust: impl FnOnce(&mut ZoneServerConfig)) -> Cluster {
    // No resume window: a dropped connection ends its session at once.
    let listener = ListenerConfig { resume_window: Duration::ZERO, ..ListenerConfig::default() };
    cluster_full(maps, adjust, listener).await
}

pub async fn cluster_full(
    maps: &[&str],
    adjust: impl FnOnce(&mut ZoneServerConfig),
    listener: ListenerConfig,
) -> Cluster {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    for m in [mmo_version::migrations(), mmo_account::migrations()].into_iter().chain(mmo_zone::tables()) {
        db.store().migrate(&m).await.unwrap();
    }
    let bus = redis.bus("node-1", &shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    let account =
        mmo_account::AccountConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..Default::default() };
    mmo_account::run(&bus, db.store().clone(), account, &shutdown).await.unwrap();
    let dir = TestMaps::new();
    let mut cfg = zone_config(maps, &dir);
    adjust(&mut cfg);
    let zone = mmo_zone::run(&bus, db.store().clone(), cfg, write_behind(), &shutdown).await.unwrap();
    let gateway = TestServer::start_gateway(listener, Router::<()>::new(), Arc::new(()), &bus).await;
    Cluster { gateway, bus, db, redis, shutdown, zone, maps: dir }
}

impl Cluster {
    /// Another zone node on its own bus node (another process, as far as Redis and MySQL tell).
    pub async fn zone_node(&self, node: &str, maps: &[&str], shutdown: &Shutdown) -> ZoneNode {
        let bus = self.redis.bus(node, shutdown).await;
        tokio::spawn(mmo_core::bus::node::heartbeat_loop(bus.clone(), shutdown.token()));
        let cfg = zone_config(maps, &self.maps);
        mmo_zone::run(&bus, self.db.store().clone(), cfg, write_behind(), shutdown).await.unwrap()
    }

    /// A guest logged in, not yet in the world.
    pub async fn guest(&self, device: &str) -> (TestClient, u64) {
        let (c, id, _) = self.guest_with_token(device).await;
        (c, id)
    }

    /// A guest logged in, with its session token.
    pub async fn guest_with_token(&self, device: &str) -> (TestClient, u64, String) {
        let mut c = self.gateway.client().await;
        c.hello().await.unwrap();
        let device_id = format!("device-{device}-0123456789");
        let req = LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) };
        let resp: LoginResp = c.request(&req).await.unwrap();
        let s = resp.session.unwrap();
        (c, s.player_id, s.token)
    }

    /// Sets a player's saved progress (level, xp, hp).
    pub async fn progress(&self, player: u64, level: u32, xp: u64, hp: u32) {
        self.db
            .store()
            .exec_drop(
                "UPDATE zone_players SET level = ?, xp = ?, hp = ? WHERE player_id = ?",
                (level, xp, hp, player),
            )
            .await
            .unwrap();
    }

    /// Gives a player items through the shop's ledger (an admin grant under `key`).
    pub async fn give(&self, player: u64, key: &str, items: &[(u32, i64)]) {
        let g = mmo_shop::Grant {
            player,
            key: format!("admin:{key}"),
            reason: "admin".into(),
            reference: "test".into(),
            currencies: Vec::new(),
            items: items.to_vec(),
        };
        mmo_shop::grant(self.db.store(), &self.bus, &g).await.unwrap();
    }

    /// The player's items in the shop's inventory table (count > 0), by item id.
    pub async fn inventory(&self, player: u64) -> Vec<(u32, i64)> {
        mmo_shop::grants::inventory_upto(self.db.store(), player, 1000).await.unwrap()
    }

    /// The player's grant rows: (key, reason, reference), oldest first.
    pub async fn grants(&self, player: u64) -> Vec<(String, String, String)> {
        self.db
            .store()
            .exec("SELECT grant_key, reason, reference FROM grants WHERE player = ? ORDER BY id", (player,))
            .await
            .unwrap()
    }

    /// Every game event emitted so far.
    pub async fn events(&self) -> Vec<mmo_proto::bus::GameEvent> {
        mmo_testkit::redis::events(&self.bus).await
    }

    /// A guest logged in and in the world.
    pub async fn player(&self, device: &str) -> Player {
        let (c, id) = self.guest(device).await;
        Player::enter(c, id).await
    }

    /// A guest placed at (x, y) on `map` before it enters (its saved position).
    pub async fn player_at(&self, device: &str, map: &str, x: f32, y: f32) -> Player {
        let (c, id) = self.guest(device).await;
        self.place(id, map, x, y).await;
        Player::enter(c, id).await
    }

    /// Writes a player's saved place, as a previous session would have left it.
    pub async fn place(&self, player: u64, map: &str, x: f32, y: f32) {
        self.db
            .store()
            .exec_drop(
                "INSERT INTO zone_players (player_id, map, x, y, level, xp, hp, owner, saved_at_ms) \
                 VALUES (?, ?, ?, ?, 1, 0, 100, '', 0) ON DUPLICATE KEY UPDATE map = VALUES(map), \
                 x = VALUES(x), y = VALUES(y)",
                (player, map, x, y),
            )
            .await
            .unwrap();
    }

    /// The player's row: (map, x, y, level, xp, hp, the old JSON inventory column, owner).
    pub async fn row(&self, player: u64) -> Option<Row> {
        let mut conn = self.db.store().conn().await.unwrap();
        type Raw = (String, Option<f32>, Option<f32>, u32, u64, u32, String, String);
        let r: Option<Raw> = conn
            .exec_first(
                "SELECT map, x, y, level, xp, hp, inventory, owner FROM zone_players WHERE player_id = ?",
                (player,),
            )
            .await
            .unwrap();
        r.map(|(map, x, y, level, xp, hp, inventory, owner)| Row {
            map,
            x,
            y,
            level,
            xp,
            hp,
            inventory,
            owner,
        })
    }

    /// Waits until `f` holds for the player's row.
    pub async fn wait_row(&self, player: u64, what: &str, f: impl Fn(&Row) -> bool) -> Row {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(r) = self.row(player).await
                && f(&r)
            {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "row of {player}: {what}; is {:?}",
                self.row(player).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn finish(self) {
        self.shutdown.trigger();
        self.gateway.shutdown.trigger();
        // The zone's final saves run in the drain.
        self.shutdown.drain(Duration::from_secs(10)).await;
        self.bus.close();
        self.db.cleanup().await;
        drop(self.redis);
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub map: String,
    pub x: Option<f32>,
    pub y: Option<f32>,
    pub level: u32,
    pub xp: u64,
    pub hp: u32,
    pub inventory: String,
    pub owner: String,
}

/// A client in the world, with its picture of it: what it sees and where.
pub struct Player {
    pub c: TestClient,
    pub id: u64,
    pub enter: ZoneEnterNtf,
    /// Entity id -> position, of what is in view.
    pub view: HashMap<u32, (f32, f32)>,
    /// Where entities that left the view were last seen.
    pub left: HashMap<u32, (f32, f32)>,
    /// Entity id -> player id, of the players in view.
    pub players: HashMap<u32, u64>,
    pub me: (f32, f32),
    /// Every ZoneEnterNtf pushed since entering (portals, matches, returns).
    pub enters: Vec<ZoneEnterNtf>,
    pub ticks: Vec<ZoneTickNtf>,
    pub errors: Vec<ErrorResp>,
    last_positions_tick: u64,
    input_seq: u32,
}

impl Player {
    pub async fn enter(mut c: TestClient, id: u64) -> Player {
        let resp: EnterWorldResp = tokio::time::timeout(DEADLINE, c.request(&EnterWorldReq {}))
            .await
            .expect("EnterWorldResp in time")
            .unwrap();
        let enter = resp.zone.unwrap();
        let me = enter.position.map(|p| (p.x, p.y)).unwrap_or_default();
        Player {
            c,
            id,
            enter,
            view: HashMap::new(),
            left: HashMap::new(),
            players: HashMap::new(),
            me,
            enters: Vec::new(),
            ticks: Vec::new(),
            errors: Vec::new(),
            last_positions_tick: 0,
            input_seq: 0,
        }
    }

    pub fn entity(&self) -> u32 {
        self.enter.entity_id
    }

    /// Walks in a direction at full speed (`(0, 0)` stops).
    pub async fn walk(&mut self, dx: f32, dy: f32) {
        self.input_seq += 1;
        let intent = Some(Intent::Direction(mmo_proto::Vec2 { x: dx, y: dy }));
        self.c.send(&MoveReq { input_seq: self.input_seq, intent, ..Default::default() }).await.unwrap();
    }

    pub async fn send_move(&mut self, req: MoveReq) {
        self.c.send(&req).await.unwrap();
    }

    /// Applies one frame to the picture; returns it.
    fn apply(&mut self, f: &Frame) {
        let me = self.enter.entity_id;
        match f.header.id {
            id if id == ZoneTickNtf::ID => {
                let t: ZoneTickNtf = f.decode_body().unwrap();
                for e in &t.enters {
                    if e.id == me {
                        self.me = (e.x, e.y);
                    } else {
                        self.view.insert(e.id, (e.x, e.y));
                        if e.player_id != 0 {
                            self.players.insert(e.id, e.player_id);
                        }
                    }
                }
                for id in &t.leaves {
                    if let Some(at) = self.view.remove(id) {
                        self.left.insert(*id, at);
                    }
                    self.players.remove(id);
                }
                for s in &t.stops {
                    if s.id == me {
                        self.me = (s.x, s.y);
                    } else if let Some(p) = self.view.get_mut(&s.id) {
                        *p = (s.x, s.y);
                    }
                }
                if let Some(c) = t.you.as_ref().and_then(|y| y.correction.as_ref()).and_then(|c| c.position) {
                    self.me = (c.x, c.y);
                }
                self.ticks.push(t);
            }
            id if id == ZonePositionsNtf::ID => {
                let p: ZonePositionsNtf = f.decode_body().unwrap();
                if p.tick <= self.last_positions_tick {
                    return;
                }
                self.last_positions_tick = p.tick;
                for m in &p.moves {
                    if m.id == me {
                        self.me = (m.x, m.y);
                    } else if let Some(at) = self.view.get_mut(&m.id) {
                        *at = (m.x, m.y);
                    }
                }
            }
            id if id == ZoneEnterNtf::ID => {
                let e: ZoneEnterNtf = f.decode_body().unwrap();
                self.view.clear();
                self.players.clear();
                self.me = e.position.map(|p| (p.x, p.y)).unwrap_or_default();
                self.last_positions_tick = 0;
                self.enter = e.clone();
                self.enters.push(e);
            }
            id if id == ErrorResp::ID => self.errors.push(f.decode_body().unwrap()),
            id if id == DisconnectNtf::ID => {
                panic!("disconnected: {:?}", f.decode_body::<DisconnectNtf>().unwrap())
            }
            _ => {}
        }
    }

    /// Reads frames until `done` holds (checked after each), failing after [`DEADLINE`].
    pub async fn until(&mut self, what: &str, done: impl Fn(&Player) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(self) {
            let f = match tokio::time::timeout_at(deadline, self.c.recv()).await {
                Ok(f) => f.unwrap(),
                Err(_) => panic!(
                    "player {}: {what}: not within {DEADLINE:?} (me {:?}, view {:?})",
                    self.id, self.me, self.view
                ),
            };
            self.apply(&f);
        }
    }

    /// Reads frames for `d`, applying them.
    pub async fn read_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(f) = tokio::time::timeout_at(deadline, self.c.recv()).await {
            self.apply(&f.unwrap());
        }
    }

    /// Sends a request and reads until its answer, applying pushes in between: the answer's
    /// body, or the ErrorResp.
    pub async fn call<Req: MsgType, Resp: MsgType>(&mut self, req: &Req) -> Result<Resp, ErrorResp> {
        let seq = self.c.send(req).await.unwrap();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let f =
                tokio::time::timeout_at(deadline, self.c.recv()).await.expect("an answer in time").unwrap();
            if f.header.flags.contains(Flags::PUSH) || f.header.seq != seq {
                self.apply(&f);
                continue;
            }
            if f.header.id == ErrorResp::ID {
                return Err(f.decode_body().unwrap());
            }
            assert_eq!(f.header.id, Resp::ID, "answer to {}", Req::NAME);
            return Ok(f.decode_body().unwrap());
        }
    }
}
