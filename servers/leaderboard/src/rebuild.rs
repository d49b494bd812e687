//! Rebuilding a board from MySQL after Redis lost it: `mmo admin leaderboard rebuild`, and
//! automatically the first time an instance uses a board whose `built` marker is missing (as at
//! every new season). One instance rebuilds at a time (a Redis lock; requests on other instances
//! meanwhile answer "rebuilding"), and within an instance concurrent first uses wait for the one
//! check in progress instead of being refused; rows are merged with the submit script's restore
//! mode, so submits that land during a rebuild are kept (an entry already in Redis wins unless
//! worse), and rebuilding twice changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mmo_core::bus::{Bus, BusError};
use mmo_core::store::Store;
use parking_lot::Mutex;

use crate::config::{BoardConfig, LeaderboardConfig};
use crate::error::LbError;
use crate::keys::BoardKeys;
use crate::{ranking, store};

/// A board-season.
type Id = (String, u64);

/// Boards-seasons this process found built recently, and the check in progress of each.
#[derive(Debug, Default)]
pub struct Checked {
    seen: Mutex<HashMap<Id, Instant>>,
    /// One check at a time per board-season in this process; others wait for it.
    turns: Mutex<HashMap<Id, Arc<tokio::sync::Mutex<()>>>>,
}

impl Checked {
    fn fresh(&self, id: &Id, within: Duration) -> bool {
        self.seen.lock().get(id).is_some_and(|at| at.elapsed() < within)
    }
}

/// Whether a board can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    Yes,
    /// Another instance is rebuilding it.
    Rebuilding,
}

static RELEASE: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )
});

async fn lock(bus: &Bus, keys: &BoardKeys, hold: Duration) -> Result<bool, BusError> {
    let mut conn = bus.conn().await?;
    let got: Option<String> = bus
        .timed(
            redis::cmd("SET")
                .arg(&keys.lock)
                .arg(bus.node())
                .arg("NX")
                .arg("PX")
                .arg(hold.as_millis() as u64)
                .query_async(&mut *conn),
        )
        .await?;
    Ok(got.is_some())
}

async fn unlock(bus: &Bus, keys: &BoardKeys) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    let _: i64 = bus.timed(RELEASE.key(&keys.lock).arg(bus.node()).invoke_async(&mut *conn)).await?;
    Ok(())
}

/// Makes sure a board-season is in Redis: if its marker is missing, the instance that takes the
/// lock merges MySQL's rows in and sets the marker; the others answer [`Ready::Rebuilding`].
pub async fn ensure(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    checked: &Checked,
    board: &str,
    season: u64,
) -> Result<Ready, LbError> {
    let id = (board.to_string(), season);
    if checked.fresh(&id, cfg.built_check) {
        return Ok(Ready::Yes);
    }
    let turn = checked.turns.lock().entry(id.clone()).or_default().clone();
    // Bounded like the Redis lock: a check that takes longer answers "rebuilding" here too.
    let Ok(_held) = tokio::time::timeout(cfg.rebuild_lock, turn.lock()).await else {
        return Ok(Ready::Rebuilding);
    };
    if checked.fresh(&id, cfg.built_check) {
        return Ok(Ready::Yes);
    }
    let ready = check(bus, st, cfg, board, season).await;
    if ready.as_ref().is_ok_and(|r| *r == Ready::Yes) {
        let mut seen = checked.seen.lock();
        if seen.len() > 10_000 {
            seen.clear();
        }
        seen.insert(id.clone(), Instant::now());
    }
    // Nobody else holds this turn (the map's and ours): drop it, so the map stays small.
    let mut turns = checked.turns.lock();
    if Arc::strong_count(&turn) == 2 {
        turns.remove(&id);
    }
    ready
}

/// [`ensure`]'s check, under this process's turn for the board-season.
async fn check(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    board: &str,
    season: u64,
) -> Result<Ready, LbError> {
    let keys = BoardKeys::new(bus, board, season);
    let built: bool = {
        let mut conn = bus.conn().await?;
        bus.timed(redis::cmd("EXISTS").arg(&keys.built).query_async(&mut *conn)).await?
    };
    if !built {
        let Some(bcfg) = cfg.boards.get(board) else { return Ok(Ready::Yes) };
        if !lock(bus, &keys, cfg.rebuild_lock).await? {
            return Ok(Ready::Rebuilding);
        }
        let r = merge(bus, st, bcfg, cfg.rebuild_batch, board, season).await;
        unlock(bus, &keys).await?;
        let rows = r?;
        if rows > 0 {
            tracing::warn!(
                board,
                season,
                rows,
                "leaderboard rebuilt from MySQL (its Redis keys were missing)"
            );
            metrics::counter!("mmo_leaderboard_rebuilds_total").increment(1);
        }
    }
    Ok(Ready::Yes)
}

/// Merges every stored entry of a season into Redis and sets the board's marker; returns the
/// rows merged. The caller holds the lock.
async fn merge(
    bus: &Bus,
    st: &Store,
    cfg: &BoardConfig,
    batch: u32,
    board: &str,
    season: u64,
) -> Result<u64, LbError> {
    let keys = BoardKeys::new(bus, board, season);
    ranking::load(bus).await?;
    let (mut after, mut total) = (0u64, 0u64);
    loop {
        let rows = store::page(st, board, season, after, batch).await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        // One script call per page: the rows merged in order, atomically.
        // (player, score, achieved): the rows merged in order, atomically, one call per page.
        let mut pipe = redis::pipe();
        pipe.invoke_script(&ranking::invocation(&keys, cfg, true, false, &rows)).ignore();
        let mut conn = bus.conn().await?;
        let () = bus.timed(pipe.query_async(&mut *conn)).await?;
        total += rows.len() as u64;
    }
    let mut conn = bus.conn().await?;
    let () = bus.timed(redis::cmd("SET").arg(&keys.built).arg(1).query_async(&mut *conn)).await?;
    Ok(total)
}

/// `mmo admin leaderboard rebuild`: merges MySQL's entries of a season into Redis now (whether
/// or not its keys are there). Returns the rows merged.
pub async fn rebuild(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    board: &str,
    season: u64,
) -> Result<u64, LbError> {
    let bcfg =
        cfg.boards.get(board).ok_or_else(|| LbError::refused(mmo_proto::ErrorCode::LeaderboardNotFound))?;
    let keys = BoardKeys::new(bus, board, season);
    if !lock(bus, &keys, cfg.rebuild_lock).await? {
        return Err(LbError::Refused(
            mmo_proto::ErrorCode::LeaderboardRebuilding,
            "another instance is rebuilding this board".into(),
            None,
        ));
    }
    let r = merge(bus, st, bcfg, cfg.rebuild_batch, board, season).await;
    unlock(bus, &keys).await?;
    r
}
