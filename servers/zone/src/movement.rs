//! Movement: client intents in, positions out. The server moves every entity itself; what a
//! client says is an intent (a direction or a point, and a speed fraction), never a position to
//! take on trust.
//!
//! **The rule for claimed positions.** A MoveReq may carry the client's predicted position. Each
//! player has a movement *budget*: it grows by `max_speed x dt x (1 + claim_tolerance)` every
//! tick and holds at most `max_speed x claim_burst` (0.5 s of running by default). The server
//! also keeps an *anchor*, where it last accepted the player to be. A claim costs its distance
//! from the anchor: within the budget it is accepted (the player is put there and it becomes the
//! anchor); beyond it the player is moved only as far as the budget reaches towards the claim,
//! the budget is emptied, the player's violation counter grows, and a correction (the
//! authoritative position) goes out in the next ZoneTickNtf. A claim outside the map is clamped
//! into it first. Between claims the server extrapolates with the latest intent for everyone
//! else's benefit, but that does not move the anchor, so an honest client whose claims arrive
//! late and in bunches is never charged twice. Without claims the server integrates the intent
//! and the anchor follows the player, charging the budget the distance walked, so switching
//! between the two modes cannot add up to more than the one speed.
//!
//! Why the burst: claims are charged by server time of arrival, while the client made them on
//! its own clock. A client that runs at full speed while its inputs are held up by `j` seconds
//! and then arrive together has spent `j` seconds of budget at once; the burst must cover the
//! jitter plus one input interval and one tick. 0.5 s covers 300 ms of jitter at 20 Hz inputs
//! and ticks with room to spare; `tests/movement.rs` checks both sides of that.
//!
//! A speed fraction above 1 is clamped to 1 and counted as a violation, since no honest
//! client sends one.

use crate::entity::{Motion, Role};
use crate::input::{Intent, MoveInput};
use crate::world::WorldEvent;
use crate::{PlayerId, Vec2, World, ZoneError};

/// Newer in sequence-number order, with wrap-around.
fn newer(seq: u32, last: Option<u32>) -> bool {
    last.is_none_or(|l| (seq.wrapping_sub(l) as i32) > 0)
}

impl World {
    /// Queues a player's MoveReq for the next tick. When more than `max_queued_inputs` wait,
    /// the oldest is dropped.
    pub fn input(&mut self, player: PlayerId, input: MoveInput) -> Result<(), ZoneError> {
        input.check()?;
        let id = *self.players.get(&player).ok_or(ZoneError::NotInZone)?;
        let max = self.config.max_queued_inputs.max(1);
        let p = self.entities.get_mut(id).and_then(|e| e.player_mut()).ok_or(ZoneError::NotInZone)?;
        if p.inputs.len() >= max {
            p.inputs.pop_front();
        }
        p.inputs.push_back(input);
        Ok(())
    }

    /// Starts the tick for every entity and handles the queued inputs of every player (the
    /// first phase of a tick).
    pub(crate) fn apply_inputs(&mut self, dt: f32) {
        let (w, h) = (self.map.width, self.map.height);
        let tolerance = 1.0 + self.config.claim_tolerance;
        let burst = self.config.claim_burst.as_secs_f32();
        let now = self.now;
        for e in self.entities.iter_mut() {
            // The start of the tick, for every entity.
            e.was_moving = e.moved;
            e.moved = false;
            e.teleported = false;
            e.start = e.pos;
            let Role::Player(p) = &mut e.role else { continue };
            p.budget = (p.budget + e.max_speed * dt * tolerance).min(e.max_speed * burst);
            e.claimed = false;
            while let Some(input) = p.inputs.pop_front() {
                if !newer(input.seq, p.last_seq) {
                    continue;
                }
                p.last_seq = Some(input.seq);
                p.last_input_at = now;
                if e.dead {
                    e.motion = Motion::Idle;
                    // A client that thinks it walks while dead is told where it lies.
                    e.notify.correction |= input.position.is_some();
                    continue;
                }
                let mut speed = input.speed;
                if speed > 1.0 + 1e-3 {
                    p.violations += 1;
                    self.world_events.push(WorldEvent::Violation { player: p.id, total: p.violations });
                }
                speed = speed.min(1.0);
                e.motion = match input.intent {
                    Intent::Stop => Motion::Idle,
                    Intent::Direction(d) => match d.normalized() {
                        Some(dir) if speed > 0.0 => Motion::Walk { dir, speed },
                        _ => Motion::Idle,
                    },
                    Intent::Target(t) if speed > 0.0 => Motion::Goto { target: t.clamp_to(w, h), speed },
                    Intent::Target(_) => Motion::Idle,
                };
                p.claim_mode = input.position.is_some();
                if let Some(claim) = input.position {
                    let claim = claim.clamp_to(w, h);
                    let distance = p.anchor.distance(claim);
                    if distance <= p.budget {
                        p.budget -= distance;
                        e.pos = claim;
                    } else {
                        e.pos = p.anchor.step_towards(claim, p.budget);
                        p.budget = 0.0;
                        p.violations += 1;
                        e.notify.correction = true;
                        self.world_events.push(WorldEvent::Violation { player: p.id, total: p.violations });
                    }
                    p.anchor = e.pos;
                    e.claimed = true;
                }
            }
        }
    }

    /// Walks every entity along its motion for `dt` (the second phase of a tick).
    pub(crate) fn move_entities(&mut self, dt: f32) {
        let (w, h) = (self.map.width, self.map.height);
        let timeout = self.config.input_timeout.as_secs_f64();
        let now = self.now;
        let Self { entities, map, world_events, dirty, .. } = self;
        for e in entities.iter_mut() {
            if e.dead {
                e.motion = Motion::Idle;
            }
            if let Role::Player(p) = &e.role
                && now - p.last_input_at > timeout
            {
                e.motion = Motion::Idle;
            }
            // A claim this tick put the player where its client has it now; walking on from
            // there would run ahead of the client.
            if !e.claimed {
                let step = e.max_speed * dt;
                match e.motion {
                    Motion::Idle => {}
                    Motion::Walk { dir, speed } => e.pos = (e.pos + dir * (step * speed)).clamp_to(w, h),
                    Motion::Goto { target, speed } => {
                        e.pos = e.pos.step_towards(target, step * speed);
                        if e.pos == target {
                            e.motion = Motion::Idle;
                        }
                    }
                }
            }
            if let Role::Player(p) = &mut e.role
                && !p.claim_mode
            {
                p.budget = (p.budget - p.anchor.distance(e.pos)).max(0.0);
                p.anchor = e.pos;
            }
            e.moved = e.pos != e.start;
            e.vel = if dt > 0.0 { (e.pos - e.start) * (1.0 / dt) } else { Vec2::ZERO };
            if !e.moved || !e.is_player() {
                continue;
            }
            // A player that moved: the dirty list, and portals.
            if e.mark_dirty() {
                dirty.push(e.id);
            }
            let pos = e.pos;
            let Role::Player(p) = &mut e.role else { continue };
            let portal = map.portals.iter().position(|q| q.at.distance_squared(pos) <= q.radius * q.radius);
            if let Some(i) = portal
                && portal != p.in_portal
            {
                let q = &map.portals[i];
                world_events.push(WorldEvent::PortalReached {
                    player: p.id,
                    portal: i,
                    to_map: q.to_map.clone(),
                    to: q.to,
                });
            }
            p.in_portal = portal;
        }
    }
}
