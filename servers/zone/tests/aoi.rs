//! Interest management: each player's view is what a brute-force search finds (with
//! hysteresis at the edge), the frames tell a client exactly the changes to its view, and they
//! are what prost would encode.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{DT, frames_of, join, open_map, world_with};
use mmo_proto::{ZonePositionsNtf, ZoneTickNtf};
use mmo_zone::map::NpcSpawn;
use mmo_zone::naive::Naive;
use mmo_zone::rng::Rng;
use mmo_zone::{EntityId, EntityKind, Intent, MoveInput, PlayerId, Vec2, World, ZoneConfig};
use proptest::prelude::*;
use prost::Message;

fn config(radius: f32, hysteresis: f32, cells_per_view: u32) -> ZoneConfig {
    ZoneConfig { view_radius: radius, view_hysteresis: hysteresis, cells_per_view, ..ZoneConfig::default() }
}

/// `players` players and `npcs` wandering NPCs spread over a `side` x `side` map.
fn crowd(side: f32, players: u64, npcs: u32, config: ZoneConfig, seed: u64) -> World {
    let mut map = open_map(side);
    map.npc_types.insert("dummy".into(), common::dummy(50));
    map.npc_types.get_mut("dummy").unwrap().speed = 4.0;
    let at = Vec2::new(side / 2.0, side / 2.0);
    map.npcs.push(NpcSpawn { npc_type: "dummy".into(), at, count: npcs, radius: side / 2.0 });
    let mut w = World::new(map, config, 1, seed).unwrap();
    let mut rng = Rng::new(seed);
    for n in 1..=players {
        join(&mut w, n, Vec2::new(rng.range(0.0, side), rng.range(0.0, side)));
    }
    w
}

/// Every player gets a random direction (or a stop) now and then.
fn stir(w: &mut World, rng: &mut Rng, players: u64, seq: u32) {
    for n in 1..=players {
        if rng.chance(0.3) {
            let intent = if rng.chance(0.1) {
                Intent::Stop
            } else {
                Intent::Direction(Vec2::new(rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)))
            };
            w.input(PlayerId(n), MoveInput { seq, intent, speed: 1.0, position: None }).unwrap();
        }
    }
}

fn within(w: &World, of: EntityId, r: f32) -> BTreeSet<EntityId> {
    let at = w.entity(of).unwrap().position;
    w.entities().filter(|e| e.id != of && e.position.distance_squared(at) < r * r).map(|e| e.id).collect()
}

fn view(w: &World, p: u64) -> BTreeSet<EntityId> {
    w.view_of(PlayerId(p)).unwrap().iter().copied().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Without hysteresis the view is exactly what lies within the radius; with it, everything
    /// within the radius, nothing beyond radius + hysteresis, and in between only what was
    /// already in view.
    #[test]
    fn views_agree_with_brute_force(
        seed in any::<u64>(),
        radius in 5.0f32..40.0,
        hysteresis in prop_oneof![Just(0.0f32), 0.5f32..8.0],
        cells in 1u32..4,
    ) {
        let players = 40;
        let mut w = crowd(150.0, players, 40, config(radius, hysteresis, cells), seed);
        let mut rng = Rng::new(seed ^ 1);
        let mut before: HashMap<u64, BTreeSet<EntityId>> = HashMap::new();
        for t in 1..=30 {
            stir(&mut w, &mut rng, players, t);
            w.tick(DT);
            for p in 1..=players {
                let me = w.player_entity(PlayerId(p)).unwrap();
                let seen = view(&w, p);
                let near = within(&w, me, radius);
                let far = within(&w, me, radius + hysteresis);
                prop_assert!(near.is_subset(&seen), "tick {}: player {} misses {:?}", t, p, near.difference(&seen).collect::<Vec<_>>());
                prop_assert!(seen.is_subset(&far), "tick {}: player {} sees too far", t, p);
                let old = before.get(&p).cloned().unwrap_or_default();
                for id in seen.difference(&near) {
                    prop_assert!(old.contains(id), "tick {}: {:?} entered beyond the radius", t, id);
                }
                before.insert(p, seen);
            }
        }
    }
}

/// A client that applies each tick's frames to its own picture of the world.
#[derive(Default)]
struct Client {
    seen: HashMap<u32, Vec2>,
    me: Vec2,
    last_positions_tick: u64,
}

impl Client {
    fn apply(&mut self, me: EntityId, reliable: Option<ZoneTickNtf>, droppable: Option<ZonePositionsNtf>) {
        if let Some(r) = reliable {
            for e in &r.enters {
                assert_ne!(e.id, me.0, "a player never enters its own view");
                assert!(self.seen.insert(e.id, Vec2::new(e.x, e.y)).is_none(), "entered twice");
            }
            for id in &r.leaves {
                assert!(self.seen.remove(id).is_some(), "left without entering");
            }
            for s in &r.stops {
                if s.id == me.0 {
                    self.me = Vec2::new(s.x, s.y);
                } else {
                    *self.seen.get_mut(&s.id).expect("stop of an entity in view") = Vec2::new(s.x, s.y);
                }
            }
        }
        if let Some(d) = droppable {
            assert!(d.tick > self.last_positions_tick);
            self.last_positions_tick = d.tick;
            for m in &d.moves {
                if m.id == me.0 {
                    self.me = Vec2::new(m.x, m.y);
                } else {
                    *self.seen.get_mut(&m.id).expect("move of an entity in view") = Vec2::new(m.x, m.y);
                }
            }
        }
    }
}

#[test]
fn a_client_applying_every_frame_sees_what_the_server_sees_where_it_is() {
    let players = 60;
    let mut w = crowd(200.0, players, 60, config(30.0, 3.0, 2), 11);
    let mut rng = Rng::new(5);
    let mut clients: HashMap<u64, Client> = (1..=players).map(|p| (p, Client::default())).collect();
    for p in 1..=players {
        let me = w.player_entity(PlayerId(p)).unwrap();
        clients.get_mut(&p).unwrap().me = w.entity(me).unwrap().position;
    }
    for t in 1..=100 {
        stir(&mut w, &mut rng, players, t);
        // Players come and go.
        if t % 10 == 0 {
            let p = u64::from(t / 10);
            w.remove_player(PlayerId(p)).unwrap();
            join(&mut w, p, Vec2::new(rng.range(0.0, 200.0), rng.range(0.0, 200.0)));
            let me = w.player_entity(PlayerId(p)).unwrap();
            clients.insert(p, Client { me: w.entity(me).unwrap().position, ..Client::default() });
        }
        let out = w.tick(DT);
        assert_eq!(out.tick, u64::from(t));
        for p in 1..=players {
            let me = w.player_entity(PlayerId(p)).unwrap();
            let (reliable, droppable) = frames_of(&out, p);
            let c = clients.get_mut(&p).unwrap();
            c.apply(me, reliable, droppable);
            let ids: BTreeSet<u32> = c.seen.keys().copied().collect();
            let server: BTreeSet<u32> = view(&w, p).iter().map(|id| id.0).collect();
            assert_eq!(ids, server, "tick {t}, player {p}");
            for (id, at) in &c.seen {
                assert_eq!(*at, w.entity(EntityId(*id)).unwrap().position, "tick {t}: where {id} is");
            }
            assert_eq!(c.me, w.entity(me).unwrap().position, "tick {t}: player {p} itself");
        }
    }
}

#[test]
fn frames_are_byte_for_byte_what_prost_encodes() {
    let players = 30;
    let mut w = crowd(100.0, players, 30, config(30.0, 3.0, 2), 3);
    let mut rng = Rng::new(3);
    let mut checked = (0, 0);
    for t in 1..=40 {
        stir(&mut w, &mut rng, players, t);
        // Half the ticks stamped with a server clock (the wiring's), half without (0: omitted).
        let time = if t % 2 == 0 { 1_764_000_000_000 + u64::from(t) * 50 } else { 0 };
        let out = w.tick_at(DT, time);
        for f in &out.frames {
            if let Some(b) = &f.reliable {
                let ntf = ZoneTickNtf::decode(b.clone()).unwrap();
                assert_eq!((ntf.tick, ntf.server_time_ms), (out.tick, time));
                assert_eq!(ntf.encode_to_vec(), b.to_vec());
                checked.0 += 1;
            }
            if let Some(b) = &f.droppable {
                let ntf = ZonePositionsNtf::decode(b.clone()).unwrap();
                assert_eq!((ntf.tick, ntf.server_time_ms), (out.tick, time));
                assert_eq!(ntf.encode_to_vec(), b.to_vec());
                checked.1 += 1;
            }
        }
    }
    assert!(checked.0 > 30 && checked.1 > 300, "{checked:?}");
}

#[test]
fn hysteresis_keeps_an_entity_at_the_edge_until_it_is_clearly_gone() {
    // Fast players, so each claimed step below is within the movement budget.
    let mut w = world_with(open_map(300.0), ZoneConfig { player_speed: 200.0, ..config(50.0, 5.0, 2) });
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    let b = join(&mut w, 2, Vec2::new(149.0, 100.0));
    let step = |w: &mut World, x: f32, seq: u32| {
        let claim = MoveInput { seq, intent: Intent::Stop, speed: 1.0, position: Some(Vec2::new(x, 100.0)) };
        w.input(PlayerId(2), claim).unwrap();
        let out = w.tick(DT);
        let (reliable, _) = frames_of(&out, 1);
        let r = reliable.unwrap_or_default();
        (r.enters.iter().any(|e| e.id == b.0), r.leaves.contains(&b.0), view(w, 1).contains(&b))
    };
    let out = w.tick(DT);
    assert_eq!(frames_of(&out, 1).0.unwrap().enters[0].id, b.0);
    // Out to 152 (inside radius + hysteresis): stays. 156: leaves. Back to 152: does not enter.
    // 149: enters again.
    assert_eq!(step(&mut w, 151.0, 1), (false, false, true));
    assert_eq!(step(&mut w, 152.0, 2), (false, false, true));
    assert_eq!(step(&mut w, 154.0, 3), (false, false, true));
    assert_eq!(step(&mut w, 156.0, 4), (false, true, false));
    assert_eq!(step(&mut w, 153.0, 5), (false, false, false));
    assert_eq!(step(&mut w, 150.5, 6), (false, false, false));
    assert_eq!(step(&mut w, 149.0, 7), (true, false, true));
}

#[test]
fn moves_are_droppable_and_a_stop_is_reliable() {
    let mut w = world_with(open_map(300.0), config(50.0, 5.0, 2));
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    let b = join(&mut w, 2, Vec2::new(120.0, 100.0));
    w.tick(DT);
    let walk =
        MoveInput { seq: 1, intent: Intent::Direction(Vec2::new(0.0, 1.0)), speed: 1.0, position: None };
    w.input(PlayerId(2), walk).unwrap();
    for _ in 0..3 {
        let out = w.tick(DT);
        let (reliable, droppable) = frames_of(&out, 1);
        assert!(reliable.is_none(), "nothing reliable while b walks");
        let moves = droppable.unwrap().moves;
        assert_eq!(moves.len(), 1);
        assert_eq!(moves[0].id, b.0);
        // The walker is told its own position too.
        assert_eq!(frames_of(&out, 2).1.unwrap().moves[0].id, b.0);
    }
    w.input(PlayerId(2), MoveInput { seq: 2, intent: Intent::Stop, speed: 1.0, position: None }).unwrap();
    let out = w.tick(DT);
    let (reliable, droppable) = frames_of(&out, 1);
    assert!(droppable.is_none());
    let stops = reliable.unwrap().stops;
    assert_eq!((stops.len(), stops[0].id), (1, b.0));
    let at = w.entity(b).unwrap().position;
    assert_eq!(Vec2::new(stops[0].x, stops[0].y), at);
    assert!((at.y - (100.0 + 6.0 * 0.15)).abs() < 1e-4, "walked 3 ticks: {at:?}");
    // Then silence: nothing moves, nothing is sent.
    assert!(w.tick(DT).frames.is_empty());
}

#[test]
fn a_crowd_is_cut_to_the_nearest_max_visible() {
    let mut w = world_with(open_map(300.0), ZoneConfig { max_visible: 5, ..config(50.0, 5.0, 2) });
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    for n in 2..=21 {
        join(&mut w, n, Vec2::new(100.0 + n as f32, 100.0));
    }
    let out = w.tick(DT);
    let enters: BTreeSet<u32> = frames_of(&out, 1).0.unwrap().enters.iter().map(|e| e.id).collect();
    let nearest: BTreeSet<u32> = (2..=6).map(|n| w.player_entity(PlayerId(n)).unwrap().0).collect();
    assert_eq!(enters, nearest);
    assert_eq!(view(&w, 1).len(), 5);
    // Someone nearer than those in view comes along: the view holds on to what it has.
    let near = join(&mut w, 99, Vec2::new(100.5, 100.0));
    w.tick(DT);
    assert!(!view(&w, 1).contains(&near));
}

#[test]
fn leaving_and_entering_players_are_announced_to_those_around() {
    let mut w = world_with(open_map(300.0), config(50.0, 5.0, 2));
    join(&mut w, 1, Vec2::new(100.0, 100.0));
    w.tick(DT);
    let b = join(&mut w, 2, Vec2::new(110.0, 100.0));
    let out = w.tick(DT);
    let enter = &frames_of(&out, 1).0.unwrap().enters[0];
    assert_eq!((enter.id, enter.player_id, enter.x), (b.0, 2, 110.0));
    assert_eq!(enter.kind, mmo_proto::EntityKind::Player as i32);
    w.remove_player(PlayerId(2)).unwrap();
    let out = w.tick(DT);
    assert_eq!(frames_of(&out, 1).0.unwrap().leaves, [b.0]);
    // Ids are not reused: the next entity in the freed slot has another id.
    let c = join(&mut w, 3, Vec2::new(110.0, 100.0));
    assert_ne!(c, b);
    assert!(w.entity(b).is_none());
}

#[test]
fn the_naive_baseline_sees_the_same_entities() {
    // Same seed, same inputs: without hysteresis, the naive snapshots list exactly the views.
    let players = 50;
    let cfg = config(25.0, 0.0, 2);
    let mut a = crowd(150.0, players, 50, cfg.clone(), 9);
    let mut b = crowd(150.0, players, 50, cfg, 9);
    let mut naive = Naive::new(&b);
    let (mut ra, mut rb) = (Rng::new(1), Rng::new(1));
    for t in 1..=20 {
        stir(&mut a, &mut ra, players, t);
        stir(&mut b, &mut rb, players, t);
        let out = a.tick(DT);
        let snap = naive.tick(&mut b, DT);
        assert_eq!(snap.frames.len(), players as usize);
        assert_eq!(snap.pairs, out.metrics.aoi_pairs);
        for (player, body) in &snap.frames {
            let ids: BTreeSet<u32> =
                ZonePositionsNtf::decode(body.clone()).unwrap().moves.iter().map(|m| m.id).collect();
            let seen: BTreeSet<u32> = a.view_of(*player).unwrap().iter().map(|id| id.0).collect();
            assert_eq!(ids, seen, "tick {t}, {player}");
        }
    }
    let npcs = a.entities().filter(|e| e.kind == EntityKind::Npc).count();
    assert_eq!(npcs, 50);
}

#[test]
fn the_same_seed_and_inputs_give_the_same_frames() {
    let run = || {
        let mut w = crowd(150.0, 30, 30, config(25.0, 2.0, 2), 21);
        let mut rng = Rng::new(2);
        let mut all = Vec::new();
        for t in 1..=30 {
            stir(&mut w, &mut rng, 30, t);
            let out = w.tick(DT);
            all.extend(out.frames.into_iter().map(|f| (f.player, f.reliable, f.droppable)));
        }
        all
    };
    let (a, b) = (run(), run());
    assert!(a.len() > 500);
    assert_eq!(a, b);
}

/// A client told its place again (a resynchronising EnterWorldReq, a repeated ZoneEnterNtf)
/// drops its picture: the next tick announces everything in view again, with no leaves, while
/// the other players' views of it are untouched.
#[test]
fn resending_a_view_announces_all_of_it_again() {
    let mut w = crowd(120.0, 12, 20, config(40.0, 4.0, 2), 5);
    let mut rng = Rng::new(5);
    for t in 1..=10 {
        stir(&mut w, &mut rng, 12, t);
        w.tick(DT);
    }
    let before = view(&w, 1);
    assert!(before.len() > 3, "a crowded view: {before:?}");
    w.resend_view(PlayerId(1));
    let out = w.tick(DT);
    let (tick, _) = frames_of(&out, 1);
    let tick = tick.unwrap();
    let entered: BTreeSet<EntityId> = tick.enters.iter().map(|e| EntityId(e.id)).collect();
    let now = view(&w, 1);
    assert!(tick.leaves.is_empty(), "nothing leaves a fresh picture: {:?}", tick.leaves);
    assert!(now.iter().all(|e| entered.contains(e) || before.contains(e)), "{now:?} vs {entered:?}");
    let within_radius: BTreeSet<EntityId> = within(&w, w.player_entity(PlayerId(1)).unwrap(), 40.0)
        .into_iter()
        .filter(|e| now.contains(e))
        .collect();
    assert_eq!(entered, within_radius, "everything in view within the radius is announced");
    // Only that player: another's frame announces no more than real changes.
    let others: usize = (2..=12).filter_map(|p| frames_of(&out, p).0).map(|t| t.enters.len()).sum();
    assert!(others < entered.len() * 11, "others get only their own changes ({others})");
    // And the next tick is back to changes only.
    let out = w.tick(DT);
    let enters = frames_of(&out, 1).0.map_or(0, |t| t.enters.len());
    assert!(enters < entered.len(), "{enters}");
}
