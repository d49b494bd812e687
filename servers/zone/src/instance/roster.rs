//! Match instances: pulling the roster in.

use super::*;

impl Instance {
    /// Asks the holders of the roster's players to hand them over; offline players are pointed
    /// here, so they enter here when they come back.
    pub(super) fn pull_roster(&self) {
        let Some(m) = &self.match_state else { return };
        let (sh, key, incarnation) = (self.sh.clone(), self.key.to_string(), self.incarnation.clone());
        let roster: Vec<PlayerId> = m.roster.iter().copied().collect();
        self.sh.io.spawn(async move {
            for player in roster {
                let row = match store::load(&sh.store, player).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(player = player.0, error = %e, "match roster: player not loaded");
                        continue;
                    }
                };
                let owner = row.as_ref().map(|r| r.owner.clone()).unwrap_or_default();
                let holder = store::incarnation_of(&owner);
                if !owner.is_empty() && holder != incarnation && directory::alive(&sh.bus, holder).await {
                    let cmd = ZoneCommand {
                        command: Some(zone_command::Command::Pull(PullCmd { player: player.0, to_instance: key.clone() })),
                    };
                    let env = cmd.envelope(player.0);
                    let to = directory::stream(&sh.bus, directory::instance_of(holder));
                    let _ = sh.bus.send(&to, env);
                } else if (owner.is_empty() || holder != incarnation)
                    && let Err(e) = store::point_to(&sh.store, player, &owner, &key, &sh.cfg.start_map).await
                {
                    tracing::warn!(player = player.0, error = %e, "match roster: offline player not pointed here");
                }
            }
        });
    }
}
