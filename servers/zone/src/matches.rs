//! Match instances: a zone instance created for a set of players (the matchmaking server asks
//! for one per match). [`create_instance`] lists it in Redis and asks the zone nodes to start
//! it; the node that does pulls the roster's players in (each is handed off from wherever it is,
//! remembering where it was), and offline players are pointed at it so they enter it when they
//! come back. `LeaveInstanceReq` sends a player back. When every player has left (or nobody came
//! within `match_start_timeout`) the instance closes and emits a `match_closed` game event with
//! who played, for how long, and each player's kills and deaths.

use std::time::Duration;

use crate::commands::{CreateInstanceCmd, ZoneCommand, zone_command};
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
}

/// Creates a match instance of `map` for `roster` and waits (up to `timeout`) until a zone node
/// runs it. Returns the instance's name (`<map>.<n>`): its players are being pulled in.
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
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if directory::holder(bus, &instance).await?.is_some() {
            return Ok(instance);
        }
        if tokio::time::Instant::now() >= deadline {
            // Not started: withdraw it, so it does not start later behind the caller's back.
            let _ = directory::close_match(bus, &instance).await;
            return Err(CreateError::Timeout(timeout));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
