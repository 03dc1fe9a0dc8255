#!/usr/bin/env bash
# The fault matrix of tests/e2e/faults.rs, long form: 64 concurrent users for ROUNDS rounds
# (default 20) against the mock toolbox proxy and the mock model while they fail, printing the
# figures (responses, completed/failed, lost, upstream calls, file descriptors, runtime tasks and
# RSS before/after).
#
#   tests/scripts/chaos.sh [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build --locked -p agenthost -p agenthost-mock-proxy --quiet
AGENTHOST_CHAOS_ROUNDS=${1:-20} cargo test --locked -p agenthost-e2e --test e2e faults:: -- --nocapture 2>&1 |
  grep -E "^fault matrix|^test |test result|panicked"
