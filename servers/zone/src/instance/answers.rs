//! Answers to gateways: completions, pushes and rejections, through `mmo_core::bus::reply`.

use super::*;

impl Instance {
    pub(super) fn send(&self, inbox: &Arc<str>, env: Envelope) {
        if let Err(e) = self.sh.bus.send(inbox, env) {
            tracing::warn!(error = %e, instance = %self.key, "answer dropped: bus buffer full");
        }
    }

    /// Completes the request `seq` (if not 0) with its answer; `bind` routes the session's zone
    /// messages to this instance from now on.
    pub(super) fn complete(&self, seat: &Seat, seq: u32, answer: Option<(MsgId, Bytes)>, bind: bool) {
        let mut env = match answer {
            Some((id, body)) => reply::response(seat.session, seq, id, body),
            None => reply::answer(seat.session, seq, false),
        };
        if bind {
            env.bind_service = SERVICE.into();
            env.bind_stream = self.stream.to_string();
        }
        self.send(&seat.inbox, env.into());
    }

    pub(super) fn push_enter(&self, seat: &Seat, ntf: &ZoneEnterNtf) {
        let push = Push {
            session: seat.session,
            msg_id: u32::from(ZoneEnterNtf::ID.0),
            flags: u32::from(Flags::PUSH.0),
            body: ntf.encode_to_vec().into(),
            bind_service: SERVICE.into(),
            bind_stream: self.stream.to_string(),
            ..Default::default()
        };
        self.send(&seat.inbox, push.into());
    }

    pub(super) fn reply_error(&self, seat: &Seat, seq: u32, id: MsgId, oneway: bool, e: &ZoneError) {
        self.reject(seat, seq, id, oneway, e.code(), &e.to_string(), e.retry_after());
    }

    pub(super) fn reply_code(&self, seat: &Seat, seq: u32, id: MsgId, oneway: bool, code: ErrorCode) {
        self.reject(seat, seq, id, oneway, code, "", None);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn reject(
        &self,
        seat: &Seat,
        seq: u32,
        id: MsgId,
        oneway: bool,
        code: ErrorCode,
        detail: &str,
        retry: Option<Duration>,
    ) {
        if seq == 0 && oneway {
            return;
        }
        self.send(&seat.inbox, reply::rejection(seat.session, seq, id, oneway, code, detail, retry).into());
    }

    pub(super) fn enter_ntf(&self, player: PlayerId, reason: EnterReason) -> Option<ZoneEnterNtf> {
        let mut ntf = self.world.enter_ntf(player)?;
        ntf.reason = reason as i32;
        if let Some(m) = &self.match_state {
            ntf.match_id = m.id.clone();
        }
        Some(ntf)
    }

    /// Tells the session where it is: EnterWorldResp for a request, else a ZoneEnterNtf push.
    pub(super) fn announce(&self, seat: &Seat, player: PlayerId, seq: u32, reason: EnterReason) {
        let Some(ntf) = self.enter_ntf(player, reason) else { return };
        if seq != 0 {
            let body = EnterWorldResp { zone: Some(ntf) }.encode_to_vec().into();
            self.complete(seat, seq, Some((EnterWorldResp::ID, body)), true);
        } else {
            self.push_enter(seat, &ntf);
        }
    }

    pub(super) fn unavailable(&self, seat: &Seat, seq: u32, detail: &str) {
        if seq == 0 {
            return;
        }
        let retry = Some(mmo_core::error::UNAVAILABLE_RETRY_AFTER);
        self.reject(seat, seq, EnterWorldReq::ID, false, ErrorCode::Unavailable, detail, retry);
    }
}
