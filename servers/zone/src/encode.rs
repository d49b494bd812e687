//! Notifications: each player's ZoneTickNtf (reliable) and ZonePositionsNtf (droppable) for one
//! tick, written as protobuf bytes without building a message per player.
//!
//! What many players receive is encoded once per tick, not once per receiver: an entity's
//! position (`EntityMove`), its full state when it comes into view (`EntityEnter`, lazily, only
//! if someone sees it enter) and its combat events are each encoded a single time as a
//! length-delimited field. A player's frame is then its `tick` field followed by copies of those
//! snippets: a protobuf message is the concatenation of its fields, so this is exactly what
//! prost would produce for the same message (the tests check it byte for byte). The positions
//! frame, the bulk of the bytes, is written without a branch per entity: each entity in view
//! has its snippet copied whole (a fixed-size copy) and the end advanced by its length, which is
//! 0 for those that did not move. Frames are cut from a shared buffer that grows in 64 KiB
//! chunks, so a tick makes a handful of allocations rather than two per player; a frame held
//! by a slow consumer keeps at most its chunk alive.

use bytes::{BufMut, Bytes, BytesMut};
use mmo_proto::{CombatEvent, EntityEnter, EntityKind, EntityMove, SelfUpdate};
use prost::Message;
use prost::encoding::{encode_varint, encoded_len_varint};

use crate::aoi::{Aoi, EVENTS, MOVED, PlayerTick, STOPPED};
use crate::entity::{Entity, Role};
use crate::{EntityId, PlayerId};

/// Field keys (field number << 3 | wire type): 0 varint, 2 length-delimited. Both frames start
/// with `tick` and `server_time_ms`.
const TICK_KEY: u8 = 1 << 3;
const TIME_KEY: u8 = 2 << 3;
/// ZonePositionsNtf.moves
const MOVES_KEY: u8 = 3 << 3 | 2;
/// ZoneTickNtf fields.
const ENTERS_KEY: u8 = 3 << 3 | 2;
const LEAVES_KEY: u8 = 4 << 3 | 2;
const STOPS_KEY: u8 = 5 << 3 | 2;
const EVENTS_KEY: u8 = 6 << 3 | 2;
const YOU_KEY: u8 = 7 << 3 | 2;

const CHUNK: usize = 64 * 1024;
const NONE: u32 = u32::MAX;

/// Room for a keyed, length-delimited `EntityMove`: at most 1 + 1 + 6 + 5 + 5 = 18 bytes.
const SNIPPET: usize = 24;

/// A `MOVES_KEY`-keyed, length-delimited `EntityMove`, copied whole (a fixed-size copy
/// compiles to a couple of vector moves instead of a `memcpy` call) and cut to its length.
#[derive(Clone, Copy)]
struct Snippet {
    len: u8,
    bytes: [u8; SNIPPET],
}

impl Snippet {
    const EMPTY: Snippet = Snippet { len: 0, bytes: [0; SNIPPET] };

    fn of_move(id: u32, x: f32, y: f32) -> Snippet {
        let m = EntityMove { id, x, y };
        let mut s = Snippet::EMPTY;
        s.bytes[0] = MOVES_KEY;
        let mut dst = &mut s.bytes[1..];
        // The room always holds a length-delimited EntityMove (at most 17 bytes).
        if m.encode_length_delimited(&mut dst).is_ok() {
            s.len = (SNIPPET - dst.len()) as u8;
        }
        s
    }

    /// Appends it to `out` with `key` as its field key.
    fn put_vec(&self, out: &mut Vec<u8>, key: u8) {
        let at = out.len();
        out.extend_from_slice(&self.bytes);
        out.truncate(at + self.len as usize);
        out[at] = key;
    }
}

/// A player's frames of one tick; either may be absent when there was nothing to say.
#[derive(Clone, Debug)]
pub struct PlayerFrames {
    pub player: PlayerId,
    pub entity: EntityId,
    /// A ZoneTickNtf body: push it with `Delivery::Reliable`.
    pub reliable: Option<Bytes>,
    /// A ZonePositionsNtf body: push it with `Delivery::Droppable` under a key constant for the
    /// session (e.g. [`POSITIONS_KEY`](crate::POSITIONS_KEY)), so a newer one replaces an older
    /// one still queued.
    pub droppable: Option<Bytes>,
}

/// Combat event waiting for the end of the tick.
pub(crate) struct PendingEvent {
    pub subject: EntityId,
    pub event: mmo_proto::combat_event::Event,
}

/// Byte and count totals of one tick's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub reliable_frames: usize,
    pub reliable_bytes: usize,
    pub droppable_frames: usize,
    pub droppable_bytes: usize,
    pub enters: usize,
    pub leaves: usize,
    pub moves: usize,
    pub events_dropped: usize,
}

/// The encoder's reusable buffers.
#[derive(Default)]
pub(crate) struct Encoder {
    /// By grid position: the entity's `MOVES_KEY`-keyed EntityMove if it moved this tick, with
    /// its length (0 if it did not move).
    moves: Vec<Snippet>,
    /// Scratch for one droppable frame, never shrunk, so that whole snippets fit at its end.
    frame: Vec<u8>,
    /// Entities that stopped this tick.
    stopped: usize,
    /// By grid position: `(start, len)` in `enter_buf` once encoded this tick.
    enter_at: Vec<(u32, u32)>,
    enter_buf: Vec<u8>,
    /// Events with their keys, grouped by subject: `(grid position, start, end, count)`.
    event_ranges: Vec<(u32, u32, u32, u32)>,
    event_buf: Vec<u8>,
    out: BytesMut,
    scratch: Vec<u8>,
}

/// What encoding needs to know about the world.
pub(crate) struct Context<'a> {
    pub tick: u64,
    /// The tick's server time (ms since the epoch); 0 leaves the field out.
    pub server_time_ms: u64,
    pub npc_type_names: &'a [String],
    pub max_events: usize,
}

impl Encoder {
    /// Encodes what is shared by all receivers: moves of the entities that moved, and the
    /// tick's events (marking their subjects in the grid flags).
    pub fn prepare(&mut self, aoi: &mut Aoi, events: &[PendingEvent]) {
        let g = &mut aoi.grid;
        let n = g.len();
        self.moves.clear();
        self.moves.resize(n, Snippet::EMPTY);
        self.stopped = 0;
        for j in 0..n {
            self.stopped += usize::from(g.flags[j] & STOPPED != 0);
            if g.flags[j] & MOVED != 0 {
                self.moves[j] = Snippet::of_move(g.id[j], g.pos[j].x, g.pos[j].y);
            }
        }
        self.enter_at.clear();
        self.enter_at.resize(n, (NONE, 0));
        self.enter_buf.clear();
        self.event_ranges.clear();
        self.event_buf.clear();
        let mut by_subject: Vec<(usize, &PendingEvent)> =
            events.iter().filter_map(|e| g.position_of(e.subject).map(|j| (j, e))).collect();
        by_subject.sort_by_key(|(j, _)| *j);
        for (j, e) in by_subject {
            let start = self.event_buf.len() as u32;
            self.event_buf.push(EVENTS_KEY);
            let msg = CombatEvent { event: Some(e.event) };
            msg.encode_length_delimited(&mut self.event_buf).unwrap_or_default();
            match self.event_ranges.last_mut() {
                Some(last) if last.0 == j as u32 => {
                    last.2 = self.event_buf.len() as u32;
                    last.3 += 1;
                }
                _ => self.event_ranges.push((j as u32, start, self.event_buf.len() as u32, 1)),
            }
            g.flags[j] |= EVENTS;
        }
    }

    fn events_of(&self, j: u32) -> Option<(u32, u32, u32)> {
        let i = self.event_ranges.binary_search_by_key(&j, |r| r.0).ok()?;
        let r = self.event_ranges[i];
        Some((r.1, r.2, r.3))
    }

    /// The `ENTERS_KEY`-keyed EntityEnter of the entity at grid position `j`, as a range of
    /// `enter_buf`.
    fn enter(&mut self, j: usize, e: &Entity, names: &[String]) -> std::ops::Range<usize> {
        if self.enter_at[j].0 == NONE {
            let (kind, npc_type, player_id) = match &e.role {
                Role::Player(p) => (EntityKind::Player, String::new(), p.id.0),
                Role::Npc(n) => (EntityKind::Npc, names.get(n.kind as usize).cloned().unwrap_or_default(), 0),
            };
            let msg = EntityEnter {
                id: e.id.0,
                kind: kind as i32,
                npc_type,
                player_id,
                x: e.pos.x,
                y: e.pos.y,
                level: e.level,
                hp: e.hp,
                max_hp: e.max_hp,
                dead: e.dead,
                vx: e.vel.x,
                vy: e.vel.y,
            };
            let start = self.enter_buf.len();
            self.enter_buf.push(ENTERS_KEY);
            msg.encode_length_delimited(&mut self.enter_buf).unwrap_or_default();
            self.enter_at[j] = (start as u32, (self.enter_buf.len() - start) as u32);
        }
        let (s, l) = self.enter_at[j];
        s as usize..(s + l) as usize
    }

    fn reserve(&mut self, need: usize) {
        if self.out.capacity() - self.out.len() < need {
            self.out.reserve(need.max(CHUNK));
        }
    }

    fn finish(&mut self, stats_frames: &mut usize, stats_bytes: &mut usize) -> Bytes {
        *stats_frames += 1;
        *stats_bytes += self.out.len();
        self.out.split().freeze()
    }

    /// One player's two frames. `me` is the player's entity; `you` its SelfUpdate, if any.
    pub fn encode_player(
        &mut self,
        aoi: &Aoi,
        pt: &PlayerTick,
        entities: &crate::entity::Slab,
        you: Option<SelfUpdate>,
        cx: &Context<'_>,
        stats: &mut FrameStats,
    ) -> (Option<Bytes>, Option<Bytes>) {
        let g = &aoi.grid;
        let stays = &aoi.view[pt.stays as usize..pt.enters as usize];
        let enters = &aoi.view[pt.enters as usize..pt.end as usize];
        let visible = &aoi.view[pt.stays as usize..pt.end as usize];
        let leaves = &aoi.leaves[pt.leaves_start as usize..pt.leaves_end as usize];

        // Droppable: moves of the player and of what stayed in view. Each entity's snippet is
        // written whole at the current end and the end advanced by its length (0 for those
        // that did not move): no branch per entity, and fixed-size copies only.
        let need = 22 + (stays.len() + 2) * SNIPPET;
        if self.frame.len() < need {
            self.frame.resize(need, 0);
        }
        let mut end = 0;
        self.frame[end] = TICK_KEY;
        end += 1;
        end += encode_varint_into(cx.tick, &mut self.frame[end..]);
        if cx.server_time_ms != 0 {
            self.frame[end] = TIME_KEY;
            end += 1;
            end += encode_varint_into(cx.server_time_ms, &mut self.frame[end..]);
        }
        let header = end;
        for k in std::iter::once(pt.j).chain(stays.iter().copied()) {
            let s = &self.moves[k as usize];
            self.frame[end..end + SNIPPET].copy_from_slice(&s.bytes);
            end += s.len as usize;
            stats.moves += usize::from(s.len > 0);
        }
        if end > header {
            self.reserve(end);
            self.out.extend_from_slice(&self.frame[..end]);
        }
        let droppable = if end > header {
            Some(self.finish(&mut stats.droppable_frames, &mut stats.droppable_bytes))
        } else {
            self.out.clear();
            None
        };

        // Reliable: enters, leaves, stops, events, own state.
        self.scratch.clear();
        self.scratch.push(TICK_KEY);
        encode_varint(cx.tick, &mut self.scratch);
        if cx.server_time_ms != 0 {
            self.scratch.push(TIME_KEY);
            encode_varint(cx.server_time_ms, &mut self.scratch);
        }
        let header = self.scratch.len();
        for &k in enters {
            if let Some(e) = entities.at(g.slot[k as usize] as usize) {
                let range = self.enter(k as usize, e, cx.npc_type_names);
                self.scratch.extend_from_slice(&self.enter_buf[range]);
            }
        }
        stats.enters += enters.len();
        if !leaves.is_empty() {
            let len: usize = leaves.iter().map(|&id| encoded_len_varint(u64::from(id))).sum();
            self.scratch.push(LEAVES_KEY);
            encode_varint(len as u64, &mut self.scratch);
            for &id in leaves {
                encode_varint(u64::from(id), &mut self.scratch);
            }
            stats.leaves += leaves.len();
        }
        // Most ticks have no stops or no events at all: then nobody's view is searched for them.
        for k in std::iter::once(pt.j).chain(stays.iter().copied()).filter(|_| self.stopped > 0) {
            let k = k as usize;
            if g.flags[k] & STOPPED != 0 {
                Snippet::of_move(g.id[k], g.pos[k].x, g.pos[k].y).put_vec(&mut self.scratch, STOPS_KEY);
            }
        }
        let mut events = 0;
        for k in
            std::iter::once(pt.j).chain(visible.iter().copied()).filter(|_| !self.event_ranges.is_empty())
        {
            if g.flags[k as usize] & EVENTS == 0 {
                continue;
            }
            if let Some((start, end, count)) = self.events_of(k) {
                if events + count as usize > cx.max_events {
                    stats.events_dropped += count as usize;
                    continue;
                }
                events += count as usize;
                self.scratch.extend_from_slice(&self.event_buf[start as usize..end as usize]);
            }
        }
        if let Some(you) = you {
            self.scratch.push(YOU_KEY);
            you.encode_length_delimited(&mut self.scratch).unwrap_or_default();
        }
        let reliable = if self.scratch.len() > header {
            self.reserve(self.scratch.len());
            self.out.put_slice(&self.scratch);
            Some(self.finish(&mut stats.reliable_frames, &mut stats.reliable_bytes))
        } else {
            None
        };
        (reliable, droppable)
    }
}

/// Writes `v` as a varint at the start of `dst` (at least 10 bytes long); returns its length.
fn encode_varint_into(mut v: u64, dst: &mut [u8]) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        dst[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    dst[i] = v as u8;
    i + 1
}
