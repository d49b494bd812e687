//! One zone tick (S3 of BENCH.md) next to the naive baseline, measured in the same run.
//!
//! The world: 10k entities (9,000 players, 1,000 NPCs) on a 1,250 x 1,250 map, and 50k
//! (45,000 players, 5,000 NPCs) on 2,800 x 2,800: the same density, 0.0064 entities per square
//! unit, which with the default view radius of 50 puts about 50 others within each player's
//! view (printed as `mean view`). Every player walks all the time: each tick a quarter of them
//! send a new random direction, so every player sends one about every 200 ms and none hits the
//! input timeout; NPCs wander. Nearly every entity moves every tick: the worst case for the
//! position stream.
//!
//! - `zone_tick/{10k,50k}/incremental`: `World::tick`: inputs, movement, NPCs, grid rebuild,
//!   every player's view diffed against its last one (with hysteresis), and each player's
//!   ZoneTickNtf and ZonePositionsNtf written.
//! - `.../naive_baseline`: the same simulation phases on an identical world, then
//!   `mmo_zone::naive`: per-cell lists of view-sized cells, each player compared with every
//!   entity in its 3x3 cells, and a ZonePositionsNtf snapshot of everything in view built and
//!   encoded with prost per player.
//!
//! Criterion reports means and medians; the targets are about p99, so after criterion the
//! harness also runs timed ticks of each world (200 at 10k, 100 at 50k, in alternating blocks
//! of 25) and prints
//! p50/p99 of the whole tick, of its interest (AOI) part (grid rebuild and view updates; the
//! baseline's: cell lists and comparisons) and of encoding, and the ratio to the baseline.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use mmo_zone::map::{MapDef, NpcSpawn, NpcType};
use mmo_zone::naive::Naive;
use mmo_zone::rng::Rng;
use mmo_zone::{Intent, MoveInput, PlayerId, PlayerSave, Vec2, World, ZoneConfig};

const DT: Duration = Duration::from_millis(50);

struct Scenario {
    label: &'static str,
    players: u64,
    npcs: u32,
    side: f32,
    /// Criterion's measurement time per function.
    measure: Duration,
    /// Timed ticks of each world for the percentiles.
    ticks: usize,
}

/// Sized so the whole run takes under two minutes.
const SCENARIOS: [Scenario; 2] = [
    Scenario {
        label: "10k",
        players: 9_000,
        npcs: 1_000,
        side: 1_250.0,
        measure: Duration::from_secs(8),
        ticks: 200,
    },
    Scenario {
        label: "50k",
        players: 45_000,
        npcs: 5_000,
        side: 2_800.0,
        measure: Duration::from_secs(6),
        ticks: 100,
    },
];

/// The world of a scenario, warmed up (views filled, everyone walking).
struct Sim {
    world: World,
    rng: Rng,
    players: u64,
    seq: u32,
}

impl Sim {
    fn new(s: &Scenario) -> Sim {
        let mut npc_types = std::collections::BTreeMap::new();
        npc_types.insert(
            "wolf".to_string(),
            NpcType {
                level: 1,
                hp: 50,
                damage: 5,
                speed: 4.0,
                xp: 10,
                respawn: Duration::from_secs(10),
                attack_range: 3.0,
                attack_cooldown: Duration::from_secs(1),
                loot: Vec::new(),
            },
        );
        let center = Vec2::new(s.side / 2.0, s.side / 2.0);
        let map = MapDef {
            name: "bench".into(),
            width: s.side,
            height: s.side,
            spawn: center,
            spawn_radius: 0.0,
            npc_types,
            npcs: vec![NpcSpawn { npc_type: "wolf".into(), at: center, count: s.npcs, radius: s.side * 0.7 }],
            portals: Vec::new(),
        };
        let mut world = World::new(map, ZoneConfig::default(), 1, 42).expect("bench map");
        let mut rng = Rng::new(7);
        for n in 1..=s.players {
            let mut save = PlayerSave::new(PlayerId(n));
            save.position = Some(Vec2::new(rng.range(0.0, s.side), rng.range(0.0, s.side)));
            world.spawn_player(save).expect("room for the players");
        }
        let mut sim = Sim { world, rng, players: s.players, seq: 0 };
        // Everyone starts walking; a few ticks fill the views.
        for n in 1..=s.players {
            sim.send(n);
        }
        sim
    }

    fn send(&mut self, n: u64) {
        let dir = Vec2::new(self.rng.range(-1.0, 1.0), self.rng.range(-1.0, 1.0));
        let input = MoveInput { seq: self.seq, intent: Intent::Direction(dir), speed: 1.0, position: None };
        self.world.input(PlayerId(n), input).expect("player in the world");
    }

    /// A quarter of the players send a new direction.
    fn stir(&mut self) {
        self.seq += 1;
        let quarter = u64::from(self.seq % 4);
        for n in (1..=self.players).filter(|n| n % 4 == quarter) {
            self.send(n);
        }
    }
}

fn zone_tick(c: &mut Criterion) {
    for s in &SCENARIOS {
        let mut inc = Sim::new(s);
        let mut base = Sim::new(s);
        let mut naive = Naive::new(&base.world);
        for _ in 0..5 {
            inc.stir();
            inc.world.tick(DT);
            base.stir();
            naive.tick(&mut base.world, DT);
        }
        let mut g = c.benchmark_group(format!("zone_tick/{}", s.label));
        g.sample_size(20).warm_up_time(Duration::from_secs(2)).measurement_time(s.measure);
        g.bench_function("incremental", |b| {
            b.iter(|| {
                inc.stir();
                black_box(inc.world.tick(DT));
            })
        });
        g.bench_function("naive_baseline", |b| {
            b.iter(|| {
                base.stir();
                black_box(naive.tick(&mut base.world, DT));
            })
        });
        g.finish();
        percentiles(s, &mut inc, &mut base, &mut naive);
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Timed ticks of each, in alternating blocks, with p50 and p99 of the tick and of its AOI and
/// encoding parts.
fn percentiles(s: &Scenario, inc: &mut Sim, base: &mut Sim, naive: &mut Naive) {
    const BLOCK: usize = 25;
    let (label, ticks) = (s.label, s.ticks);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut total, mut aoi, mut enc) = (Vec::new(), Vec::new(), Vec::new());
    let (mut b_total, mut b_aoi, mut b_enc) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pairs, mut players, mut bytes, mut b_bytes) = (0, 0, 0, 0);
    // Blocks of 25 ticks each, alternating, so both see the same drift in the machine's load
    // but neither has its caches wiped by the other every tick.
    for _ in 0..ticks / BLOCK {
        for _ in 0..BLOCK {
            inc.stir();
            let t = std::time::Instant::now();
            let out = inc.world.tick(DT);
            total.push(ms(t.elapsed()));
            aoi.push(ms(out.metrics.aoi));
            enc.push(ms(out.metrics.encode));
            pairs += out.metrics.aoi_pairs;
            players += out.metrics.players;
            bytes += out.metrics.frames.droppable_bytes + out.metrics.frames.reliable_bytes;
        }
        for _ in 0..BLOCK {
            base.stir();
            let t = std::time::Instant::now();
            let out = naive.tick(&mut base.world, DT);
            b_total.push(ms(t.elapsed()));
            b_aoi.push(ms(out.aoi));
            b_enc.push(ms(out.encode));
            b_bytes += out.bytes;
        }
    }
    let (p50, p99) = (pct(&mut total, 0.5), pct(&mut total, 0.99));
    let (b50, b99) = (pct(&mut b_total, 0.5), pct(&mut b_total, 0.99));
    println!(
        "zone_tick/{label}: mean view {:.1} entities; {:.0} KiB of frames per tick (baseline {:.0} KiB)",
        pairs as f64 / players as f64,
        bytes as f64 / ticks as f64 / 1024.0,
        b_bytes as f64 / ticks as f64 / 1024.0,
    );
    println!(
        "  incremental:    tick p50 {p50:.2} ms p99 {p99:.2} ms | aoi p50 {:.2} p99 {:.2} | encode p50 {:.2} p99 {:.2}",
        pct(&mut aoi, 0.5),
        pct(&mut aoi, 0.99),
        pct(&mut enc, 0.5),
        pct(&mut enc, 0.99),
    );
    println!(
        "  naive_baseline: tick p50 {b50:.2} ms p99 {b99:.2} ms | aoi p50 {:.2} p99 {:.2} | encode p50 {:.2} p99 {:.2}",
        pct(&mut b_aoi, 0.5),
        pct(&mut b_aoi, 0.99),
        pct(&mut b_enc, 0.5),
        pct(&mut b_enc, 0.99),
    );
    println!("  ratio baseline/incremental: p50 {:.2}x, p99 {:.2}x", b50 / p50, b99 / p99);
}

criterion_group!(benches, zone_tick);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
