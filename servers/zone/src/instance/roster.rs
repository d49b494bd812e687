//! Match instances: pulling the roster in, backfilled players joining, and telling the
//! matchmaker when a player leaves a match that goes on.

use super::*;

impl Instance {
    /// Asks the holders of the roster's players to hand them over; offline players are pointed
    /// here, so they enter here when they come back.
    /// Then sets the instance's roster acknowledgement, which `create_instance` waits for.
    pub(super) fn pull_roster(&self) {
        let Some(m) = &self.match_state else { return };
        let ack = directory::ack_key(&self.sh.bus, &format!("{}:roster", self.key));
        self.pull(m.roster.iter().copied().collect(), Some(ack));
    }

    /// Backfill: `players` join the running match `match_id` (ignored by any other instance,
    /// e.g. one restarted for a later match of the same name).
    pub(super) fn add_players(&mut self, match_id: &str, players: Vec<PlayerId>, ack: String) {
        let Some(m) = self.match_state.as_mut().filter(|m| m.id == match_id) else {
            tracing::info!(instance = %self.key, match_id, "players for another match ignored");
            return;
        };
        m.roster.extend(players.iter().copied());
        self.pull(players, Some(ack).filter(|a| !a.is_empty()));
    }

    /// A player who had entered left this match instance while others play on (its session
    /// ended, or it left through `LeaveInstanceReq` or a portal): the `match_left` game event
    /// lets the matchmaker open a backfill ticket for its place.
    pub(super) fn left_match(&self, player: PlayerId) {
        let Some(m) = &self.match_state else { return };
        if !m.entered.contains(&player) || self.held.is_empty() {
            return;
        }
        let attrs = [("instance", self.key.as_ref()), ("match_id", m.id.as_str())];
        events::emit(self.bus(), "match_left", player, &attrs);
    }

    /// Pulls `roster` in; then sets `ack` (if any) for whoever waits on it.
    fn pull(&self, roster: Vec<PlayerId>, ack: Option<String>) {
        let (sh, key, incarnation) = (self.sh.clone(), self.key.to_string(), self.incarnation.clone());
        self.sh.io.spawn(async move {
            for player in roster {
                // Twice at most: a player that enters the world elsewhere between the read and
                // the pointing is not pointed (the write is conditional on its owner) and is
                // pulled from where it entered on the second round.
                for _ in 0..2 {
                    let row = match store::load(&sh.store, player).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::warn!(player = player.0, error = %e, "match roster: player not loaded");
                            break;
                        }
                    };
                    let owner = row.as_ref().map(|r| r.owner.clone()).unwrap_or_default();
                    let holder = store::incarnation_of(&owner);
                    if !owner.is_empty() && holder == incarnation {
                        break; // here already
                    }
                    if !owner.is_empty() && directory::alive(&sh.bus, holder).await {
                        let cmd = ZoneCommand {
                            command: Some(zone_command::Command::Pull(PullCmd {
                                player: player.0,
                                to_instance: key.clone(),
                            })),
                        };
                        let env = cmd.envelope(player.0);
                        let to = directory::stream(&sh.bus, directory::instance_of(holder));
                        let _ = sh.bus.send(&to, env);
                        break;
                    }
                    if let Err(e) = store::point_to(&sh.store, player, &owner, &key, &sh.cfg.start_map).await {
                        tracing::warn!(player = player.0, error = %e, "match roster: offline player not pointed here");
                        break;
                    }
                    match store::load(&sh.store, player).await {
                        Ok(Some(r)) if r.owner == owner && r.save.map == *key => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
            }
            if let Some(ack) = ack {
                let _ = directory::ack(&sh.bus, &ack).await;
            }
        });
    }
}
