//! Account sessions across gateway nodes, with the real gateway and the real account server: a
//! second login of the same account on another gateway closes the first session, and a dropped
//! session is resumed with the token the account server issued.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

mod common;

use std::time::Duration;

use common::{DEADLINE, call, client, gateway, password_login, password_of, test_config};
use mmo_core::bus::{Bus, node};
use mmo_core::session::PlayerId;
use mmo_core::{ListenerConfig, Shutdown};
use mmo_proto::{
    ErrorCode, GetProfileReq, GetProfileResp, LoginResp, RegisterReq, RegisterResp, ResumeReq, ResumeResp,
};
use mmo_testkit::mysql::TestDb;
use mmo_testkit::redis::TestRedis;

async fn wait_presence_on(bus: &Bus, player: PlayerId, node_id: &str) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if node::presence(bus, player).await.unwrap().is_some_and(|p| p.node == node_id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{player} never online on {node_id}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_per_account_across_gateways_and_resume_with_the_issued_token() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let db = TestDb::new().await;
    db.store().migrate(&mmo_version::migrations()).await.unwrap();
    db.store().migrate(&mmo_account::migrations()).await.unwrap();
    let servers = redis.bus("servers", &shutdown).await;
    mmo_version::run(&servers, db.store().clone(), ListenerConfig::default(), &shutdown).await.unwrap();
    mmo_account::run(&servers, db.store().clone(), test_config(), &shutdown).await.unwrap();
    let (gw1, bus1) = gateway(&redis, "gw-1", &shutdown).await;
    let (gw2, _bus2) = gateway(&redis, "gw-2", &shutdown).await;

    // Registered (and logged in) through gateway 1.
    let mut first = client(gw1).await;
    let req =
        RegisterReq { username: "Roamer".into(), password: password_of("Roamer"), display_name: "".into() };
    let reg = call::<_, RegisterResp>(&mut first, &req).await.unwrap().session.unwrap();
    let player = PlayerId(reg.player_id);
    wait_presence_on(&bus1, player, "gw-1").await;

    // The same account logs in through gateway 2: the session on gateway 1 is closed.
    let mut second = client(gw2).await;
    let login = call::<_, LoginResp>(&mut second, &password_login("roamer", &password_of("Roamer"))).await;
    let session = login.unwrap().session.unwrap();
    assert_eq!(session.player_id, reg.player_id);
    assert_eq!(first.expect_disconnect().await.unwrap(), ErrorCode::DuplicateLogin);
    wait_presence_on(&bus1, player, "gw-2").await;

    // Gateway 2's connection drops; the client comes back within the window with its token.
    // Frames so far on that session: the LoginResp (1) and one GetProfileResp (2).
    let me = call::<_, GetProfileResp>(&mut second, &GetProfileReq { player_id: 0 }).await.unwrap();
    assert_eq!(me.profile.unwrap().display_name, "Roamer");
    drop(second);
    // A resume through gateway 1 is refused: the session lives on gateway 2.
    let mut elsewhere = client(gw1).await;
    let resume = ResumeReq { token: session.token.clone(), received: 2 };
    let refused = call::<_, ResumeResp>(&mut elsewhere, &resume).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::ResumeFailed);
    // If gateway 2 has not noticed the drop yet, the resume takes the session over.
    let mut back = client(gw2).await;
    let r = call::<_, ResumeResp>(&mut back, &resume).await.unwrap();
    assert_eq!((r.player_id, r.replayed), (reg.player_id, 0));
    // Same player, same session: authenticated requests work without a new login.
    let me = call::<_, GetProfileResp>(&mut back, &GetProfileReq { player_id: 0 }).await.unwrap();
    assert_eq!(me.profile.unwrap().player_id, reg.player_id);

    shutdown.trigger();
    db.cleanup().await;
}
