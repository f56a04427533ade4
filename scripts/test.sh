#!/usr/bin/env bash
# The test command: starts what the tests need, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh)"
cargo test --workspace --locked "$@"
