#!/usr/bin/env bash
# Benchmarks POST /responses with the scripted model (issue figures come from here).
#
#   tests/scripts/bench.sh [SECONDS] [CONCURRENCY]
#
# Builds the release binary, then with wrk (installed from Debian when missing) measures at the
# given concurrency (default 16) for the given time (default 10 s):
#   1. non-streaming, store=true     2. non-streaming, store=false     3. streaming (SSE), store=true
# and finally fills the store with 100 000 responses and reports peak RSS (VmHWM) twice: with the
# default store caps, and with caps raised so all 100 000 are retained.
# Prints requests/s and p50/p99 latency per run. Loopback only; bounded in time.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
conc=${2:-16}
if ! command -v wrk >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release -p agenthost --manifest-path "$root/Cargo.toml" --quiet
bin=$root/target/release/agenthost
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

. "$root/tests/scripts/lib.sh"

start() { # env assignments...
  port=$(freeport); mport=$(freeport)
  env "$@" AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport RUST_LOG=warn "$bin" serve 2>"$work/server.log" &
  pid=$!
  wait_ok "http://127.0.0.1:$port/readiness" || { cat "$work/server.log"; exit 1; }
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; }

lua() { # body
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$1'
wrk.headers["Content-Type"] = "application/json"
LUA
}

run() { # label body
  lua "$2"
  out=$(wrk -t2 -c"$conc" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/responses")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  printf '%-34s %10s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "$errs"
}

rss() { awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); wrk -c$conc -d${secs}s"
start
run "non-streaming store=true" '{"model":"bench","input":"hello benchmark world"}'
run "non-streaming store=false" '{"model":"bench","input":"hello benchmark world","store":false}'
run "streaming store=true" '{"model":"bench","input":"hello benchmark world","stream":true}'
stop

fill() { # label
  lua '{"model":"bench","input":"hello benchmark world"}'
  cat >>"$work/post.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n > 50000 then wrk.thread:stop() end
  return wrk.format()
end
LUA
  wrk -t2 -c"$conc" -d120s -s "$work/post.lua" "http://127.0.0.1:$port/responses" >/dev/null
  stored=$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk '/^agenthost_store_responses / {print $2}')
  total=$(curl -fsS "http://127.0.0.1:$mport/metrics" | awk -F' ' '/^agenthost_responses_total\{status="completed"\}/ {print $2}')
  printf '%-34s %s responses created, %s kept, peak RSS %s\n' "$1" "$total" "$stored" "$(rss)"
}
start
fill "100k responses, default caps"
stop
start AGENTHOST_STORE_MAX_BYTES=1073741824 AGENTHOST_STORE_MAX_RESPONSES=1000000
fill "100k responses, all retained"
stop
