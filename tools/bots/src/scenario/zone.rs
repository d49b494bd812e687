//! `zone`: Hello, log in as `login` does, enter the world (`session.rs`), then a random walk: a
//! MoveReq on each slot of the schedule (`--move-hz`). MoveReqs are one-way, so none is pending
//! and none can be lost; an ErrorResp for one is a rejection, counted by code. What is measured
//! is what the zone pushes back: each bot reads until the window closes (not just until its
//! last slot) and counts the entity updates pushed inside the window, their latency, frames and
//! bytes. With `--metrics-url` the swarm also reads the server's own figures (`metrics.rs`).
//!
//! The walk: on each slot of the schedule the bot sends a MoveReq walking in its current
//! direction, and picks a new direction every [`TURN_EVERY`] or so (a direction change is just
//! the next MoveReq's intent). Directions are uniform at random, except that a bot farther than
//! [`HOME_FRACTION`] of the map's size from the map's centre turns back towards it: saved
//! positions carry over between runs that reuse accounts, and without the pull reruns would
//! drift the swarm to the edges and into portals, changing how many neighbours each bot has.
//! The bot knows where it is from the zone's own reports of its entity.
//!
//! Latency of an update is the receive time on the bot's wall clock minus the frame's
//! `server_time_ms` (the server's wall clock when the tick ran): bots and server share a machine,
//! so the clocks agree. The server's stamp is in whole milliseconds, truncated, so each sample
//! reads up to 1 ms high.
//!
//! Every zone frame is decoded in full with prost: a ZonePositionsNtf of 51 moves (about 780
//! bytes) decodes in about 0.7 µs in release, under 3% of a core for 2000 bots at 20 Hz, which is
//! not worth a hand-written scan that would check less.

use std::f64::consts::PI;
use std::time::Duration;

use anyhow::ensure;
use bytes::Bytes;
use mmo_proto::move_req::Intent;
use mmo_proto::{ErrorResp, MoveReq, Vec2, ZoneEnterNtf, ZonePositionsNtf, ZoneTickNtf};
use mmo_wire::{Flags, Frame, MsgType, Seq};
use tokio::time::Instant;

use super::{Check, MAX_INTERVAL, MIN_INTERVAL, Stage, Traffic, Workload, decode, wall_us};
use crate::Options;
use crate::metrics::MetricsUrl;
use crate::tally::{Errors, Tally, ZoneTally};

/// MoveReqs per second and bot without `--move-hz`.
pub const DEFAULT_MOVE_HZ: f64 = 10.0;

/// The zone's limit on MoveReq per session and second (burst as many); faster gets RATE_LIMITED,
/// a strike.
pub const MOVE_LIMIT_PER_S: f64 = 30.0;

/// While moving, the protocol asks for a MoveReq at least this often (the server stops a player
/// after 1 s without input).
pub const MOVE_KEEPALIVE: Duration = Duration::from_millis(250);

/// On average, how long a bot walks in one direction; each leg lasts 0.5 to 1.5 times this.
const TURN_EVERY: Duration = Duration::from_secs(2);

/// A bot farther than this fraction of the map's smaller side from the map's centre walks back
/// towards it (the start map: 300 units, its spawn radius).
const HOME_FRACTION: f32 = 0.3;

pub(super) struct Zone;

impl Workload for Zone {
    fn name(&self) -> &'static str {
        "zone"
    }

    fn stage(&self) -> Stage {
        Stage::InWorld
    }

    fn validate(&self, opts: &Options) -> anyhow::Result<()> {
        ensure!(opts.ping_interval.is_none(), "--ping-interval is not for zone; its schedule is --move-hz");
        let hz = opts.move_hz();
        ensure!(hz.is_finite() && hz > 0.0, "--move-hz must be more than 0");
        ensure!(
            self.interval(opts).is_some_and(|i| (MIN_INTERVAL..=MAX_INTERVAL).contains(&i)),
            "--move-hz {hz} gives each bot one MoveReq every {:?}; it must be between {MIN_INTERVAL:?} \
             and {MAX_INTERVAL:?}",
            Duration::try_from_secs_f64(1.0 / hz).unwrap_or(Duration::MAX)
        );
        if let Some(url) = &opts.metrics_url {
            MetricsUrl::parse(url)?;
        }
        Ok(())
    }

    /// One MoveReq every `1 / --move-hz`.
    fn interval(&self, opts: &Options) -> Option<Duration> {
        Duration::try_from_secs_f64(1.0 / opts.move_hz()).ok()
    }

    fn total_rate(&self, opts: &Options) -> Option<f64> {
        Some(opts.bots as f64 * opts.move_hz())
    }

    fn traffic(&self, _: &Options, placed: Option<&ZoneEnterNtf>) -> Box<dyn Traffic> {
        Box::new(Walk::new(placed.expect("a zone bot is placed in the world before the window")))
    }
}

/// One bot's walk and its picture of itself.
#[derive(Debug)]
struct Walk {
    /// Our entity in the current instance.
    entity: u32,
    /// Where the zone last reported our entity.
    at: (f32, f32),
    centre: (f32, f32),
    home_radius: f32,
    /// The last MoveReq.input_seq sent.
    input_seq: u32,
    /// Unit vector of the current leg.
    heading: (f32, f32),
    /// When the current leg ends (`None` before the first MoveReq).
    next_turn: Option<Instant>,
}

impl Walk {
    /// A walk from where the zone placed us.
    fn new(enter: &ZoneEnterNtf) -> Walk {
        // The zone ignores a MoveReq whose input_seq is not newer than the last it handled, and a
        // rerun within the resume window takes over the entity of the last run (with its last
        // input_seq). Starting at the wall clock in ms keeps a rerun's seqs above the last run's:
        // a bot sends far fewer than 1000 MoveReqs per second.
        let input_seq = (wall_us() / 1000) as u32;
        let mut walk = Walk {
            entity: 0,
            at: (0.0, 0.0),
            centre: (0.0, 0.0),
            home_radius: 0.0,
            input_seq,
            heading: (1.0, 0.0),
            next_turn: None,
        };
        walk.place(enter);
        walk
    }

    /// The zone placed us (again): another entity, position and map. Everything known of the
    /// previous instance is forgotten, as the protocol asks.
    fn place(&mut self, enter: &ZoneEnterNtf) {
        self.entity = enter.entity_id;
        self.at = enter.position.map_or((enter.width / 2.0, enter.height / 2.0), |p| (p.x, p.y));
        self.centre = (enter.width / 2.0, enter.height / 2.0);
        self.home_radius = HOME_FRACTION * enter.width.min(enter.height);
    }

    #[cfg(test)]
    fn entity(&self) -> u32 {
        self.entity
    }

    #[cfg(test)]
    fn position(&self) -> (f32, f32) {
        self.at
    }

    /// The MoveReq of the slot scheduled at `slot`, with header seq `seq`: the current
    /// direction, or a new one when the leg is over.
    fn move_req(&mut self, seq: Seq, slot: Instant) -> Bytes {
        if self.next_turn.is_none_or(|t| slot >= t) {
            self.heading = self.pick_heading(rand::random::<f64>());
            self.next_turn = Some(slot + TURN_EVERY.mul_f64(0.5 + rand::random::<f64>()));
        }
        self.input_seq = self.input_seq.wrapping_add(1);
        let (x, y) = self.heading;
        MoveReq {
            input_seq: self.input_seq,
            // Any epoch will do; the field is the client's own bookkeeping.
            client_time_ms: (wall_us() / 1000) as u32,
            intent: Some(Intent::Direction(Vec2 { x, y })),
            // Full speed.
            speed: 0.0,
            position: None,
        }
        .to_frame_bytes(seq, Flags::NONE)
    }

    /// A unit vector from a uniform draw `u` in [0, 1): any direction near home, back towards
    /// the centre (within 45 degrees either side) beyond it.
    fn pick_heading(&self, u: f64) -> (f32, f32) {
        let (dx, dy) = (self.centre.0 - self.at.0, self.centre.1 - self.at.1);
        let angle = if dx.hypot(dy) > self.home_radius {
            f64::from(dy.atan2(dx)) + (u - 0.5) * PI / 2.0
        } else {
            u * 2.0 * PI
        };
        (angle.cos() as f32, angle.sin() as f32)
    }

    fn saw(&mut self, id: u32, x: f32, y: f32) {
        if id == self.entity {
            self.at = (x, y);
        }
    }
}

/// A bot's walk is its traffic: the walk makes the MoveReqs, and reads the pushes.
impl Traffic for Walk {
    fn request(&mut self, seq: Seq, slot: Instant) -> Bytes {
        self.move_req(seq, slot)
    }

    fn one_way(&self) -> bool {
        true
    }

    fn listens(&self) -> bool {
        true
    }

    fn on_window_frame(&mut self, frame: &Frame, tally: &mut Tally) {
        tally.zone.bytes += frame.wire_len() as u64;
    }

    fn on_push(&mut self, frame: &Frame, received: Option<u64>, tally: &mut Tally) -> Result<(), Check> {
        read_push(self, frame, received, &mut tally.zone)
    }

    /// A MoveReq refused: a rejection of the walk.
    fn refusals<'t>(&self, refusal: &ErrorResp, tally: &'t mut Tally) -> Option<&'t mut Errors> {
        (refusal.request_msg_id == u32::from(MoveReq::ID.0)).then_some(&mut tally.zone.moves_rejected)
    }
}

/// Reads a push: keeps the walk's picture of itself and, inside the window (`counted` is then
/// the receive time, wall clock µs), counts the frame, its entity updates and its latency.
/// Pushes that are not the zone's are left alone.
fn read_push(walk: &mut Walk, frame: &Frame, counted: Option<u64>, t: &mut ZoneTally) -> Result<(), Check> {
    let id = frame.header.id;
    if id == ZonePositionsNtf::ID {
        let p = decode::<ZonePositionsNtf>(frame)?;
        for m in &p.moves {
            walk.saw(m.id, m.x, m.y);
        }
        if let Some(received) = counted {
            t.positions.add(frame.wire_len() as u64);
            t.moves += p.moves.len() as u64;
            t.record_update_latency(received, p.server_time_ms);
        }
    } else if id == ZoneTickNtf::ID {
        let tick = decode::<ZoneTickNtf>(frame)?;
        for s in &tick.stops {
            walk.saw(s.id, s.x, s.y);
        }
        if let Some(p) = tick.you.as_ref().and_then(|y| y.correction.as_ref()).and_then(|c| c.position) {
            walk.at = (p.x, p.y);
        }
        if let Some(received) = counted {
            t.ticks.add(frame.wire_len() as u64);
            t.enters += tick.enters.len() as u64;
            t.leaves += tick.leaves.len() as u64;
            t.stops += tick.stops.len() as u64;
            t.record_update_latency(received, tick.server_time_ms);
        }
    } else if id == ZoneEnterNtf::ID {
        let enter = decode::<ZoneEnterNtf>(frame)?;
        walk.place(&enter);
        if counted.is_some() {
            t.enter_ntfs.add(frame.wire_len() as u64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use mmo_proto::{EntityEnter, EntityMove, self_update};
    use mmo_wire::FrameCodec;
    use tokio_util::codec::Decoder as _;

    use super::*;

    fn enter_at(entity_id: u32, x: f32, y: f32) -> ZoneEnterNtf {
        ZoneEnterNtf {
            map: "start".into(),
            width: 1000.0,
            height: 1000.0,
            entity_id,
            position: Some(Vec2 { x, y }),
            view_radius: 50.0,
            tick_rate: 20,
            ..Default::default()
        }
    }

    fn push<M: MsgType>(m: &M, flags: Flags) -> Frame {
        let bytes = m.to_frame_bytes(Seq(0), Flags::PUSH.union(flags));
        FrameCodec::client(mmo_wire::DEFAULT_MAX_FRAME_LEN)
            .decode(&mut BytesMut::from(&bytes[..]))
            .expect("frame")
            .expect("whole")
    }

    fn decode_move(bytes: &Bytes) -> MoveReq {
        let frame = FrameCodec::server(mmo_wire::DEFAULT_MAX_FRAME_LEN)
            .decode(&mut BytesMut::from(&bytes[..]))
            .expect("frame")
            .expect("whole");
        assert_eq!(frame.header.id, MoveReq::ID);
        frame.decode_body().expect("a MoveReq")
    }

    #[test]
    fn moves_walk_one_direction_per_leg_with_increasing_input_seqs() {
        let mut walk = Walk::new(&enter_at(7, 500.0, 500.0));
        let t0 = Instant::now();
        let first = decode_move(&walk.move_req(Seq(10), t0));
        let Some(Intent::Direction(d)) = first.intent else { panic!("a direction: {first:?}") };
        assert!(((d.x * d.x + d.y * d.y) - 1.0).abs() < 1e-4, "a unit vector: {d:?}");
        assert_eq!(first.speed, 0.0);
        // Within the shortest leg the direction holds; seqs go up by one.
        let second = decode_move(&walk.move_req(Seq(11), t0 + TURN_EVERY / 4));
        assert_eq!(second.intent, first.intent);
        assert_eq!(second.input_seq, first.input_seq.wrapping_add(1));
        // After the longest leg it has been drawn anew (and is almost surely another).
        let later = decode_move(&walk.move_req(Seq(12), t0 + TURN_EVERY * 2));
        assert_eq!(later.input_seq, first.input_seq.wrapping_add(2));
        assert_ne!(later.intent, first.intent);
    }

    #[test]
    fn far_from_the_centre_the_walk_turns_back() {
        // 400 units east of the centre of a 1000 x 1000 map: beyond 300.
        let walk = Walk::new(&enter_at(1, 900.0, 500.0));
        for i in 0..100 {
            let (x, y) = walk.pick_heading(f64::from(i) / 100.0);
            // Westwards, within 45 degrees.
            assert!(x < -0.70 && y.abs() <= 0.71, "{x} {y}");
        }
        // Near the centre, every direction.
        let walk = Walk::new(&enter_at(1, 500.0, 520.0));
        let east = walk.pick_heading(0.0);
        let west = walk.pick_heading(0.5);
        assert!(east.0 > 0.99 && west.0 < -0.99, "{east:?} {west:?}");
    }

    #[test]
    fn pushes_in_the_window_count_updates_frames_and_latency() {
        let mut walk = Walk::new(&enter_at(7, 500.0, 500.0));
        let mut t = ZoneTally::default();
        let moves = (0..5).map(|i| EntityMove { id: 5 + i, x: 400.0, y: 401.0 + i as f32 }).collect();
        let positions = push(&ZonePositionsNtf { tick: 3, server_time_ms: 1_000, moves }, Flags::DROPPABLE);
        // Received 2.5 ms after the tick's stamp.
        read_push(&mut walk, &positions, Some(1_002_500), &mut t).unwrap();
        // Our entity (7) was among the moves.
        assert_eq!(walk.position(), (400.0, 403.0));
        let tick = ZoneTickNtf {
            tick: 4,
            server_time_ms: 1_050,
            enters: vec![EntityEnter { id: 20, ..Default::default() }; 2],
            leaves: vec![21, 22, 23],
            stops: vec![EntityMove { id: 7, x: 410.0, y: 410.0 }],
            ..Default::default()
        };
        let tick = push(&tick, Flags::NONE);
        read_push(&mut walk, &tick, Some(1_051_000), &mut t).unwrap();
        assert_eq!(walk.position(), (410.0, 410.0));
        assert_eq!((t.moves, t.enters, t.leaves, t.stops), (5, 2, 3, 1));
        assert_eq!((t.positions.frames, t.ticks.frames, t.enter_ntfs.frames), (1, 1, 0));
        assert_eq!(t.positions.bytes, positions.wire_len() as u64);
        let h = t.update_latency_us.as_ref().unwrap();
        assert_eq!(h.len(), 2);
        assert!((h.min() as i64 - 1_000).abs() <= 10 && (h.max() as i64 - 2_500).abs() <= 30, "{h:?}");

        // Outside the window only the picture changes.
        let mut outside = ZoneTally::default();
        read_push(&mut walk, &positions, None, &mut outside).unwrap();
        assert_eq!((outside.moves, outside.positions.frames), (0, 0));
        assert!(outside.update_latency_us.is_none());

        // A correction puts us where the server says.
        let corrected = ZoneTickNtf {
            you: Some(mmo_proto::SelfUpdate {
                correction: Some(self_update::Correction {
                    position: Some(Vec2 { x: 1.0, y: 2.0 }),
                    input_seq: 3,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        read_push(&mut walk, &push(&corrected, Flags::NONE), None, &mut outside).unwrap();
        assert_eq!(walk.position(), (1.0, 2.0));

        // Placed in another instance: a new entity; our old id means nothing any more.
        read_push(&mut walk, &push(&enter_at(99, 10.0, 20.0), Flags::NONE), Some(0), &mut t).unwrap();
        assert_eq!((walk.entity(), walk.position(), t.enter_ntfs.frames), (99, (10.0, 20.0), 1));
        read_push(&mut walk, &positions, None, &mut outside).unwrap();
        assert_eq!(walk.position(), (10.0, 20.0));

        // A body that does not decode is a decode error naming the message.
        let mut bad = positions.clone();
        bad.body = Bytes::from_static(&[0xff]);
        let err = read_push(&mut walk, &bad, Some(0), &mut t).unwrap_err();
        assert_eq!(err.kind(), "decode");
        assert!(err.to_string().contains("ZonePositionsNtf"), "{err}");
    }
}
