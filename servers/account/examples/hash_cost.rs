//! What one password hash costs on this machine, to choose the `[account]` argon2 settings:
//! `cargo run --release -p mmo-account --example hash_cost [memory_kib iterations parallelism]`
//! (defaults: the config's, 19456 2 1). Hashes one at a time, as one login does; a login costs
//! one verification, a registration one hash. Then a burst of 200 at once, and the memory after.

use std::time::{Duration, Instant};

use mmo_account::AccountConfig;
use mmo_account::password::Hasher;

const ROUNDS: usize = 30;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = AccountConfig::default();
    let args: Vec<u32> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    if let [m, t, p] = args[..] {
        (cfg.argon2_memory_kib, cfg.argon2_iterations, cfg.argon2_parallelism) = (m, t, p);
    }
    cfg.validate()?;
    let hasher = Hasher::new(&cfg).await?;
    let stored = hasher.hash("correct horse battery".into()).await?;
    let mut times: Vec<Duration> = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        assert!(hasher.verify("correct horse battery".into(), Some(stored.clone())).await?);
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "argon2id m={} KiB t={} p={}: verify median {:.1} ms, min {:.1} ms, max {:.1} ms over {ROUNDS} runs",
        cfg.argon2_memory_kib,
        cfg.argon2_iterations,
        cfg.argon2_parallelism,
        times[ROUNDS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[ROUNDS - 1].as_secs_f64() * 1e3,
    );
    // A burst, as a login storm: the process's memory afterwards shows what the hashing threads
    // keep (one freed block of the memory cost each).
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l[6..].trim().to_string()))
            .unwrap_or_default()
    };
    let before = rss();
    let hasher = std::sync::Arc::new(hasher);
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            tokio::spawn(async move { hasher.verify("correct horse battery".into(), Some(stored)).await })
        })
        .collect();
    for t in burst {
        assert!(t.await??);
    }
    println!("memory (VmRSS) before a burst of 200 concurrent verifications {before}, after {}", rss());
    Ok(())
}
