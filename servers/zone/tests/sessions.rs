//! The zone follows the session: logging out or a connection whose resume window ran out takes
//! the player out of the world (saved); a parked session keeps its entity for the window; a
//! second login of the same account leaves exactly one entity.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::{Player, cluster, cluster_full};
use mmo_core::ListenerConfig;
use mmo_proto::{ErrorCode, LogoutReq};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_takes_the_player_out_of_the_world_for_everyone() {
    let cl = cluster().await;
    let mut a = cl.player_at("leaver", "field", 100.0, 100.0).await;
    let mut b = cl.player_at("stayer", "field", 105.0, 100.0).await;
    let ea = a.entity();
    b.until("b sees a", |p| p.view.contains_key(&ea)).await;
    a.walk(0.0, 1.0).await;
    b.until("a moved", |p| p.view[&ea].1 > 103.0).await;
    a.c.send(&LogoutReq {}).await.unwrap();
    assert_eq!(a.c.expect_disconnect().await.unwrap(), ErrorCode::LoggedOut);
    b.until("a left b's view", |p| !p.view.contains_key(&ea)).await;
    let row = cl.wait_row(a.id, "released", |r| r.owner.is_empty()).await;
    assert!(row.y.unwrap() > 103.0, "saved where it was: {row:?}");
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_login_leaves_exactly_one_entity_of_the_player() {
    let cl = cluster().await;
    let mut onlooker = cl.player_at("onlooker", "field", 200.0, 205.0).await;
    let (c, id) = cl.guest("twice").await;
    cl.place(id, "field", 200.0, 200.0).await;
    let mut first = Player::enter(c, id).await;
    onlooker.until("sees the first", |p| p.players.values().any(|pl| *pl == id)).await;

    // The same account again on another connection: the first is kicked; the second enters.
    let (c2, id2) = cl.guest("twice").await;
    assert_eq!(id2, id);
    assert_eq!(first.c.expect_disconnect().await.unwrap(), ErrorCode::DuplicateLogin);
    let mut second = Player::enter(c2, id).await;
    // Whether it took the entity over or entered anew, the new client is shown what is around.
    let eo = onlooker.entity();
    second.until("the new client sees the onlooker", |p| p.view.contains_key(&eo)).await;
    second.walk(1.0, 0.0).await;
    second.until("the second moves it", |p| p.me.0 > 201.0).await;
    onlooker.read_for(Duration::from_millis(600)).await;
    let seen: Vec<u32> = onlooker.players.iter().filter(|(_, pl)| **pl == id).map(|(e, _)| *e).collect();
    assert_eq!(seen.len(), 1, "one entity of the player in view: {:?}", onlooker.players);
    assert_eq!(seen[0], second.entity());
    let field = cl.zone.incarnation("field").unwrap();
    assert!(cl.row(id).await.unwrap().owner.starts_with(&format!("{field}/")));
    cl.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_keeps_its_entity_for_the_resume_window_then_leaves() {
    let listener = ListenerConfig { resume_window: Duration::from_millis(1500), ..ListenerConfig::default() };
    let cl = cluster_full(&["field", "meadow"], |_| {}, listener).await;
    let mut b = cl.player_at("watching", "field", 105.0, 100.0).await;
    let a = cl.player_at("dropping", "field", 100.0, 100.0).await;
    let (ea, id) = (a.entity(), a.id);
    b.until("b sees a", |p| p.view.contains_key(&ea)).await;
    drop(a); // the connection dies; the session is parked
    b.read_for(Duration::from_millis(700)).await;
    assert!(b.view.contains_key(&ea), "still in the world while it may resume");
    assert!(!cl.row(id).await.unwrap().owner.is_empty(), "still held");
    b.until("gone once the window is over", |p| !p.view.contains_key(&ea)).await;
    cl.wait_row(id, "released", |r| r.owner.is_empty()).await;
    cl.finish().await;
}

/// A gateway that dies without a word (no session-end notices, no more heartbeats): its players
/// leave the world, saved, once it has been missing from the live nodes twice in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_players_of_a_dead_gateway_leave_the_world() {
    let cl = cluster().await;
    let gw_shutdown = mmo_core::Shutdown::new();
    let gw_bus = cl.redis.bus("gateway-2", &gw_shutdown).await;
    let registry = mmo_core::Registry::new();
    let forwarder = mmo_core::bus::relay::start(&gw_bus, registry.clone(), &gw_shutdown).await.unwrap();
    let router = mmo_core::Router::<()>::new().forward_unknown(forwarder);
    let mut listener = ListenerConfig { resume_window: Duration::ZERO, ..ListenerConfig::default() };
    listener.listen = "127.0.0.1:0".parse().unwrap();
    let l =
        mmo_core::Listener::bind(listener, router, std::sync::Arc::new(()), registry, gw_shutdown.clone())
            .await
            .unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(l.run());

    let mut c = mmo_testkit::TestClient::connect(addr).await.unwrap();
    c.hello().await.unwrap();
    let login = mmo_proto::LoginReq {
        credential: Some(mmo_proto::login_req::Credential::Device(mmo_proto::DeviceCredential {
            device_id: "device-on-a-doomed-gateway".into(),
        })),
    };
    let id = c.request::<_, mmo_proto::LoginResp>(&login).await.unwrap().session.unwrap().player_id;
    cl.place(id, "field", 100.0, 100.0).await;
    let p = Player::enter(c, id).await;
    let mut watcher = cl.player_at("watcher-2", "field", 104.0, 100.0).await;
    let e = p.entity();
    watcher.until("sees the doomed player", |w| w.view.contains_key(&e)).await;

    // The gateway's bus goes silent first (its notices are never written), then it stops
    // heartbeating: as a crash looks from outside.
    gw_bus.close();
    gw_shutdown.trigger();
    watcher.until("the doomed player left", |w| !w.view.contains_key(&e)).await;
    cl.wait_row(id, "saved and released", |r| r.owner.is_empty()).await;
    drop(p);
    cl.finish().await;
}

/// A session that ended without its notice reaching the zone (lost on the way): the presence
/// directory no longer names it, so the player leaves the world anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_whose_session_is_gone_leaves_even_if_the_notice_was_lost() {
    let cl = cluster().await;
    let mut watcher = cl.player_at("watcher-3", "field", 104.0, 100.0).await;
    let p = cl.player_at("ghost", "field", 100.0, 100.0).await;
    let e = p.entity();
    watcher.until("sees the player", |w| w.view.contains_key(&e)).await;
    // The gateway's record of the session disappears, as when it ended and its ENDED was lost;
    // the connection itself stays up.
    let mut conn = cl.bus.conn().await.unwrap();
    let _: () = redis::cmd("DEL").arg(cl.bus.keys().presence(p.id)).query_async(&mut *conn).await.unwrap();
    watcher.until("the ghost left", |w| !w.view.contains_key(&e)).await;
    cl.wait_row(p.id, "saved and released", |r| r.owner.is_empty()).await;
    cl.finish().await;
}
