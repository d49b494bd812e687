//! Helpers shared by the benchmark harnesses in `src/bin/`.

use std::process::{Command, Stdio};

/// True when load generator and server can be pinned to different cores: `taskset` is on the
/// PATH and the machine has at least two cores.
pub fn can_pin() -> bool {
    let taskset = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    taskset && std::thread::available_parallelism().map_or(1, usize::from) >= 2
}

/// `--pin` of the harnesses: `auto` pins when [`can_pin`] says it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pin {
    Auto,
    On,
    Off,
}

/// Resolves `pin`; when pinning, moves this process (every thread it has) to core 1, which must
/// happen before a runtime starts so its workers inherit the affinity. Returns whether it pinned.
pub fn pin_self_to_core_1(pin: Pin) -> anyhow::Result<bool> {
    let pin = match pin {
        Pin::On => true,
        Pin::Off => false,
        Pin::Auto => can_pin(),
    };
    if pin {
        let status = Command::new("taskset")
            .args(["-a", "-cp", "1", &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| anyhow::anyhow!("running taskset: {e}"))?;
        anyhow::ensure!(status.success(), "taskset -cp 1 failed: {status}");
    }
    Ok(pin)
}

/// Runs `redis-benchmark --csv` against the Redis at `url` (pinned to core 1 with `taskset` when
/// `pin`) with `args` (clients, requests, pipelining, then the command and its arguments), and
/// returns the requests/s of its line for `command` (e.g. "XADD"). Gives up after `limit`.
pub async fn redis_benchmark_rps(
    url: &str,
    pin: bool,
    args: &[String],
    command: &str,
    limit: std::time::Duration,
) -> anyhow::Result<f64> {
    use anyhow::{Context, bail};
    let info = redis::Client::open(url)?.get_connection_info().clone();
    let mut cmd = if pin {
        let mut c = tokio::process::Command::new("taskset");
        c.args(["-c", "1", "redis-benchmark"]);
        c
    } else {
        tokio::process::Command::new("redis-benchmark")
    };
    match &info.addr {
        redis::ConnectionAddr::Tcp(host, port) => {
            cmd.args(["-h", host, "-p", &port.to_string()]);
        }
        redis::ConnectionAddr::Unix(path) => {
            cmd.arg("-s").arg(path);
        }
        other => bail!("redis-benchmark baseline: unsupported address {other:?}"),
    }
    if let Some(pw) = &info.redis.password {
        cmd.args(["-a", pw]);
    }
    cmd.args(["--dbnum", &info.redis.db.to_string(), "--csv"])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .with_context(|| format!("redis-benchmark took over {limit:?}"))?
        .context("running redis-benchmark")?;
    if !out.status.success() {
        bail!("redis-benchmark failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // "test","rps",...\n"XADD ...","123456.79",...
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("\"{command}");
    text.lines()
        .filter(|l| l.starts_with(&line))
        .filter_map(|l| l.split("\",\"").nth(1).and_then(|v| v.trim_matches('"').parse::<f64>().ok()))
        .next_back()
        .with_context(|| format!("no rps in redis-benchmark output: {text}"))
}

/// Deletes every Redis key under `prefix` (`<prefix>:*`) at `url` when dropped, whatever way
/// a harness run ends.
pub struct RedisCleanup {
    pub url: String,
    pub prefix: String,
}

impl Drop for RedisCleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection_with_timeout(std::time::Duration::from_secs(2)) else {
            return;
        };
        let keys: Vec<String> = match redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query(&mut conn) {
            Ok(k) => k,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("UNLINK").arg(&keys).query(&mut conn);
        }
    }
}
