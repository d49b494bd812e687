//! Password hashing with argon2id, off the runtime and bounded.
//!
//! A hash costs tens of milliseconds of one core and `argon2_memory_kib` of memory by design, so
//! it never runs on a runtime worker: each one goes to `spawn_blocking`, and a semaphore bounds
//! how many run at once (`max_concurrent_hashes`). A request that cannot get a slot within
//! `hash_queue_timeout` is answered `UNAVAILABLE` rather than queueing without end. The slot is
//! held by the blocking job itself, so a request abandoned mid-hash still counts until the
//! hash really ends.
//!
//! Hashes are stored in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which carries
//! its own parameters: raising the cost in the config keeps old hashes verifiable, and
//! [`Hasher::needs_rehash`] tells a login to store the password again at the new cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::{AccountConfig, HASH_BUSY, HASH_SECONDS};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No hashing slot freed up in time: the client gets `UNAVAILABLE`.
    #[error("no password hashing slot within {0:?}")]
    Busy(Duration),
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

pub struct Hasher {
    argon: Argon2<'static>,
    params: Params,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    /// A hash of a random password at the current cost: verified against when the username is
    /// unknown, so an unknown name takes as long as a wrong password.
    dummy: String,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").field("params", &self.params).finish()
    }
}

impl Hasher {
    /// Builds the hasher (computing the dummy hash once, off the runtime).
    pub async fn new(cfg: &AccountConfig) -> Result<Hasher, HashError> {
        let params = cfg.argon2_params().map_err(|e| HashError::Argon2(e.to_string()))?;
        let mut hasher = Hasher {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            params,
            slots: Arc::new(Semaphore::new(cfg.hash_slots())),
            queue_timeout: cfg.hash_queue_timeout,
            dummy: String::new(),
        };
        let random: [u8; 16] = rand::random();
        hasher.dummy = hasher.hash(format!("{random:02x?}")).await?;
        Ok(hasher)
    }

    /// Hashes `password` with a fresh random salt; returns the PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |argon| {
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                .map_err(|e| HashError::Argon2(e.to_string()))?;
            argon
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Argon2(e.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `stored` (a PHC string). With no stored hash (unknown user,
    /// guest account), verifies against the dummy hash and answers false, in the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (self.dummy.clone(), false),
        };
        let matched = self
            .run(move |argon| match PasswordHash::new(&phc) {
                Ok(h) => argon.verify_password(password.as_bytes(), &h).is_ok(),
                Err(e) => {
                    tracing::error!(error = %e, "stored password hash does not parse");
                    false
                }
            })
            .await?;
        Ok(matched && real)
    }

    /// Whether a stored hash was made with other parameters than the configured ones.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(h) = PasswordHash::new(stored) else { return true };
        match Params::try_from(&h) {
            Ok(p) => {
                h.algorithm != Algorithm::Argon2id.ident()
                    || (p.m_cost(), p.t_cost(), p.p_cost())
                        != (self.params.m_cost(), self.params.t_cost(), self.params.p_cost())
            }
            Err(_) => true,
        }
    }

    /// Runs `f` on a blocking thread once a hashing slot is free.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a timeout is the only real way here.
            _ => {
                metrics::counter!(HASH_BUSY).increment(1);
                return Err(HashError::Busy(self.queue_timeout));
            }
        };
        let argon = self.argon.clone();
        let out = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let out = f(&argon);
            metrics::histogram!(HASH_SECONDS).record(started.elapsed().as_secs_f64());
            drop(slot);
            out
        })
        .await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> AccountConfig {
        AccountConfig { argon2_memory_kib: 64, argon2_iterations: 1, ..AccountConfig::default() }
    }

    #[tokio::test]
    async fn hash_verify_rehash() {
        let h = Hasher::new(&cheap()).await.unwrap();
        let phc = h.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify("correct horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!h.verify("wrong horse".into(), Some(phc.clone())).await.unwrap());
        assert!(!h.verify("correct horse".into(), None).await.unwrap());
        assert!(!h.verify("x".into(), Some("garbage".into())).await.unwrap());
        assert!(!h.needs_rehash(&phc));
        let stronger = Hasher::new(&AccountConfig { argon2_memory_kib: 128, ..cheap() }).await.unwrap();
        assert!(stronger.needs_rehash(&phc));
        // Old hashes stay verifiable after the cost changes.
        assert!(stronger.verify("correct horse".into(), Some(phc)).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_hasher_answers_busy() {
        let h = Hasher::new(&AccountConfig { max_concurrent_hashes: 1, ..cheap() }).await.unwrap();
        let held = h.slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(h.hash("password1".into()).await, Err(HashError::Busy(_))));
        drop(held);
        assert!(h.hash("password1".into()).await.is_ok());
    }
}
