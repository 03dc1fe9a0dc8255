#!/usr/bin/env bash
# Runs a consent flow through `agenthost demo` and checks the scraped metrics with promtool
# (Debian package `prometheus`, installed when missing) and for the families the flow must touch.
#   tests/scripts/check-metrics.sh [BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/target/release/agenthost}
if ! command -v promtool >/dev/null; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
. "$root/tests/scripts/lib.sh"
port=$(freeport); mport=$(freeport); out=$(mktemp -d)
"$bin" demo --port "$port" --metrics-port "$mport" >"$out/demo.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
api=http://127.0.0.1:$port
wait_ok "$api/readiness" || { cat "$out/demo.log"; exit 1; }
ask() { curl -fsS "$api/responses" -H 'content-type: application/json' -H 'x-agent-user-id: alice' -H "x-agent-foundry-call-id: alice:$1" -d "$2"; }
send='"input":"call:send_email {\"to\":\"bob@example.com\"}"'
link=$(ask 1 "{$send}" | python3 -c 'import json,sys; print(next(i["consent_link"] for i in json.load(sys.stdin)["output"] if i["type"]=="oauth_consent_request"))')
curl -fsS "$link" >/dev/null
ask 2 "{$send,\"stream\":true}" | grep '^event: response.completed' >/dev/null
curl -fsS "http://127.0.0.1:$mport/metrics" >"$out/metrics.txt"
promtool check metrics <"$out/metrics.txt"
grep -x 'agenthost_consent_requests_total{toolbox="demo"} 1' "$out/metrics.txt"
grep -x 'agenthost_toolbox_state{state="consent_required",toolbox="demo"} 1' "$out/metrics.txt"
grep '^mcp_client_operation_duration_seconds_count{error_type="",gen_ai_tool_name="send_email",mcp_method_name="tools/call"} 1$' "$out/metrics.txt"
grep '^gen_ai_client_operation_duration_seconds_count{.*gen_ai_provider_name="scripted"' "$out/metrics.txt"
echo "metrics: promtool clean; consent, toolbox state, MCP and model families present"
