//! A game's own server runs in the same process as the built-in ones, started by the same
//! launcher: the list `mmo::servers` returns, with the game's server added before the gateway.
//! (`docs/extending.md`, section 2.3, quotes this test.)

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use std::time::Duration;

use mmo::{Config, Role};
use mmo_core::Shutdown;
use mmo_core::server::launch;
use mmo_example_greeter::proto::{GreetReq, GreetResp};
use mmo_testkit::TestClient;
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

/// The defaults, on this test's Redis prefix and database, the gateway on a free port.
fn config(redis: &TestRedis, db: &TestDb) -> Config {
    let mut cfg = Config::default();
    cfg.bus = redis.cfg.clone();
    cfg.mysql = db.config().clone();
    cfg.listener.listen = "127.0.0.1:0".parse().unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_server_launches_with_the_built_in_ones() {
    let (redis, db) = (TestRedis::new(), TestDb::new().await);
    let cfg = config(&redis, &db);
    let shutdown = Shutdown::new();

    let mut servers = mmo::servers(Role::All, &cfg);
    // Before the gateway (last in the list), so its routes are published when the gateway loads them.
    servers.insert(servers.len() - 1, mmo_example_greeter::server());
    let launched = launch(servers, &cfg.bus, &cfg.node.id, Some(&cfg.mysql), &shutdown).await.unwrap();
    redis.track(&launched.bus);

    let names: Vec<&str> = launched.running.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "diagnostics",
            "version",
            "account",
            "zone",
            "matchmaking",
            "chat",
            "shop",
            "leaderboard",
            "greeter",
            "gateway"
        ]
    );
    let mut client = TestClient::connect(launched.listening().unwrap()).await.unwrap();
    client.hello().await.unwrap();
    let resp: GreetResp = client.request(&GreetReq { name: "Ada".into() }).await.unwrap();
    assert_eq!(resp.greeting, "Hello, Ada!");
    shutdown.drain(Duration::from_secs(10)).await;
}

/// A server that cannot start fails the launch, named, with its own reason (here the account
/// server's settings), instead of a bus error of some other kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_fails_the_launch_with_its_name_and_reason() {
    let (redis, db) = (TestRedis::new(), TestDb::new().await);
    let mut cfg = config(&redis, &db);
    cfg.account.max_failed_logins_per_account = 0;
    let shutdown = Shutdown::new();
    let err = launch(mmo::servers(Role::Account, &cfg), &cfg.bus, "bad-account", Some(&cfg.mysql), &shutdown)
        .await
        .unwrap_err();
    assert!(matches!(err, mmo_core::server::StartError::Server { name: "account", .. }), "{err}");
    assert!(err.to_string().starts_with("server account: "), "{err}");
    shutdown.drain(Duration::from_secs(5)).await;
}
