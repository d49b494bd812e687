//! Every Redis key the cluster uses, built in one place from the configured prefix.

use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.to_string() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stream a stateless service's instances share through a consumer group.
    pub fn service(&self, service: &str) -> Arc<str> {
        format!("{}:svc:{service}", self.prefix).into()
    }

    /// A node's own inbox stream (gateways: replies and pushes for their sessions).
    pub fn inbox(&self, node: &str) -> Arc<str> {
        format!("{}:inbox:{node}", self.prefix).into()
    }

    /// Where entries go after too many failed deliveries.
    pub fn dead_letter(&self, stream: &str) -> String {
        format!("{stream}:dead")
    }

    /// Sorted set of live nodes, scored by the time their heartbeat expires (ms since epoch).
    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    /// Hash: message id -> the route a server declared for it.
    pub fn routes(&self) -> String {
        format!("{}:routes", self.prefix)
    }

    /// Which gateway node and session hold a player.
    pub fn presence(&self, player: u64) -> String {
        format!("{}:presence:{player}", self.prefix)
    }

    /// A session token (by the SHA-256 of the token, so a Redis dump holds no usable token).
    pub fn token(&self, token_hash: &str) -> String {
        format!("{}:token:{token_hash}", self.prefix)
    }

    /// The set of a player's token hashes, for revoking them all (ban, password change).
    pub fn player_tokens(&self, player: u64) -> String {
        format!("{}:tokens:{player}", self.prefix)
    }

    /// The game event stream (logins, registrations, bans, purchases...).
    pub fn events(&self) -> Arc<str> {
        format!("{}:events", self.prefix).into()
    }

    /// A free-form key owned by one server: `<prefix>:<server>:<rest>`.
    pub fn owned(&self, server: &str, rest: &str) -> String {
        format!("{}:{server}:{rest}", self.prefix)
    }
}
