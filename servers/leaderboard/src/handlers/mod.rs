//! One file per message the leaderboard server handles, and what they share.

pub mod around;
pub mod friends;
pub mod info;
pub mod score_submit;
pub mod top;

use std::time::Duration;

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{ErrorCode, LeaderboardEntry};

use crate::config::BoardConfig;
use crate::error::LbError;
use crate::keys::BoardKeys;
use crate::ranking::Entry;
use crate::rebuild::{self, Ready};
use crate::{State, season};

/// How long a client is told to wait while a board is rebuilt.
const REBUILD_WAIT: Duration = Duration::from_secs(1);

/// The player of an authenticated session (the route's stage guarantees one).
pub(crate) fn me(ctx: &Ctx<State>) -> Result<u64, HandlerError> {
    ctx.session()
        .player()
        .map(|p| p.0)
        .ok_or_else(|| HandlerError::internal("authenticated session without a player"))
}

/// A board by name, its current season and keys (`LEADERBOARD_NOT_FOUND` for none), once it is
/// in Redis (`LEADERBOARD_REBUILDING` while another instance rebuilds it).
pub(crate) async fn open<'a>(
    st: &'a State,
    name: &str,
) -> Result<(&'a BoardConfig, u64, BoardKeys), LbError> {
    let cfg = st.cfg.boards.get(name).ok_or_else(|| LbError::refused(ErrorCode::LeaderboardNotFound))?;
    let season = season::at(cfg, mmo_core::clock::now_ms() as i64).season;
    match rebuild::ensure(&st.bus, &st.store, &st.cfg, &st.checked, name, season).await? {
        Ready::Yes => Ok((cfg, season, BoardKeys::new(&st.bus, name, season))),
        Ready::Rebuilding => Err(LbError::Refused(
            ErrorCode::LeaderboardRebuilding,
            "the board is being rebuilt".into(),
            Some(REBUILD_WAIT),
        )),
    }
}

/// Entries as clients see them, with names if the server shows them.
pub(crate) async fn wire(st: &State, entries: &[Entry]) -> Result<Vec<LeaderboardEntry>, LbError> {
    let names = if st.cfg.show_names {
        let ids: Vec<u64> = entries.iter().map(|e| e.player).collect();
        st.people.names(&st.store, &ids).await?
    } else {
        Default::default()
    };
    Ok(entries
        .iter()
        .map(|e| LeaderboardEntry {
            player: e.player,
            name: names.get(&e.player).cloned().unwrap_or_default(),
            score: e.score,
            rank: e.rank,
            achieved_ms: e.achieved_ms,
        })
        .collect())
}
