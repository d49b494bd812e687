//! MySQL going away under the account server, through a proxy the test cuts (the shared
//! MariaDB is never touched): logins fail fast with a retryable `UNAVAILABLE` and a retry hint,
//! not `INTERNAL`; the gateway and logged-in sessions are unaffected; once MySQL is back, the
//! pool recovers and the same request works.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::{Duration, Instant};

use common::{DEADLINE, call, client, device_login, gateway};
use mmo_core::store::Store;
use mmo_core::{ListenerConfig, Shutdown};
use mmo_proto::{ErrorCode, LoginResp, PingReq, PingResp};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::proxy::TcpProxy;
use mmo_testkit::redis::TestRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_get_a_retryable_unavailable_while_mysql_is_down_and_work_again_after() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_version::migrations()).await.unwrap();
    db.store().migrate(&mmo_account::migrations()).await.unwrap();
    // The account server reaches the test's database only through the proxy.
    let mut cfg = db.config().clone();
    let proxy = TcpProxy::start(mmo_testkit::mysql::server_addr(&cfg.url).await).await;
    // Over TCP only: by default the driver switches to MySQL's Unix socket when it finds one.
    cfg.url = mmo_testkit::mysql::url_through(&cfg.url, proxy.addr());
    cfg.connect_timeout = Duration::from_secs(2);
    let store = Store::connect(&cfg).await.unwrap();
    let bus = redis.bus("node-1", &shutdown).await;
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    mmo_account::run(&bus, store, common::test_config(), &shutdown).await.unwrap();
    // The real gateway (it answers Ping itself).
    let (addr, _) = gateway(&redis, "gateway-1", &shutdown).await;

    let mut first = client(addr).await;
    call::<_, LoginResp>(&mut first, &device_login("device-up-0123456789")).await.unwrap();
    let mut c = client(addr).await;

    proxy.cut();
    let start = Instant::now();
    let err = call::<_, LoginResp>(&mut c, &device_login("device-down-0123456789")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unavailable, "{err:?}");
    assert!(err.retry_after_ms > 0, "a retry hint: {err:?}");
    assert!(err.detail.contains("database"), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "failed fast: {:?}", start.elapsed());
    // Not a strike, and nothing else suffers: both sessions go on.
    let _: PingResp = c.request(&PingReq::default()).await.unwrap();
    let _: PingResp = first.request(&PingReq::default()).await.unwrap();

    // MySQL is back: the same login works after the hinted wait (the pool reconnects).
    proxy.restore();
    let deadline = Instant::now() + DEADLINE;
    loop {
        match call::<_, LoginResp>(&mut c, &device_login("device-down-0123456789")).await {
            Ok(resp) => {
                assert!(resp.session.is_some());
                break;
            }
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::Unavailable, "{e:?}");
                assert!(Instant::now() < deadline, "never recovered: {e:?}");
                tokio::time::sleep(Duration::from_millis(e.retry_after_ms.min(200))).await;
            }
        }
    }
    shutdown.trigger();
    bus.close();
    db.cleanup().await;
}
