//! The `mmo` binary as an operator runs it: SIGTERM drains, a second signal exits at once, and
//! the metrics endpoint counts what happened.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mmo_proto::{ErrorCode, MsgType, PingReq, PingResp};
use mmo_testkit::{TestClient, free_port, scrape_metrics as scrape};

struct Mmo {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
    // Its own key prefix on the shared Redis, deleted afterwards.
    _redis: mmo_testkit::redis::TestRedis,
    // Its own database, dropped afterwards (the version server keeps its tables there).
    _db: mmo_testkit::mysql::TestDb,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Mmo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `mmo all` with `extra` appended to a config that listens on a free port.
async fn start(extra: &str) -> Mmo {
    let db = mmo_testkit::mysql::TestDb::new().await;
    let dir = std::env::temp_dir().join(format!("mmo-proc-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.toml");
    let mut f = std::fs::File::create(&cfg).unwrap();
    writeln!(f, "[listener]\nlisten = \"127.0.0.1:0\"\n{extra}").unwrap();
    let redis = mmo_testkit::redis::TestRedis::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmo"))
        .args(["all", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "warn")
        .env("MMO_BUS_PREFIX", &redis.cfg.prefix)
        .env("MMO_MYSQL_URL", &db.config().url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{line}"));
    Mmo { child, addr, _dir: TempDir(dir), _redis: redis, _db: db }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < within, "process still running after {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_within_the_grace_period() {
    let mut mmo = start("[metrics]\nenabled = false\n[shutdown]\ngrace = \"5s\"\n").await;
    let mut c = TestClient::connect(mmo.addr).await.unwrap();
    c.hello().await.unwrap();
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    signal(&mmo.child, "-TERM");
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::ShuttingDown);
    let status = wait_exit(&mut mmo.child, Duration::from_secs(5));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    // A client that never closes keeps its connection lingering for close_timeout (60 s), so the
    // drain would take the whole grace period; the second signal cuts it short.
    let mut mmo =
        start("close_timeout = \"60s\"\n[metrics]\nenabled = false\n[shutdown]\ngrace = \"60s\"\n").await;
    let mut c = TestClient::connect(mmo.addr).await.unwrap();
    c.hello().await.unwrap();
    signal(&mmo.child, "-TERM");
    let f = c.recv().await.unwrap();
    assert_eq!(f.header.id, mmo_proto::DisconnectNtf::ID);
    std::thread::sleep(Duration::from_millis(200));
    assert!(mmo.child.try_wait().unwrap().is_none(), "still draining");
    signal(&mmo.child, "-INT");
    let status = wait_exit(&mut mmo.child, Duration::from_secs(3));
    assert_eq!(status.code(), Some(130));
}

#[tokio::test]
async fn metrics_count_connections_and_rejects_by_reason() {
    let port = free_port();
    let mut mmo = start(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n")).await;
    let mut c = TestClient::connect(mmo.addr).await.unwrap();
    c.hello().await.unwrap();
    c.send_raw(&u32::MAX.to_be_bytes()).await.unwrap();
    assert_eq!(c.expect_disconnect().await.unwrap(), ErrorCode::BadFrame);
    let mut body = String::new();
    let start = Instant::now();
    while !(body.contains("mmo_rejects_total{reason=\"BAD_FRAME\"} 1")
        && body.contains("mmo_connections_closed_total{reason=\"BAD_FRAME\"} 1"))
    {
        assert!(start.elapsed() < Duration::from_secs(5), "metrics never showed the reject:\n{body}");
        std::thread::sleep(Duration::from_millis(50));
        body = scrape(port);
    }
    assert!(body.contains("mmo_frames_in_total"), "{body}");
    assert!(body.contains("mmo_handler_duration_seconds_bucket{msg=\"HelloReq\""), "{body}");
    signal(&mmo.child, "-TERM");
    assert!(wait_exit(&mut mmo.child, Duration::from_secs(5)).success());
}

#[tokio::test]
async fn migrate_creates_the_database_applies_once_and_is_idempotent() {
    let db = mmo_testkit::mysql::TestDb::new().await;
    // A database that does not exist yet on the same server: `migrate` creates it.
    let fresh = format!("{}_m", db.config().url.rsplit('/').next().unwrap());
    let url = format!("{}/{fresh}", db.config().url.rsplit_once('/').unwrap().0);
    let migrate = || {
        Command::new(env!("CARGO_BIN_EXE_mmo")).arg("migrate").env("MMO_MYSQL_URL", &url).output().unwrap()
    };
    let first = migrate();
    // A restart applies nothing.
    let second = migrate();
    let found: Vec<String> = db
        .store()
        .exec("SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?", (fresh.clone(),))
        .await
        .unwrap();
    // Dropped before asserting, so a failure leaves nothing behind.
    db.store().query_drop(&format!("DROP DATABASE IF EXISTS `{fresh}`")).await.unwrap();
    assert_eq!(found, vec![fresh.clone()]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(stdout.contains("version applied") && stdout.contains("client_builds"), "{stdout}");
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("schema is current"));
    db.cleanup().await;
}

#[tokio::test]
async fn admin_version_publish_writes_the_policy() {
    let db = mmo_testkit::mysql::TestDb::new().await;
    let redis = mmo_testkit::redis::TestRedis::new();
    let publish = |minimum: &str| {
        Command::new(env!("CARGO_BIN_EXE_mmo"))
            .args([
                "admin",
                "version",
                "publish",
                "--platform",
                "android",
                "--latest",
                "2.0.0",
                "--minimum",
                minimum,
            ])
            .args(["--manifest", "https://cdn.example/android/2.0.0.json"])
            .env("MMO_MYSQL_URL", &db.config().url)
            .env("MMO_BUS_PREFIX", &redis.cfg.prefix)
            .output()
            .unwrap()
    };
    let out = publish("1.5.0");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<(String, String, String)> = db
        .store()
        .exec("SELECT platform, latest_version, minimum_version FROM client_builds", ())
        .await
        .unwrap();
    assert_eq!(rows, vec![("android".into(), "2.0.0".into(), "1.5.0".into())]);
    // A minimum newer than the latest is refused, and nothing changes.
    assert!(!publish("3.0.0").status.success());
    let rows: Vec<(String,)> =
        db.store().exec("SELECT minimum_version FROM client_builds", ()).await.unwrap();
    assert_eq!(rows, vec![("1.5.0".into(),)]);
    db.cleanup().await;
}
