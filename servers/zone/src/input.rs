//! A player's movement input as the simulation takes it: a MoveReq, checked ([`MoveInput`]).
//! [`crate::movement`] applies it; the entity keeps the latest one.

use mmo_proto::MoveReq;
use mmo_proto::move_req::Intent as ProtoIntent;

use crate::{Vec2, ZoneError};

/// What the player wants to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Intent {
    Stop,
    /// Walk this way (any length; normalised).
    Direction(Vec2),
    /// Walk to this point and stop.
    Target(Vec2),
}

/// One MoveReq, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoveInput {
    /// `MoveReq.input_seq`: inputs not newer than the last one handled are ignored.
    pub seq: u32,
    pub intent: Intent,
    /// Fraction of the maximum speed; above 1 is clamped and counted as a violation.
    pub speed: f32,
    /// The client's predicted position, if it sent one.
    pub position: Option<Vec2>,
}

impl MoveInput {
    /// Converts a MoveReq; non-finite numbers or a negative speed are `InvalidInput`.
    pub fn from_req(req: &MoveReq) -> Result<MoveInput, ZoneError> {
        let intent = match req.intent {
            None => Intent::Stop,
            Some(ProtoIntent::Direction(d)) => Intent::Direction(d.into()),
            Some(ProtoIntent::Target(t)) => Intent::Target(t.into()),
        };
        // proto3 cannot tell an unset speed from 0: unset means full speed.
        let speed = if req.speed == 0.0 { 1.0 } else { req.speed };
        let input = MoveInput { seq: req.input_seq, intent, speed, position: req.position.map(Vec2::from) };
        input.check()?;
        Ok(input)
    }

    pub(crate) fn check(&self) -> Result<(), ZoneError> {
        let finite = match self.intent {
            Intent::Stop => true,
            Intent::Direction(v) | Intent::Target(v) => v.is_finite(),
        };
        if !finite || !self.position.is_none_or(Vec2::is_finite) {
            return Err(ZoneError::InvalidInput("non-finite coordinates"));
        }
        if !(self.speed.is_finite() && self.speed >= 0.0) {
            return Err(ZoneError::InvalidInput("speed must be a number >= 0"));
        }
        Ok(())
    }
}
