#!/usr/bin/env bash
# Runs every libFuzzer target of fuzz/ for SECONDS each (default 60) and prints its executions.
#
#   tests/scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_SANITIZER=address tests/scripts/fuzz.sh ...   (AddressSanitizer; needs nightly)
#
# By default the targets are built with the default (stable) toolchain and no sanitizer
# (`cargo fuzz --sanitizer none`): coverage-guided, a panic or abort is a crash, and safe Rust
# gains little from ASan while running ~5x faster without it. CI runs a short smoke run of
# each target (.ci/run). Installs cargo-fuzz when missing. Crashes are written to
# fuzz/artifacts/<target>/ and fail the run; keep each as a regression test in the crate it hit.
# Corpora grow in fuzz/corpus/<target>/ (not committed).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(consent request marker sse_jsonrpc mcp_url)
fi
sanitizer=${FUZZ_SANITIZER:-none}
toolchain=()
if [ "$sanitizer" != none ]; then
  cargo +nightly --version >/dev/null 2>&1 || { echo "fuzz: FUZZ_SANITIZER=$sanitizer needs a nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
  toolchain=(+nightly)
fi
cargo fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cd "$root/fuzz"
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (artifact in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
  printf 'fuzz: %-12s %12s executions in %ss (sanitizer %s), no crash\n' "$t" "${runs:-?}" "$secs" "$sanitizer"
  rm -f "$log"
done
