#!/usr/bin/env bash
# Usage: benches/http_viewers.sh [SECONDS] [VIEWERS_LIST] [KEY_STEP] [REPEATS]
#   Motion-JPEG over HTTP, concurrent viewers: our server (--loop) serves videos/video.mjpeg at
#   20 fps as multipart/x-mixed-replace; `loadgen http` opens N viewers of
#   /videos/video.mjpeg/mjpeg?loop=1 (a few epoll threads, part bodies discarded in the
#   kernel), warms up 3 s, and counts over SECONDS each viewer's frames on its own frame
#   clock: missing (never came), dropped (skipped in the file's order: counted in missing),
#   late (more than 200 ms after its slot), inter-frame jitter, and the server's CPU and RSS
#   from /proc. At each count, `loadgen http-floor` then runs the bare loop: one thread of
#   loadgen writing the server's own parts of the same frames at 20 fps to as many sockets
#   (non-blocking writes), read by the same receiving code; its thread's CPU is the floor.
#   The key step (1000 viewers) is run REPEATS more times, server and floor alternating.
#   Prints the raw tables, then a markdown summary with the ratio server CPU / floor CPU.
#   A shared machine: other work shows in both, so server and floor run back to back, and each
#   row gives what every other process took of the machine over its window (percent of one
#   core, of 100% x cores).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
list=${2:-250,500,1000,1500,2000}
key=${3:-1000}
repeats=${4:-2}
cargo build --release -q -p server -p loadgen
# One descriptor per viewer on the server's side, two on the floor's (both ends).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%F %T UTC')"
log=$(mktemp /tmp/http-viewers-server.XXXXXX)
rows=$(mktemp /tmp/http-viewers-rows.XXXXXX)
./target/release/server 0 --bind 127.0.0.1 --http 0 --loop --max-sessions 10000 \
  --max-connections 10000 --max-http-connections 10000 --videos videos 2>"$log" &
srv=$!
trap 'kill $srv 2>/dev/null || true; rm -f "$rows"' EXIT
for _ in $(seq 100); do grep -q "HTTP streams on" "$log" && break; sleep 0.1; done
port=$(grep "HTTP streams on" "$log" | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2)
url="http://127.0.0.1:$port/videos/video.mjpeg/mjpeg?loop=1"
# What the server costs with nobody watching, over 5 s.
c0=$(awk '{print $14 + $15}' "/proc/$srv/stat"); sleep 5; c1=$(awk '{print $14 + $15}' "/proc/$srv/stat")
echo "server: target/release/server 0 --bind 127.0.0.1 --http 0 --loop --max-sessions 10000 --max-connections 10000 --max-http-connections 10000 (pid $srv, $url); idle CPU with no viewer: $(awk "BEGIN { printf \"%.1f%%\", ($c1 - $c0) / 5 }")"
echo

# step N RUN: the server's row then the floor's, each tagged with the run for the summary.
step() {
  local n=$1 run=$2 out
  out=$(./target/release/loadgen http "$url" --viewers "$n" --seconds "$secs" --server-pid "$srv" 2>&1)
  echo "$out" | grep -E '^\| [0-9]' | sed "s/^/server $run /" >>"$rows"
  echo "$out" | grep -vE '^(\||largest)' >&2 || true
  out=$(./target/release/loadgen http-floor --viewers "$n" --seconds "$secs" 2>&1)
  echo "$out" | grep -E '^\| [0-9]' | sed "s/^/floor $run /" >>"$rows"
  echo "$out" | grep -vE '^(\||largest)' >&2 || true
}

IFS=, read -ra counts <<<"$list"
for n in "${counts[@]}"; do step "$n" 1; done
for r in $(seq 2 $((repeats + 1))); do step "$key" "$r"; done

for who in server floor; do
  echo "### $who (loadgen $([ $who = server ] && echo "http URL --server-pid PID" || echo http-floor) --seconds $secs)"
  echo "| run | viewers | frames expected | received | missing | dropped | late (> 200 ms) | worst lateness | inter-frame jitter p50 / p99 | $who CPU | $who CPU per viewer | $who RSS | receiver CPU | other processes' CPU |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  grep "^$who " "$rows" | sed -E "s/^$who ([0-9]+) /| \1 /"
  echo
done

echo "### summary: server against the bare loop (same frames, parts, sockets and receiver)"
echo "| viewers | run | late | missing (dropped) | jitter p99 | server CPU | floor CPU | ratio server / floor | server RSS | held (late + missing < 0.1%) | floor late + missing | other processes' CPU (server / floor step) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
# Fields of a row after the tag: | viewers | expected | received | missing | dropped | late |
# worst | jitter | CPU | per viewer | RSS | receiver | other processes |
awk -F'|' '
  function num(s) { gsub(/[^0-9.]/, "", s); return s + 0 }
  { split($1, tag, " "); key = tag[2] "/" $2 + 0 }
  tag[1] == "server" { order[++k] = key; run[key] = tag[2]; n[key] = $2 + 0
    late[key] = $7; miss[key] = $5; drop[key] = $6; split($9, j, "/"); p99[key] = j[2]
    cpu[key] = num($10); rss[key] = $12; others[key] = num($14) }
  tag[1] == "floor" { fcpu[key] = num($10); fmiss[key] = num($5); flate[key] = num($7); fothers[key] = num($14) }
  END {
    for (i = 1; i <= k; i++) { x = order[i]
      held = (num(late[x]) + num(miss[x]) < 0.1) ? "yes" : "no"
      ratio = fcpu[x] > 0 ? sprintf("%.2fx", cpu[x] / fcpu[x]) : "-"
      # A floor whose viewers missed frames (its receivers starved, sockets full) wrote less
      # than the server did: its CPU is no floor for that step.
      if (fmiss[x] >= 0.1) ratio = ratio " (floor missed " fmiss[x] "%: not comparable)"
      printf "| %d | %s | %s | %s (%s) | %s | %.1f%% | %.1f%% | %s | %s | %s | %.3f%% | %.0f%% / %.0f%% |\n", n[x], run[x], late[x], miss[x], drop[x], p99[x], cpu[x], fcpu[x], ratio, rss[x], held, flate[x] + fmiss[x], others[x], fothers[x]
    }
  }' "$rows"
