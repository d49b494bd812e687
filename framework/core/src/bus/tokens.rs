//! Session tokens: random, stored in Redis with a TTL, revocable one by one or all of a player's
//! at once. The account server issues them at login; the gateway checks them to resume a
//! dropped session; both go through this module, so there is one format and one key layout.
//!
//! A token is 32 random bytes from a CSPRNG, written as 43 URL-safe base64 characters. Redis
//! holds only its SHA-256 (`<prefix>:token:<hash>` -> player id, with the TTL), so a dump of
//! Redis yields no token a client could present. Each player's hashes are also listed in
//! `<prefix>:tokens:<player>` so a ban or a password change can revoke them all.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use super::{Bus, BusError};
use crate::session::PlayerId;

/// Length of a token as text.
pub const TOKEN_LEN: usize = 43;

/// A freshly issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires_at_ms: u64,
}

fn hash(token: &str) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Whether `token` has the shape of a token at all (checked before any Redis round trip).
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Issues a token for `player`, valid for `ttl`.
pub async fn issue(bus: &Bus, player: PlayerId, ttl: Duration) -> Result<Issued, BusError> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = URL_SAFE_NO_PAD.encode(raw);
    let h = hash(&token);
    let secs = ttl.as_secs().max(1);
    let list = bus.keys().player_tokens(player.0);
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("SET")
        .arg(bus.keys().token(&h))
        .arg(player.0)
        .arg("EX")
        .arg(secs)
        .ignore()
        .cmd("SADD")
        .arg(&list)
        .arg(&h)
        .ignore()
        // The list lives as long as its newest token; stale members are pruned on revoke.
        .cmd("EXPIRE")
        .arg(&list)
        .arg(secs)
        .arg("GT")
        .ignore()
        .cmd("EXPIRE")
        .arg(&list)
        .arg(secs)
        .arg("NX")
        .ignore();
    let mut conn = bus.conn().await?;
    bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    let now = crate::clock::now_ms();
    Ok(Issued { token, expires_at_ms: now + secs * 1000 })
}

/// The player a token belongs to, if it is well formed, known and not expired or revoked.
pub async fn verify(bus: &Bus, token: &str) -> Result<Option<PlayerId>, BusError> {
    if !well_formed(token) {
        return Ok(None);
    }
    let mut conn = bus.conn().await?;
    let player: Option<u64> =
        bus.timed(redis::cmd("GET").arg(bus.keys().token(&hash(token))).query_async(&mut *conn)).await?;
    Ok(player.filter(|p| *p != 0).map(PlayerId))
}

/// Revokes one token (logout). Returns whether it was valid.
pub async fn revoke(bus: &Bus, token: &str) -> Result<bool, BusError> {
    if !well_formed(token) {
        return Ok(false);
    }
    let Some(player) = verify(bus, token).await? else { return Ok(false) };
    let h = hash(token);
    let mut conn = bus.conn().await?;
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("DEL")
        .arg(bus.keys().token(&h))
        .ignore()
        .cmd("SREM")
        .arg(bus.keys().player_tokens(player.0))
        .arg(&h)
        .ignore();
    bus.timed(pipe.query_async::<()>(&mut *conn)).await?;
    Ok(true)
}

/// Revokes every token of `player` (ban, password change). Returns how many were live.
pub async fn revoke_all(bus: &Bus, player: PlayerId) -> Result<usize, BusError> {
    let list = bus.keys().player_tokens(player.0);
    let mut conn = bus.conn().await?;
    let hashes: Vec<String> = bus.timed(redis::cmd("SMEMBERS").arg(&list).query_async(&mut *conn)).await?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for h in &hashes {
        pipe.cmd("DEL").arg(bus.keys().token(h));
    }
    pipe.cmd("DEL").arg(&list).ignore();
    let deleted: Vec<i64> = bus.timed(pipe.query_async(&mut *conn)).await?;
    Ok(deleted.iter().filter(|d| **d == 1).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        let token = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(well_formed(&token));
        assert!(!well_formed(&token[1..]));
        assert!(!well_formed(&format!("{}!", &token[1..])));
        assert!(!well_formed(""));
        assert_eq!(hash("x").len(), 64);
    }
}
