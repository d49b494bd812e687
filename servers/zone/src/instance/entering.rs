//! Entering (a claim in MySQL and the player's items from the shop's inventory first, then a
//! place in the world) and leaving (a final save that
//! gives the claim up).

use super::*;

impl Instance {
    /// Places `player` here for `seat`: at once if it is held already, else after a claim.
    pub(super) fn enter(&mut self, seat: Seat, player: PlayerId, seq: u32, reason: EnterReason, hops: u32) {
        if player.0 == 0 {
            return;
        }
        if let Some(h) = self.held.get_mut(&player) {
            if h.seat.same(&seat) || reason == EnterReason::Login {
                // Told where it is again (a client resynchronising, a redelivered command), or
                // logged in again on a new session, which takes the entity over. Either way the
                // client starts its picture afresh, so the next tick announces the whole view.
                h.seat = seat.clone();
                self.world.resend_view(player);
                self.announce(&seat, player, seq, reason);
            } else {
                // A stale session's automatic re-entry: the player is here under another one.
                self.unavailable(&seat, seq, "held under another session");
            }
            return;
        }
        if self.pending.contains_key(&player) || self.handing.contains(&player) {
            self.unavailable(&seat, seq, "entering already");
            return;
        }
        if let Some(m) = &self.match_state
            && !m.roster.contains(&player)
        {
            self.reply_error(&seat, seq, EnterWorldReq::ID, false, &ZoneError::NotInZone);
            return;
        }
        self.pending.insert(player, Pending { seat, cancelled: false, stale_inventory: false });
        let token = format!("{}/{}", self.incarnation, self.claims);
        self.claims += 1;
        let (sh, tx, incarnation) = (self.sh.clone(), self.done_tx.clone(), self.incarnation.clone());
        self.sh.io.spawn(async move {
            let bus = sh.bus.clone();
            let alive = |inc: String| {
                let bus = bus.clone();
                async move { directory::alive(&bus, &inc).await }
            };
            let claim = store::claim(&sh.store, player, &incarnation, &token, &sh.cfg.start_map, alive).await;
            let done = match claim {
                // Its items, from the shop's inventory (their record). Should the read fail,
                // the claim stays with this instance, which takes it again on the next enter.
                Ok(Claim::Taken(mut row)) => {
                    match crate::loot::read(&sh.store, player, sh.cfg.inventory_read_limit).await {
                        Ok(items) => {
                            row.save.inventory = items;
                            Done::Claimed { player, seq, reason, row }
                        }
                        Err(e) => Done::ClaimFailed { player, seq, error: format!("inventory: {e}") },
                    }
                }
                Ok(Claim::Held(holder)) => Done::HeldElsewhere { player, seq, reason, hops, holder },
                Err(e) => Done::ClaimFailed { player, seq, error: e.to_string() },
            };
            let _ = tx.send(done).await;
        });
    }

    pub(super) fn claimed(&mut self, player: PlayerId, seq: u32, reason: EnterReason, row: PlayerRow) {
        let Some(p) = self.pending.remove(&player) else { return };
        let PlayerRow { mut save, back, owner } = row;
        if p.cancelled {
            self.release(save, owner, Back::Keep);
            return;
        }
        // Where in this instance: its own position if it was saved here, the return place if this
        // is where it returns to, else the spawn area.
        let had_back = back.is_some();
        if save.map != *self.key {
            save.position = match &back {
                Some(b) if b.map == *self.key => b.position,
                _ => None,
            };
        }
        save.map = self.key.to_string();
        match self.world.spawn_player(save.clone()) {
            Ok(_) => {
                let in_match = self.match_state.is_some();
                if let Some(m) = &mut self.match_state {
                    m.entered.insert(player);
                }
                let held = Held {
                    seat: p.seat.clone(),
                    claim: owner,
                    back: if in_match { back } else { None },
                    clear_back: !in_match && had_back,
                };
                self.held.insert(player, held);
                self.recovering.remove(&player);
                if p.stale_inventory {
                    self.refresh_inventory(player);
                }
                self.zone_chat(player, true);
                counter!(m::ENTERS, "reason" => reason_name(reason)).increment(1);
                self.announce(&p.seat, player, seq, reason);
            }
            Err(e) => {
                tracing::warn!(error = %e, player = player.0, instance = %self.key, "could not place a claimed player");
                self.unavailable(&p.seat, seq, "the instance is full");
                self.release(save, owner, Back::Keep);
            }
        }
    }

    /// Writes a player's state and lets it go (its session ended, or it could not be placed).
    pub(super) fn release(&self, save: PlayerSave, claim: String, back: Back) {
        let sh = self.sh.clone();
        self.sh.io.spawn(async move {
            match store::save_and_pass(&sh.store, &save, &claim, "", back).await {
                Ok(true) => store::update_profile(&sh.store, &save).await,
                Ok(false) => {
                    tracing::warn!(player = save.player.0, "leave not saved: the player was taken over")
                }
                Err(e) => {
                    // Its progress since the last flush waits in the write-behind; the claim
                    // stays until this instance stops (then it is released with the others).
                    tracing::warn!(player = save.player.0, error = %e, "leave save failed");
                    let _ = sh.progress.mark(save.player.0, ProgressRow { save, owner: claim });
                }
            }
        });
    }

    pub(super) fn session_ended(&mut self, player: PlayerId, seat: &Seat) {
        if let Some(p) = self.pending.get_mut(&player)
            && p.seat.same(seat)
        {
            p.cancelled = true;
        }
        if self.held.get(&player).is_some_and(|h| h.seat.same(seat)) {
            self.leave(player);
        }
    }

    /// Takes a held player out and saves it (it logged out, or its gateway died).
    pub(super) fn leave(&mut self, player: PlayerId) {
        let Some(h) = self.held.remove(&player) else { return };
        let Some(mut save) = self.world.remove_player(player) else { return };
        self.zone_chat(player, false);
        save.map = self.key.to_string();
        let back = if h.clear_back { Back::Clear } else { Back::Keep };
        self.release(save, h.claim, back);
        self.left_match(player);
    }

    /// Puts the player in this instance's chat channel, or takes it out (off the tick: spawned
    /// on the node's I/O runtime). A failure only costs the zone channel's messages.
    pub(super) fn zone_chat(&self, player: PlayerId, join: bool) {
        let (bus, key) = (self.sh.bus.clone(), self.key.clone());
        self.sh.io.spawn(async move {
            let done = if join {
                mmo_chat::channels::join_zone(&bus, &key, player).await
            } else {
                mmo_chat::channels::leave_zone(&bus, &key, player).await
            };
            if let Err(e) = done {
                tracing::warn!(error = %e, player = player.0, instance = %key, "zone chat channel not updated");
            }
        });
    }
}
