#!/usr/bin/env bash
# Runs the official `openai` Python package against the built server (see interop-openai.py).
# Installs its own venv from PyPI; needs python3 and a built target/debug/agenthost.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/target/debug/agenthost}
venv=${AGENTHOST_VENV:-$root/target/interop-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.100,<3'
. "$root/tests/scripts/lib.sh"
port=$(freeport)
mport=$(freeport)
log=$(mktemp)
# An MCP server for the `mcp` tool checks: the mock proxy's demo toolbox is MCP over HTTP.
proxy_bin=$(dirname "$bin")/agenthost-mock-proxy
pport=$(freeport)
"$proxy_bin" --listen "127.0.0.1:$pport" --scenario "$root/tests/scripts/mcp-echo-scenario.toml" >/dev/null 2>&1 &
ppid=$!
# Private networks are allowed (the MCP server is on loopback); the metadata range is denied
# explicitly, which the script's refusal check relies on.
AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport AGENTHOST_MCP_ALLOW_PRIVATE_NETWORKS=true \
  AGENTHOST_MCP_DENIED_NETWORKS=169.254.0.0/16 "$bin" serve >"$log" 2>&1 &
pid=$!
trap 'kill $pid $ppid 2>/dev/null || true; rm -f "$log"' EXIT
wait_ok "http://127.0.0.1:$port/readiness" || { cat "$log"; exit 1; }
wait_ok "http://127.0.0.1:$pport/_mock/state" || exit 1
"$venv/bin/python" "$root/tests/scripts/interop-openai.py" "http://127.0.0.1:$port" \
  "http://127.0.0.1:$pport/toolboxes/demo/mcp" || { cat "$log"; exit 1; }
