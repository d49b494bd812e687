//! Which node holds which zone instance, in Redis, and where a player's enter goes.
//!
//! Every instance (a persistent map, or a match instance) is held by one node through a **lease**:
//! the key `<prefix>:zone:lease:<instance>` holds the holder's *incarnation*
//! (`<instance>#<node>#<started ms>#<nonce>`, new each time an instance starts) and expires
//! unless the holder renews it. An incarnation is alive exactly while the lease names it, so a
//! crashed node's instances are free for another node after `lease_ttl`, and a claim token in
//! MySQL (`<incarnation>/<n>`) tells at once whether its holder still lives. Each instance reads
//! its own stream, `<prefix>:zone:inst:<instance>`, whichever node holds it: sessions stay bound
//! to the stream across a takeover.
//!
//! Match instances are listed in the hash `<prefix>:zone:matches` (instance -> [`MatchSpec`]) until
//! they close, so if their node dies another node starts them again and their players come back.

use std::sync::Arc;
use std::time::Duration;

use mmo_core::bus::{Bus, BusError};
use serde::{Deserialize, Serialize};

/// What a match instance was created for (the value in `zone:matches`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatchSpec {
    pub map: String,
    pub roster: Vec<u64>,
    pub match_id: String,
    pub created_ms: u64,
}

pub fn lease_key(bus: &Bus, instance: &str) -> String {
    bus.keys().owned("zone", &format!("lease:{instance}"))
}

/// The stream an instance reads, whichever node holds it.
pub fn stream(bus: &Bus, instance: &str) -> Arc<str> {
    bus.keys().owned("zone", &format!("inst:{instance}")).into()
}

pub fn matches_key(bus: &Bus) -> String {
    bus.keys().owned("zone", "matches")
}

pub fn instance_counter_key(bus: &Bus) -> String {
    bus.keys().owned("zone", "instance_counter")
}

/// The instance an incarnation (or a claim token) belongs to.
pub fn instance_of(incarnation: &str) -> &str {
    incarnation.split('#').next().unwrap_or(incarnation)
}

/// The incarnation holding `instance` now, if any.
pub async fn holder(bus: &Bus, instance: &str) -> Result<Option<String>, BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("GET").arg(lease_key(bus, instance)).query_async(&mut *conn)).await
}

/// Whether `incarnation` still holds its instance. A Redis error counts as alive: taking a
/// player from a holder that may be alive could put it in two instances; waiting cannot.
pub async fn alive(bus: &Bus, incarnation: &str) -> bool {
    match holder(bus, instance_of(incarnation)).await {
        Ok(h) => h.as_deref() == Some(incarnation),
        Err(e) => {
            tracing::warn!(error = %e, incarnation, "lease lookup failed; assuming the holder is alive");
            true
        }
    }
}

/// Takes the lease of `instance` for `incarnation` if nobody holds it.
pub async fn acquire(bus: &Bus, instance: &str, incarnation: &str, ttl: Duration) -> Result<bool, BusError> {
    let mut conn = bus.conn().await?;
    let set: Option<String> = bus
        .timed(
            redis::cmd("SET")
                .arg(lease_key(bus, instance))
                .arg(incarnation)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(&mut *conn),
        )
        .await?;
    Ok(set.is_some())
}

/// Extends the lease if `incarnation` still holds it; false if it lost it.
pub async fn renew(bus: &Bus, instance: &str, incarnation: &str, ttl: Duration) -> Result<bool, BusError> {
    const SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                          return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
    let mut conn = bus.conn().await?;
    let renewed: i64 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(lease_key(bus, instance))
                .arg(incarnation)
                .arg(ttl.as_millis() as u64)
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(renewed == 1)
}

/// Gives the lease up if `incarnation` holds it.
pub async fn release(bus: &Bus, instance: &str, incarnation: &str) -> Result<(), BusError> {
    const SCRIPT: &str =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
    let mut conn = bus.conn().await?;
    let _: i64 = bus
        .timed(
            redis::Script::new(SCRIPT)
                .key(lease_key(bus, instance))
                .arg(incarnation)
                .invoke_async(&mut *conn),
        )
        .await?;
    Ok(())
}

/// The match instances that have not closed.
pub async fn open_matches(bus: &Bus) -> Result<Vec<(String, MatchSpec)>, BusError> {
    let mut conn = bus.conn().await?;
    let all: Vec<(String, String)> =
        bus.timed(redis::cmd("HGETALL").arg(matches_key(bus)).query_async(&mut *conn)).await?;
    Ok(all
        .into_iter()
        .filter_map(|(k, v)| match serde_json::from_str(&v) {
            Ok(spec) => Some((k, spec)),
            Err(e) => {
                tracing::warn!(instance = k, error = %e, "unreadable match instance entry; ignored");
                None
            }
        })
        .collect())
}

/// A key a command's sender waits on (see [`acked`]): unique per command.
pub fn ack_key(bus: &Bus, what: &str) -> String {
    bus.keys().owned("zone", &format!("ack:{what}"))
}

/// Sets an acknowledgement key for a minute.
pub async fn ack(bus: &Bus, key: &str) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("SET").arg(key).arg(1).arg("PX").arg(60_000).query_async::<()>(&mut *conn)).await
}

/// Whether an acknowledgement key is set.
pub async fn acked(bus: &Bus, key: &str) -> Result<bool, BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("EXISTS").arg(key).query_async(&mut *conn)).await
}

/// Removes a closed match instance from the list.
pub async fn close_match(bus: &Bus, instance: &str) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("HDEL").arg(matches_key(bus)).arg(instance).query_async::<()>(&mut *conn)).await
}

/// Deletes an instance's stream (a closed match instance's: nobody reads it any more).
pub async fn delete_stream(bus: &Bus, stream: &str) -> Result<(), BusError> {
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("DEL").arg(stream).query_async::<()>(&mut *conn)).await
}
