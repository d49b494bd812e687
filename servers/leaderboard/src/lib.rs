//! The leaderboard server: boards defined in config, scores, ranks, seasons and their rewards.
//! Its routes:
//!
//! | message               | stage         | handler                          |
//! |-----------------------|---------------|----------------------------------|
//! | ScoreSubmitReq        | Authenticated | [`handlers::score_submit`]       |
//! | LeaderboardTopReq     | Authenticated | [`handlers::top`]                |
//! | LeaderboardAroundReq  | Authenticated | [`handlers::around`]             |
//! | LeaderboardFriendsReq | Authenticated | [`handlers::friends`]            |
//! | LeaderboardInfoReq    | Authenticated | [`handlers::info`]               |
//!
//! A board lives in Redis ([`ranking`]: one ZSET per board and season, ties ordered by achieved
//! time, ranks in the board's style; submits batched into script calls by [`submitter`]) with
//! every entry also in MySQL ([`store`], written behind in batches), so a board
//! Redis lost is rebuilt ([`rebuild`]: automatically on first use, or by an admin). Instances
//! are stateless; the one holding a lease rolls ended seasons over ([`rollover`]: final ranks,
//! rewards granted once through [`Rewards`]). Submits that pass friends push
//! LeaderboardPassedNtf to them ([`notify`]).

pub mod calendar;
pub mod config;
pub mod error;
pub mod handlers;
pub mod hooks;
pub mod keys;
pub mod notify;
pub mod people;
pub mod ranking;
pub mod rebuild;
pub mod rollover;
pub mod season;
pub mod shop;
pub mod store;
pub mod submitter;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{RateLimit, Router, Stage};

pub use config::{BoardConfig, LeaderboardConfig};
pub use error::LbError;
pub use hooks::{Candidate, Reward, Rewards, ScoreValidator, Verdict};

/// The service name: its stream, consumer groups and key space.
pub const SERVICE: &str = "leaderboard";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "leaderboard", runner: embedded::migrations::runner }
}

/// What the handlers share.
pub struct State {
    pub bus: Bus,
    pub store: Store,
    pub cfg: LeaderboardConfig,
    pub people: Arc<people::People>,
    pub validator: Option<Arc<dyn ScoreValidator>>,
    pub rewards: Option<Arc<dyn Rewards>>,
    pub checked: rebuild::Checked,
    pub notify: notify::Notifier,
    pub submitter: submitter::Submitter,
    /// `lb_scores`' write-behind (the submitter marks it; handlers write refused rows).
    pub writer: submitter::Writer,
}

/// The handle [`server`] leaves with the launcher (`Launched::handle::<Leaderboard>()`).
pub type Leaderboard = Arc<State>;

pub fn router() -> Router<State> {
    use handlers::*;
    let authed = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    Router::new()
        // The boards' own submit rates apply below this, with their own code.
        .route(authed(10, 20), score_submit::handle_score_submit)
        .route(authed(5, 10), top::handle_leaderboard_top)
        .route(authed(5, 10), around::handle_leaderboard_around)
        .route(authed(2, 5), friends::handle_leaderboard_friends)
        .route(authed(2, 5), info::handle_leaderboard_info)
}

/// The leaderboard server with its settings (`[leaderboard]`), no validator, and season rewards
/// granted through the shop ([`shop::ShopRewards`]).
pub fn server(cfg: LeaderboardConfig) -> Server {
    server_with(cfg, None)
}

/// The leaderboard server with a game's score validator; rewards through the shop.
pub fn server_with(cfg: LeaderboardConfig, validator: Option<Arc<dyn ScoreValidator>>) -> Server {
    server_with_rewards(cfg, validator, None)
}

/// The leaderboard server with a validator and where season rewards go (None: the shop).
pub fn server_with_rewards(
    cfg: LeaderboardConfig,
    validator: Option<Arc<dyn ScoreValidator>>,
    rewards: Option<Arc<dyn Rewards>>,
) -> Server {
    Server::new(SERVICE, move |l| async move {
        let invalid = |e: String| StartError::Server { name: SERVICE, error: e.into() };
        cfg.validate().map_err(invalid)?;
        let store = l.store()?;
        let rewards: Arc<dyn Rewards> = match rewards {
            Some(r) => r,
            None => Arc::new(shop::ShopRewards { store: store.clone(), bus: l.bus.clone() }),
        };
        let rewards = Some(rewards);
        let people = Arc::new(people::People::new(cfg.friends_cache));
        let notify = notify::start(
            l.bus.clone(),
            store.clone(),
            people.clone(),
            cfg.show_names,
            cfg.notify_queue as usize,
            &l.shutdown,
        );
        rollover::start(l.bus.clone(), store.clone(), cfg.clone(), rewards.clone(), &l.shutdown);
        let writer = submitter::Writer::new(cfg.score_writes.clone()).map_err(|e| invalid(e.to_string()))?;
        writer.spawn_flusher(store.clone(), &l.shutdown);
        ranking::load(&l.bus).await.map_err(|e| invalid(e.to_string()))?;
        let submitter =
            submitter::Submitter::start(l.bus.clone(), Arc::new(cfg.clone()), writer.clone(), &l.shutdown);
        let state = Arc::new(State {
            bus: l.bus.clone(),
            store,
            cfg,
            people,
            validator,
            rewards,
            checked: rebuild::Checked::default(),
            notify,
            submitter,
            writer,
        });
        l.serve(router(), state.clone()).await?;
        Ok(Running::Handle(Box::new(state)))
    })
    // Season rewards are grants in the shop's ledger, with the event log's outbox.
    .with_migrations(mmo_eventlog::migrations())
    .with_migrations(mmo_shop::migrations())
    .with_migrations(migrations())
}
