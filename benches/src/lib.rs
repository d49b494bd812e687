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
