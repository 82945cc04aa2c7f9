#!/usr/bin/env bash
# Usage: benches/alternate.sh SESSIONS SECONDS PAIRS SERVER_A SERVER_B
#   Runs crates/loadgen against two server binaries in turn (A, B, A, B, ...), each fresh on an
#   ephemeral port serving videos/ in a loop, so that a change is measured against the code
#   before it in the same minutes of this noisy machine. Prints one markdown row per run, the
#   binary's name first. Build the two binaries first (e.g. `git stash`, build, copy).
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=$1 secs=$2 pairs=$3
shift 3
cargo build --release -q -p loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for _ in $(seq "$pairs"); do
  for server in "$@"; do
    "$server" 0 --bind 127.0.0.1 --loop --max-sessions 10000 --max-connections 10000 2>"$log" &
    pid=$!
    for _ in $(seq 50); do grep -q "serving" "$log" && break; sleep 0.1; done
    port=$(grep -o '127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f2)
    steal0=$(awk '/^cpu /{print $9}' /proc/stat)
    row=$(./target/release/loadgen run "rtsp://127.0.0.1:$port/video.mjpeg" --sessions "$sessions" \
      --seconds "$secs" --pid "$pid" | grep '^| [0-9]')
    steal1=$(awk '/^cpu /{print $9}' /proc/stat)
    # Steal: time the host ran something else on this machine's CPUs, in hundredths of a second (USER_HZ).
    echo "| $(basename "$server") $row steal $((steal1 - steal0)) ticks |"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
done
