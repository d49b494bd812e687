//! A match's outcome: the zone's `match_closed` event (or a game server's own report) turned
//! into a result against the match as it was started, and recorded once per match id.

use mmo_proto::bus::GameEvent;

use crate::State;
use crate::error::MmError;

/// The zone closed a match instance. (Recording the result comes with the results module.)
pub async fn on_match_closed(_st: &State, ev: &GameEvent) -> Result<(), MmError> {
    tracing::debug!(attrs = ?ev.attrs, "match closed");
    Ok(())
}
