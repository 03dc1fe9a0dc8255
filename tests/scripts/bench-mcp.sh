#!/usr/bin/env bash
# Request `mcp` tools against a real MCP server (the Python SDK's FastMCP), the figures of issue 14:
#   1. latency of one tool call directly (python MCP client) vs through agenthost (a response whose
#      scripted model calls it), sequential, after a warm-up: the overhead agenthost adds;
#   2. c16 throughput of a one-call request (wrk -t1 -c16; each response lists the server's tools
#      and calls `add`), which the single-process FastMCP server bounds.
#
#   tests/scripts/bench-mcp.sh [SECONDS] [CONCURRENCY] [CALLS]   (defaults: 10 s, 16, 200)
#
# Loopback only. Needs python3 (creates target/mcp-venv with tests/mcp-servers/requirements.txt),
# wrk (installed from Debian when missing and root), curl.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-10}
conc=${2:-16}
calls=${3:-200}
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
  else
    echo "wrk not found: install it (Debian/Ubuntu: sudo apt-get install wrk)" >&2
    exit 1
  fi
fi
venv=$root/target/mcp-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/mcp-servers/requirements.txt"
cargo build --release --locked -p agenthost --bin agenthost --manifest-path "$root/Cargo.toml" --quiet
. "$root/tests/scripts/lib.sh"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

mcp_port=$(freeport)
"$venv/bin/python" "$root/tests/mcp-servers/fastmcp_server.py" "$mcp_port" >"$work/fastmcp.out" 2>"$work/fastmcp.err" &
for _ in $(seq 1 400); do grep -q READY "$work/fastmcp.out" 2>/dev/null && break; sleep 0.05; done
grep -q READY "$work/fastmcp.out" || { cat "$work/fastmcp.err"; exit 1; }
url="http://127.0.0.1:$mcp_port/mcp"

port=$(freeport); mport=$(freeport)
AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport RUST_LOG=warn \
  AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS=true "$root/target/release/agenthost" serve 2>"$work/server.log" &
wait_ok "http://127.0.0.1:$port/readiness" || { cat "$work/server.log"; exit 1; }

echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "server: FastMCP (mcp $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))')), streamable HTTP, on loopback"
"$venv/bin/python" "$root/tests/mcp-servers/latency.py" "$url" "http://127.0.0.1:$port" "$calls"

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"input":"call:add {\\"a\\":2,\\"b\\":3}","store":false,"tools":[{"type":"mcp","server_label":"py","server_url":"MCP_URL","require_approval":"never"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA
sed -i "s|MCP_URL|$url|" "$work/post.lua"
# One request by hand first: the body must produce an mcp_call with the sum.
curl -fsS -H 'Content-Type: application/json' -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/post.lua" | sed 's/\\\\/\\/g')" \
  "http://127.0.0.1:$port/responses" | grep -q '"output":"5"' || { echo "the wrk body does not call add" >&2; exit 1; }
wrk -t1 -c"$conc" -d1s -s "$work/post.lua" "http://127.0.0.1:$port/responses" >/dev/null
out=$(wrk -t1 -c"$conc" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/responses")
printf 'c%s one-call request (list + call, store=false): %s req/s  p50 %s  p99 %s %s\n' "$conc" \
  "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
  "$(awk '$1=="99%" {print $2}' <<<"$out")" "$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
