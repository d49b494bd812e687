//! The shape of a zone's output on the bus: everything one tick sends to one gateway, for all its
//! players, travels as one stream entry (a reliable and a droppable envelope, each with a body
//! per session), not one entry or envelope per player. Checked from a gateway's inbox that
//! nobody reads, filled by an instance holding players seated there.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::cluster;
use mmo_proto::bus::{Batch, FanOut, Kind, Request};
use mmo_proto::{MoveReq, MsgType, ZonePositionsNtf, ZoneTickNtf, move_req::Intent};
use mmo_zone::commands::{EnterCmd, Seat, ZoneCommand, zone_command};
use prost::Message as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tick_sends_one_entry_per_gateway() {
    let cl = cluster().await;
    // A gateway node that heartbeats (so its players stay) but reads nothing.
    let gw = cl.redis.bus("silent-gw", &cl.shutdown).await;
    tokio::spawn(mmo_core::bus::node::heartbeat_loop(gw.clone(), cl.shutdown.token()));
    let field = mmo_zone::directory::stream(&cl.bus, "field");
    let players: Vec<u64> = (1..=6).map(|i| 900 + i).collect();
    for (i, p) in players.iter().enumerate() {
        cl.place(*p, "field", 100.0 + i as f32, 100.0).await;
        let cmd = ZoneCommand {
            command: Some(zone_command::Command::Enter(EnterCmd {
                seat: Some(Seat { gateway: "silent-gw".into(), session: 50 + i as u64, player: *p }),
                seq: 0,
                reason: mmo_proto::EnterReason::Login as i32,
                hops: 0,
            })),
        };
        gw.send(&field, cmd.envelope(*p)).unwrap();
        // As a gateway records a logged-in session (the zone checks its players' sessions exist).
        let (player, session) = (mmo_core::session::PlayerId(*p), mmo_core::SessionId(50 + i as u64));
        mmo_core::bus::node::claim_presence(&gw, player, session).await.unwrap();
    }
    // Let them enter, then everyone walks: each tick moves all of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, p) in players.iter().enumerate() {
        let mv = MoveReq {
            input_seq: 1,
            intent: Some(Intent::Direction(mmo_proto::Vec2 { x: 0.0, y: 1.0 })),
            ..Default::default()
        };
        let req = Request {
            session: 50 + i as u64,
            player: *p,
            msg_id: u32::from(MoveReq::ID.0),
            body: mv.encode_to_vec().into(),
            stage: mmo_core::Stage::Authenticated.to_wire(),
            ..Default::default()
        };
        gw.send(&field, req.into()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;

    let mut conn = cl.bus.conn().await.unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&*cl.bus.keys().inbox("silent-gw"))
        .arg("-")
        .arg("+")
        .query_async(&mut *conn)
        .await
        .unwrap();
    let batches: Vec<Batch> =
        reply.ids.iter().map(|e| Batch::decode(e.get::<Vec<u8>>("b").unwrap().as_slice()).unwrap()).collect();
    // The fan-outs of one message in an entry.
    let fan_outs = |b: &Batch, id: mmo_proto::MsgId| -> Vec<FanOut> {
        b.envelopes
            .iter()
            .filter_map(|e| match &e.kind {
                Some(Kind::FanOut(f)) if f.msg_id == u32::from(id.0) => Some(f.clone()),
                _ => None,
            })
            .collect()
    };
    // The entries carrying positions: one per tick, each with every walking player in it.
    let ticks: Vec<&Batch> =
        batches.iter().filter(|b| !fan_outs(b, ZonePositionsNtf::ID).is_empty()).collect();
    assert!(ticks.len() >= 5, "ticks seen: {}", ticks.len());
    let mut full = 0;
    let mut last_tick = 0;
    for b in &ticks {
        let positions = fan_outs(b, ZonePositionsNtf::ID);
        assert_eq!(positions.len(), 1, "one positions envelope per entry: {:?}", b.envelopes.len());
        let p = &positions[0];
        assert_eq!(p.sessions.len(), p.bodies.len());
        let tick = ZonePositionsNtf::decode(p.bodies[0].clone()).unwrap().tick;
        assert!(tick > last_tick, "one entry per tick: tick {tick} after {last_tick}");
        last_tick = tick;
        let reliable = fan_outs(b, ZoneTickNtf::ID).len();
        assert!(reliable <= 1, "at most one reliable envelope per entry");
        if p.sessions.len() == players.len() {
            full += 1;
            // Each body is that session's own frame.
            for body in &p.bodies {
                let ntf = ZonePositionsNtf::decode(body.clone()).unwrap();
                assert!(!ntf.moves.is_empty() && ntf.server_time_ms > 0);
            }
        }
    }
    assert!(full >= 5, "ticks with all six players in one envelope: {full} of {}", ticks.len());
    cl.finish().await;
}
