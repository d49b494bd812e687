//! The chat server: channels, whispers, history and unread counts, and the rules around them.
//! Its routes:
//!
//! | message          | stage         | handler                                   |
//! |------------------|---------------|-------------------------------------------|
//! | ChannelCreateReq | Authenticated | [`handlers::channel_create`]              |
//! | ChannelJoinReq   | Authenticated | [`handlers::channel_join`]                |
//! | ChannelLeaveReq  | Authenticated | [`handlers::channel_leave`]               |
//! | ChannelListReq   | Authenticated | [`handlers::channel_list`]                |
//! | ChannelKickReq   | Authenticated | [`handlers::channel_kick`]                |
//! | ChatSendReq      | Authenticated | [`handlers::chat_send`]                   |
//! | WhisperReq       | Authenticated | [`handlers::whisper`]                     |
//! | UnreadReq        | Authenticated | [`handlers::unread`]                      |
//! | ChatReadReq      | Authenticated | [`handlers::chat_read`]                   |
//! | ChatReportReq    | Authenticated | [`handlers::chat_report`]                 |
//! | PresenceSetReq   | Authenticated | [`handlers::presence_set`]                |
//! | PresenceQueryReq | Authenticated | [`handlers::presence_query`]              |
//!
//! Besides the routes, every instance follows the game-event stream ([`feed`]: logins join the
//! world channel and get their kept whispers, ended sessions leave their channels; logins,
//! ended sessions and matches change presence, which friends are told of: [`presence`]), watches
//! the word list ([`filter`]) and deletes messages past their retention ([`store`]).
//!
//! Everything a handler needs is in Redis (membership: [`channels`]; history, read markers,
//! kept whispers: [`history`]; rate limits and mutes: [`rate`]), so instances are stateless
//! and any number may run. A channel message is fanned out as one bus envelope per gateway
//! holding members ([`deliver`]). Messages and the moderators' audit trail are kept in MySQL
//! ([`store`]). Other servers open and close party, match and zone channels with the
//! functions of [`channels`]; moderators act through [`admin`].

pub mod admin;
pub mod channels;
pub mod config;
pub mod deliver;
pub mod error;
pub mod feed;
pub mod filter;
pub mod handlers;
pub mod history;
pub mod keys;
pub mod passwords;
pub mod people;
pub mod presence;
pub mod rate;
pub mod send;
pub mod store;
pub mod text;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{RateLimit, Router, Stage};

pub use config::ChatConfig;
pub use error::ChatError;
pub use filter::{Candidate, Classifier, Verdict};

/// The service name: its stream, consumer groups and key space.
pub const SERVICE: &str = "chat";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "chat", runner: embedded::migrations::runner }
}

/// What the handlers and the feed share.
pub struct State {
    pub bus: Bus,
    pub store: Store,
    pub cfg: ChatConfig,
    pub people: people::People,
    pub words: Arc<filter::LiveWords>,
    pub classifier: Option<Arc<dyn Classifier>>,
    pub writer: store::Writer,
}

/// The handle [`server`] leaves with the launcher (`Launched::handle::<Chat>()`).
pub type Chat = Arc<State>;

pub fn router() -> Router<State> {
    use handlers::*;
    let authed = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    let channels = authed(5, 10);
    // Generous: the chat server's own limit and its escalation (slow mode, mute) apply below
    // this, with codes that say what happened; this only stops a runaway client.
    let talk = authed(20, 20);
    Router::new()
        .route(authed(1, 3), channel_create::handle_channel_create)
        .route(channels, channel_join::handle_channel_join)
        .route(channels, channel_leave::handle_channel_leave)
        .route(authed(1, 5), channel_list::handle_channel_list)
        .route(channels, channel_kick::handle_channel_kick)
        .route(talk, chat_send::handle_chat_send)
        .route(talk, whisper::handle_whisper)
        .route(authed(1, 5), unread::handle_unread)
        .route(authed(10, 20), chat_read::handle_chat_read)
        .route(authed(1, 3), chat_report::handle_chat_report)
        .route(authed(2, 5), presence_set::handle_presence_set)
        .route(authed(2, 5), presence_query::handle_presence_query)
}

/// The chat server with its settings (`[chat]`) and no classifier.
pub fn server(cfg: ChatConfig) -> Server {
    server_with(cfg, None)
}

/// The chat server with an external classifier called on every message.
pub fn server_with(cfg: ChatConfig, classifier: Option<Arc<dyn Classifier>>) -> Server {
    Server::new(SERVICE, move |l| async move {
        let invalid = |e: String| StartError::Server { name: SERVICE, error: e.into() };
        cfg.validate().map_err(invalid)?;
        let words = Arc::new(filter::LiveWords::default());
        words.reload(&cfg.word_list).map_err(|e| invalid(format!("chat.word_list: {e}")))?;
        words.clone().watch(cfg.word_list.clone(), cfg.word_list_poll, &l.shutdown);
        let store = l.store()?;
        let writer = store::Writer::start(store.clone(), cfg.write_queue as usize, &l.shutdown);
        store::cleanup_loop(store.clone(), cfg.retention, cfg.cleanup_interval, &l.shutdown);
        let state = Arc::new(State {
            bus: l.bus.clone(),
            store,
            people: people::People::new(cfg.block_cache),
            cfg,
            words,
            classifier,
            writer,
        });
        feed::start(state.clone(), &l.shutdown).await?;
        l.serve(router(), state.clone()).await?;
        Ok(Running::Handle(Box::new(state)))
    })
    .with_migrations(migrations())
}
