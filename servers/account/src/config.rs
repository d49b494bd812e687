//! The `[account]` section: token lifetime, password hashing cost, login attempt limits,
//! friend list limits and reserved names. Every field has a default; unknown keys are errors.

use std::time::Duration;

use mmo_core::config::ConfigError;
use serde::Deserialize;

/// Settings of the account server (the `[account]` section).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountConfig {
    /// How long a session token from a login or registration stays valid. A token login issues
    /// a fresh token, so a client that plays at least once per period stays logged in.
    /// Default 24h.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Argon2id memory cost per password hash, in KiB. Default 19456 (19 MiB): with
    /// `argon2_iterations = 2` and `argon2_parallelism = 1` this is OWASP's Password Storage
    /// Cheat Sheet recommendation for argon2id, the cheapest setting it considers safe against
    /// GPU cracking of a leaked table, costing tens of milliseconds of one core per login
    /// (see the crate documentation for the time measured). Memory, not time, is what makes
    /// guessing expensive on GPUs, so raise this first when the hardware allows.
    pub argon2_memory_kib: u32,
    /// Argon2id passes over the memory. Default 2.
    pub argon2_iterations: u32,
    /// Argon2id lanes. Default 1: the hash runs on one blocking thread, and logins are many
    /// small jobs, so more lanes would only take cores from other logins.
    pub argon2_parallelism: u32,
    /// Password hashes (register, login, link) computed at once on this node; the others wait.
    /// Each takes one core and `argon2_memory_kib` of memory, so this bounds what a storm of
    /// logins can take from the rest of the process. 0 means half the machine's cores, at
    /// least 1. Default 0.
    pub max_concurrent_hashes: usize,
    /// How long a request waits for a hashing slot before it is answered `UNAVAILABLE`.
    /// Default 5s.
    #[serde(with = "humantime_serde")]
    pub hash_queue_timeout: Duration,
    /// Wrong passwords allowed for one username per `failed_login_window`; the next attempt
    /// is refused (`TOO_MANY_ATTEMPTS`) before the password is checked. A successful login
    /// resets the count. Default 5.
    pub max_failed_logins_per_account: u32,
    /// Wrong passwords allowed from one client address (an IPv6 address counts by its /64)
    /// per `failed_login_window`, whatever the usernames. Default 20.
    pub max_failed_logins_per_address: u32,
    /// The window the failed logins are counted in: it starts at the first failure and the
    /// count is forgotten when it ends. Default 15m.
    #[serde(with = "humantime_serde")]
    pub failed_login_window: Duration,
    /// Friends a player may have. Default 200.
    pub max_friends: u32,
    /// Pending friend requests a player may have each way (sent, received). Default 100.
    pub max_pending_requests: u32,
    /// Players one player may block. Default 200.
    pub max_blocked: u32,
    /// Words no username or display name may be, or start with when followed by a digit, '_',
    /// '-' or a space (so "admin", "Admin_2" and "GM Bob" are refused, but "gmail" is not).
    /// Compared ignoring case. Default: admin, administrator, gm, gamemaster, mod, moderator,
    /// support, staff, system, server, root, null, guest, official, dev, developer.
    pub reserved_names: Vec<String>,
}

impl Default for AccountConfig {
    fn default() -> Self {
        AccountConfig {
            token_ttl: Duration::from_secs(24 * 3600),
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: 0,
            hash_queue_timeout: Duration::from_secs(5),
            max_failed_logins_per_account: 5,
            max_failed_logins_per_address: 20,
            failed_login_window: Duration::from_secs(15 * 60),
            max_friends: 200,
            max_pending_requests: 100,
            max_blocked: 200,
            reserved_names: [
                "admin",
                "administrator",
                "gm",
                "gamemaster",
                "mod",
                "moderator",
                "support",
                "staff",
                "system",
                "server",
                "root",
                "null",
                "guest",
                "official",
                "dev",
                "developer",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl AccountConfig {
    /// Checks what serde cannot: argon2's bounds, and that no limit is zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(format!("account.{m}")));
        if let Err(e) = self.argon2_params() {
            return invalid(&format!("argon2_*: {e}"));
        }
        if self.token_ttl < Duration::from_secs(1) {
            return invalid("token_ttl must be at least 1s");
        }
        if self.failed_login_window < Duration::from_millis(1) {
            return invalid("failed_login_window must be more than 0s");
        }
        if self.max_failed_logins_per_account == 0 || self.max_failed_logins_per_address == 0 {
            return invalid("max_failed_logins_per_* must be at least 1");
        }
        if self.max_friends == 0 || self.max_pending_requests == 0 || self.max_blocked == 0 {
            return invalid("max_friends, max_pending_requests and max_blocked must be at least 1");
        }
        Ok(())
    }

    /// The argon2 cost parameters (fails on values argon2 does not accept).
    pub fn argon2_params(&self) -> Result<argon2::Params, argon2::Error> {
        argon2::Params::new(self.argon2_memory_kib, self.argon2_iterations, self.argon2_parallelism, None)
    }

    /// `max_concurrent_hashes` with 0 resolved to half the cores.
    pub fn hash_slots(&self) -> usize {
        match self.max_concurrent_hashes {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2)),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let cfg: AccountConfig = mmo_core::config::from_toml_str("").unwrap();
        assert_eq!(cfg, AccountConfig::default());
        cfg.validate().unwrap();
        let cfg: AccountConfig = mmo_core::config::from_toml_str(
            "token_ttl = \"1h\"\nargon2_memory_kib = 65536\nfailed_login_window = \"5m\"",
        )
        .unwrap();
        assert_eq!(cfg.token_ttl, Duration::from_secs(3600));
        assert_eq!(cfg.argon2_memory_kib, 65536);
        assert!(mmo_core::config::from_toml_str::<AccountConfig>("tokn_ttl = \"1h\"").is_err());
        assert!(AccountConfig { argon2_iterations: 0, ..AccountConfig::default() }.validate().is_err());
        assert!(AccountConfig { max_friends: 0, ..AccountConfig::default() }.validate().is_err());
        assert!(AccountConfig::default().hash_slots() >= 1);
    }
}
