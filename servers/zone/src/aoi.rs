//! Interest management: which entities each player sees, and what changed since the last tick.
//!
//! Every tick the grid is rebuilt from scratch with a counting sort: entities are laid out by
//! cell (row by row) in flat arrays of positions, ids and per-tick flags. Rebuilding is O(n)
//! and cheaper than maintaining per-cell lists as entities move, and it makes a player's query
//! a handful of contiguous slices (one per row of cells it touches) that the CPU streams
//! through. The cell's side is the leave distance (`view_radius + view_hysteresis`) divided by
//! `cells_per_view`.
//!
//! Each player keeps its view (the ids it saw after the last tick). Updating it costs one pass
//! over the old view and one over the entities in the query rectangle, never all pairs and
//! never a sort: the old view is stamped into a per-tick array indexed by grid position, so each
//! entity found nearby is told apart as *stays* (in the old view, still within the leave
//! distance) or *enters* (new, within the view radius) in O(1), and whatever of the old view
//! was not found again *leaves*. Players are handled in grid order, so neighbouring players
//! touch the same memory one after another.
//!
//! The results (grid positions of each player's stays and enters, ids of its leaves) go into
//! flat per-tick arrays that [`crate::encode`] turns into frames.

use crate::entity::Slab;
use crate::{EntityId, Vec2};

/// Per-tick flags of an entity, by grid position.
pub(crate) const MOVED: u8 = 1;
/// Moved in the previous tick but not in this one: its final position goes out reliably.
pub(crate) const STOPPED: u8 = 2;
/// Has combat events this tick.
pub(crate) const EVENTS: u8 = 4;
pub(crate) const PLAYER: u8 = 8;

const NONE: u32 = u32::MAX;

/// The entities of one tick, sorted by cell.
pub(crate) struct Grid {
    inv_cell: f32,
    cols: usize,
    rows: usize,
    /// `start[c]..start[c + 1]` are the grid positions of cell `c` (row-major).
    start: Vec<u32>,
    cursor: Vec<u32>,
    cell_of: Vec<u32>,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    /// Raw [`EntityId`]s.
    pub id: Vec<u32>,
    /// Slab slots.
    pub slot: Vec<u32>,
    pub flags: Vec<u8>,
    /// Grid position of each slab slot, `NONE` for empty slots.
    pub pos_of_slot: Vec<u32>,
}

impl Grid {
    pub fn new(width: f32, height: f32, cell: f32) -> Grid {
        let cols = ((width / cell).ceil() as usize).max(1);
        let rows = ((height / cell).ceil() as usize).max(1);
        Grid {
            inv_cell: 1.0 / cell,
            cols,
            rows,
            start: vec![0; cols * rows + 1],
            cursor: Vec::new(),
            cell_of: Vec::new(),
            x: Vec::new(),
            y: Vec::new(),
            id: Vec::new(),
            slot: Vec::new(),
            flags: Vec::new(),
            pos_of_slot: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.id.len()
    }

    fn col(&self, x: f32) -> usize {
        // `as` saturates: negative and NaN become 0.
        ((x * self.inv_cell) as usize).min(self.cols - 1)
    }

    fn row(&self, y: f32) -> usize {
        ((y * self.inv_cell) as usize).min(self.rows - 1)
    }

    /// Lays out every entity of `entities` by cell.
    pub fn rebuild(&mut self, entities: &Slab) {
        let cells = self.cols * self.rows;
        self.start.iter_mut().for_each(|s| *s = 0);
        self.cell_of.clear();
        for e in entities.iter() {
            let c = self.row(e.pos.y) * self.cols + self.col(e.pos.x);
            self.cell_of.push(c as u32);
            self.start[c + 1] += 1;
        }
        for c in 0..cells {
            self.start[c + 1] += self.start[c];
        }
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.start[..cells]);
        let n = entities.len();
        self.x.resize(n, 0.0);
        self.y.resize(n, 0.0);
        self.id.resize(n, 0);
        self.slot.resize(n, 0);
        self.flags.resize(n, 0);
        self.pos_of_slot.clear();
        self.pos_of_slot.resize(entities.slot_count(), NONE);
        for (e, &c) in entities.iter().zip(&self.cell_of) {
            let j = self.cursor[c as usize] as usize;
            self.cursor[c as usize] += 1;
            let still = e.teleported;
            let mut flags = 0;
            if e.moved && !still {
                flags |= MOVED;
            }
            if e.was_moving && !e.moved && !still {
                flags |= STOPPED;
            }
            if e.is_player() {
                flags |= PLAYER;
            }
            self.x[j] = e.pos.x;
            self.y[j] = e.pos.y;
            self.id[j] = e.id.0;
            self.slot[j] = e.id.index() as u32;
            self.flags[j] = flags;
            self.pos_of_slot[e.id.index()] = j as u32;
        }
    }

    /// Grid position of a live entity.
    pub fn position_of(&self, id: EntityId) -> Option<usize> {
        let j = *self.pos_of_slot.get(id.index())?;
        (j != NONE && self.id[j as usize] == id.0).then_some(j as usize)
    }

    /// The cells within `r` of `p`: columns `c0..=c1`, rows `r0..=r1`.
    fn query(&self, p: Vec2, r: f32) -> (usize, usize, usize, usize) {
        (self.col(p.x - r), self.col(p.x + r), self.row(p.y - r), self.row(p.y + r))
    }

    /// Grid positions of the entities in columns `c0..=c1` of row `row`: one contiguous range.
    fn row_span(&self, row: usize, c0: usize, c1: usize) -> std::ops::Range<usize> {
        self.start[row * self.cols + c0] as usize..self.start[row * self.cols + c1 + 1] as usize
    }
}

/// What one player's view did this tick: ranges into [`Aoi::view`] and [`Aoi::leaves`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct PlayerTick {
    /// The player's grid position.
    pub j: u32,
    /// `view[stays..enters]` stayed in view, `view[enters..end]` came into view.
    pub stays: u32,
    pub enters: u32,
    pub end: u32,
    /// `leaves[leaves_start..leaves_end]` left the view (raw ids).
    pub leaves_start: u32,
    pub leaves_end: u32,
}

/// Interest state of an instance.
pub(crate) struct Aoi {
    pub grid: Grid,
    enter_r2: f32,
    leave_r: f32,
    leave_r2: f32,
    max_visible: usize,
    /// By grid position: `token` = in the current player's old view, `token + 1` = and seen
    /// again. Tokens only grow, so the array is never cleared.
    mark: Vec<u64>,
    token: u64,
    pub ticks: Vec<PlayerTick>,
    pub view: Vec<u32>,
    pub leaves: Vec<u32>,
    stays_tmp: Vec<u32>,
    enters_tmp: Vec<u32>,
}

impl Aoi {
    pub fn new(
        width: f32,
        height: f32,
        radius: f32,
        hysteresis: f32,
        cells_per_view: u32,
        max_visible: usize,
    ) -> Aoi {
        let leave_r = radius + hysteresis;
        Aoi {
            grid: Grid::new(width, height, leave_r / cells_per_view.max(1) as f32),
            enter_r2: radius * radius,
            leave_r,
            leave_r2: leave_r * leave_r,
            max_visible: max_visible.max(1),
            mark: Vec::new(),
            token: 0,
            ticks: Vec::new(),
            view: Vec::new(),
            leaves: Vec::new(),
            stays_tmp: Vec::new(),
            enters_tmp: Vec::new(),
        }
    }

    /// Updates every player's view against the grid (already rebuilt). Returns the number of
    /// (player, visible entity) pairs.
    pub fn update_views(&mut self, entities: &mut Slab) -> usize {
        let n = self.grid.len();
        self.mark.resize(n, 0);
        self.ticks.clear();
        self.view.clear();
        self.leaves.clear();
        let mut pairs = 0;
        for jp in 0..n {
            if self.grid.flags[jp] & PLAYER == 0 {
                continue;
            }
            let Some(player) = entities.at_mut(self.grid.slot[jp] as usize).and_then(|e| e.player_mut())
            else {
                continue;
            };
            self.token += 2;
            let t = self.token;
            let grid = &self.grid;
            let leaves_start = self.leaves.len() as u32;
            // Stamp the old view; what is gone from the instance leaves at once.
            for &id in &player.view {
                match grid.position_of(id) {
                    Some(j) => self.mark[j] = t,
                    None => self.leaves.push(id.0),
                }
            }
            self.stays_tmp.clear();
            self.enters_tmp.clear();
            let (px, py) = (grid.x[jp], grid.y[jp]);
            let (c0, c1, r0, r1) = grid.query(Vec2::new(px, py), self.leave_r);
            for row in r0..=r1 {
                for k in grid.row_span(row, c0, c1) {
                    let dx = grid.x[k] - px;
                    let dy = grid.y[k] - py;
                    let d2 = dx * dx + dy * dy;
                    if d2 >= self.leave_r2 {
                        continue;
                    }
                    if self.mark[k] == t {
                        self.mark[k] = t + 1;
                        self.stays_tmp.push(k as u32);
                    } else if d2 < self.enter_r2 && k != jp {
                        self.enters_tmp.push(k as u32);
                    }
                }
            }
            for &id in &player.view {
                if let Some(j) = grid.position_of(id)
                    && self.mark[j] == t
                {
                    self.leaves.push(id.0);
                }
            }
            if self.stays_tmp.len() + self.enters_tmp.len() > self.max_visible {
                self.trim(jp);
            }
            let grid = &self.grid;
            player.view.clear();
            player.view.extend(
                self.stays_tmp.iter().chain(&self.enters_tmp).map(|&k| EntityId(grid.id[k as usize])),
            );
            pairs += player.view.len();
            let stays = self.view.len() as u32;
            self.view.extend_from_slice(&self.stays_tmp);
            let enters = self.view.len() as u32;
            self.view.extend_from_slice(&self.enters_tmp);
            self.ticks.push(PlayerTick {
                j: jp as u32,
                stays,
                enters,
                end: self.view.len() as u32,
                leaves_start,
                leaves_end: self.leaves.len() as u32,
            });
        }
        pairs
    }

    /// More than `max_visible` in view: keep the nearest, those already in view first.
    fn trim(&mut self, jp: usize) {
        let g = &self.grid;
        let d2 = |k: &u32| {
            let k = *k as usize;
            (g.x[k] - g.x[jp]).powi(2) + (g.y[k] - g.y[jp]).powi(2)
        };
        let by_distance = |a: &u32, b: &u32| d2(a).total_cmp(&d2(b));
        if self.stays_tmp.len() > self.max_visible {
            self.stays_tmp.sort_unstable_by(by_distance);
            for k in self.stays_tmp.drain(self.max_visible..) {
                self.leaves.push(g.id[k as usize]);
            }
            self.enters_tmp.clear();
        } else {
            self.enters_tmp.sort_unstable_by(by_distance);
            self.enters_tmp.truncate(self.max_visible - self.stays_tmp.len());
        }
    }
}
