# Shared helpers of the scripts in this directory (sourced, not run).

# A free TCP port on loopback.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (up to 10 s) until URL answers 2xx; fails otherwise.
wait_ok() {
  for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "no answer from $1" >&2
  return 1
}
