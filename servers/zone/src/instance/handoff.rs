//! Hand-off to another instance: a portal, a match pulling its roster in, leaving a match.

use super::*;

impl Instance {
    pub(super) fn return_player(&mut self, player: PlayerId) {
        let Some(h) = self.held.get(&player) else { return };
        let (to, position) = match &h.back {
            Some(b) => (b.map.clone(), b.position),
            None => (self.sh.cfg.start_map.clone(), None),
        };
        self.start_handoff(player, to, position, EnterReason::Return, Back::Clear);
    }

    pub(super) fn start_handoff(
        &mut self,
        player: PlayerId,
        to: String,
        position: Option<Vec2>,
        reason: EnterReason,
        back: Back,
    ) {
        if !self.held.contains_key(&player) || self.handing.contains(&player) || to == *self.key {
            return;
        }
        self.handing.insert(player);
        let (bus, tx) = (self.sh.bus.clone(), self.done_tx.clone());
        self.sh.io.spawn(async move {
            let holder = directory::holder(&bus, &to).await.ok().flatten();
            let handoff = Handoff { player, to, position, reason, back };
            let _ = tx.send(Done::Target { handoff, holder }).await;
        });
    }

    pub(super) fn target_found(&mut self, handoff: Handoff, holder: Option<String>) {
        let Handoff { player, to, position, reason, back } = handoff;
        self.handing.remove(&player);
        if !self.held.contains_key(&player) {
            return;
        }
        let Some(holder) = holder else {
            counter!(m::HANDOFFS, "result" => "target_down").increment(1);
            tracing::info!(player = player.0, to, instance = %self.key, "hand-off target not running; the player stays");
            if reason == EnterReason::Return && to != self.sh.cfg.start_map {
                let start = self.sh.cfg.start_map.clone();
                self.start_handoff(player, start, None, reason, back);
            }
            return;
        };
        let (Some(h), Some(mut before)) = (self.held.remove(&player), self.world.remove_player(player))
        else {
            return;
        };
        before.map = self.key.to_string();
        let after = PlayerSave { map: to.clone(), position, ..before.clone() };
        self.gone.insert(player, Instant::now() + self.sh.cfg.handoff_timeout);
        let (sh, tx) = (self.sh.clone(), self.done_tx.clone());
        let held = HeldBox(Box::new(h));
        self.sh.io.spawn(async move {
            let next = format!("{holder}/in");
            let ok = store::save_and_pass(&sh.store, &after, &held.0.claim, &next, back)
                .await
                .map_err(|e| e.to_string());
            let _ = tx.send(Done::Passed { player, ok, to, reason, before, held }).await;
        });
    }

    pub(super) fn passed(
        &mut self,
        player: PlayerId,
        ok: Result<bool, String>,
        to: String,
        reason: EnterReason,
        before: PlayerSave,
        held: Held,
    ) {
        match ok {
            Ok(true) => {
                counter!(m::HANDOFFS, "result" => "ok").increment(1);
                self.zone_chat(player, false);
                let cmd = ZoneCommand {
                    command: Some(zone_command::Command::HandOff(HandOffCmd {
                        seat: Some(held.seat.to_msg(player)),
                        from_instance: self.key.to_string(),
                        reason: reason as i32,
                    })),
                };
                let env = cmd.envelope(player.0);
                self.send(&directory::stream(&self.sh.bus, &to), env);
                self.left_match(player);
            }
            Ok(false) => {
                counter!(m::HANDOFFS, "result" => "failed").increment(1);
                self.zone_chat(player, false);
                tracing::warn!(player = player.0, instance = %self.key, "hand-off: the player was no longer ours");
            }
            Err(e) => {
                // Nothing was written: the player is still ours. Put it back where it was.
                counter!(m::HANDOFFS, "result" => "failed").increment(1);
                tracing::warn!(player = player.0, error = e, instance = %self.key, "hand-off failed; the player stays");
                self.gone.remove(&player);
                if self.world.spawn_player(before).is_ok() {
                    let seat = held.seat.clone();
                    self.held.insert(player, held);
                    self.announce(&seat, player, 0, EnterReason::Recovered);
                }
            }
        }
    }
}
