//! The naive way, kept as the benchmark's baseline: no state between ticks. Each tick the
//! entities go into per-cell lists of view-radius-sized cells; each player compares itself with
//! every entity in its own and the 8 neighbouring cells and is sent a snapshot of all it sees
//! (a ZonePositionsNtf built and encoded with prost per player). A client can diff snapshots to
//! find enters and leaves; there is no hysteresis, no enter state, no stops or events.

use std::time::{Duration, Instant};

use bytes::Bytes;
use mmo_proto::{EntityMove, ZonePositionsNtf};
use prost::Message;

use crate::world::TickMetrics;
use crate::{PlayerId, World};

/// The baseline's reusable cell lists.
pub struct Naive {
    inv_cell: f32,
    radius2: f32,
    cols: usize,
    rows: usize,
    cells: Vec<Vec<u32>>,
}

/// What a naive tick produced.
#[derive(Debug, Default)]
pub struct NaiveOutput {
    pub frames: Vec<(PlayerId, Bytes)>,
    pub pairs: usize,
    pub bytes: usize,
    /// Inputs, movement and NPCs (the same code as [`World::tick`]).
    pub simulate: Duration,
    /// The cell lists and every player's comparisons.
    pub aoi: Duration,
    /// Building and encoding the snapshots.
    pub encode: Duration,
}

impl Naive {
    pub fn new(world: &World) -> Naive {
        let r = world.config.view_radius;
        let cols = ((world.map.width / r).ceil() as usize).max(1);
        let rows = ((world.map.height / r).ceil() as usize).max(1);
        Naive { inv_cell: 1.0 / r, radius2: r * r, cols, rows, cells: vec![Vec::new(); cols * rows] }
    }

    /// One tick of `world` with the naive interest management instead of the incremental one.
    /// Do not mix it with [`World::tick`] on the same world: it keeps no views.
    pub fn tick(&mut self, world: &mut World, dt: Duration) -> NaiveOutput {
        let mut out = NaiveOutput::default();
        let t0 = Instant::now();
        world.simulate(dt, &mut TickMetrics::default());
        let t1 = Instant::now();
        out.simulate = t1 - t0;
        for c in &mut self.cells {
            c.clear();
        }
        for e in world.entities.iter() {
            let c = self.cell(e.pos.x, e.pos.y);
            self.cells[c.1 * self.cols + c.0].push(e.id.index() as u32);
        }
        // Visible entities of each player, as (player, moves) lists.
        let mut seen: Vec<(PlayerId, Vec<EntityMove>)> = Vec::with_capacity(world.players.len());
        for e in world.entities.iter() {
            let Some(p) = e.player() else { continue };
            let (cx, cy) = self.cell(e.pos.x, e.pos.y);
            let mut moves = Vec::new();
            for y in cy.saturating_sub(1)..=(cy + 1).min(self.rows - 1) {
                for x in cx.saturating_sub(1)..=(cx + 1).min(self.cols - 1) {
                    for &slot in &self.cells[y * self.cols + x] {
                        let Some(o) = world.entities.at(slot as usize) else { continue };
                        if o.id != e.id && o.pos.distance_squared(e.pos) < self.radius2 {
                            moves.push(EntityMove { id: o.id.0, x: o.pos.x, y: o.pos.y });
                        }
                    }
                }
            }
            out.pairs += moves.len();
            seen.push((p.id, moves));
        }
        let t2 = Instant::now();
        out.aoi = t2 - t1;
        for (player, moves) in seen {
            let body = Bytes::from(
                ZonePositionsNtf { tick: world.tick, server_time_ms: world.server_time_ms, moves }
                    .encode_to_vec(),
            );
            out.bytes += body.len();
            out.frames.push((player, body));
        }
        out.encode = t2.elapsed();
        world.events.clear();
        world.world_events.clear();
        out
    }

    fn cell(&self, x: f32, y: f32) -> (usize, usize) {
        (((x * self.inv_cell) as usize).min(self.cols - 1), ((y * self.inv_cell) as usize).min(self.rows - 1))
    }
}
