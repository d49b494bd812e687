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
