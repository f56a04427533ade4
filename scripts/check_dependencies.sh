#!/usr/bin/env bash
# Fails when a crate declares a dependency its code does not use (cargo-machete, built once
# into /var/tmp/medlake-tools, about a minute). The crate graph's direction is checked by
# the test crates/cli/tests/it/architecture.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=${MEDLAKE_TOOLS_DIR:-/var/tmp/medlake-tools}
machete="$tools/bin/cargo-machete"
if [ ! -x "$machete" ]; then
  echo "[deps] building cargo-machete into $tools (once)" >&2
  CARGO_TARGET_DIR="$tools/machete-target" CARGO_PROFILE_RELEASE_OPT_LEVEL=0 cargo install --quiet --root "$tools" \
    cargo-machete --version 0.9.2 --locked >&2
  rm -rf "$tools/machete-target"
fi
"$machete" --with-metadata
