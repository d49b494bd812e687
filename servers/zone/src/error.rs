//! What a request to the zone can fail with; each maps to a client-visible code.

use std::time::Duration;

use mmo_proto::ErrorCode;

/// A rejected request: the client gets an `ErrorResp` with [`ZoneError::code`] and keeps its
/// session. None of these is a server fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    #[error("the player is not in this zone instance")]
    NotInZone,
    #[error("the player is already in this zone instance")]
    AlreadyInZone,
    #[error("the zone instance is full")]
    Full,
    #[error("no such target")]
    TargetNotFound,
    #[error("the target cannot be attacked")]
    InvalidTarget,
    #[error("the target is dead")]
    TargetDead,
    #[error("the target is {distance:.1} away, the reach is {range:.1}")]
    OutOfRange { distance: f32, range: f32 },
    #[error("the attack is on cooldown for another {retry_after:?}")]
    OnCooldown { retry_after: Duration },
    #[error("the player is dead")]
    AttackerDead,
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    #[error("not in a match instance")]
    NotInMatch,
}

impl ZoneError {
    /// The code for `ErrorResp.code`.
    pub fn code(&self) -> ErrorCode {
        match self {
            ZoneError::NotInZone => ErrorCode::NotInZone,
            // Entering twice or into a full instance is the wiring's fault, not the client's.
            ZoneError::AlreadyInZone | ZoneError::Full => ErrorCode::Unavailable,
            ZoneError::TargetNotFound => ErrorCode::TargetNotFound,
            ZoneError::InvalidTarget => ErrorCode::InvalidTarget,
            ZoneError::TargetDead => ErrorCode::TargetDead,
            ZoneError::OutOfRange { .. } => ErrorCode::TargetOutOfRange,
            ZoneError::OnCooldown { .. } => ErrorCode::AttackOnCooldown,
            ZoneError::AttackerDead => ErrorCode::AttackerDead,
            ZoneError::InvalidInput(_) => ErrorCode::InvalidArgument,
            ZoneError::NotInMatch => ErrorCode::NotInMatch,
        }
    }

    /// For `ErrorResp.retry_after_ms`: when trying again can succeed.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ZoneError::OnCooldown { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
