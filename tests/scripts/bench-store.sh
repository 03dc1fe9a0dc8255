#!/usr/bin/env bash
# Stored non-streaming POST /responses, memory store vs PostgreSQL, side by side in one run.
#
#   tests/scripts/bench-store.sh [SECONDS] [CONCURRENCY]
#
# Builds the release binary, starts a throwaway PostgreSQL (tests/scripts/pg-throwaway.sh) unless
# AGENTHOST_TEST_POSTGRES_URL is set, and measures with wrk (installed from Debian when missing)
# at the given concurrency (default 16) for the given time (default 10 s). Prints requests/s,
# p50/p99 and the PostgreSQL/memory throughput ratio. Loopback only.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
conc=${2:-16}
if ! command -v wrk >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
if [ -z "${AGENTHOST_TEST_POSTGRES_URL:-}" ]; then
  eval "$(bash "$root/tests/scripts/pg-throwaway.sh" env)"
fi
cargo build --release -p agenthost --manifest-path "$root/Cargo.toml" --quiet
bin=$root/target/release/agenthost
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$root/tests/scripts/lib.sh"

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench","input":"hello benchmark world"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-agent-user-id"] = "bench"
LUA

measure() { # label store
  local port mport pid out
  port=$(freeport); mport=$(freeport)
  AGENTHOST_STORE=$2 AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport RUST_LOG=warn \
    "$bin" serve 2>"$work/server.log" &
  pid=$!
  wait_ok "http://127.0.0.1:$port/readiness" || { cat "$work/server.log"; exit 1; }
  out=$(wrk -t1 -c"$conc" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/responses")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  printf '%-12s %10s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "$errs" >&2
  echo "$rps"
}

echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); wrk -t1 -c$conc -d${secs}s; stored, non-streaming" >&2
memory=$(measure memory memory)
postgres=$(measure postgres "$AGENTHOST_TEST_POSTGRES_URL")
awk -v m="$memory" -v p="$postgres" 'BEGIN { printf "postgres / memory: %.0f%%\n", 100 * p / m }'
