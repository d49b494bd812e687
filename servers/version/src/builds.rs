//! Build policies: stored in MySQL, cached in memory, invalidated through an epoch in Redis.

use std::collections::HashMap;

use mmo_core::bus::{Bus, BusError};
use mmo_core::store::{Store, StoreError};
use mmo_proto::Platform;
use parking_lot::RwLock;

/// One platform's policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    pub latest: semver::Version,
    pub minimum: semver::Version,
    pub manifest_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bus: {0}")]
    Bus(#[from] BusError),
    #[error("{0}")]
    Invalid(String),
}

/// The key holding the build epoch, bumped by every publish.
fn epoch_key(bus: &Bus) -> String {
    format!("{}:version:epoch", bus.keys().prefix())
}

/// The platform's name as stored (the protobuf enum value name, lower case).
pub fn platform_name(p: Platform) -> String {
    p.as_str_name().to_ascii_lowercase()
}

pub struct BuildCache {
    store: Store,
    bus: Bus,
    cached: RwLock<Option<(u64, HashMap<String, Build>)>>,
}

impl BuildCache {
    pub fn new(store: Store, bus: Bus) -> BuildCache {
        BuildCache { store, bus, cached: RwLock::new(None) }
    }

    /// The policy for `platform`, reloading from MySQL if a publish happened since the last load.
    pub async fn build_for(&self, platform: Platform) -> Result<Option<Build>, VersionError> {
        let epoch = current_epoch(&self.bus).await?;
        if let Some((loaded, builds)) = &*self.cached.read()
            && *loaded == epoch
        {
            return Ok(builds.get(&platform_name(platform)).cloned());
        }
        let builds = load(&self.store).await?;
        let found = builds.get(&platform_name(platform)).cloned();
        *self.cached.write() = Some((epoch, builds));
        Ok(found)
    }
}

async fn current_epoch(bus: &Bus) -> Result<u64, VersionError> {
    let mut conn = bus.conn().await?;
    let epoch: Option<u64> = bus.timed(redis::cmd("GET").arg(epoch_key(bus)).query_async(&mut *conn)).await?;
    Ok(epoch.unwrap_or(0))
}

async fn load(store: &Store) -> Result<HashMap<String, Build>, VersionError> {
    let rows: Vec<(String, String, String, String)> = store
        .exec("SELECT platform, latest_version, minimum_version, manifest_url FROM client_builds", ())
        .await?;
    let mut builds = HashMap::new();
    for (platform, latest, minimum, manifest_url) in rows {
        // Rows are validated when published; a bad one is skipped (and logged), not fatal.
        match (semver::Version::parse(&latest), semver::Version::parse(&minimum)) {
            (Ok(latest), Ok(minimum)) => {
                builds.insert(platform, Build { latest, minimum, manifest_url });
            }
            _ => tracing::error!(platform, latest, minimum, "unparseable build policy skipped"),
        }
    }
    Ok(builds)
}

/// Sets a platform's policy and tells every version server to reload before its next Hello.
pub async fn publish(
    store: &Store,
    bus: &Bus,
    platform: Platform,
    latest: &str,
    minimum: &str,
    manifest_url: &str,
) -> Result<(), VersionError> {
    let l = semver::Version::parse(latest)
        .map_err(|e| VersionError::Invalid(format!("latest {latest:?}: {e}")))?;
    let m = semver::Version::parse(minimum)
        .map_err(|e| VersionError::Invalid(format!("minimum {minimum:?}: {e}")))?;
    if m > l {
        return Err(VersionError::Invalid(format!("minimum {m} is newer than latest {l}")));
    }
    if platform == Platform::Unspecified {
        return Err(VersionError::Invalid("a platform is required".into()));
    }
    store
        .exec_drop(
            "INSERT INTO client_builds (platform, latest_version, minimum_version, manifest_url) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE latest_version = VALUES(latest_version), \
             minimum_version = VALUES(minimum_version), manifest_url = VALUES(manifest_url)",
            (platform_name(platform), l.to_string(), m.to_string(), manifest_url.to_string()),
        )
        .await?;
    let mut conn = bus.conn().await?;
    bus.timed(redis::cmd("INCR").arg(epoch_key(bus)).query_async::<u64>(&mut *conn)).await?;
    Ok(())
}
