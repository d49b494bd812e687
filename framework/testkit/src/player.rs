//! A logged-in test player: a [`TestClient`] that keeps the pushes it receives while it waits
//! for an answer, so a test asks in order and takes pushes by type whenever it wants them.
//! Every server's end-to-end tests share it.

#![allow(clippy::unwrap_used)] // test support: a failure is the test's assertion

use std::collections::VecDeque;
use std::time::Duration;

use mmo_proto::{ErrorCode, ErrorResp, MsgType};
use mmo_wire::{Flags, Frame};
use tokio::time::Instant;

use crate::TestClient;

/// How long any answer or push may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A logged-in client and the pushes it has received but not yet taken.
pub struct Player {
    pub c: TestClient,
    pub id: u64,
    /// Its session token (for a resume).
    pub token: String,
    pub pushes: VecDeque<Frame>,
    /// Counted frames received (section 5.2 of the protocol): what a resume says it has.
    pub received: u64,
}

impl Player {
    /// A player on `c`, logged in as `id` with `token`; `received` counts the counted frames
    /// it has had so far (1 after a LoginResp).
    pub fn new(c: TestClient, id: u64, token: String, received: u64) -> Player {
        Player { c, id, token, pushes: VecDeque::new(), received }
    }

    async fn next(&mut self, deadline: Instant) -> Option<Frame> {
        let frame = tokio::time::timeout_at(deadline, self.c.recv()).await.ok()?.unwrap();
        if !frame.header.flags.contains(Flags::DROPPABLE) {
            self.received += 1;
        }
        Some(frame)
    }

    /// Sends `req`; its response, or the ErrorResp. Pushes that come first are kept.
    pub async fn ask<Req: MsgType, Resp: MsgType>(&mut self, req: &Req) -> Result<Resp, ErrorResp> {
        let seq = self.c.send(req).await.unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let frame =
                self.next(deadline).await.unwrap_or_else(|| panic!("no answer to {} in time", Req::NAME));
            if frame.header.flags.contains(Flags::PUSH) {
                self.pushes.push_back(frame);
                continue;
            }
            if frame.header.seq != seq {
                continue;
            }
            if frame.header.id == ErrorResp::ID {
                return Err(frame.decode_body().unwrap());
            }
            assert_eq!(frame.header.id, Resp::ID, "answer to {}", Req::NAME);
            return Ok(frame.decode_body().unwrap());
        }
    }

    /// [`Player::ask`], expecting a response.
    pub async fn ok<Req: MsgType, Resp: MsgType>(&mut self, req: &Req) -> Resp {
        match self.ask(req).await {
            Ok(r) => r,
            Err(e) => panic!("{} refused: {:?} {}", Req::NAME, e.code(), e.detail),
        }
    }

    /// [`Player::ask`], expecting a refusal with `code`.
    pub async fn refused<Req: MsgType, Resp: MsgType + std::fmt::Debug>(
        &mut self,
        req: &Req,
        code: ErrorCode,
    ) -> ErrorResp {
        match self.ask::<Req, Resp>(req).await {
            Err(e) if e.code() == code => e,
            other => panic!("{}: expected {code:?}, got {other:?}", Req::NAME),
        }
    }

    /// The next push of type `M` (pushes of other types stay for later calls).
    pub async fn push<M: MsgType>(&mut self) -> M {
        self.push_within(DEADLINE).await.unwrap_or_else(|| panic!("no {} in time", M::NAME))
    }

    /// The next push of type `M` within `limit`, if any.
    pub async fn push_within<M: MsgType>(&mut self, limit: Duration) -> Option<M> {
        if let Some(i) = self.pushes.iter().position(|f| f.header.id == M::ID) {
            let f = self.pushes.remove(i).unwrap();
            return Some(f.decode_body().unwrap());
        }
        let deadline = Instant::now() + limit;
        loop {
            let frame = self.next(deadline).await?;
            if frame.header.id == M::ID {
                return Some(frame.decode_body().unwrap());
            }
            self.pushes.push_back(frame);
        }
    }

    /// Every push of type `M` that arrives within `limit`.
    pub async fn pushes_within<M: MsgType>(&mut self, limit: Duration) -> Vec<M> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while let Some(m) = self.push_within::<M>(deadline.saturating_duration_since(Instant::now())).await {
            out.push(m);
        }
        out
    }
}
