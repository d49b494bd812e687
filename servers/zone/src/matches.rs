//! Match instances: a zone instance created for a set of players (the matchmaking server asks
//! for one per match). [`create_instance`] lists it in Redis and asks the zone nodes to start
//! it; the node that does pulls the roster's players in (each is handed off from wherever it is,
//! remembering where it was), and offline players are pointed at it so they enter it when they
//! come back. [`add_to_match`] adds players to a running match (a backfill): its roster in
//! Redis grows and the instance pulls them in the same way. `LeaveInstanceReq` sends a player
//! back; a player who leaves a match that goes on is announced with a `match_left` game event. When every player has left (or nobody came
//! within `match_start_timeout`) the instance closes and emits a `match_closed` game event with
//! who played, for how long, and each player's kills and deaths.

use std::time::Duration;

use crate::commands::{AddPlayersCmd, CreateInstanceCmd, ZoneCommand, zone_command};
use mmo_core::bus::{Bus, BusError};

use crate::PlayerId;
use crate::SERVICE;
use crate::directory::{self, MatchSpec};

/// Why a match instance was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("no zone node started the instance within {0:?} (none running, all full, or unknown map)")]
    Timeout(Duration),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// [`add_to_match`]: the instance is not running that match any more.
    #[error("the match is over or its instance is not running")]
    Closed,
}

/// Creates a match instance of `map` for `roster` and waits (up to `timeout`) until a zone node
/// runs it and has pulled its roster in. Returns the instance's name (`<map>.<n>`).
pub async fn create_instance(
    bus: &Bus,
    map: &str,
    roster: &[PlayerId],
    match_id: &str,
    timeout: Duration,
) -> Result<String, CreateError> {
    if map.is_empty() || roster.is_empty() {
        return Err(CreateError::Invalid("a match instance needs a map and players"));
    }
    let mut conn = bus.conn().await?;
    let n: u64 = bus
        .timed(redis::cmd("INCR").arg(directory::instance_counter_key(bus)).query_async(&mut *conn))
        .await?;
    let instance = format!("{map}.{n}");
    let created_ms = mmo_core::clock::now_ms();
    let spec = MatchSpec {
        map: map.to_string(),
        roster: roster.iter().map(|p| p.0).collect(),
        match_id: match_id.to_string(),
        created_ms,
    };
    let json = serde_json::to_string(&spec).map_err(|_| CreateError::Invalid("unencodable spec"))?;
    bus.timed(
        redis::cmd("HSET")
            .arg(directory::matches_key(bus))
            .arg(&instance)
            .arg(json)
            .query_async::<()>(&mut *conn),
    )
    .await?;
    drop(conn);
    // One zone node takes it through the shared stream's consumer group; if that message is
    // lost, the nodes' periodic sweep of the list starts it anyway.
    let cmd = ZoneCommand {
        command: Some(zone_command::Command::CreateInstance(CreateInstanceCmd {
            instance: instance.clone(),
            map: spec.map,
            roster: spec.roster,
            match_id: spec.match_id,
        })),
    };
    bus.send(&bus.keys().service(SERVICE), cmd.envelope(0))?;
    // Started, and its roster pulled in (those in the world being handed over, the others
    // pointed here): the caller's MatchStartNtf must not reach a player whose next
    // EnterWorldReq would still land where it was.
    let deadline = tokio::time::Instant::now() + timeout;
    let pulled = directory::ack_key(bus, &format!("{instance}:roster"));
    loop {
        if directory::acked(bus, &pulled).await? {
            return Ok(instance);
        }
        if tokio::time::Instant::now() >= deadline {
            if directory::holder(bus, &instance).await?.is_some() {
                tracing::warn!(instance, "match instance runs but its roster was not pulled in time");
                return Ok(instance);
            }
            // Not started: withdraw it, so it does not start later behind the caller's back.
            let _ = directory::close_match(bus, &instance).await;
            return Err(CreateError::Timeout(timeout));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds `players` to the running match `match_id` in `instance` (a backfill): its roster in
/// Redis (what a restarted instance reads) grows, then the instance pulls them in, and this
/// waits (up to `timeout`) until it has: a player in the world is being handed over, one who
/// is not is pointed at the instance, so its next EnterWorldReq lands there. Past `timeout`
/// the players are on the roster all the same (a slow or restarting instance pulls them in
/// when it gets to it). Refused with [`CreateError::Closed`] if the match is not listed.
pub async fn add_to_match(
    bus: &Bus,
    instance: &str,
    match_id: &str,
    players: &[PlayerId],
    timeout: Duration,
) -> Result<(), CreateError> {
    // Compare-and-set on the listed spec: two backfills of one match never lose each other's
    // players, and a match that closed meanwhile is not listed again.
    const SET_IF: &str = "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0";
    if players.is_empty() {
        return Err(CreateError::Invalid("no players to add"));
    }
    for _ in 0..8 {
        let mut conn = bus.conn().await?;
        let old: Option<String> = bus
            .timed(redis::cmd("HGET").arg(directory::matches_key(bus)).arg(instance).query_async(&mut *conn))
            .await?;
        let Some(old) = old else { return Err(CreateError::Closed) };
        let mut spec: MatchSpec =
            serde_json::from_str(&old).map_err(|_| CreateError::Invalid("unreadable match entry"))?;
        if spec.match_id != match_id {
            return Err(CreateError::Closed);
        }
        spec.roster
            .extend(players.iter().map(|p| p.0).filter(|p| !spec.roster.contains(p)).collect::<Vec<_>>());
        let new = serde_json::to_string(&spec).map_err(|_| CreateError::Invalid("unencodable spec"))?;
        let set: i64 = bus
            .timed(
                redis::Script::new(SET_IF)
                    .key(directory::matches_key(bus))
                    .arg(instance)
                    .arg(&old)
                    .arg(&new)
                    .invoke_async(&mut *conn),
            )
            .await?;
        drop(conn);
        if set == 0 {
            continue;
        }
        if directory::holder(bus, instance).await?.is_none() {
            // Listed but not running: the zone nodes' sweep starts it from the spec, roster
            // included, and that start pulls every player in.
            return Ok(());
        }
        let nonce = {
            let mut conn = bus.conn().await?;
            bus.timed(redis::cmd("INCR").arg(directory::ack_key(bus, "next")).query_async::<u64>(&mut *conn))
                .await?
        };
        let ack = directory::ack_key(bus, &format!("{instance}:{nonce}"));
        let cmd = ZoneCommand {
            command: Some(zone_command::Command::AddPlayers(AddPlayersCmd {
                match_id: match_id.to_string(),
                players: players.iter().map(|p| p.0).collect(),
                ack: ack.clone(),
            })),
        };
        bus.send(&directory::stream(bus, instance), cmd.envelope(0))?;
        let deadline = tokio::time::Instant::now() + timeout;
        while !directory::acked(bus, &ack).await? {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    instance,
                    match_id,
                    "backfill not confirmed by the instance in time; it pulls them in later"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        return Ok(());
    }
    Err(CreateError::Bus(BusError::Conflict(format!("match instance {instance} kept changing"))))
}
