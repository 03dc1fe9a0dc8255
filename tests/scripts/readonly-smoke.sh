#!/usr/bin/env bash
# tests/scripts/readonly-smoke.sh BINARY
#
# Runs a release build of agenthost the way the container runs it: read-only
# root filesystem, read-only working directory and HOME, and only TMPDIR
# writable. Then it checks that:
#   1. GET /readiness turns 200 (and /liveness, /metrics answer),
#   2. POST /responses {"input":"hello"} returns 200 (scripted model, no network),
#   3. SIGTERM makes the process exit 0 within AGENTHOST_DRAIN_TIMEOUT,
#   4. nothing was written outside TMPDIR.
#
# Isolation, strongest first (chosen automatically; set SMOKE_MODE to force one):
#   mountns   root: `unshare --mount` + a read-only remount of every mount except
#             /proc, /sys and a writable bind of TMPDIR, then the server is
#             started as UID/GID 65532 (the image's user) with `setpriv`.
#   userns    non-root with unprivileged user namespaces: `unshare --user
#             --map-root-user --mount` and the same read-only remounts.
#   chmod     fallback when no mount namespace can be created: cwd and HOME
#             are mode 0555 (and, as root, the server runs as UID 65532 so the
#             modes apply); writes elsewhere are detected afterwards by a scan
#             of the usual writable places, not prevented.
#
# Usage: tests/scripts/readonly-smoke.sh target/release/agenthost
set -euo pipefail

BIN_ARG="${1:-}"
[[ -n "$BIN_ARG" ]] || { echo "usage: $0 BINARY" >&2; exit 2; }
[[ -x "$BIN_ARG" && -f "$BIN_ARG" ]] || { echo "error: $BIN_ARG is not an executable file" >&2; exit 2; }
BIN_SRC="$(cd "$(dirname "$BIN_ARG")" && pwd)/$(basename "$BIN_ARG")"
DRAIN="${AGENTHOST_DRAIN_TIMEOUT:-10}"
RUN_UID=65532
READY_TIMEOUT="${SMOKE_READY_TIMEOUT:-30}"

SMOKE="$(mktemp -d "${TMPDIR:-/tmp}/agenthost-smoke.XXXXXX")"
chmod 0755 "$SMOKE"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  chmod -R u+w "$SMOKE" 2>/dev/null || true
  rm -rf "$SMOKE"
}
trap cleanup EXIT

# Layout: bin/ (the binary), cwd/ and home/ (read-only), tmp/ (the only
# writable place: TMPDIR), log/ (server output, opened before the switch).
mkdir -p "$SMOKE/bin" "$SMOKE/cwd" "$SMOKE/home" "$SMOKE/tmp" "$SMOKE/log"
install -m 0755 "$BIN_SRC" "$SMOKE/bin/agenthost"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT="$(free_port)"
METRICS_PORT="$(free_port)"
while [[ "$METRICS_PORT" == "$PORT" ]]; do METRICS_PORT="$(free_port)"; done

# HTTP helper: prints the status code; body goes to $2 (curl or python3).
http() { # METHOD URL OUTFILE [JSON]
  local method=$1 url=$2 out=$3 data=${4:-}
  if command -v curl >/dev/null; then
    if [[ -n "$data" ]]; then
      curl -s -m 20 -o "$out" -w '%{http_code}' -X "$method" -H 'content-type: application/json' --data "$data" "$url" 2>/dev/null || true
    else
      curl -s -m 5 -o "$out" -w '%{http_code}' -X "$method" "$url" 2>/dev/null || true
    fi
  else
    python3 - "$method" "$url" "$out" "$data" <<'PYEOF'
import sys, urllib.request, urllib.error
method, url, out, data = sys.argv[1:5]
req = urllib.request.Request(url, method=method, data=data.encode() if data else None,
                             headers={"content-type": "application/json"} if data else {})
try:
    with urllib.request.urlopen(req, timeout=20) as r:
        code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
except Exception:
    code, body = 0, b""
open(out, "wb").write(body)
print(f"{code:03d}")
PYEOF
  fi
}

# Environment of the server: nothing inherited but PATH.
SERVER_ENV=(
  "PATH=/usr/local/bin:/usr/bin:/bin"
  "HOME=$SMOKE/home"
  "TMPDIR=$SMOKE/tmp"
  "PORT=$PORT"
  "AGENTHOST_HOST=127.0.0.1"
  "AGENTHOST_METRICS_PORT=$METRICS_PORT"
  "AGENTHOST_DRAIN_TIMEOUT=$DRAIN"
  "AGENTHOST_LOG_FORMAT=json"
  "AGENTHOST_MODEL_PROVIDER=scripted"
  "RUST_LOG=info"
)

# The inner script runs inside the new mount namespace (modes mountns/userns).
INNER="$SMOKE/bin/inner.sh"
cat >"$INNER" <<'EOF'
#!/usr/bin/env bash
# $1 = smoke dir, $2 = uid to run as ("" = keep), rest = env assignments.
set -euo pipefail
smoke=$1 run_uid=$2; shift 2
mount --make-rprivate / 2>/dev/null || true
# TMPDIR becomes its own (writable) mount point before everything goes read-only.
mount --bind "$smoke/tmp" "$smoke/tmp"
failed=0
while read -r mp; do
  mp=$(printf '%b' "$mp")       # mountinfo escapes spaces as \040
  case "$mp" in
    /proc|/proc/*|/sys|/sys/*|"$smoke/tmp") continue ;;
  esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || { echo "smoke: could not remount $mp read-only" >&2; failed=1; }
done < <(awk '{print $5}' /proc/self/mountinfo | sort -u)
# Verify the premise before starting the server.
if touch "$smoke/cwd/.probe" 2>/dev/null || touch "$smoke/home/.probe" 2>/dev/null || touch /.smoke-probe 2>/dev/null; then
  echo "smoke: root, cwd or HOME is still writable inside the namespace" >&2; exit 97
fi
touch "$smoke/tmp/.probe" && rm "$smoke/tmp/.probe" || { echo "smoke: TMPDIR is not writable" >&2; exit 97; }
[[ $failed -eq 0 ]] || echo "smoke: warning: some mounts stayed writable (see above)" >&2
cd "$smoke/cwd"
if [[ -n "$run_uid" ]]; then
  exec setpriv --reuid="$run_uid" --regid="$run_uid" --clear-groups --no-new-privs \
    env -i "$@" "$smoke/bin/agenthost" serve
fi
exec env -i "$@" "$smoke/bin/agenthost" serve
EOF
chmod 0755 "$INNER"

can_mountns() { unshare --mount --propagation private true 2>/dev/null; }
can_userns() { unshare --user --map-root-user --mount --propagation private true 2>/dev/null; }

MODE="${SMOKE_MODE:-}"
if [[ -z "$MODE" ]]; then
  if [[ $EUID -eq 0 ]] && command -v unshare >/dev/null && can_mountns; then MODE=mountns
  elif command -v unshare >/dev/null && can_userns; then MODE=userns
  else MODE=chmod; fi
fi

RUN_AS=""
# As root, drop to the image's UID (in userns mode only the caller's own UID is mapped).
if [[ $EUID -eq 0 && "$MODE" != userns ]] && command -v setpriv >/dev/null; then RUN_AS=$RUN_UID; fi
if [[ -n "$RUN_AS" ]]; then
  chown "$RUN_AS:$RUN_AS" "$SMOKE/tmp"
  chmod 0700 "$SMOKE/tmp"
fi
chmod 0555 "$SMOKE/cwd" "$SMOKE/home"
MARKER="$SMOKE/log/marker"
touch "$MARKER"
sleep 1 # mtime granularity for the `-newer` scans below

case "$MODE" in
  mountns)
    echo "isolation: mount namespace, read-only remount of / (all mounts but /proc, /sys), TMPDIR bind rw, uid ${RUN_AS:-$EUID}"
    unshare --mount --propagation private -- "$INNER" "$SMOKE" "$RUN_AS" "${SERVER_ENV[@]}" \
      >"$SMOKE/log/server.out" 2>"$SMOKE/log/server.err" &
    ;;
  userns)
    echo "isolation: user+mount namespace, read-only remount of / (all mounts but /proc, /sys), TMPDIR bind rw"
    unshare --user --map-root-user --mount --propagation private -- "$INNER" "$SMOKE" "" "${SERVER_ENV[@]}" \
      >"$SMOKE/log/server.out" 2>"$SMOKE/log/server.err" &
    ;;
  chmod)
    echo "isolation: WEAK fallback (no mount namespace available): cwd and HOME mode 0555, uid ${RUN_AS:-$EUID};" \
         "writes outside TMPDIR are detected afterwards, not prevented"
    (
      cd "$SMOKE/cwd"
      if [[ -n "$RUN_AS" ]]; then
        exec setpriv --reuid="$RUN_AS" --regid="$RUN_AS" --clear-groups --no-new-privs \
          env -i "${SERVER_ENV[@]}" "$SMOKE/bin/agenthost" serve
      fi
      exec env -i "${SERVER_ENV[@]}" "$SMOKE/bin/agenthost" serve
    ) >"$SMOKE/log/server.out" 2>"$SMOKE/log/server.err" &
    ;;
  *) echo "error: unknown SMOKE_MODE=$MODE (mountns|userns|chmod)" >&2; exit 2 ;;
esac
SERVER_PID=$!

FAILURES=()
ok() { printf 'PASS %s\n' "$1"; }
bad() { printf 'FAIL %s\n' "$1"; FAILURES+=("$1"); }
show_logs() {
  echo "--- server stdout (tail)"; tail -n 20 "$SMOKE/log/server.out" || true
  echo "--- server stderr (tail)"; tail -n 20 "$SMOKE/log/server.err" || true
}

# 1. readiness
BASE="http://127.0.0.1:$PORT"
ready=""
for _ in $(seq 1 $((READY_TIMEOUT * 5))); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
  if [[ "$(http GET "$BASE/readiness" "$SMOKE/log/readiness.json")" == 200 ]]; then ready=1; break; fi
  sleep 0.2
done
if [[ -z "$ready" ]]; then
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    bad "GET /readiness did not return 200 within ${READY_TIMEOUT}s"
  else
    rc=0; wait "$SERVER_PID" || rc=$?
    bad "the server exited (status $rc) before /readiness returned 200"
  fi
  SERVER_PID=""
  show_logs
  exit 1
fi
ok "GET /readiness 200: $(head -c 200 "$SMOKE/log/readiness.json")"
code="$(http GET "$BASE/liveness" "$SMOKE/log/liveness.out")"
[[ "$code" == 200 ]] && ok "GET /liveness 200" || bad "GET /liveness returned $code"
code="$(http GET "http://127.0.0.1:$METRICS_PORT/metrics" "$SMOKE/log/metrics.txt")"
[[ "$code" == 200 ]] && ok "GET :$METRICS_PORT/metrics 200 ($(wc -l <"$SMOKE/log/metrics.txt") lines)" \
  || bad "GET /metrics on the metrics port returned $code"

# 2. a response
code="$(http POST "$BASE/responses" "$SMOKE/log/response.json" '{"input":"hello"}')"
if [[ "$code" == 200 ]]; then
  ok "POST /responses 200: $(head -c 160 "$SMOKE/log/response.json")..."
else
  bad "POST /responses returned $code: $(head -c 300 "$SMOKE/log/response.json")"
fi

# 3. SIGTERM -> exit 0 within the drain timeout
kill -TERM "$SERVER_PID"
t0=$(date +%s%N)
deadline=$(( $(date +%s) + DRAIN ))
while kill -0 "$SERVER_PID" 2>/dev/null && [[ $(date +%s) -le $deadline ]]; do sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
  bad "still running ${DRAIN}s after SIGTERM (AGENTHOST_DRAIN_TIMEOUT=$DRAIN)"
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
else
  rc=0; wait "$SERVER_PID" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [[ $rc -eq 0 ]] && ok "SIGTERM: exited 0 after ${ms} ms (limit ${DRAIN}s)" || bad "SIGTERM: exit status $rc"
fi
SERVER_PID=""

# 4. nothing written outside TMPDIR
written=()
while IFS= read -r -d '' f; do written+=("$f"); done < <(
  find "$SMOKE/cwd" "$SMOKE/home" "$SMOKE/bin" -newer "$MARKER" ! -path "$SMOKE/bin" ! -path "$SMOKE/cwd" ! -path "$SMOKE/home" -print0 2>/dev/null)
if [[ -n "$RUN_AS" ]]; then
  # Anything owned by the server's UID outside the smoke dir was written by it.
  # With a read-only mount namespace writes were impossible anyway, so the
  # (slow) whole-filesystem scan only runs in the chmod fallback.
  if [[ "$MODE" == chmod ]]; then
    while IFS= read -r -d '' f; do written+=("$f"); done < <(
      find / -xdev \( -path /proc -o -path /sys -o -path "$SMOKE" \) -prune -o -uid "$RUN_AS" -newer "$MARKER" -print0 2>/dev/null)
  fi
  for d in /tmp /var/tmp /dev/shm /run; do
    [[ -d "$d" ]] || continue
    while IFS= read -r -d '' f; do written+=("$f"); done < <(
      find "$d" -xdev -path "$SMOKE" -prune -o -uid "$RUN_AS" -newer "$MARKER" -print0 2>/dev/null)
  done
fi
if [[ ${#written[@]} -eq 0 ]]; then
  ok "nothing written outside TMPDIR (TMPDIR now holds: $(cd "$SMOKE/tmp" && find . -mindepth 1 -maxdepth 2 | head -5 | tr '\n' ' '))"
else
  bad "written outside TMPDIR: $(printf '%s\n' "${written[@]}" | sort -u | tr '\n' ' ' | head -c 600)"
fi
if grep -Eqi 'read-only file system|permission denied' "$SMOKE/log/server.err" "$SMOKE/log/server.out"; then
  bad "the server logged a write failure (read-only file system / permission denied)"
fi

echo
if [[ ${#FAILURES[@]} -gt 0 ]]; then
  show_logs
  echo "readonly-smoke ($MODE): FAIL (${#FAILURES[@]} check(s))"
  exit 1
fi
echo "readonly-smoke ($MODE): PASS"
