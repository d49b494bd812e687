//! Envelopes from the instance's stream: client messages of the players bound to it (through
//! the handler table), the gateways' session-ended notices, and commands from other instances.

use super::*;

impl Instance {
    pub(super) fn on_batch(&mut self, batch: mmo_proto::bus::Batch) {
        let from = batch.from;
        for env in batch.envelopes {
            self.on_envelope(&from, env);
        }
    }

    pub(super) fn seat(&mut self, node: &str, session: u64) -> Seat {
        if let Some((node, inbox)) = self.gateways.get(node) {
            return Seat { node: node.clone(), inbox: inbox.clone(), session };
        }
        let entry = (Arc::<str>::from(node), self.sh.bus.keys().inbox(node));
        self.gateways.insert(node.to_string(), entry.clone());
        Seat { node: entry.0, inbox: entry.1, session }
    }

    pub(super) fn on_envelope(&mut self, from: &str, env: Envelope) {
        match env.kind {
            Some(Kind::Request(req)) => self.on_request(from, req),
            Some(Kind::Ended(ended)) => {
                let seat = self.seat(from, ended.session);
                self.session_ended(PlayerId(ended.player), &seat);
            }
            Some(Kind::Command(c)) => match ZoneCommand::decode(c.body) {
                Ok(cmd) => self.on_command(cmd),
                Err(e) => tracing::warn!(error = %e, instance = %self.key, "undecodable zone command"),
            },
            _ => {
                tracing::warn!(instance = %self.key, "envelope of a kind an instance does not take; ignored")
            }
        }
    }

    /// A message of a player's session: to its handler if the player is held here under that
    /// session; an EnterWorldReq enters it; anything else says it is not here.
    pub(super) fn on_request(&mut self, from: &str, env: Request) {
        let player = PlayerId(env.player);
        let id = MsgId(env.msg_id as u16);
        let seat = self.seat(from, env.session);
        if self.held.get(&player).is_some_and(|h| h.seat.same(&seat)) {
            self.dispatch(player, &seat, id, env.seq, env.body);
            return;
        }
        if id == EnterWorldReq::ID {
            self.enter(seat, player, env.seq, EnterReason::Login, 0);
            return;
        }
        // Not held under this session: the player is not here, or not any more. A request is
        // answered; one-way input (movement) is dropped.
        let oneway = self.sh.table.spec(id).is_some_and(|s| s.oneway);
        if !oneway {
            self.reply_error(&seat, env.seq, id, false, &ZoneError::NotInZone);
        }
        if self.gone.contains_key(&player) || self.held.contains_key(&player) || player.0 == 0 {
            return; // handed off, or held under a newer session: stale traffic
        }
        let now = Instant::now();
        if self.recovering.get(&player).is_some_and(|at| now.duration_since(*at) < RECOVER_EVERY) {
            return;
        }
        self.recovering.insert(player, now);
        // Its session is bound here, so it was held here: the instance restarted. Bring it back.
        self.enter(seat, player, 0, EnterReason::Recovered, 0);
    }

    pub(super) fn on_command(&mut self, cmd: ZoneCommand) {
        match cmd.command {
            Some(zone_command::Command::Enter(EnterCmd { seat: Some(s), seq, reason, hops })) => {
                let (player, seat) = (PlayerId(s.player), self.seat(&s.gateway, s.session));
                let reason = EnterReason::try_from(reason).unwrap_or(EnterReason::Login);
                self.enter(seat, player, seq, reason, hops);
            }
            Some(zone_command::Command::HandOff(HandOffCmd { seat: Some(s), reason, .. })) => {
                let (player, seat) = (PlayerId(s.player), self.seat(&s.gateway, s.session));
                self.gone.remove(&player);
                let reason = EnterReason::try_from(reason).unwrap_or(EnterReason::Portal);
                self.enter(seat, player, 0, reason, 0);
            }
            Some(zone_command::Command::Pull(PullCmd { player, to_instance })) => {
                let player = PlayerId(player);
                let Some(at) = self.world.player_state(player).and_then(|s| s.position) else { return };
                let back = Back::Set(Place { map: self.key.to_string(), position: Some(at) });
                self.start_handoff(player, to_instance, None, EnterReason::Match, back);
            }
            Some(zone_command::Command::AddPlayers(AddPlayersCmd { match_id, players, ack })) => {
                self.add_players(&match_id, players.into_iter().map(PlayerId).collect(), ack);
            }
            _ => tracing::debug!(instance = %self.key, "zone command ignored"),
        }
    }

    pub(super) fn dispatch(&mut self, player: PlayerId, seat: &Seat, id: MsgId, seq: u32, body: Bytes) {
        let oneway = self.sh.table.spec(id).is_some_and(|s| s.oneway);
        let mut actions = Vec::new();
        let sh = self.sh.clone();
        let match_id = self.match_state.as_ref().map(|m| m.id.as_str());
        let mut cx = Cx { world: &mut self.world, player, match_id, actions: &mut actions };
        match sh.table.dispatch(&mut cx, id, body) {
            Dispatched::Reply(rid, body) => self.complete(seat, seq, Some((rid, body)), false),
            Dispatched::Done if !oneway => self.complete(seat, seq, None, false),
            Dispatched::Done => {}
            Dispatched::Rejected(e) => self.reply_error(seat, seq, id, oneway, &e),
            Dispatched::Malformed => self.reply_code(seat, seq, id, oneway, ErrorCode::MalformedBody),
            Dispatched::Unknown => self.reply_code(seat, seq, id, oneway, ErrorCode::UnknownMessage),
        }
        for action in actions {
            match action {
                Action::Return => self.return_player(player),
            }
        }
    }
}
