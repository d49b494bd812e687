//! What a game plugs into the leaderboard: a [`ScoreValidator`] called on every submit that
//! passed the range and rate checks (e.g. to compare the score with the match the server saw),
//! and the [`Rewards`] a season's rollover grants through (the shop's grants: idempotent per
//! player and key).

use std::future::Future;
use std::pin::Pin;

/// A boxed future, for the hooks' methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A submit as the validator sees it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub player: u64,
    pub board: String,
    pub season: u64,
    pub score: i64,
}

/// A validator's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refused with SCORE_REJECTED and this detail.
    Reject(String),
}

/// The game's check of a submitted score. An error (not a rejection) answers INTERNAL.
pub trait ScoreValidator: Send + Sync + 'static {
    fn validate<'a>(&'a self, c: &'a Candidate) -> BoxFuture<'a, Result<Verdict, String>>;
}

/// One player's season reward: a grant in the shop's terms (key `season:<board>:<season>`,
/// reason `season_reward`, reference `<board>:<season> rank <rank>`).
pub use mmo_shop::Grant as Reward;

/// Where rewards go. `grant` must be idempotent per (player, key): the rollover may call it again
/// for a reward already granted (a crash between the grant and its mark). Returns whether this
/// call applied it (false: it already was).
pub trait Rewards: Send + Sync + 'static {
    fn grant<'a>(&'a self, r: &'a Reward) -> BoxFuture<'a, Result<bool, String>>;
}
