#!/usr/bin/env bash
# Runs every server in one process (`mmo all`) against local Redis and MariaDB. The config file is
# MMO_CONFIG, else config.example.toml; extra arguments go to mmo.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh
cargo build --release -p mmo

bin=${CARGO_TARGET_DIR:-target}/release/mmo
config=${MMO_CONFIG:-config.example.toml}
if [[ -f $config ]]; then
  exec "$bin" all --config "$config" "$@"
fi
# mmo has built-in defaults, so a missing file is not fatal; say so, as it may be a typo.
echo "run.sh: no config file $config, using built-in defaults" >&2
exec "$bin" all "$@"
