//! Password hashing with argon2id, off the runtime and bounded.
//!
//! A hash costs tens of milliseconds of one core and `argon2_memory_kib` of memory by design, so
//! it never runs on a runtime worker: it runs on one of `max_concurrent_hashes` dedicated
//! threads, and a semaphore with as many slots bounds the work handed to them. A request that
//! cannot get a slot within `hash_queue_timeout` is answered `UNAVAILABLE` rather than queueing
//! without end. The slot is held by the job itself, so a request abandoned mid-hash still counts
//! until the hash really ends.
//!
//! Each hashing thread owns its argon2 working memory (19 MiB by default) and reuses it for every
//! hash: argon2's own API allocates that much per call, and the C allocator keeps freed blocks of
//! that size around (about 300 MiB of RSS after a burst of logins over tokio's blocking threads,
//! 120 MiB even on one thread, measured). With the memory owned by the threads the process holds
//! exactly `max_concurrent_hashes` x `argon2_memory_kib`, whatever the load.
//!
//! Hashes are stored in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), which carries
//! its own parameters: raising the cost in the config keeps old hashes verifiable, and
//! [`Hasher::needs_rehash`] tells a login to store the password again at the new cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use crate::{AccountConfig, HASH_BUSY, HASH_SECONDS};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No hashing slot freed up in time: the client gets `UNAVAILABLE`.
    #[error("no password hashing slot within {0:?}")]
    Busy(Duration),
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the hashing threads are gone")]
    Gone,
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

pub struct Hasher {
    params: Params,
    slots: Arc<Semaphore>,
    /// Jobs for the hashing threads; they exit when the hasher (this sender) is dropped.
    jobs: std::sync::mpsc::Sender<Job>,
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
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..cfg.hash_slots() {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    // This thread's working memory, allocated at its first hash and reused.
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next job, not while hashing.
                        let job = match queue.lock() {
                            Ok(q) => q.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Argon2(format!("starting a hashing thread: {e}")))?;
        }
        let mut hasher = Hasher {
            params,
            jobs,
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
        let params = self.params.clone();
        self.run(move |memory| {
            let err = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| err(&e))?;
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let hash = compute(
                &argon,
                &params,
                password.as_bytes(),
                salt.as_salt(),
                Params::DEFAULT_OUTPUT_LEN,
                memory,
            )?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
                salt: Some(salt.as_salt()),
                hash: Some(hash),
            };
            Ok(phc.to_string())
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
            .run(move |memory| match verify_phc(&phc, password.as_bytes(), memory) {
                Ok(matched) => matched,
                Err(e) => {
                    tracing::error!(error = %e, "stored password hash cannot be checked");
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

    /// Runs `f` on a hashing thread once a hashing slot is free.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = match tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            // The semaphore is never closed; a timeout is the only real way here.
            _ => {
                metrics::counter!(HASH_BUSY).increment(1);
                return Err(HashError::Busy(self.queue_timeout));
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let started = Instant::now();
            let out = f(memory);
            metrics::histogram!(HASH_SECONDS).record(started.elapsed().as_secs_f64());
            drop(slot);
            let _ = tx.send(out);
        });
        self.jobs.send(job).map_err(|_| HashError::Gone)?;
        rx.await.map_err(|_| HashError::Gone)
    }
}

/// Argon2 of `password` and `salt` into an output of `len` bytes, in `memory` (grown to the
/// parameters' size if needed, and kept).
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: argon2::password_hash::Salt<'_>,
    len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, HashError> {
    let err = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|e| err(&e))?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| err(&e))
}

/// Whether `password` matches the PHC string `phc` (whatever argon2 parameters it was made with).
fn verify_phc(phc: &str, password: &[u8], memory: &mut Vec<Block>) -> Result<bool, HashError> {
    let err = |e: &dyn std::fmt::Display| HashError::Argon2(e.to_string());
    let h = PasswordHash::new(phc).map_err(|e| err(&e))?;
    let algorithm = Algorithm::try_from(h.algorithm).map_err(|e| err(&e))?;
    let version = match h.version {
        Some(v) => Version::try_from(v).map_err(|e| err(&e))?,
        None => Version::V0x13,
    };
    let params = Params::try_from(&h).map_err(|e| err(&e))?;
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return Err(HashError::Argon2("no salt or hash".into()));
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let actual = compute(&argon, &params, password, salt, expected.len(), memory)?;
    // `Output`'s equality is constant-time.
    Ok(actual == expected)
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

    /// Our hashes are standard PHC argon2id strings: argon2's own verifier accepts them, and we
    /// accept its hashes.
    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = Hasher::new(&cheap()).await.unwrap();
        let ours = h.hash("correct horse".into()).await.unwrap();
        let reference = Argon2::new(Algorithm::Argon2id, Version::V0x13, h.params.clone());
        assert!(reference.verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        assert!(reference.verify_password(b"wrong horse", &PasswordHash::new(&ours).unwrap()).is_err());
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = reference.hash_password(b"battery staple", &salt).unwrap().to_string();
        assert!(h.verify("battery staple".into(), Some(theirs.clone())).await.unwrap());
        assert!(!h.verify("battery".into(), Some(theirs)).await.unwrap());
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
