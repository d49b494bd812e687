#!/usr/bin/env bash
# Everything CI checks, in the order that fails fastest: services, formatting, lints, tests and
# doctests. Extra arguments go to the test runner, e.g. a test name filter.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# With a lock file, CI must build exactly what was reviewed rather than quietly re-resolve.
locked=()
if [[ -f Cargo.lock ]]; then locked=(--locked); fi

# A CI run builds once from a clean clone: incremental caches would only double the disk it uses.
if [[ "${CI:-}" == "true" ]]; then export CARGO_INCREMENTAL=0; fi

step "services"
scripts/services.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run"
  summary=$(mktemp)
  trap 'rm -f "$summary"' EXIT
  cargo nextest run --workspace "${locked[@]}" "$@" 2>&1 | tee "$summary"
  # nextest does not run doctests (and the runner's arguments may not suit cargo test's).
  step "doctests"
  cargo test --workspace --doc "${locked[@]}" 2>&1 | tee -a "$summary"
  # The doctest runs end on per-crate lines, many of "0 passed": close on one line for the whole
  # suite, nextest's count plus the doctests'. (A failure has already stopped the script: set -e
  # with pipefail.)
  tests=$(sed -n 's/.* tests run: \([0-9]*\) passed.*/\1/p' "$summary" | tail -n 1)
  doctests=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$summary" | awk '{ n += $1 } END { print n + 0 }')
  printf '\nall tests: %s passed, 0 failed\n' "$((${tests:-0} + ${doctests:-0}))"
else
  # Plain cargo test runs the doctests too.
  step "cargo test"
  cargo test --workspace "${locked[@]}" "$@"
fi
