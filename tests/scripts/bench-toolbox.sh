#!/usr/bin/env bash
# Toolbox benchmarks (issue figures come from here), against the mock proxy on loopback:
#   1. time from process start to 200 on /readiness with three toolboxes (working, consent-gated,
#      hanging), at the default startup deadline and at 1 s;
#   2. p50/p99 of requests that call a tool of a working toolbox, with and without another
#      pre-registered toolbox that hangs (the anchors serialize every request behind one lock),
#      after a 2 s warm-up (a user's first request may wait up to AGENTHOST_TOOLBOX_DEGRADED_WAIT_MS
#      for that user's retry of the hanging toolbox; later ones never wait);
#   3. throughput of those requests (each calls one toolbox tool through the proxy).
#   tests/scripts/bench-toolbox.sh [SECONDS] [CONCURRENCY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
conc=${2:-16}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p agenthost -p agenthost-mock-proxy --manifest-path "$root/Cargo.toml" --quiet
bin=$root/target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$root/tests/scripts/lib.sh"

cat >"$work/scenario.toml" <<'TOML'
mode = "stateless"
[[toolboxes]]
name = "fast"
  [[toolboxes.sources]]
  name = "echo"
    [[toolboxes.sources.tools]]
    name = "echo"
[[toolboxes]]
name = "gated"
  [[toolboxes.sources]]
  name = "mail"
  auth = "consent"
    [[toolboxes.sources.tools]]
    name = "send_mail"
[[toolboxes]]
name = "stuck"
  [[toolboxes.sources]]
  name = "slow"
    [[toolboxes.sources.tools]]
    name = "slow_tool"
  [[toolboxes.faults]]
  hang = true
TOML
pport=$(freeport)
"$bin/agenthost-mock-proxy" --listen "127.0.0.1:$pport" --scenario "$work/scenario.toml" >"$work/proxy.log" 2>&1 &
wait_ok "http://127.0.0.1:$pport/_mock/state"
endpoint="http://127.0.0.1:$pport"

start() { # toolboxes, extra env...
  port=$(freeport); mport=$(freeport)
  local names=$1; shift
  t0=$(date +%s.%N)
  env "$@" FOUNDRY_PROJECT_ENDPOINT="$endpoint" TOOLBOX_NAME="$names" AGENTHOST_TOOLBOX_TOKEN=bench \
    AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport RUST_LOG=warn "$bin/agenthost" serve 2>"$work/server.log" &
  pid=$!
  until curl -fsS "http://127.0.0.1:$port/readiness" >/dev/null 2>&1; do sleep 0.005; done
  ready_ms=$(python3 -c "import time; print(round((time.time()-$t0)*1000))")
}
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; }

cat >"$work/call.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"input":"call:echo {\\"text\\":\\"hi\\"}","store":false}'
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local user = "user" .. (n % 64)
  wrk.headers["x-agent-user-id"] = user
  wrk.headers["x-agent-foundry-call-id"] = user .. ":" .. n
  return wrk.format()
end
LUA
load() { # label
  # Warm-up: every user's first request (which may start that user's retry of a degraded
  # toolbox and wait AGENTHOST_TOOLBOX_DEGRADED_WAIT_MS for it) is not part of the measurement.
  wrk -t2 -c"$conc" -d2s -s "$work/call.lua" "http://127.0.0.1:$port/responses" >/dev/null
  out=$(wrk -t2 -c"$conc" -d"${secs}s" --latency -s "$work/call.lua" "http://127.0.0.1:$port/responses")
  printf '%-44s %9s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wrk -c$conc -d${secs}s"
start fast,gated,stuck; echo "readiness with working+gated+hanging (default 5 s deadline): ${ready_ms} ms"; stop
start fast,gated,stuck AGENTHOST_TOOLBOX_STARTUP_TIMEOUT=1; echo "readiness with working+gated+hanging (1 s deadline):       ${ready_ms} ms"; stop
start fast; echo "readiness with the working toolbox only:                   ${ready_ms} ms"
load "tool call, toolbox fast only"; stop
start fast,stuck AGENTHOST_TOOLBOX_STARTUP_TIMEOUT=1
load "tool call, toolbox fast + hanging stuck"; stop
