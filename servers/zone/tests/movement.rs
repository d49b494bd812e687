//! Movement: the server moves players by their intents at their maximum speed; claimed
//! positions are held to the movement budget (see `mmo_zone::movement`). Speed hacks are clamped
//! and counted; honest play with late, bunched inputs is never counted.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::VecDeque;

use common::{DT, frames_of, join, open_map, world, world_with};
use mmo_proto::MoveReq;
use mmo_proto::move_req::Intent as ProtoIntent;
use mmo_zone::{Intent, MoveInput, PlayerId, Vec2, World, ZoneConfig, ZoneError};

const SPEED: f32 = 6.0; // ZoneConfig::default().player_speed
const P: PlayerId = PlayerId(1);

fn walk(seq: u32, dir: Vec2, speed: f32, position: Option<Vec2>) -> MoveInput {
    MoveInput { seq, intent: Intent::Direction(dir), speed, position }
}

fn pos(world: &World) -> Vec2 {
    world.entity(world.player_entity(P).unwrap()).unwrap().position
}

/// A tiny deterministic generator for the tests' jitter.
struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A client that walks at `factor` times the maximum speed along a path that turns every
/// `turn_every` seconds, sending a MoveReq (intent and, with `claims`, its predicted position)
/// every 50 ms of its own clock. Each input reaches the server `0..=jitter` seconds late
/// (in order, as over TCP); the server ticks every 50 ms. Returns the violations counted and
/// the farthest the server ever had the player from the start, against the most allowed.
fn run_client(factor: f32, claims: bool, jitter: f64, seconds: f64, seed: u64) -> (u32, f32, f32) {
    run_client_with(ZoneConfig::default(), factor, claims, jitter, seconds, seed)
}

fn run_client_with(
    config: ZoneConfig,
    factor: f32,
    claims: bool,
    jitter: f64,
    seconds: f64,
    seed: u64,
) -> (u32, f32, f32) {
    let start = Vec2::new(500.0, 500.0);
    let mut w = world_with(open_map(1000.0), config);
    join(&mut w, 1, start);
    let mut rng = Lcg(seed);
    let mut in_flight: VecDeque<(f64, MoveInput)> = VecDeque::new();
    let (mut client_pos, mut dir) = (start, Vec2::new(1.0, 0.0));
    let (mut last_arrival, mut seq, mut farthest) = (0.0f64, 0u32, 0.0f32);
    let send_interval = 0.05;
    let mut next_send = 0.013; // not in step with the ticks
    let ticks = (seconds / 0.05) as u32;
    for k in 1..=ticks {
        let now = f64::from(k) * 0.05;
        while next_send <= now {
            // The client moved for one interval at its speed, then reports.
            if (next_send / 2.0).fract() < send_interval / 2.0 {
                dir = Vec2::new(dir.y, -dir.x); // turn every 2 s
            }
            client_pos = client_pos + dir * (SPEED * factor * send_interval as f32);
            seq += 1;
            let input = walk(seq, dir, factor, claims.then_some(client_pos));
            let arrival = (next_send + rng.unit() * jitter).max(last_arrival);
            last_arrival = arrival;
            in_flight.push_back((arrival, input));
            next_send += send_interval;
        }
        while in_flight.front().is_some_and(|(a, _)| *a <= now) {
            let (_, input) = in_flight.pop_front().unwrap();
            w.input(P, input).unwrap();
        }
        w.tick(DT);
        farthest = farthest.max(pos(&w).distance(start));
    }
    let allowed = SPEED * 1.1 * (seconds as f32 + 0.5) + 0.01;
    (w.violations(P).unwrap(), farthest, allowed)
}

#[test]
fn honest_claims_at_full_speed_with_300ms_of_jitter_are_never_flagged() {
    for seed in 1..=20 {
        let (violations, _, _) = run_client(1.0, true, 0.3, 20.0, seed);
        assert_eq!(violations, 0, "seed {seed}");
    }
    // And without jitter, and with intents only.
    assert_eq!(run_client(1.0, true, 0.0, 20.0, 1).0, 0);
    assert_eq!(run_client(1.0, false, 0.3, 20.0, 1).0, 0);
}

#[test]
fn the_burst_is_what_absorbs_the_jitter() {
    // The same honest client against a budget that holds only 100 ms of running.
    let config = ZoneConfig { claim_burst: std::time::Duration::from_millis(100), ..ZoneConfig::default() };
    let flagged = (1..=20).filter(|&seed| run_client_with(config.clone(), 1.0, true, 0.3, 20.0, seed).0 > 0);
    assert!(flagged.count() >= 10);
}

#[test]
fn claimed_speed_hacks_are_clamped_and_flagged() {
    for factor in [1.5, 2.0, 10.0] {
        for jitter in [0.0, 0.3] {
            let (violations, farthest, allowed) = run_client(factor, true, jitter, 10.0, 3);
            assert!(violations > 0, "{factor}x with {jitter}s jitter was not flagged");
            assert!(farthest <= allowed, "{factor}x got {farthest} away, at most {allowed} allowed");
        }
    }
}

#[test]
fn speed_intents_above_one_are_clamped_and_flagged() {
    for factor in [1.5, 2.0, 10.0] {
        let (violations, farthest, _) = run_client(factor, false, 0.0, 5.0, 1);
        assert_eq!(violations, 100, "{factor}x: every input counts");
        assert!(farthest <= SPEED * 5.0 + 0.01, "{factor}x went {farthest}");
    }
}

#[test]
fn a_teleport_claim_moves_only_the_budget_and_is_corrected() {
    let mut w = world(open_map(1000.0));
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    w.tick(DT);
    w.input(P, walk(1, Vec2::new(1.0, 0.0), 1.0, Some(Vec2::new(900.0, 100.0)))).unwrap();
    let out = w.tick(DT);
    let at = pos(&w);
    // The budget holds 0.5 s of running.
    assert!((at.x - 103.0).abs() < 0.01 && at.y == 100.0, "{at:?}");
    assert_eq!(w.violations(P), Some(1));
    let (reliable, _) = frames_of(&out, 1);
    let correction = reliable.unwrap().you.unwrap().correction.unwrap();
    assert_eq!((correction.position.unwrap().x, correction.input_seq), (at.x, 1));
    assert!(out.events.iter().any(|e| matches!(e, mmo_zone::WorldEvent::Violation { total: 1, .. })));
}

#[test]
fn switching_between_claims_and_intents_gains_no_speed() {
    // Every other input claims a point 1.5x ahead of the server's position; the ones between
    // are plain intents the server integrates. Together they must not outrun the budget.
    let start = Vec2::new(500.0, 500.0);
    let mut w = world(open_map(1000.0));
    join(&mut w, 1, start);
    let east = Vec2::new(1.0, 0.0);
    for k in 1..=200u32 {
        let claim = (k % 2 == 0).then(|| pos(&w) + east * (SPEED * 1.5 * 0.05));
        w.input(P, walk(k, east, 1.0, claim)).unwrap();
        w.tick(DT);
    }
    let went = pos(&w).distance(start);
    assert!(went <= SPEED * 1.1 * (10.0 + 0.5), "went {went} in 10 s");
}

#[test]
fn a_player_without_inputs_stops_after_the_input_timeout() {
    let mut w = world(open_map(1000.0));
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    w.input(P, walk(1, Vec2::new(0.0, 1.0), 1.0, None)).unwrap();
    for _ in 0..60 {
        w.tick(DT);
    }
    // 1 s of walking (the timeout) and not a step more in the following 2 s.
    let y = pos(&w).y;
    assert!((y - 100.0 - SPEED).abs() <= SPEED * 0.05 + 0.01, "{y}");
}

#[test]
fn targets_are_walked_to_at_the_requested_fraction_of_speed() {
    let mut w = world(open_map(1000.0));
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    let input =
        MoveInput { seq: 1, intent: Intent::Target(Vec2::new(103.0, 100.0)), speed: 0.5, position: None };
    w.input(P, input).unwrap();
    w.tick(DT);
    assert!((pos(&w).x - 100.15).abs() < 1e-4);
    for _ in 0..40 {
        w.tick(DT);
    }
    assert_eq!(pos(&w), Vec2::new(103.0, 100.0));
}

#[test]
fn old_inputs_are_ignored_and_the_map_edge_holds() {
    let mut w = world(open_map(100.0));
    join(&mut w, 1, Vec2::new(99.0, 50.0));
    w.input(P, walk(5, Vec2::new(1.0, 0.0), 1.0, None)).unwrap();
    w.input(P, walk(4, Vec2::new(-1.0, 0.0), 1.0, None)).unwrap();
    for _ in 0..10 {
        w.tick(DT);
    }
    assert_eq!(pos(&w), Vec2::new(100.0, 50.0));
    // A claim outside the map is clamped into it.
    w.input(P, walk(6, Vec2::new(1.0, 0.0), 1.0, Some(Vec2::new(101.0, 50.0)))).unwrap();
    w.tick(DT);
    assert_eq!(pos(&w), Vec2::new(100.0, 50.0));
}

#[test]
fn non_finite_inputs_are_invalid() {
    let req = MoveReq {
        input_seq: 1,
        intent: Some(ProtoIntent::Direction(mmo_proto::Vec2 { x: f32::NAN, y: 0.0 })),
        ..Default::default()
    };
    assert!(matches!(MoveInput::from_req(&req), Err(ZoneError::InvalidInput(_))));
    let req = MoveReq { position: Some(mmo_proto::Vec2 { x: f32::INFINITY, y: 0.0 }), ..Default::default() };
    assert!(MoveInput::from_req(&req).is_err());
    let req = MoveReq { speed: -1.0, ..Default::default() };
    assert!(MoveInput::from_req(&req).is_err());
    let mut w = world(open_map(100.0));
    join(&mut w, 1, Vec2::new(50.0, 50.0));
    let bad =
        MoveInput { seq: 1, intent: Intent::Target(Vec2::new(f32::NAN, 1.0)), speed: 1.0, position: None };
    assert_eq!(w.input(P, bad).unwrap_err().code(), mmo_proto::ErrorCode::InvalidArgument);
    // Unset speed means full speed; no intent means stop.
    let req = MoveReq {
        input_seq: 2,
        intent: Some(ProtoIntent::Direction(mmo_proto::Vec2 { x: 0.0, y: 3.0 })),
        ..Default::default()
    };
    let input = MoveInput::from_req(&req).unwrap();
    assert_eq!((input.speed, input.intent), (1.0, Intent::Direction(Vec2::new(0.0, 3.0))));
    assert_eq!(MoveInput::from_req(&MoveReq::default()).unwrap().intent, Intent::Stop);
    assert_eq!(w.input(PlayerId(99), input).unwrap_err(), ZoneError::NotInZone);
}
