//! The `accounts` and `profiles` tables: lookups, creation, and what a login writes.

use mmo_core::session::PlayerId;
use mmo_core::store::{Store, StoreError};
use mmo_proto::Profile;
use mysql_async::prelude::Queryable;
use sha2::{Digest, Sha256};

/// MySQL's duplicate-key error: a username or device id that is already taken.
pub const ER_DUP_ENTRY: u16 = 1062;

/// One account row, as a login needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: PlayerId,
    /// `None` for a guest.
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub ban: Option<Ban>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ban {
    /// `None`: permanent.
    pub expires_at_ms: Option<u64>,
    pub reason: String,
}

type AccountRow = (u64, Option<String>, Option<String>, Option<u64>, Option<u64>, String);

const SELECT_ACCOUNT: &str =
    "SELECT id, username, password_hash, banned_at_ms, ban_expires_at_ms, ban_reason FROM accounts";

fn account((id, username, password_hash, banned_at, expires, reason): AccountRow) -> Account {
    let ban = banned_at.map(|_| Ban { expires_at_ms: expires, reason });
    Account { id: PlayerId(id), username, password_hash, ban }
}

/// How to find an account.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'a> {
    Id(u64),
    /// The folded username ([`crate::names::fold`]).
    NameKey(&'a str),
    /// The SHA-256 of a device id ([`device_hash`]).
    Device(&'a str),
}

pub async fn find(store: &Store, by: Lookup<'_>) -> Result<Option<Account>, StoreError> {
    let row: Option<AccountRow> = match by {
        Lookup::Id(id) => store.exec_first(format!("{SELECT_ACCOUNT} WHERE id = ?").as_str(), (id,)).await?,
        Lookup::NameKey(k) => {
            store.exec_first(format!("{SELECT_ACCOUNT} WHERE username_key = ?").as_str(), (k,)).await?
        }
        Lookup::Device(h) => {
            store.exec_first(format!("{SELECT_ACCOUNT} WHERE device_hash = ?").as_str(), (h,)).await?
        }
    };
    Ok(row.map(account))
}

/// Whether a username (by its folded key) is taken: a cheap check before hashing a password.
/// The UNIQUE index stays the real guard against two registrations racing for one name.
pub async fn name_taken(store: &Store, key: &str) -> Result<bool, StoreError> {
    let found: Option<u64> =
        store.exec_first("SELECT id FROM accounts WHERE username_key = ?", (key,)).await?;
    Ok(found.is_some())
}

/// What a device id is stored as.
pub fn device_hash(device_id: &str) -> String {
    let digest = Sha256::digest(device_id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The display name a guest account starts with.
pub fn guest_name(id: u64) -> String {
    format!("Guest-{id}")
}

/// What a new account starts as.
#[derive(Clone, Debug)]
pub enum NewAccount {
    Registered { username: String, key: String, password_hash: String, display_name: String },
    Guest { device_hash: String },
}

/// Creates the account and its profile in one transaction. A taken username or device id fails
/// with [`ER_DUP_ENTRY`] and leaves nothing behind.
pub async fn create(store: &Store, new: &NewAccount) -> Result<PlayerId, StoreError> {
    let now = now_ms();
    let id = store
        .in_tx(|tx| {
            let new = new.clone();
            Box::pin(async move {
                let display = match new {
                    NewAccount::Registered { username, key, password_hash, display_name } => {
                        tx.exec_drop(
                            "INSERT INTO accounts (username, username_key, password_hash, created_at_ms) \
                             VALUES (?, ?, ?, ?)",
                            (username, key, password_hash, now),
                        )
                        .await?;
                        Some(display_name)
                    }
                    NewAccount::Guest { device_hash } => {
                        tx.exec_drop(
                            "INSERT INTO accounts (device_hash, created_at_ms) VALUES (?, ?)",
                            (device_hash, now),
                        )
                        .await?;
                        None
                    }
                };
                let id = tx.last_insert_id().unwrap_or(0);
                let display = display.unwrap_or_else(|| guest_name(id));
                tx.exec_drop(
                    "INSERT INTO profiles (player_id, display_name, level, experience, created_at_ms, \
                     last_login_at_ms) VALUES (?, ?, 1, 0, ?, ?)",
                    (id, display, now, now),
                )
                .await?;
                Ok(id)
            })
        })
        .await?;
    Ok(PlayerId(id))
}

/// Gives a guest account a username and password (and the username as display name, if it
/// still has its guest name). `Ok(false)` when the account is not a guest any more.
pub async fn link(
    store: &Store,
    player: PlayerId,
    username: &str,
    key: &str,
    password_hash: &str,
) -> Result<bool, StoreError> {
    store
        .in_tx(|tx| {
            let (username, key, password_hash) =
                (username.to_string(), key.to_string(), password_hash.to_string());
            Box::pin(async move {
                tx.exec_drop(
                    "UPDATE accounts SET username = ?, username_key = ?, password_hash = ? \
                     WHERE id = ? AND username IS NULL",
                    (&username, &key, &password_hash, player.0),
                )
                .await?;
                if tx.affected_rows() == 0 {
                    return Ok(false);
                }
                tx.exec_drop(
                    "UPDATE profiles SET display_name = ? WHERE player_id = ? AND display_name = ?",
                    (&username, player.0, guest_name(player.0)),
                )
                .await?;
                Ok(true)
            })
        })
        .await
}

/// Stores a new hash of the same password (after the hashing cost changed).
pub async fn set_password_hash(store: &Store, player: PlayerId, hash: &str) -> Result<(), StoreError> {
    store.exec_drop("UPDATE accounts SET password_hash = ? WHERE id = ?", (hash, player.0)).await
}

/// Records a login.
pub async fn touch_login(store: &Store, player: PlayerId, now: u64) -> Result<(), StoreError> {
    store.exec_drop("UPDATE profiles SET last_login_at_ms = ? WHERE player_id = ?", (now, player.0)).await
}

type ProfileRow = (u64, String, u32, u64, u64, u64, bool);

/// A player's profile, `None` if there is no such player.
pub async fn profile(store: &Store, player: u64) -> Result<Option<Profile>, StoreError> {
    let row: Option<ProfileRow> = store
        .exec_first(
            "SELECT p.player_id, p.display_name, p.level, p.experience, p.created_at_ms, \
             p.last_login_at_ms, a.username IS NULL FROM profiles p JOIN accounts a ON a.id = p.player_id \
             WHERE p.player_id = ?",
            (player,),
        )
        .await?;
    Ok(row.map(|(player_id, display_name, level, experience, created_at_ms, last_login_at_ms, guest)| {
        Profile { player_id, display_name, level, experience, created_at_ms, last_login_at_ms, guest }
    }))
}

/// Milliseconds since the Unix epoch.
pub use mmo_core::clock::now_ms;
