//! Interest management: which entities each player sees, and what changed since the last tick.
//!
//! Every tick the grid is rebuilt from scratch with a counting sort: entities are laid out by
//! cell (row by row) in flat arrays of positions, ids and per-tick flags. Rebuilding is O(n)
//! and cheaper than maintaining per-cell lists as entities move, and it makes a player's query
//! a handful of contiguous slices (one per row of cells it touches) that the CPU streams
//! through. The cell's side is the leave distance (`view_radius + view_hysteresis`) divided by
//! `cells_per_view`.
//!
//! Each player's view is kept from one tick to the next, not recomputed from nothing: updating
//! it costs one pass over the old view and one over the entities in the query rectangle, never
//! all pairs and never a sort. The old view is stamped into an array indexed by grid position,
//! so each entity found nearby is told apart in O(1) as *stays* (in the old view, still within
//! the leave distance) or *enters* (new, within the view radius), and whatever of the old view
//! was not found again *leaves*.
//!
//! Views are not stored with the players but here, all in one flat array of grid positions per
//! tick (double-buffered: last tick's and this tick's), found through a per-slot range; the
//! grid rebuild records where each entity moved from one numbering to the next. A player's
//! update thus reads only these arrays, in grid order, so neighbouring players touch the same
//! memory one after the other; that, not the arithmetic, is what the update's speed depends on.
//!
//! The results (grid positions of each player's stays and enters, ids of its leaves) are what
//! [`crate::encode`] turns into frames.

use crate::entity::Slab;
use crate::{EntityId, Vec2};

/// Per-tick flags of an entity, by grid position.
pub(crate) const MOVED: u8 = 1;
/// Moved in the previous tick but not in this one: its final position goes out reliably.
pub(crate) const STOPPED: u8 = 2;
/// Has combat events this tick.
pub(crate) const EVENTS: u8 = 4;
pub(crate) const PLAYER: u8 = 8;
/// A player with own-state changes to be told (`Player::notify`).
pub(crate) const NOTIFY: u8 = 16;

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
    /// Positions, x and y side by side: a candidate is one 8-byte load.
    pub pos: Vec<Vec2>,
    /// Raw [`EntityId`]s.
    pub id: Vec<u32>,
    /// Slab slots.
    pub slot: Vec<u32>,
    pub flags: Vec<u8>,
    /// For players, their player id (`PlayerId.0`).
    pub player: Vec<u64>,
    /// Grid position of each slab slot, `NONE` for empty slots.
    pub pos_of_slot: Vec<u32>,
    /// The previous tick's `id` and `pos_of_slot`.
    prev_id: Vec<u32>,
    prev_pos_of_slot: Vec<u32>,
    /// By the previous tick's grid position: this tick's, `NONE` for entities gone since.
    old_to_new: Vec<u32>,
    /// By this tick's grid position: the previous tick's, `NONE` for entities new since.
    new_to_old: Vec<u32>,
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
            pos: Vec::new(),
            id: Vec::new(),
            slot: Vec::new(),
            flags: Vec::new(),
            player: Vec::new(),
            pos_of_slot: Vec::new(),
            prev_id: Vec::new(),
            prev_pos_of_slot: Vec::new(),
            old_to_new: Vec::new(),
            new_to_old: Vec::new(),
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
        std::mem::swap(&mut self.id, &mut self.prev_id);
        std::mem::swap(&mut self.pos_of_slot, &mut self.prev_pos_of_slot);
        self.old_to_new.clear();
        self.old_to_new.resize(self.prev_id.len(), NONE);
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
        self.pos.resize(n, Vec2::ZERO);
        self.id.resize(n, 0);
        self.slot.resize(n, 0);
        self.flags.resize(n, 0);
        self.player.resize(n, 0);
        self.pos_of_slot.clear();
        self.pos_of_slot.resize(entities.slot_count(), NONE);
        self.new_to_old.clear();
        self.new_to_old.resize(n, NONE);
        for (e, &c) in entities.iter().zip(&self.cell_of) {
            let j = self.cursor[c as usize] as usize;
            self.cursor[c as usize] += 1;
            let mut flags = 0;
            if e.moved && !e.teleported {
                flags |= MOVED;
            }
            if e.was_moving && !e.moved && !e.teleported {
                flags |= STOPPED;
            }
            if let Some(p) = e.player_id {
                flags |= PLAYER;
                self.player[j] = p.0;
                if e.notify.any() {
                    flags |= NOTIFY;
                }
            }
            let slot = e.id.index();
            self.pos[j] = e.pos;
            self.id[j] = e.id.0;
            self.slot[j] = slot as u32;
            self.flags[j] = flags;
            self.pos_of_slot[slot] = j as u32;
            if let Some(&old) = self.prev_pos_of_slot.get(slot)
                && old != NONE
                && self.prev_id[old as usize] == e.id.0
            {
                self.old_to_new[old as usize] = j as u32;
                // A resynchronising player keeps its place in others' views but starts its own
                // from nothing.
                if !e.resync {
                    self.new_to_old[j] = old;
                }
            }
        }
    }

    /// Grid position of a live entity.
    pub fn position_of(&self, id: EntityId) -> Option<usize> {
        let j = *self.pos_of_slot.get(id.index())?;
        (j != NONE && self.id[j as usize] == id.0).then_some(j as usize)
    }

    /// The rows of cells within `r` of `p`.
    fn rows_within(&self, p: Vec2, r: f32) -> std::ops::RangeInclusive<usize> {
        self.row(p.y - r)..=self.row(p.y + r)
    }

    /// Grid positions of the entities in columns `c0..=c1` of row `row`: one contiguous range.
    fn row_span(&self, row: usize, (c0, c1): (usize, usize)) -> std::ops::Range<usize> {
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

/// Where a player's view is in the view array: `view[start..start + len]`.
#[derive(Clone, Copy)]
struct ViewRange {
    start: u32,
    len: u32,
}

const NO_VIEW: ViewRange = ViewRange { start: 0, len: 0 };

/// Interest state of an instance.
pub(crate) struct Aoi {
    pub grid: Grid,
    enter_r2: f32,
    leave_r: f32,
    leave_r2: f32,
    max_visible: usize,
    /// By grid position: `token` = in the current player's old view. Tokens only grow (the
    /// array is cleared when they would wrap).
    mark: Vec<u32>,
    token: u32,
    pub ticks: Vec<PlayerTick>,
    /// Every player's view this tick, as grid positions; `view_prev`: last tick's, as last
    /// tick's grid positions.
    pub view: Vec<u32>,
    view_prev: Vec<u32>,
    /// By grid position (this tick's, and the previous tick's), so that looking them up
    /// follows the order players are handled in.
    range: Vec<ViewRange>,
    range_prev: Vec<ViewRange>,
    pub leaves: Vec<u32>,
    enters_tmp: Vec<u32>,
    /// Scratch: grid positions and squared distances of the entities near one player.
    near: Vec<(u32, f32)>,
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
            view_prev: Vec::new(),
            range: Vec::new(),
            range_prev: Vec::new(),
            leaves: Vec::new(),
            enters_tmp: Vec::new(),
            near: Vec::new(),
        }
    }

    /// The entities in a player's view after the last tick.
    pub fn view_of(&self, player: EntityId) -> impl Iterator<Item = EntityId> + '_ {
        let r = self.grid.position_of(player).and_then(|j| self.range.get(j)).copied().unwrap_or(NO_VIEW);
        self.view[r.start as usize..(r.start + r.len) as usize]
            .iter()
            .map(|&j| EntityId(self.grid.id[j as usize]))
    }

    /// Updates every player's view against the grid (already rebuilt). Returns the number of
    /// (player, visible entity) pairs.
    pub fn update_views(&mut self) -> usize {
        let n = self.grid.len();
        self.mark.resize(n, 0);
        std::mem::swap(&mut self.view, &mut self.view_prev);
        std::mem::swap(&mut self.range, &mut self.range_prev);
        self.view.clear();
        self.range.clear();
        self.range.resize(n, NO_VIEW);
        self.ticks.clear();
        self.leaves.clear();
        for jp in 0..n {
            if self.grid.flags[jp] & PLAYER != 0 {
                self.update_one(jp);
            }
        }
        self.view.len()
    }

    fn update_one(&mut self, jp: usize) {
        if self.token == u32::MAX {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.token = 0;
        }
        self.token += 1;
        let t = self.token;
        let g = &self.grid;
        let old = match g.new_to_old[jp] {
            NONE => NO_VIEW,
            oj => self.range_prev.get(oj as usize).copied().unwrap_or(NO_VIEW),
        };
        let old = &self.view_prev[old.start as usize..(old.start + old.len) as usize];
        let leaves_start = self.leaves.len() as u32;
        // Stamp the old view; what is gone from the instance leaves at once.
        for &oj in old {
            match g.old_to_new[oj as usize] {
                NONE => self.leaves.push(g.prev_id[oj as usize]),
                nj => self.mark[nj as usize] = t,
            }
        }
        let stays = self.view.len();
        self.enters_tmp.clear();
        // Pass 1, without branches: the candidates within the leave distance, compacted. Half
        // of those scanned are in and half out, so a branch here would mispredict constantly.
        let (px, py) = (g.pos[jp].x, g.pos[jp].y);
        let (p, r) = (Vec2::new(px, py), self.leave_r);
        let cols = (g.col(p.x - r), g.col(p.x + r));
        let scanned: usize = g.rows_within(p, r).map(|row| g.row_span(row, cols).len()).sum();
        if self.near.len() < scanned {
            self.near.resize(scanned, (0, 0.0));
        }
        let mut count = 0;
        for row in g.rows_within(p, r) {
            let span = g.row_span(row, cols);
            for (i, &Vec2 { x, y }) in g.pos[span.clone()].iter().enumerate() {
                let (dx, dy) = (x - px, y - py);
                let d2 = dx * dx + dy * dy;
                self.near[count] = ((span.start + i) as u32, d2);
                count += usize::from(d2 < self.leave_r2);
            }
        }
        // Pass 2: stays and enters. Nearly all are stays, so this branch predicts well.
        for &(k, d2) in &self.near[..count] {
            let k = k as usize;
            if self.mark[k] == t {
                self.view.push(k as u32);
            } else if d2 < self.enter_r2 && k != jp {
                self.enters_tmp.push(k as u32);
            }
        }
        // Whatever of the old view was not found again left it. Usually everything was found:
        // then the old view need not be read a second time. Otherwise the old view is checked
        // with the scan's own tests (in a scanned cell, within the leave distance).
        let found = self.view.len() - stays;
        let gone = self.leaves.len() - leaves_start as usize;
        if found + gone < old.len() {
            let rows = g.rows_within(p, r);
            for &oj in old {
                let nj = g.old_to_new[oj as usize];
                if nj == NONE {
                    continue;
                }
                let q = g.pos[nj as usize];
                let (dx, dy) = (q.x - px, q.y - py);
                let scanned = rows.contains(&g.row(q.y)) && (cols.0..=cols.1).contains(&g.col(q.x));
                if !(scanned && dx * dx + dy * dy < self.leave_r2) {
                    self.leaves.push(g.id[nj as usize]);
                }
            }
        }
        if self.view.len() - stays + self.enters_tmp.len() > self.max_visible {
            self.trim(jp, stays);
        }
        let enters = self.view.len();
        self.view.extend_from_slice(&self.enters_tmp);
        let end = self.view.len();
        self.range[jp] = ViewRange { start: stays as u32, len: (end - stays) as u32 };
        self.ticks.push(PlayerTick {
            j: jp as u32,
            stays: stays as u32,
            enters: enters as u32,
            end: end as u32,
            leaves_start,
            leaves_end: self.leaves.len() as u32,
        });
    }

    /// More than `max_visible` in view: keep the nearest, those already in view first.
    fn trim(&mut self, jp: usize, stays: usize) {
        let g = &self.grid;
        let d2 = |k: &u32| {
            let k = *k as usize;
            g.pos[k].distance_squared(g.pos[jp])
        };
        let by_distance = |a: &u32, b: &u32| d2(a).total_cmp(&d2(b));
        let kept = &mut self.view[stays..];
        if kept.len() > self.max_visible {
            kept.sort_unstable_by(by_distance);
            for &k in &kept[self.max_visible..] {
                self.leaves.push(g.id[k as usize]);
            }
            self.view.truncate(stays + self.max_visible);
            self.enters_tmp.clear();
        } else {
            let room = self.max_visible - kept.len();
            self.enters_tmp.sort_unstable_by(by_distance);
            self.enters_tmp.truncate(room);
        }
    }
}
