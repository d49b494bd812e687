//! The route table in Redis: servers claim their message ids atomically. Two servers starting
//! at the same moment with the same id: exactly one starts, the other fails naming both.

#![allow(clippy::unwrap_used)] // tests unwrap: a failure is the assertion

use mmo_core::bus::BusError;
use mmo_core::bus::routes::{RouteTable, publish};
use mmo_core::{RouteSpec, Shutdown, Stage};
use mmo_proto::{EchoReq, MsgType, TimeReq};
use mmo_testkit::redis::TestRedis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_servers_claiming_one_id_at_once_exactly_one_gets_it() {
    let redis = TestRedis::new();
    let shutdown = Shutdown::new();
    let a = redis.bus("node-a", &shutdown).await;
    let b = redis.bus("node-b", &shutdown).await;
    let spec: RouteSpec = Stage::Authenticated.into();
    let mut conn = redis::Client::open(redis.cfg.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for round in 0..50 {
        let _: () = redis::cmd("DEL").arg(a.keys().routes()).query_async(&mut conn).await.unwrap();
        // Each also claims an id of its own: a loser must not keep any of its claims.
        let a_routes = [(TimeReq::ID, TimeReq::NAME, spec), (EchoReq::ID, EchoReq::NAME, spec)];
        let b_routes =
            [(mmo_proto::PingReq::ID, mmo_proto::PingReq::NAME, spec), (EchoReq::ID, EchoReq::NAME, spec)];
        let (ra, rb) = tokio::join!(publish(&a, "alpha", &a_routes), publish(&b, "beta", &b_routes));
        let (winner, loser, err) = match (ra, rb) {
            (Ok(()), Err(e)) => ("alpha", "beta", e),
            (Err(e), Ok(())) => ("beta", "alpha", e),
            other => panic!("round {round}: exactly one must start: {other:?}"),
        };
        let BusError::Conflict(msg) = err else { panic!("round {round}: {err:?}") };
        assert!(msg.contains("EchoReq") && msg.contains(winner) && msg.contains(loser), "{msg}");
        // The table holds the winner's routes only.
        let table = RouteTable::default();
        assert_eq!(table.reload(&a).await.unwrap(), 2, "round {round}");
        assert_eq!(table.route(EchoReq::ID).unwrap().service, winner);
        let lost_own = if loser == "alpha" { TimeReq::ID } else { mmo_proto::PingReq::ID };
        assert!(table.route(lost_own).is_none(), "round {round}: the loser kept a claim");
    }
    // Publishing again (every routes_refresh) by the owner is fine.
    let table = RouteTable::default();
    table.reload(&a).await.unwrap();
    let owner = table.route(EchoReq::ID).unwrap().service;
    let bus = if owner == "alpha" { &a } else { &b };
    let routes = [(EchoReq::ID, EchoReq::NAME, spec)];
    publish(bus, &owner, &routes).await.unwrap();
}
