//! Results of the I/O spawned on the node's runtime, and the sweeps of gateways and sessions
//! that are gone.

use super::*;

impl Instance {
    pub(super) fn on_done(&mut self, done: Done) {
        match done {
            Done::Claimed { player, seq, reason, row } => self.claimed(player, seq, reason, row),
            Done::HeldElsewhere { player, seq, reason, hops, holder } => {
                let Some(p) = self.pending.remove(&player) else { return };
                if p.cancelled {
                    return;
                }
                if hops >= MAX_HOPS {
                    self.unavailable(&p.seat, seq, "the player is moving between instances");
                    return;
                }
                // Alive and holding the player: pass the enter on to it.
                let cmd = ZoneCommand {
                    command: Some(zone_command::Command::Enter(EnterCmd {
                        seat: Some(p.seat.to_msg(player)),
                        seq,
                        reason: reason as i32,
                        hops: hops + 1,
                    })),
                };
                let env = cmd.envelope(player.0);
                let to =
                    directory::stream(&self.sh.bus, directory::instance_of(store::incarnation_of(&holder)));
                self.send(&to, env);
            }
            Done::ClaimFailed { player, seq, error } => {
                let Some(p) = self.pending.remove(&player) else { return };
                tracing::warn!(player = player.0, error, instance = %self.key, "claim failed");
                self.unavailable(&p.seat, seq, "the player's state could not be loaded");
            }
            Done::Target { handoff, holder } => self.target_found(handoff, holder),
            Done::Granted { player, result } => self.granted(player, result),
            Done::Passed { player, ok, to, reason, before, held } => {
                self.passed(player, ok, to, reason, before, *held.0)
            }
            Done::Sessions { live, presence } => {
                if let Some(live) = live {
                    self.sweep_dead_gateways(&live);
                }
                if let Some(presence) = presence {
                    self.sweep_lost_sessions(presence);
                }
            }
        }
    }

    /// Players whose gateway has been missing from the live nodes twice in a row leave.
    pub(super) fn sweep_dead_gateways(&mut self, live: &HashSet<String>) {
        let dead: HashSet<String> = self
            .held
            .values()
            .filter(|h| !live.contains(&*h.seat.node))
            .map(|h| h.seat.node.to_string())
            .collect();
        // Twice in a row, so a Redis that lost its node list does not empty the world.
        let confirmed: HashSet<String> = dead.intersection(&self.suspects).cloned().collect();
        self.suspects = dead;
        let gone: Vec<PlayerId> =
            self.held.iter().filter(|(_, h)| confirmed.contains(&*h.seat.node)).map(|(p, _)| *p).collect();
        for player in gone {
            tracing::info!(player = player.0, instance = %self.key, "the player's gateway is gone; leaving");
            self.leave(player);
        }
    }

    /// Players whose session the presence directory has not named twice in a row (it ended and
    /// its notice never came) leave.
    pub(super) fn sweep_lost_sessions(&mut self, presence: Vec<(PlayerId, Option<node::Presence>)>) {
        let mut lost = HashSet::new();
        for (player, at) in presence {
            let Some(h) = self.held.get(&player) else { continue };
            let here = at.is_some_and(|p| p.session.0 == h.seat.session && *p.node == *h.seat.node);
            if !here {
                lost.insert(player);
            }
        }
        let confirmed: Vec<PlayerId> = lost.intersection(&self.lost).copied().collect();
        self.lost = lost;
        for player in confirmed {
            tracing::info!(player = player.0, instance = %self.key, "the player's session is gone; leaving");
            self.leave(player);
        }
    }
}
