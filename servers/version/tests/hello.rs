//! Hello through gateway -> bus -> version server, against real Redis and MariaDB: build policies
//! from MySQL, published without a restart.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::sync::Arc;

use mmo_core::{ListenerConfig, Router, Shutdown};
use mmo_proto::{ErrorCode, HelloReq, HelloResp, PROTOCOL_VERSION, Platform, VersionStatus};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;
use mmo_testkit::{ClientError, TestClient, TestServer};

struct Cluster {
    gateway: TestServer,
    bus: mmo_core::bus::Bus,
    db: TestDb,
    _redis: TestRedis,
    shutdown: Shutdown,
}

async fn cluster() -> Cluster {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_version::migrations()).await.unwrap();
    let bus = redis.bus("node-1", &shutdown).await;
    mmo_version::run(&bus, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    // A gateway with no handler of its own: Hello is forwarded.
    let gateway =
        TestServer::start_gateway(ListenerConfig::default(), Router::<()>::new(), Arc::new(()), &bus).await;
    Cluster { gateway, bus, db, _redis: redis, shutdown }
}

fn hello(version: &str, platform: Platform) -> HelloReq {
    HelloReq { protocol_version: PROTOCOL_VERSION, client_version: version.into(), platform: platform as i32 }
}

async fn say_hello(c: &mut TestClient, version: &str, platform: Platform) -> Result<HelloResp, ClientError> {
    c.request::<_, HelloResp>(&hello(version, platform)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_are_checked_per_platform_and_a_publish_applies_at_the_next_hello() {
    let cl = cluster().await;

    // No policy for the platform: every build may play.
    let mut c = cl.gateway.client().await;
    let r = say_hello(&mut c, "0.1.0", Platform::Linux).await.unwrap();
    assert_eq!(r.version_status(), VersionStatus::Ok);
    assert_ne!(r.session_id, 0);
    // The session is past Connected: a second Hello is off-stage, at the gateway.
    let err = say_hello(&mut c, "0.1.0", Platform::Linux).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::WrongStage }), "{err:?}");

    mmo_version::publish(
        cl.db.store(),
        &cl.bus,
        Platform::Linux,
        "1.2.0",
        "1.1.0",
        "https://cdn.example/linux/1.2.0.json",
    )
    .await
    .unwrap();

    // Older than the minimum: the manifest, then the connection closes.
    let mut old = cl.gateway.client().await;
    let r = say_hello(&mut old, "1.0.9", Platform::Linux).await.unwrap();
    assert_eq!(r.version_status(), VersionStatus::UpdateRequired);
    assert_eq!(r.manifest_url, "https://cdn.example/linux/1.2.0.json");
    assert_eq!((r.minimum_version.as_str(), r.latest_version.as_str()), ("1.1.0", "1.2.0"));
    assert_eq!(old.expect_disconnect().await.unwrap(), ErrorCode::UpdateRequired);

    // Between minimum and latest: may play, told about the update.
    let mut mid = cl.gateway.client().await;
    let r = say_hello(&mut mid, "1.1.5", Platform::Linux).await.unwrap();
    assert_eq!(r.version_status(), VersionStatus::UpdateAvailable);
    assert_eq!(r.latest_version, "1.2.0");
    // Another platform has no policy yet.
    let mut win = cl.gateway.client().await;
    assert_eq!(
        say_hello(&mut win, "1.0.0", Platform::Windows).await.unwrap().version_status(),
        VersionStatus::Ok
    );

    // Raising the minimum takes effect for the very next Hello, without restarting anything.
    mmo_version::publish(
        cl.db.store(),
        &cl.bus,
        Platform::Linux,
        "1.3.0",
        "1.2.0",
        "https://cdn.example/linux/1.3.0.json",
    )
    .await
    .unwrap();
    let mut next = cl.gateway.client().await;
    let r = say_hello(&mut next, "1.1.5", Platform::Linux).await.unwrap();
    assert_eq!(r.version_status(), VersionStatus::UpdateRequired);
    assert_eq!(r.manifest_url, "https://cdn.example/linux/1.3.0.json");
    let mut current = cl.gateway.client().await;
    let r = say_hello(&mut current, "1.3.0", Platform::Linux).await.unwrap();
    assert_eq!(r.version_status(), VersionStatus::Ok);
    assert!(r.manifest_url.is_empty());

    // Bad policies are refused by publish.
    assert!(
        mmo_version::publish(cl.db.store(), &cl.bus, Platform::Linux, "1.0.0", "2.0.0", "x").await.is_err()
    );
    assert!(
        mmo_version::publish(cl.db.store(), &cl.bus, Platform::Linux, "one", "1.0.0", "x").await.is_err()
    );
    cl.shutdown.trigger();
    cl.db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_protocol_and_unparseable_builds_are_refused() {
    let cl = cluster().await;
    let mut c = cl.gateway.client().await;
    let err = say_hello(&mut c, "not-a-version", Platform::Linux).await.unwrap_err();
    assert!(matches!(err, ClientError::Rejected { code: ErrorCode::InvalidArgument }), "{err:?}");
    // The session stays in Connected and may try again.
    assert_eq!(say_hello(&mut c, "2.0", Platform::Linux).await.unwrap().version_status(), VersionStatus::Ok);

    let mut old_protocol = cl.gateway.client().await;
    let req = HelloReq { protocol_version: PROTOCOL_VERSION + 1, ..hello("1.0.0", Platform::Linux) };
    let err = old_protocol.request::<_, HelloResp>(&req).await.unwrap_err();
    assert!(matches!(err, ClientError::Disconnected { reason: ErrorCode::UnsupportedProtocol }), "{err:?}");
    cl.shutdown.trigger();
    cl.db.cleanup().await;
}
