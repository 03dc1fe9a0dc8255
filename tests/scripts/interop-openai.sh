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
AGENTHOST_HOST=127.0.0.1 PORT=$port AGENTHOST_METRICS_PORT=$mport "$bin" serve >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
wait_ok "http://127.0.0.1:$port/readiness" || { cat "$log"; exit 1; }
"$venv/bin/python" "$root/tests/scripts/interop-openai.py" "http://127.0.0.1:$port" || { cat "$log"; exit 1; }
