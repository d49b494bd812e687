//! The `login` scenario against a real cluster, started in-process the way `mmo all` starts it
//! (gateway, version, account and diagnostics servers, the Redis Streams bus, MySQL): guest and
//! password logins all succeed and their sessions are held through a few heartbeats, a rerun
//! logs in to the accounts the first run registered, and a wrong password or a session taken
//! over during the idle phase fails the run with its reason.
//!
//! Needs Redis at `MMO_REDIS_URL` and MySQL/MariaDB at `MMO_MYSQL_URL` (`scripts/services.sh`);
//! each test has its own key prefix and database, deleted at the end.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod cluster;

use std::time::Duration;

use cluster::Cluster;
use mmo_bots::{LoginMethod, Options, Report, Scenario, Swarm};
use mmo_proto::login_req::Credential;
use mmo_proto::{DeviceCredential, LoginReq, LoginResp, RegisterReq, RegisterResp};
use mmo_testkit::TestClient;

/// The heartbeat the gateway asks for: short, so a 1 s idle phase sees a few.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// `mmo all` with a short heartbeat and cheap hashes: the test is about the bots, not argon2's
/// cost.
async fn start_cluster() -> Cluster {
    Cluster::start("login", |cfg| {
        cfg.listener.heartbeat_interval = HEARTBEAT;
        cfg.account.argon2_memory_kib = 1024;
        cfg.account.argon2_iterations = 1;
        cfg.account.validate().unwrap();
    })
    .await
}

/// Options for `bots` bots of the login scenario against `cluster`.
fn bots(cluster: &Cluster, bots: usize, login: LoginMethod, run_tag: &str) -> Options {
    Options {
        addr: cluster.addr,
        bots,
        scenario: Scenario::Login,
        login,
        run_tag: run_tag.to_owned(),
        duration: Duration::from_secs(1),
        ..Options::default()
    }
}

/// Every bot logged in, held its session through the idle phase and had every heartbeat
/// answered.
fn assert_all_held(report: &Report, bots: u64) {
    let login = report.login.as_ref().expect("a login report");
    assert_eq!(report.connected, bots, "{report}");
    assert_eq!((login.attempted, login.ok, login.failed), (bots, bots, 0), "{report}");
    assert_eq!((login.sessions_held, login.sessions_lost), (bots, 0), "{report}");
    assert!(login.per_s > 0.0 && login.phase_s > 0.0, "{report}");
    assert!(login.latency_ms.p50 > 0.0 && login.latency_ms.p50 <= login.latency_ms.max, "{report}");
    // A 1 s idle phase at a 250 ms heartbeat: a few per bot, all answered once.
    assert!(report.answered >= 2 * bots, "{report}");
    assert_eq!(report.answered, report.sent, "{report}");
    assert_eq!((report.errors, report.lost, report.duplicated), (0, 0, 0), "{report}");
    assert!(report.passed(), "{:?}\n{report}", report.failures());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guest_and_password_logins_hold_their_sessions_and_reruns_reuse_the_accounts() {
    let cluster = start_cluster().await;

    // 50 guests, with the server's memory read around them (the server is this process).
    let opts = Options {
        server_pid: Some(std::process::id()),
        rss_settle: Duration::from_millis(100),
        ..bots(&cluster, 50, LoginMethod::Device, "guests")
    };
    let report = mmo_bots::run(opts).await.unwrap();
    assert_all_held(&report, 50);
    let login = report.login.as_ref().unwrap();
    assert_eq!(login.registered, 0);
    assert_eq!(login.rate, Some(500.0));
    // Heartbeats at the interval the server asked for.
    assert_eq!(report.ping_interval_ms, Some(250.0), "{report}");
    let rss = report.server_rss.expect("server rss with --server-pid");
    assert_eq!((rss.pid, rss.sessions), (std::process::id(), 50));
    assert!(rss.before_bytes > 0 && rss.after_bytes > 0);
    assert_eq!(report.server_rss_per_session_bytes, rss.per_session_bytes);

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["scenario"], "login");
    assert_eq!(json["login"]["method"], "device");
    for key in ["ok", "failed", "failed_by_kind", "per_s", "phase_s", "sessions_held", "sessions_lost"] {
        assert!(json["login"].get(key).is_some(), "login lacks {key}: {json}");
    }
    for key in ["p50", "p99", "max"] {
        assert!(json["login"]["latency_ms"][key].is_f64(), "login latency lacks {key}: {json}");
    }
    assert!(json["server_rss_per_session_bytes"].is_f64(), "{json}");

    // 20 players register (closed loop, 8 at once), then a rerun logs in to the same accounts.
    let password = Options { login_concurrency: Some(8), ..bots(&cluster, 20, LoginMethod::Password, "pw") };
    let first = mmo_bots::run(password.clone()).await.unwrap();
    assert_all_held(&first, 20);
    assert_eq!(first.login.as_ref().unwrap().registered, 20, "{first}");
    assert_eq!(first.login.as_ref().unwrap().concurrency, Some(8));
    let rerun = mmo_bots::run(password).await.unwrap();
    assert_all_held(&rerun, 20);
    assert_eq!(rerun.login.as_ref().unwrap().registered, 0, "{rerun}");

    // A guest rerun finds its accounts too: the device id is the player.
    let mut c = TestClient::connect(cluster.addr).await.unwrap();
    c.hello().await.unwrap();
    let device_id = mmo_bots::login::device_id("guests", 7);
    let resp: LoginResp = c
        .request(&LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) })
        .await
        .unwrap();
    let profile = resp.session.unwrap().profile.unwrap();
    assert!(profile.guest && profile.last_login_at_ms >= profile.created_at_ms, "{profile:?}");
    assert!(profile.last_login_at_ms > profile.created_at_ms, "logged in before: {profile:?}");
    drop(c);

    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_password_and_a_session_taken_over_fail_the_run_with_their_reasons() {
    let cluster = start_cluster().await;

    // Someone else holds bot 0's name with another password: its register is refused
    // (NAME_TAKEN), and so is its login.
    let mut c = TestClient::connect(cluster.addr).await.unwrap();
    c.hello().await.unwrap();
    let squatter = RegisterReq {
        username: mmo_bots::login::username("taken", 0),
        password: "not the bots' password".into(),
        display_name: String::new(),
    };
    let _: RegisterResp = c.request(&squatter).await.unwrap();
    drop(c);
    let report = mmo_bots::run(bots(&cluster, 3, LoginMethod::Password, "taken")).await.unwrap();
    let login = report.login.as_ref().unwrap();
    assert_eq!((login.attempted, login.ok, login.failed), (3, 2, 1), "{report}");
    assert_eq!(login.failed_by_kind.get("INVALID_CREDENTIALS"), Some(&1), "{report}");
    assert_eq!((login.sessions_held, login.sessions_lost), (2, 0), "{report}");
    let why = report.failures();
    assert!(why.iter().any(|w| w.contains("1 of 3 logins failed (INVALID_CREDENTIALS x1)")), "{why:?}");

    // Bot 0's device logs in elsewhere while the bots idle: the gateway closes the bot's
    // session, which is lost, with the reason it was given.
    let mut swarm = Swarm::start(bots(&cluster, 4, LoginMethod::Device, "takeover")).await.unwrap();
    let ramp = swarm.ramp_up().await;
    assert_eq!(ramp.logged_in, Some(4));
    let mut c = TestClient::connect(cluster.addr).await.unwrap();
    c.hello().await.unwrap();
    let device_id = mmo_bots::login::device_id("takeover", 0);
    let _: LoginResp = c
        .request(&LoginReq { credential: Some(Credential::Device(DeviceCredential { device_id })) })
        .await
        .unwrap();
    let report = swarm.measure().await;
    swarm.release().await;
    let login = report.login.as_ref().unwrap();
    assert_eq!((login.ok, login.failed), (4, 0), "{report}");
    assert_eq!((login.sessions_held, login.sessions_lost), (3, 1), "{report}");
    assert_eq!(report.errors_by_kind.get("disconnect.DUPLICATE_LOGIN"), Some(&1), "{report}");
    let why = report.failures();
    assert!(why.iter().any(|w| w.contains("1 of 4 sessions lost")), "{why:?}");
    drop(c);

    cluster.stop().await;
}
