#!/usr/bin/env bash
# Everything CI checks, in the order that fails fastest: services, formatting, lints, tests and
# doctests. Extra arguments go to the test runner, e.g. a test name filter.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# With a lock file, CI must build exactly what was reviewed rather than quietly re-resolve.
locked=()
if [[ -f Cargo.lock ]]; then locked=(--locked); fi

step "services"
scripts/services.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run"
  cargo nextest run --workspace "${locked[@]}" "$@"
  # nextest does not run doctests (and the runner's arguments may not suit cargo test's).
  step "doctests"
  cargo test --workspace --doc "${locked[@]}"
else
  # Plain cargo test runs the doctests too.
  step "cargo test"
  cargo test --workspace "${locked[@]}" "$@"
fi
