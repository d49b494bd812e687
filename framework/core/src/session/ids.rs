//! Who a session is and how far it has come: the ids it carries and the stages routes are
//! declared for. An envelope names the stage as `SessionStage`; decoding it fails closed.

/// Identifies a session within its gateway process. Never reused while the process lives.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A player's id, as stored in MySQL. Bound to a session at login.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct PlayerId(pub u64);

impl std::fmt::Display for PlayerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How far a session has come. Each route declares the stages it may be used in; a message sent
/// in another stage is rejected before its body is decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    /// Just connected: only Hello and Ping.
    Connected = 0,
    /// Hello accepted: Login.
    Versioned = 1,
    /// Logged in: everything else.
    Authenticated = 2,
}

/// A stage value that names no stage (from another node over the bus).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown stage {0}")]
pub struct UnknownStage(pub i32);

impl Stage {
    /// The stage as an envelope carries it (`SessionStage`).
    pub fn to_wire(self) -> i32 {
        use mmo_proto::bus::SessionStage as W;
        match self {
            Stage::Connected => W::Connected as i32,
            Stage::Versioned => W::Versioned as i32,
            Stage::Authenticated => W::Authenticated as i32,
        }
    }

    /// The stage an envelope names. Fails closed: `UNSPECIFIED` or a value this node does not
    /// know is an error, never a stage with more rights.
    pub fn from_wire(v: i32) -> Result<Stage, UnknownStage> {
        use mmo_proto::bus::SessionStage as W;
        match W::try_from(v) {
            Ok(W::Connected) => Ok(Stage::Connected),
            Ok(W::Versioned) => Ok(Stage::Versioned),
            Ok(W::Authenticated) => Ok(Stage::Authenticated),
            Ok(W::Unspecified) | Err(_) => Err(UnknownStage(v)),
        }
    }

    pub(super) fn from_index(v: u8) -> Stage {
        match v {
            1 => Stage::Versioned,
            2 => Stage::Authenticated,
            _ => Stage::Connected,
        }
    }
}

/// A set of stages, as a route declares them.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StageSet(pub u8);

impl StageSet {
    /// Every stage (e.g. Ping).
    pub const ANY: StageSet = StageSet(0b111);

    pub const fn only(stage: Stage) -> StageSet {
        StageSet(1 << stage as u8)
    }

    pub const fn with(self, stage: Stage) -> StageSet {
        StageSet(self.0 | 1 << stage as u8)
    }

    pub const fn contains(self, stage: Stage) -> bool {
        self.0 & (1 << stage as u8) != 0
    }
}

impl From<Stage> for StageSet {
    fn from(s: Stage) -> Self {
        StageSet::only(s)
    }
}
