//! Season rollover: once a season has ended, its board in Redis is copied into MySQL's entries
//! (`lb_scores` is written behind, so the last changes of the season may still wait in some
//! instance's write-behind; the copy's versioned upserts never put an older state over a newer
//! one), its final ranks are computed from MySQL's entries (the record), written to
//! `lb_results`, each player's reward granted through [`Rewards`] under the key
//! `season:<board>:<season>` (idempotent, so a rollover run twice, or resumed after a crash,
//! grants nothing more), and the season's Redis keys are left to expire after `archive_ttl`
//! (its board stays readable until then). Run by whichever instance holds the
//! rollover lease, every `rollover_check`, or by `mmo admin leaderboard rollover`.

use std::sync::Arc;

use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusError};
use mmo_core::store::Store;
use mysql_async::prelude::Queryable;

use crate::config::{BoardConfig, LeaderboardConfig, Ranking};
use crate::error::LbError;
use crate::hooks::{Reward, Rewards};
use crate::keys::{self, BoardKeys};
use crate::store::ScoreRow;
use crate::submitter::Writer;
use crate::{ranking, season, store};

/// What one season's rollover did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub board: String,
    pub season: u64,
    pub players: usize,
    /// Rewards this run applied (not already applied).
    pub granted: usize,
    /// Whether every reward is granted (false without a [`Rewards`] for a board that has some).
    pub done: bool,
}

/// Final ranks of entries in board order, in `style`.
pub fn final_ranks(cfg: &BoardConfig, rows: &[store::Row]) -> Vec<u32> {
    let (mut better, mut dense, mut prev) = (0usize, 0usize, None);
    rows.iter()
        .enumerate()
        .map(|(i, (_, score, _))| {
            if prev.is_some_and(|p| p != *score) {
                better = i;
                dense += 1;
            }
            prev = Some(*score);
            (match cfg.ranking {
                Ranking::Ordinal => i,
                Ranking::Competition => better,
                Ranking::Dense => dense,
            } + 1) as u32
        })
        .collect()
}

/// The reward for a final rank, if any.
pub fn reward_for(cfg: &BoardConfig, board: &str, season: u64, player: u64, rank: u32) -> Option<Reward> {
    let r = cfg.rewards.iter().find(|r| (r.from_rank..=r.to_rank).contains(&rank))?;
    Some(Reward {
        player,
        key: format!("season:{board}:{season}"),
        reason: "season_reward".into(),
        reference: format!("{board}:{season} rank {rank}"),
        currencies: r.currencies.iter().map(|(c, a)| (c.clone(), *a)).collect(),
        items: r.items.iter().map(|i| (i.item, i.count)).collect(),
    })
}

/// Rolls over every ended season of `board` (at `now_ms`) not yet finished.
pub async fn board(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    rewards: Option<&dyn Rewards>,
    name: &str,
    now_ms: i64,
) -> Result<Vec<Report>, LbError> {
    let bcfg =
        cfg.boards.get(name).ok_or_else(|| LbError::refused(mmo_proto::ErrorCode::LeaderboardNotFound))?;
    if !season::seasonal(bcfg) {
        return Ok(Vec::new());
    }
    let current = season::at(bcfg, now_ms).season;
    let mut seasons = store::unfinished(st, name, current).await?;
    // The season just ended may have entries only in Redis and write-behinds so far.
    if let Some(prev) = current.checked_sub(1)
        && !seasons.contains(&prev)
        && !store::finished(st, name, prev).await?
    {
        seasons.push(prev);
    }
    let mut out = Vec::new();
    for s in seasons {
        out.push(one(bus, st, cfg, bcfg, rewards, name, s).await?);
    }
    Ok(out)
}

async fn one(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    bcfg: &BoardConfig,
    rewards: Option<&dyn Rewards>,
    name: &str,
    s: u64,
) -> Result<Report, LbError> {
    copy_board(bus, st, cfg, bcfg, name, s).await?;
    let rows = store::season_rows(st, name, bcfg, s).await?;
    let ranks = final_ranks(bcfg, &rows);
    let now = mmo_core::clock::now_ms();
    // Results first, once (a second run keeps the first run's ranks).
    let results: Vec<(u64, i64, u64, u32)> =
        rows.iter().zip(&ranks).map(|((p, sc, at), r)| (*p, *sc, *at, *r)).collect();
    let board = name.to_string();
    st.in_tx(|tx| {
        let (results, board) = (results.clone(), board.clone());
        Box::pin(async move {
            for chunk in results.chunks(500) {
                let marks = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(",");
                let mut params: Vec<mysql_async::Value> = Vec::with_capacity(chunk.len() * 6);
                for (p, sc, at, r) in chunk {
                    params.extend([board.as_str().into(), s.into(), (*p).into(), (*sc).into(), (*at).into(), (*r).into()]);
                }
                tx.exec_drop(
                    format!(
                        "INSERT IGNORE INTO lb_results (board, season, player, score, achieved_ms, `rank`) VALUES {marks}"
                    ),
                    params,
                )
                .await?;
            }
            tx.exec_drop(
                "INSERT IGNORE INTO lb_seasons (board, season, players, archived_ms) VALUES (?, ?, ?, ?)",
                (board.as_str(), s, results.len() as u64, now),
            )
            .await?;
            Ok(())
        })
    })
    .await?;
    // Rewards, from the stored ranks.
    let pending: Vec<(u64, u32)> = st
        .exec(
            "SELECT player, `rank` FROM lb_results WHERE board = ? AND season = ? AND granted = 0",
            (name, s),
        )
        .await?;
    let (mut granted, mut left) = (0, 0);
    for (player, rank) in pending {
        let Some(reward) = reward_for(bcfg, name, s, player, rank) else { continue };
        let Some(g) = rewards else {
            left += 1;
            continue;
        };
        if g.grant(&reward).await.map_err(LbError::Reward)? {
            granted += 1;
        }
        st.exec_drop(
            "UPDATE lb_results SET granted = 1 WHERE board = ? AND season = ? AND player = ?",
            (name, s, player),
        )
        .await?;
    }
    let done = left == 0;
    if done {
        st.exec_drop("UPDATE lb_seasons SET done = 1 WHERE board = ? AND season = ?", (name, s)).await?;
        archive(bus, cfg, name, s).await?;
    } else {
        tracing::warn!(board = name, season = s, left, "season rewards not granted: no Rewards configured");
    }
    tracing::info!(board = name, season = s, players = rows.len(), granted, "leaderboard season rolled over");
    Ok(Report { board: name.to_string(), season: s, players: rows.len(), granted, done })
}

/// Writes every entry of a season's board in Redis to `lb_scores` (nothing if Redis lost it:
/// then MySQL's rows are all there is), `rebuild_batch` at a time.
async fn copy_board(
    bus: &Bus,
    st: &Store,
    cfg: &LeaderboardConfig,
    bcfg: &BoardConfig,
    name: &str,
    s: u64,
) -> Result<(), LbError> {
    let keys = BoardKeys::new(bus, name, s);
    let writer = Writer::new(cfg.score_writes.clone())?;
    let board: Arc<str> = name.into();
    let page = i64::from(cfg.rebuild_batch);
    let mut start = 0i64;
    loop {
        let rows: Vec<(String, i64)> = {
            let mut conn = bus.conn().await?;
            bus.timed(
                redis::cmd("ZRANGE")
                    .arg(&keys.z)
                    .arg(start)
                    .arg(start + page - 1)
                    .arg("WITHSCORES")
                    .query_async(&mut *conn),
            )
            .await?
        };
        let got = rows.len() as i64;
        let rows: Vec<ScoreRow> = rows
            .into_iter()
            .filter_map(|(member, z)| {
                let (achieved, player) = ranking::parse_member(&member)?;
                Some(ScoreRow::new(board.clone(), bcfg, s, (player, z * bcfg.direction.sign(), achieved)))
            })
            .collect();
        writer.write_now(st, rows).await?;
        if got < page {
            return Ok(());
        }
        start += page;
    }
}

/// Leaves a season's board in Redis for `archive_ttl`.
async fn archive(bus: &Bus, cfg: &LeaderboardConfig, name: &str, s: u64) -> Result<(), BusError> {
    let keys = BoardKeys::new(bus, name, s);
    let mut pipe = redis::pipe();
    for k in keys.board() {
        pipe.cmd("PEXPIRE").arg(k).arg(cfg.archive_ttl.as_millis() as u64).ignore();
    }
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await
}

/// Whether this instance holds (or now takes) the rollover lease.
async fn lease(bus: &Bus, cfg: &LeaderboardConfig) -> Result<bool, BusError> {
    let key = keys::rollover_lease(bus);
    let ms = cfg.rollover_lease.as_millis() as u64;
    let mut conn = bus.conn().await?;
    let got: Option<String> = bus
        .timed(
            redis::cmd("SET").arg(&key).arg(bus.node()).arg("NX").arg("PX").arg(ms).query_async(&mut *conn),
        )
        .await?;
    if got.is_some() {
        return Ok(true);
    }
    let holder: Option<String> = bus.timed(redis::cmd("GET").arg(&key).query_async(&mut *conn)).await?;
    if holder.as_deref() == Some(bus.node()) {
        let () = bus.timed(redis::cmd("PEXPIRE").arg(&key).arg(ms).query_async(&mut *conn)).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Every `rollover_check`, while this instance holds the lease, rolls over every board's ended
/// seasons.
pub fn start(bus: Bus, st: Store, cfg: LeaderboardConfig, rewards: Option<Arc<dyn Rewards>>, sd: &Shutdown) {
    if !cfg.boards.values().any(season::seasonal) {
        return;
    }
    let token = sd.token();
    sd.spawn(async move {
        let mut tick = tokio::time::interval(cfg.rollover_check);
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                _ = tick.tick() => {}
            }
            match lease(&bus, &cfg).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "leaderboard rollover lease");
                    continue;
                }
            }
            let now = mmo_core::clock::now_ms() as i64;
            for name in cfg.boards.keys() {
                if let Err(e) = board(&bus, &st, &cfg, rewards.as_deref(), name, now).await {
                    tracing::warn!(error = %e, board = name, "leaderboard rollover failed; retried at the next check");
                }
            }
        }
    });
}
