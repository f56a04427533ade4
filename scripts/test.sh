#!/usr/bin/env bash
# The test command: starts what the tests need, then runs every test of the workspace.
#
# On a fresh machine most of the time is building: the workspace (DataFusion, delta-rs)
# and, once, the Kafka broker and the Debian/PyPI/npm installs of scripts/services.sh.
# The two run side by side (installs wait on the network, and a build leaves a core idle
# while one large crate compiles or a binary links), then the tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
services_env=$(mktemp)
services_log=$(mktemp)
scripts/services.sh >"$services_env" 2>"$services_log" &
services=$!
started=$(date +%s)
cargo test --workspace --locked --no-run --timings
echo "[test] workspace built in $(( $(date +%s) - started )) s" >&2
if ! wait "$services"; then
  cat "$services_log" >&2
  echo "[test] scripts/services.sh failed (its log is above)" >&2
  exit 1
fi
cat "$services_log" >&2
eval "$(cat "$services_env")"
rm -f "$services_env" "$services_log"
cargo test --workspace --locked "$@"
