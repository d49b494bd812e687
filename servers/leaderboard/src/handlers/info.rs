//! LeaderboardInfoReq: boards as clients see them (direction, mode, ranking style, range,
//! current season with its previous and next reset times, rewards).

use mmo_core::{Ctx, HandlerError};
use mmo_proto::{
    ErrorCode, LeaderboardDirection, LeaderboardInfo, LeaderboardInfoReq, LeaderboardInfoResp,
    LeaderboardMode, LeaderboardReward, LeaderboardRewardCurrency, LeaderboardRewardItem, RankingStyle,
};

use crate::config::{BoardConfig, Direction, Mode, Ranking};
use crate::error::LbError;
use crate::{State, season};

/// A board's description at `now_ms`.
pub fn describe(name: &str, cfg: &BoardConfig, now_ms: i64) -> LeaderboardInfo {
    let w = season::at(cfg, now_ms);
    LeaderboardInfo {
        board: name.to_string(),
        direction: match cfg.direction {
            Direction::Descending => LeaderboardDirection::Descending,
            Direction::Ascending => LeaderboardDirection::Ascending,
        } as i32,
        mode: match cfg.mode {
            Mode::Best => LeaderboardMode::Best,
            Mode::Cumulative => LeaderboardMode::Cumulative,
        } as i32,
        ranking: match cfg.ranking {
            Ranking::Competition => RankingStyle::Competition,
            Ranking::Dense => RankingStyle::Dense,
            Ranking::Ordinal => RankingStyle::Ordinal,
        } as i32,
        min_score: cfg.min_score,
        max_score: cfg.max_score,
        season: w.season,
        previous_reset_ms: w.start_ms.max(0) as u64,
        next_reset_ms: w.end_ms.max(0) as u64,
        rewards: cfg
            .rewards
            .iter()
            .map(|r| LeaderboardReward {
                from_rank: r.from_rank,
                to_rank: r.to_rank,
                currencies: r
                    .currencies
                    .iter()
                    .map(|(c, a)| LeaderboardRewardCurrency { currency: c.clone(), amount: *a })
                    .collect(),
                items: r
                    .items
                    .iter()
                    .map(|i| LeaderboardRewardItem { item: i.item, count: i.count })
                    .collect(),
            })
            .collect(),
    }
}

pub async fn handle_leaderboard_info(
    ctx: Ctx<State>,
    req: LeaderboardInfoReq,
) -> Result<LeaderboardInfoResp, HandlerError> {
    let st = ctx.state();
    if req.boards.len() > st.cfg.max_info_boards as usize {
        return Err(
            LbError::Refused(ErrorCode::LeaderboardNotFound, "too many boards named".into(), None).into()
        );
    }
    let now = mmo_core::clock::now_ms() as i64;
    let mut boards = Vec::new();
    if req.boards.is_empty() {
        boards.extend(st.cfg.boards.iter().map(|(n, c)| describe(n, c, now)));
    } else {
        for name in &req.boards {
            let c =
                st.cfg.boards.get(name).ok_or_else(|| LbError::refused(ErrorCode::LeaderboardNotFound))?;
            boards.push(describe(name, c, now));
        }
    }
    Ok(LeaderboardInfoResp { boards })
}
