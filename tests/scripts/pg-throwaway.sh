#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on a free loopback port as an unprivileged user and prints
# its URL (postgres://agenthost:…@127.0.0.1:PORT/agenthost). `stop` stops it.
#   eval "$(tests/scripts/pg-throwaway.sh env)"   # exports AGENTHOST_TEST_POSTGRES_URL
#   tests/scripts/pg-throwaway.sh stop
#   tests/scripts/pg-throwaway.sh restart   # a database restart (tests of recovery)
# AGENTHOST_PG_DIR picks the cluster's directory (default /tmp/agenthost-pg), so a test can run
# its own cluster beside the shared one.
# Installs the Debian postgresql package when its binaries are missing (CI; needs root).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${AGENTHOST_PG_DIR:-/tmp/agenthost-pg}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
run_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "${1:-}" = restart ]; then
  run_as "$bindir/pg_ctl" -D "$dir/data" -m fast -w restart >/dev/null
  exit 0
fi
if [ "${1:-}" = stop ]; then
  [ -n "$bindir" ] && [ -d "$dir/data" ] && run_as "$bindir/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  exit 0
fi
if [ -z "$bindir" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
. "$root/tests/scripts/lib.sh"
if [ -f "$dir/port" ] && run_as "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  port=$(cat "$dir/port")
else
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  port=$(freeport)
  echo "$port" >"$dir/port"
  run_as "$bindir/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 >"$dir/initdb.log" 2>&1
  run_as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=500" start >/dev/null
  run_as "$bindir/psql" -h "$dir" -p "$port" -U postgres -q \
    -c "CREATE ROLE agenthost LOGIN PASSWORD 'agenthost-test'" -c "CREATE DATABASE agenthost OWNER agenthost" >/dev/null
fi
url="postgres://agenthost:agenthost-test@127.0.0.1:$port/agenthost"
if [ "${1:-}" = env ]; then
  echo "export AGENTHOST_TEST_POSTGRES_URL='$url'"
else
  echo "$url"
fi
