//! The matchmaking server: parties, queues, the ready check, match instances, results and
//! ratings. Its routes:
//!
//! | message          | stage         | handler                                |
//! |------------------|---------------|----------------------------------------|
//! | PartyCreateReq   | Authenticated | [`handlers::party::handle_party_create`]  |
//! | PartyInviteReq   | Authenticated | [`handlers::party::handle_party_invite`]  |
//! | PartyRespondReq  | Authenticated | [`handlers::party::handle_party_respond`] |
//! | PartyLeaveReq    | Authenticated | [`handlers::party::handle_party_leave`]   |
//! | PartyKickReq     | Authenticated | [`handlers::party::handle_party_kick`]    |
//! | PartyPromoteReq  | Authenticated | [`handlers::party::handle_party_promote`] |
//! | PartyGetReq      | Authenticated | [`handlers::party::handle_party_get`]     |
//! | QueueJoinReq     | Authenticated | [`handlers::queue::handle_queue_join`]    |
//! | QueueLeaveReq    | Authenticated | [`handlers::queue::handle_queue_leave`]   |
//! | QueueStatusReq   | Authenticated | [`handlers::queue::handle_queue_status`]  |
//! | LatencyReportReq | Authenticated | [`handlers::queue::handle_latency_report`] |
//! | MatchAcceptReq   | Authenticated | [`handlers::queue::handle_match_accept`]  |
//! | MatchHistoryReq  | Authenticated | [`handlers::history::handle_match_history`] |
//!
//! Besides the routes, every instance runs the matchers ([`matching`]: one lease holder per
//! queue), follows the game-event stream ([`feed`]: sessions that ended, matches that closed)
//! and the published rules ([`rules`]).
//!
//! Parties, tickets and ready checks live in Redis (any instance serves any of them; every
//! transition is a compare-and-set script: [`parties`], [`tickets`], [`proposals`]); match
//! history and ratings in MySQL ([`results`], [`ratings`]), with the ratings and blocks a queue
//! join reads cached in Redis ([`reads`]).

pub mod backfill;
pub mod chat;
pub mod coalesce;
pub mod config;
pub mod error;
pub mod feed;
pub mod handlers;
pub mod keys;
pub mod matcher;
pub mod matching;
pub mod notify;
pub mod outcome;
pub mod parties;
pub mod proposals;
pub mod queueing;
pub mod ratings;
pub mod reads;
pub mod ready;
pub mod results;
pub mod rules;
pub mod tickets;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{RateLimit, Router, Stage};

pub use config::{MatchmakingConfig, ModeRules, Modes};
pub use error::MmError;
pub use queueing::Enqueue;

/// The service name: its stream, consumer groups and key space.
pub const SERVICE: &str = "matchmaking";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "matchmaking", runner: embedded::migrations::runner }
}

/// What the handlers, matchers and followers share; also the handle a game server uses to
/// queue players itself ([`State::enqueue`]).
#[derive(Debug)]
pub struct State {
    pub bus: Bus,
    pub store: Store,
    pub cfg: MatchmakingConfig,
    pub rules: Arc<rules::LiveRules>,
    /// The MySQL reads queue joins share ([`reads`]).
    pub reads: reads::Reads,
}

impl State {
    pub(crate) fn retention_ms(&self) -> u64 {
        self.cfg.retention.as_millis() as u64
    }

    /// Queues players from the server side (no client request): the same checks as
    /// QueueJoinReq. Returns the ticket id.
    pub async fn enqueue(&self, req: &Enqueue) -> Result<u64, MmError> {
        queueing::enqueue(self, req).await
    }

    /// Why a searching ticket is not matched (for operators: `mmo admin matchmaking why`): the
    /// nearest candidates in its queue and, for each, the rule that keeps them apart. None: no
    /// such ticket searching.
    pub async fn explain(&self, ticket: u64) -> Result<Option<matcher::Explanation>, MmError> {
        Ok(matching::explain(self, ticket).await?)
    }

    /// A game server's result for a match it ran: one score per team, in the order of
    /// `MatchStartNtf.teams`. Recorded once per match id (the zone's own `match_closed`
    /// report, kills per team, counts only if it comes first). False if the match is unknown or
    /// already has its result.
    pub async fn report(&self, match_id: &str, scores: &[i64]) -> Result<bool, MmError> {
        outcome::report(self, match_id, scores).await
    }
}

/// The handle [`server`] leaves with the launcher (`Launched::handle::<Matchmaking>()`).
pub type Matchmaking = Arc<State>;

pub fn router() -> Router<State> {
    use handlers::{history, party, queue};
    let authed = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    let social = authed(5, 10);
    let queueing = authed(2, 5);
    Router::new()
        .route(social, party::handle_party_create)
        .route(social, party::handle_party_invite)
        .route(social, party::handle_party_respond)
        .route(social, party::handle_party_leave)
        .route(social, party::handle_party_kick)
        .route(social, party::handle_party_promote)
        .route(social, party::handle_party_get)
        .route(queueing, queue::handle_queue_join)
        .route(queueing, queue::handle_queue_leave)
        .route(authed(5, 10), queue::handle_queue_status)
        .route(authed(1, 5), queue::handle_latency_report)
        .route(authed(5, 10), queue::handle_match_accept)
        .route(authed(1, 5), history::handle_match_history)
}

/// The matchmaking server with its settings (`[matchmaking]`); an invalid setting fails its
/// start.
pub fn server(cfg: MatchmakingConfig) -> Server {
    Server::new(SERVICE, |l| async move {
        cfg.validate().map_err(|e| StartError::Server { name: SERVICE, error: e.into() })?;
        let rules = Arc::new(rules::LiveRules::new(cfg.modes.clone()));
        let store = l.store()?;
        let state = Arc::new(State {
            bus: l.bus.clone(),
            store,
            cfg,
            rules: rules.clone(),
            reads: Default::default(),
        });
        rules::refresh(&state.bus, &rules).await?;
        rules::watch(state.bus.clone(), rules, &l.shutdown);
        matching::spawn(state.clone(), &l.shutdown);
        feed::start(state.clone(), &l.shutdown).await?;
        l.serve(router(), state.clone()).await?;
        Ok(Running::Handle(Box::new(state)))
    })
    // Match rewards are grants in the shop's ledger, with the event log's outbox.
    .with_migrations(mmo_eventlog::migrations())
    .with_migrations(mmo_shop::migrations())
    .with_migrations(migrations())
}
