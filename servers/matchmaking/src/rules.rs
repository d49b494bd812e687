//! The queues' rules as they run: from the config at start, replaced at run time by a rule set
//! published to Redis (`mmo admin matchmaking rules <file>`), which every matchmaking instance
//! picks up within a second. A rule set is checked before it is published; one that fails is
//! refused with the reason and the running one stays.

use std::sync::Arc;
use std::time::Duration;

use mmo_core::Shutdown;
use mmo_core::bus::{Bus, BusError};
use parking_lot::RwLock;

use crate::config::{ModeRules, Modes};
use crate::keys;

/// The rules in force, shared by the handlers and the matchers.
#[derive(Debug)]
pub struct LiveRules {
    modes: RwLock<(u64, Arc<Modes>)>,
}

impl LiveRules {
    pub fn new(modes: Modes) -> LiveRules {
        LiveRules { modes: RwLock::new((0, Arc::new(modes))) }
    }

    pub fn modes(&self) -> Arc<Modes> {
        self.modes.read().1.clone()
    }

    pub fn mode(&self, name: &str) -> Option<ModeRules> {
        self.modes.read().1.0.get(name).cloned()
    }

    /// The published version in force (0: the config's).
    pub fn version(&self) -> u64 {
        self.modes.read().0
    }

    fn set(&self, version: u64, modes: Modes) {
        *self.modes.write() = (version, Arc::new(modes));
    }
}

/// Why a rule set was not published.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rule set refused: {0}")]
    Invalid(String),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Checks a rule file's text and publishes it: every matchmaking instance switches to it
/// within a second. Returns its version.
pub async fn publish(bus: &Bus, text: &str) -> Result<u64, RulesError> {
    Modes::parse(text).map_err(RulesError::Invalid)?;
    let mut conn = bus.conn().await?;
    let key = keys::rules(bus);
    let (version,): (u64,) = bus
        .timed(
            redis::pipe()
                .atomic()
                .cmd("HINCRBY")
                .arg(&key)
                .arg("v")
                .arg(1)
                .cmd("HSET")
                .arg(&key)
                .arg("text")
                .arg(text)
                .ignore()
                .query_async(&mut *conn),
        )
        .await?;
    Ok(version)
}

/// Loads the published rule set if it is newer than the one in force. A published set that no
/// longer parses (published by an older build) is logged and skipped.
pub async fn refresh(bus: &Bus, live: &LiveRules) -> Result<bool, BusError> {
    let mut conn = bus.conn().await?;
    let (v, text): (Option<u64>, Option<String>) = bus
        .timed(redis::cmd("HMGET").arg(keys::rules(bus)).arg(&["v", "text"]).query_async(&mut *conn))
        .await?;
    let (Some(v), Some(text)) = (v, text) else { return Ok(false) };
    if v <= live.version() {
        return Ok(false);
    }
    match Modes::parse(&text) {
        Ok(modes) => {
            tracing::info!(version = v, modes = ?modes.0.keys().collect::<Vec<_>>(), "matchmaking rules loaded");
            live.set(v, modes);
            Ok(true)
        }
        Err(e) => {
            tracing::error!(version = v, error = %e, "published matchmaking rules refused; keeping the running ones");
            live.set(v, (*live.modes()).clone());
            Ok(false)
        }
    }
}

/// Refreshes every second until shutdown.
pub fn watch(bus: Bus, live: Arc<LiveRules>, shutdown: &Shutdown) {
    let token = shutdown.token();
    shutdown.spawn(async move {
        loop {
            if let Err(e) = refresh(&bus, &live).await {
                tracing::debug!(error = %e, "matchmaking rules not refreshed");
            }
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}
