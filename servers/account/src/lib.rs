//! The account server: registration, logins, profiles and friends. Its routes:
//!
//! | message          | stage         | handler                          |
//! |------------------|---------------|----------------------------------|
//! | RegisterReq      | Versioned     | [`handlers::register`]           |
//! | LoginReq         | Versioned     | [`handlers::login`]              |
//! | LinkAccountReq   | Authenticated | [`handlers::link_account`]       |
//! | LogoutReq        | Authenticated | [`handlers::logout`]             |
//! | GetProfileReq    | Authenticated | [`handlers::get_profile`]        |
//! | FriendRequestReq | Authenticated | [`handlers::friend_request`]     |
//! | FriendAcceptReq  | Authenticated | [`handlers::friend_accept`]      |
//! | FriendRemoveReq  | Authenticated | [`handlers::friend_remove`]      |
//! | FriendBlockReq   | Authenticated | [`handlers::friend_block`]       |
//! | FriendUnblockReq | Authenticated | [`handlers::friend_unblock`]     |
//! | FriendListReq    | Authenticated | [`handlers::friend_list`]        |
//!
//! Accounts, profiles and friend relations live in MySQL (`accounts`, `profiles`, `friends`);
//! session tokens, wrong-password counters and a cache of blocks ([`block_cache`]) in Redis. A
//! successful register or login binds the session to the player and moves it to
//! `Authenticated`; the gateway then claims the player's presence (one session per account). Operators ban and unban with [`ban`] and
//! [`unban`].
//!
//! Passwords are hashed with argon2id ([`password`]) at OWASP's recommended cost by default
//! (19 MiB, 2 passes, 1 lane), on blocking threads, at most `max_concurrent_hashes` at once.
//! At that cost one verification took 17-18 ms of one core on a 2-core Xeon VM (release build,
//! about 30 ms while the machine was busy compiling; `cargo run --release -p mmo-account
//! --example hash_cost` measures it on yours), so a core serves some 50 password logins a
//! second. Naming rules are in [`names`], the wrong-password limits in [`attempts`].

pub mod accounts;
pub mod admin;
pub mod attempts;
mod auth;
pub mod block_cache;
pub mod config;
pub mod error;
pub mod friends;
pub mod handlers;
pub mod names;
pub mod password;

use std::sync::Arc;

use mmo_core::bus::Bus;
use mmo_core::server::{Launch, Running, Server, StartError};
use mmo_core::store::{Migrations, Store};
use mmo_core::{RateLimit, Router, Shutdown, Stage};

pub use admin::{Banned, Unbanned, ban, resolve, unban};
pub use config::AccountConfig;
pub use error::AccountError;

/// The service name: its stream and consumer group.
pub const SERVICE: &str = "account";

/// Seconds one password hash or verification took (on its blocking thread).
pub const HASH_SECONDS: &str = "mmo_account_hash_seconds";
/// Requests answered `UNAVAILABLE` because no hashing slot freed up in time.
pub const HASH_BUSY: &str = "mmo_account_hash_busy_total";
/// Labels `method` (`password`, `device`, `token`, `register`) and `outcome` (`ok`,
/// `invalid`, `banned`, `throttled`): login and registration attempts.
pub const LOGINS: &str = "mmo_account_logins_total";

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// This server's tables.
pub fn migrations() -> Migrations {
    Migrations { owner: "account", runner: embedded::migrations::runner }
}

/// What the handlers share.
pub struct State {
    pub store: Store,
    pub bus: Bus,
    pub cfg: AccountConfig,
    pub names: names::NameRules,
    pub hasher: password::Hasher,
    pub attempts: attempts::Attempts,
}

impl State {
    /// Builds the state (computing the hasher's dummy hash once).
    pub async fn new(bus: Bus, store: Store, cfg: AccountConfig) -> Result<State, AccountError> {
        cfg.validate().map_err(|e| AccountError::Invalid(e.to_string()))?;
        Ok(State {
            names: names::NameRules::new(&cfg.reserved_names),
            hasher: password::Hasher::new(&cfg).await?,
            attempts: attempts::Attempts {
                per_account: cfg.max_failed_logins_per_account,
                per_address: cfg.max_failed_logins_per_address,
                window: cfg.failed_login_window,
            },
            store,
            bus,
            cfg,
        })
    }

    pub(crate) fn friend_limits(&self) -> friends::Limits {
        friends::Limits {
            friends: self.cfg.max_friends,
            pending: self.cfg.max_pending_requests,
            blocked: self.cfg.max_blocked,
        }
    }
}

pub fn router() -> Router<State> {
    use handlers::*;
    // Logins are a few per connection; the limits stop a client from looping on one socket
    // (the wrong-password limits in Redis are what stop guessing across sockets).
    let auth = |n| Stage::Versioned.rate_limit(RateLimit::per_second(n).burst(5));
    let authed = |n, burst| Stage::Authenticated.rate_limit(RateLimit::per_second(n).burst(burst));
    let social = authed(5, 10);
    Router::new()
        .route(auth(1), register::handle_register)
        .route(auth(2), login::handle_login)
        .route(authed(1, 3), link_account::handle_link_account)
        .route(authed(1, 1), logout::handle_logout)
        .route(social, get_profile::handle_get_profile)
        .route(social, friend_request::handle_friend_request)
        .route(social, friend_accept::handle_friend_accept)
        .route(social, friend_remove::handle_friend_remove)
        .route(social, friend_block::handle_friend_block)
        .route(social, friend_unblock::handle_friend_unblock)
        .route(authed(1, 5), friend_list::handle_friend_list)
}

/// Serves the account routes from the bus until shutdown. Fails at once on an invalid `cfg`
/// (call [`AccountConfig::validate`] when loading the config to report it earlier).
pub async fn run(bus: &Bus, store: Store, cfg: AccountConfig, shutdown: &Shutdown) -> Result<(), StartError> {
    server(cfg).start(Launch::new(SERVICE, bus.clone(), Some(store), shutdown.clone())).await.map(drop)
}

/// The account server with its settings (`[account]`); an invalid setting fails its start.
pub fn server(cfg: AccountConfig) -> Server {
    Server::new(SERVICE, |l| async move {
        let state = State::new(l.bus.clone(), l.store()?, cfg).await?;
        l.serve(router(), Arc::new(state)).await?;
        Ok(Running::Serving)
    })
    .with_migrations(migrations())
}
