//! The tick: simulate, send each gateway one stream entry of its players' frames, act on the
//! world's events (a kill's loot becomes a grant), retry loot grants that are due, write progress behind, and notice gateways and sessions that are gone.

use super::*;

impl Instance {
    pub(super) fn tick(&mut self, period: Duration) {
        let now = Instant::now();
        // A late tick simulates the time that really passed (bounded), so speeds stay true.
        let dt = now.duration_since(self.last_tick).clamp(period / 2, period * 4);
        self.last_tick = now;
        let out = self.world.tick_at(dt, now_ms());
        let mm = &out.metrics;
        self.metrics.tick.record(mm.total.as_secs_f64());
        self.metrics.aoi.record(mm.aoi.as_secs_f64());
        if mm.total > period {
            self.metrics.overruns.increment(1);
        }
        self.metrics.entities.set(mm.entities as f64);
        self.metrics.players.set(mm.players as f64);
        self.metrics.pairs.set(mm.aoi_pairs as f64);
        self.metrics.bytes.record((mm.frames.reliable_bytes + mm.frames.droppable_bytes) as f64);
        self.metrics.reliable_bytes.increment(mm.frames.reliable_bytes as u64);
        self.metrics.droppable_bytes.increment(mm.frames.droppable_bytes as u64);
        self.metrics.updates.increment((mm.frames.moves + mm.frames.enters + mm.frames.leaves) as u64);
        self.send_frames(out);
        self.pump_loot();
        if now.duration_since(self.last_save) >= self.sh.cfg.save_interval {
            self.last_save = now;
            self.save_dirty();
            self.gone.retain(|_, until| *until > now);
            self.recovering.retain(|_, at| now.duration_since(*at) < RECOVER_EVERY);
            // Gateways come and go (node ids are per process): forget those nobody here uses.
            let held = &self.held;
            let pending = &self.pending;
            self.gateways.retain(|node, _| {
                held.values().any(|h| &*h.seat.node == node)
                    || pending.values().any(|p| &*p.seat.node == node)
            });
        }
        if now.duration_since(self.last_check) >= self.sh.cfg.gateway_check_interval {
            self.last_check = now;
            self.check_gateways();
        }
    }

    /// Sends the tick's frames: per gateway, one envelope of reliable bodies and one of
    /// droppable ones, queued together so they travel as one stream entry.
    pub(super) fn send_frames(&mut self, out: TickOutput) {
        let TickOutput { frames, events, .. } = out;
        let mut outs: Vec<(Arc<str>, Out)> = Vec::new();
        for f in frames {
            let Some(h) = self.held.get(&f.player) else { continue };
            let i = match outs.iter().position(|(inbox, _)| Arc::ptr_eq(inbox, &h.seat.inbox)) {
                Some(i) => i,
                None => {
                    outs.push((h.seat.inbox.clone(), Out::default()));
                    outs.len() - 1
                }
            };
            let o = &mut outs[i].1;
            if let Some(b) = f.reliable {
                o.reliable.0.push(h.seat.session);
                o.reliable.1.push(b);
            }
            if let Some(b) = f.droppable {
                o.droppable.0.push(h.seat.session);
                o.droppable.1.push(b);
            }
        }
        for (inbox, o) in outs {
            let mut envs = Vec::with_capacity(2);
            if !o.reliable.0.is_empty() {
                envs.push(Envelope::from(FanOut {
                    msg_id: u32::from(ZoneTickNtf::ID.0),
                    flags: u32::from(Flags::PUSH.0),
                    sessions: o.reliable.0,
                    bodies: o.reliable.1,
                    ..Default::default()
                }));
            }
            if !o.droppable.0.is_empty() {
                envs.push(Envelope::from(FanOut {
                    msg_id: u32::from(ZonePositionsNtf::ID.0),
                    flags: u32::from(Flags::PUSH.union(Flags::DROPPABLE).0),
                    key: POSITIONS_KEY,
                    sessions: o.droppable.0,
                    bodies: o.droppable.1,
                    ..Default::default()
                }));
            }
            if let Err(e) = self.sh.bus.send_all(&inbox, envs) {
                tracing::warn!(error = %e, instance = %self.key, "tick frames dropped: bus buffer full");
            }
        }
        for ev in events {
            self.on_world_event(ev);
        }
    }

    pub(super) fn on_world_event(&mut self, ev: WorldEvent) {
        match ev {
            WorldEvent::PortalReached { player, to_map, to, .. } => {
                // Out of a match instance through a portal: the return place is used up.
                let back = if self.match_state.is_some() { Back::Clear } else { Back::Keep };
                self.start_handoff(player, to_map, Some(to), EnterReason::Portal, back);
            }
            WorldEvent::LevelUp { player, level } => {
                let detail =
                    Detail::LevelUp(mmo_proto::bus::LevelUp { level, instance: self.key.to_string() });
                events::emit_typed(self.bus(), "level_up", player, detail);
            }
            WorldEvent::NpcKilled { player, .. } => {
                if let Some(m) = &mut self.match_state {
                    *m.kills.entry(player).or_default() += 1;
                }
            }
            WorldEvent::Looted { player, npc, npc_type, items } => {
                self.looted(player, npc, &npc_type, &items)
            }
            WorldEvent::PlayerDied { player, .. } => {
                if let Some(m) = &mut self.match_state {
                    *m.deaths.entry(player).or_default() += 1;
                }
            }
            WorldEvent::Violation { player, total } => {
                self.metrics.violations.increment(1);
                if total.is_power_of_two() {
                    tracing::info!(player = player.0, total, instance = %self.key, "movement rule broken (clamped)");
                }
            }
        }
    }

    /// Hands the players that changed to the write-behind, fenced on their claims.
    pub(super) fn save_dirty(&mut self) {
        for mut save in self.world.take_dirty() {
            let Some(h) = self.held.get(&save.player) else { continue };
            save.map = self.key.to_string();
            let row = ProgressRow { save, owner: h.claim.clone() };
            if self.sh.progress.mark(row.save.player.0, row).is_err() {
                counter!(m::SAVES_DEFERRED).increment(1);
            }
        }
    }

    /// Looks up whether the players' gateways are alive and their sessions still exist. A
    /// session-end notice can be lost (a gateway that crashed, a bus buffer that was full); this
    /// is what keeps such players from staying in the world for good.
    pub(super) fn check_gateways(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let players: Vec<PlayerId> = self.held.keys().copied().collect();
        let (bus, tx) = (self.sh.bus.clone(), self.done_tx.clone());
        self.sh.io.spawn(async move {
            let live = node::live_nodes(&bus).await.ok().map(|v| v.into_iter().collect());
            let mut presence = Some(Vec::with_capacity(players.len()));
            for chunk in players.chunks(500) {
                let ids: Vec<PlayerId> = chunk.to_vec();
                match (node::presence_many(&bus, &ids).await, presence.as_mut()) {
                    (Ok(found), Some(all)) => all.extend(chunk.iter().copied().zip(found)),
                    _ => presence = None,
                }
            }
            let _ = tx.send(Done::Sessions { live, presence }).await;
        });
    }

    pub(super) fn match_over(&mut self) -> bool {
        let (linger, start_timeout) = (self.sh.cfg.match_linger, self.sh.cfg.match_start_timeout);
        let empty = self.held.is_empty() && self.pending.is_empty() && self.handing.is_empty();
        let Some(m) = &mut self.match_state else { return false };
        if !empty {
            m.empty_since = None;
            return false;
        }
        let now = Instant::now();
        let since = *m.empty_since.get_or_insert(now);
        if m.entered.is_empty() {
            now.duration_since(m.started) >= start_timeout
        } else {
            now.duration_since(since) >= linger
        }
    }
}
