#!/usr/bin/env bash
# Benchmarks POST /responses with the scripted model against a bare axum handler, side by side
# (the figures of issue 12 come from here).
#
#   tests/scripts/bench.sh [SECONDS] [CONCURRENCY]      (defaults: 10 s, 16 connections)
#   BENCH_FILL=1 tests/scripts/bench.sh                 (also the 100k-response store fill)
#
# In one run it builds (release) `agenthost` and the `bare` example (crates/server/examples/
# bare.rs: parses the same JSON body, answers agenthost's own 1,047-byte response, nothing else),
# then with `wrk -t1 -cCONCURRENCY` measures, each after a 1 s warm-up:
#   bare handler | agenthost non-streaming store=true | store=false | streaming (SSE) store=true
# and prints req/s, p50/p99 latency and the ratio to the bare handler, and the idle RSS of both
# servers (after readiness, before any load) and agenthost's RSS after the load.
# With BENCH_FILL=1 it then fills the store with 100 000 responses and reports peak RSS (VmHWM)
# with the default store caps and with caps raised so all are retained.
# Targets (issue 12): stored non-streaming >= 60% of bare, streaming >= 40%.
# Loopback only; bounded in time. Needs wrk (Debian: apt-get install wrk), curl, python3.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
conc=${2:-16}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "wrk not found; installing it from Debian (apt-get install wrk)" >&2
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
  else
    echo "wrk not found: install it (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk)" >&2
    exit 1
  fi
fi
cargo build --release --locked -p agenthost --bin agenthost --example bare --manifest-path "$root/Cargo.toml" --quiet
bin=$root/target/release/agenthost
bare=$root/target/release/examples/bare
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

. "$root/tests/scripts/lib.sh"

start() { # env assignments...
  port=$(freeport); mport=$(freeport)
  env "$@" AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport RUST_LOG=warn "$bin" serve 2>"$work/server.log" &
  pid=$!
  wait_ok "http://127.0.0.1:$port/readiness" || { cat "$work/server.log"; exit 1; }
}
start_bare() {
  port=$(freeport)
  "$bare" "127.0.0.1:$port" 2>"$work/bare.log" &
  pid=$!
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$port/responses" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$work/bare.log"; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; }

lua() { # body
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$1'
wrk.headers["Content-Type"] = "application/json"
LUA
}

bare_rps=
run() { # label body
  lua "$2"
  wrk -t1 -c"$conc" -d1s -s "$work/post.lua" "http://127.0.0.1:$port/responses" >/dev/null
  out=$(wrk -t1 -c"$conc" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/responses")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  bare_rps=${bare_rps:-$rps}
  ratio=$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN {printf "%3.0f%%", 100 * a / b}')
  printf '%-30s %10s req/s  %s of bare   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$ratio" "$p50" "$p99" "$errs"
}

rss() { awk -v k="${1:-VmRSS}:" '$1==k {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
threads() { awk '$1=="Threads:" {print $2}' "/proc/$pid/status"; }

body='{"model":"bench","input":"hello benchmark world"}'
echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "load: wrk -t1 -c$conc -d${secs}s, body $body"
start_bare
sleep 0.5
bare_idle=$(rss); bare_threads=$(threads)
run "bare axum handler" "$body"
stop
start
sleep 0.5
idle=$(rss); idle_threads=$(threads)
run "non-streaming store=true" "$body"
run "non-streaming store=false" '{"model":"bench","input":"hello benchmark world","store":false}'
run "streaming store=true" '{"model":"bench","input":"hello benchmark world","stream":true}'
loaded=$(rss)
stop
echo "idle RSS: bare $bare_idle ($bare_threads threads), agenthost $idle ($idle_threads threads); agenthost after the load $loaded"

[ "${BENCH_FILL:-0}" = 1 ] || exit 0
fill() { # label
  lua "$body"
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
  printf '%-30s %s responses created, %s kept, peak RSS %s\n' "$1" "$total" "$stored" "$(rss VmHWM)"
}
start
fill "100k responses, default caps"
stop
start AGENTHOST_STORE_MAX_BYTES=1073741824 AGENTHOST_STORE_MAX_RESPONSES=1000000
fill "100k responses, all retained"
stop
