//! The `login` scenario's identities: who each bot is (a device id, or a username and password),
//! derived from the run tag and the bot's index, so a rerun with the same tag logs in to the
//! same accounts instead of creating new ones.

use anyhow::ensure;
use rand::Rng as _;
use serde::Serialize;

/// How the bots of the `login` scenario log in, chosen with `--login`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginMethod {
    /// Guest login with the device id `mmo-bots-<tag>-<index>` (the index in 6 digits): the first
    /// login creates the account. No password hashing on the server.
    Device,
    /// Register `b<tag>-<index>` with a fixed password; when the name is taken (a rerun), log in
    /// with that password instead. Either way one argon2id hash on the server, so slow on
    /// purpose.
    Password,
}

impl LoginMethod {
    pub fn name(self) -> &'static str {
        match self {
            LoginMethod::Device => "device",
            LoginMethod::Password => "password",
        }
    }
}

/// The password of every account the bots register.
pub const PASSWORD: &str = "mmo-bots-password";

/// `--run-tag` without the option: reruns reuse the same accounts.
pub const DEFAULT_RUN_TAG: &str = "default";

/// The `--run-tag` that stands for a fresh random tag (new accounts on every run).
pub const RANDOM_RUN_TAG: &str = "random";

/// Logins started per second without `--login-rate` or `--login-concurrency`.
pub const DEFAULT_LOGIN_RATE: f64 = 500.0;

/// Most code points in a username (account.proto).
const USERNAME_MAX: usize = 16;

/// Most characters in a run tag, so device ids stay within their 128.
const TAG_MAX: usize = 64;

/// The device id of bot `index`: at least 16 characters (the protocol's minimum) for any tag.
pub fn device_id(tag: &str, index: usize) -> String {
    format!("mmo-bots-{tag}-{index:06}")
}

/// The username of bot `index`. It starts with a letter that begins no reserved word, and the
/// '-' keeps two tags from sharing names ("a1" + 23 and "a12" + 3).
pub fn username(tag: &str, index: usize) -> String {
    format!("b{tag}-{index}")
}

/// A fresh tag of the same length as [`RANDOM_RUN_TAG`], so what fits one fits the other.
pub fn random_tag() -> String {
    let mut rng = rand::rng();
    (0..RANDOM_RUN_TAG.len())
        .map(|_| {
            let i = rng.random_range(0..36u8);
            char::from(if i < 10 { b'0' + i } else { b'a' + i - 10 })
        })
        .collect()
}

/// Checks that `tag` makes valid device ids and, for `password`, valid usernames for every one of
/// `bots` bots.
pub fn check_run_tag(tag: &str, method: LoginMethod, bots: usize) -> anyhow::Result<()> {
    ensure!(
        !tag.is_empty()
            && tag.len() <= TAG_MAX
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "--run-tag must be 1-{TAG_MAX} ASCII letters, digits, '_' or '-'"
    );
    if method == LoginMethod::Password {
        let longest = username(tag, bots.saturating_sub(1));
        ensure!(
            longest.len() <= USERNAME_MAX,
            "--run-tag {tag:?} is too long for {bots} bots: usernames like {longest:?} must be at most \
             {USERNAME_MAX} characters"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_stable_and_valid() {
        assert_eq!(device_id("default", 7), "mmo-bots-default-000007");
        assert_eq!(username("default", 7), "bdefault-7");
        // The shortest tag still makes a device id of the protocol's minimum length.
        assert!(device_id("x", 0).len() >= 16);
        assert!(check_run_tag("default", LoginMethod::Password, 10_000).is_ok());
        assert!(check_run_tag(&random_tag(), LoginMethod::Password, 1_000_000).is_ok());
    }

    #[test]
    fn bad_tags_are_refused() {
        for tag in ["", "a b", "ü", "tag!", &"x".repeat(65)] {
            assert!(check_run_tag(tag, LoginMethod::Device, 1).is_err(), "{tag:?}");
        }
        // Fine as device ids, too long for usernames.
        assert!(check_run_tag("averyverylongtag", LoginMethod::Device, 100).is_ok());
        assert!(check_run_tag("averyverylongtag", LoginMethod::Password, 100).is_err());
    }

    #[test]
    fn random_tags_differ() {
        let (a, b) = (random_tag(), random_tag());
        assert_eq!(a.len(), RANDOM_RUN_TAG.len());
        assert_ne!(a, b);
    }
}
