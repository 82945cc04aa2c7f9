#!/usr/bin/env bash
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
#        RUNS=N fuzz/run.sh [SECONDS] [TARGET...]
#   Runs each cargo-fuzz target (all by default) for SECONDS (default 10), starting from the
#   seeds in fuzz/seeds/TARGET (real exchanges and frames) and the corpus it grows in
#   fuzz/corpus/TARGET (not committed). Targets that read RTSP bytes (rtsp_parse, rtsp_headers,
#   interleaved) also start from the transcripts tests/data/*.rtsp, each whole and each of its
#   messages on its own (extracted into a temporary directory; nothing is written to seeds/).
#   With RUNS=N each target runs until libFuzzer has executed N inputs (-runs=N) instead, with
#   no time limit unless SECONDS is given too (then whichever comes first).
#   Prints one line per target: libFuzzer's run count, the wall seconds the run took, and the
#   corpus size; exits non-zero on the first crash (the input is saved under
#   fuzz/artifacts/TARGET). LOGDIR=DIR keeps each target's libFuzzer output as DIR/TARGET.log
#   (by default it goes to a temporary file, shown only on failure). SANITIZER=none builds
#   without AddressSanitizer (default: address): the connection target then runs about 5x
#   faster (3600 runs/s against 700), which is what let it reach 10 million runs in one run;
#   safe Rust's bounds and overflow checks stay on (cargo-fuzz builds with debug assertions),
#   only the unsafe blocks' memory errors go unseen, so the default stays address.
set -euo pipefail
cd "$(dirname "$0")"
secs=
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi
runs_limit=${RUNS:-}
if [ -n "$runs_limit" ] && ! [[ $runs_limit =~ ^[0-9]+$ ]]; then
  echo "fuzz: RUNS must be a number of executions, not '$runs_limit'" >&2
  exit 2
fi
sanitizer=${SANITIZER:-address}
case $sanitizer in
  address | none) ;;
  *)
    echo "fuzz: SANITIZER must be address or none, not '$sanitizer'" >&2
    exit 2
    ;;
esac
if [ -z "$runs_limit" ] && [ -z "$secs" ]; then
  secs=10
fi
limits=()
[ -n "$runs_limit" ] && limits+=(-runs="$runs_limit")
[ -n "$secs" ] && limits+=(-max_total_time="$secs")
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The RTSP transcripts as seeds: each file whole, and each "%% C->S N" / "%% S->C N" record's
# N bytes (the format tests/data/*.rtsp headers describe) as a file of its own.
rtsp_seeds=$tmp/rtsp_seeds
mkdir -p "$rtsp_seeds"
for f in ../tests/data/*.rtsp; do
  name=$(basename "$f" .rtsp)
  cp "$f" "$rtsp_seeds/$name.rtsp"
  i=0
  while IFS=: read -r off header; do
    n=${header##* }
    start=$((off + ${#header} + 1))
    tail -c +$((start + 1)) "$f" | head -c "$n" >"$rtsp_seeds/${name}_$(printf %02d $i)"
    i=$((i + 1))
  done < <(grep -boa '^%% [CS]->[CS] [0-9][0-9]*$' "$f")
done

# Build every target first, so the seconds reported below are fuzzing, not compiling.
for t in "${targets[@]}"; do
  if ! cargo fuzz build --sanitizer "$sanitizer" "$t" >"$tmp/build.log" 2>&1; then
    tail -40 "$tmp/build.log"
    echo "fuzz: FAIL build target=$t"
    exit 1
  fi
done

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t" "seeds/$t")
  case $t in
    rtsp_parse | rtsp_headers | interleaved) dirs+=("$rtsp_seeds") ;;
  esac
  # The mjpeg indexer's scan for the next SOI after a corrupt frame costs a compare per byte
  # that libFuzzer's memcmp hook records, so runs cost ~0.1 ms per KiB of input and 64 KiB
  # inputs held it near 1600 runs/s. Nothing it tells apart needs a long file (its size limit,
  # 1 MiB, is out of reach at 64 KiB too; its seeds include files of three small frames), so
  # its inputs are kept to 4 KiB. (That also keeps it from files long enough to show the
  # walk's quadratic case, a run of SOIs ending in a bad marker: 10 s at 64 KiB, 0.07 s at 4.)
  max_len=65536
  extra=()
  case $t in
    mjpeg) max_len=4096 ;;
    # The connection target's two servers live across runs (a OnceLock each), as a real one
    # does: the media, sessions' registry entries and caches a run leaves behind are theirs,
    # not leaks, and LeakSanitizer's scan of the whole heap after every such run took 40% of
    # the time (600 runs/s; 2300 without). AddressSanitizer's checks stay on.
    # Its inputs are scripts of chunks and time steps, each run replays the whole script, and
    # libFuzzer's comparison hooks cost per byte: at inputs under 650 bytes it ran 3000 runs/s,
    # at 7.5 KB 470 (round four, BENCHMARKS.md), at 4 KiB about 740 (round five). 4 KiB
    # (libFuzzer's own default limit) holds a session of a dozen requests with Digest headers.
    connection)
      extra+=(-detect_leaks=0)
      max_len=4096
      ;;
  esac
  if [ -n "${LOGDIR:-}" ]; then
    mkdir -p "$LOGDIR"
    log=$LOGDIR/$t.log
  else
    log=$tmp/$t.log
  fi
  t0=$(date +%s.%N)
  if ! cargo fuzz run --sanitizer "$sanitizer" "$t" "${dirs[@]}" -- \
      "${limits[@]}" "${extra[@]}" -rss_limit_mb=2048 -max_len="$max_len" >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: FAIL target=$t log=$log"
    exit 1
  fi
  t1=$(date +%s.%N)
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
  echo "fuzz: ok target=$t sanitizer=$sanitizer runs=$runs seconds=$wall corpus=$(ls "corpus/$t" | wc -l)"
done
