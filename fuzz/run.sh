#!/usr/bin/env bash
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#   Runs each cargo-fuzz target (all by default) for SECONDS (default 10), starting from the
#   seeds in fuzz/seeds/TARGET (real exchanges and frames) and the corpus it grows in
#   fuzz/corpus/TARGET (not committed). Prints one line per target with libFuzzer's run count;
#   exits non-zero on the first crash (the input is saved under fuzz/artifacts/TARGET).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-10}
shift || true
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
# cargo-fuzz passes unstable rustc flags; RUSTC_BOOTSTRAP lets the stable toolchain (the only
# one a fresh machine has) accept them.
export RUSTC_BOOTSTRAP=1
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run --sanitizer address "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: FAIL target=$t"
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: ok target=$t seconds=$secs runs=$runs corpus=$(ls "corpus/$t" | wc -l)"
  rm -f "$log"
done
