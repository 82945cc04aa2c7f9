#!/usr/bin/env bash
# Usage: [PUBLISHER=loadgen|ffmpeg] benches/live_fanout.sh [SECONDS] [VIEWERS] [PAIRS]
#   Live fan-out against file playback, on one server in the same minutes: a publisher sends
#   videos/video.mjpeg on a loop at 20 fps to /live/cam (`loadgen publish`: RTP over UDP, each
#   frame at its absolute deadline; or with PUBLISHER=ffmpeg, `ffmpeg -re -stream_loop -1
#   -c:v copy` over TCP, whose -re pacing stalls when the machine is busy), and `loadgen run`
#   plays VIEWERS UDP sessions of rtsp://.../live/cam;
#   then the publisher leaves and `loadgen run` plays VIEWERS sessions of the file
#   (/video.mjpeg, --loop). PAIRS times, live first. Each row gives packet loss (sequence
#   gaps), frames missing (gaps in RTP time: what a live viewer that drops a frame shows, and
#   what the publisher's ingest lost), the frame rate kept and the server's CPU from /proc.
#   The server's CPU per viewer is CPU / VIEWERS; the ratio is live / file of the same pair.
#   After each live window, the path's own counters from /api/paths (frames in, frames lost at
#   ingest, drops per viewer summed). Prints markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10} viewers=${2:-1000} pairs=${3:-2}
cargo build --release -q -p server -p loadgen
# Three descriptors per session on the server's side (RTSP, RTP, RTCP).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "machine: $(nproc) cores, $(uname -r); $(date -u '+%F %T UTC'); commit $(git rev-parse --short HEAD); load average $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp /tmp/live-fanout-server.XXXXXX)
./target/release/server 0 --bind 127.0.0.1 --http 0 --loop --max-sessions 10000 \
  --max-connections 10000 --videos videos 2>"$log" &
srv=$!
pub=
trap 'kill $srv 2>/dev/null || true; [ -n "$pub" ] && kill $pub 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "HTTP streams on" "$log" && break; sleep 0.1; done
port=$(grep -o 'rtsp://127.0.0.1:[0-9]*' "$log" | head -1 | cut -d: -f3)
[ -n "$port" ] || port=$(grep -v "HTTP" "$log" | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2)
http=$(grep "HTTP streams on" "$log" | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2)
echo "publisher: ${PUBLISHER:-loadgen}"
echo "server: target/release/server 0 --bind 127.0.0.1 --http 0 --loop --max-sessions 10000 --max-connections 10000 (pid $srv, RTSP $port, HTTP $http)"
echo
rows=()
for pair in $(seq "$pairs"); do
  if [ "${PUBLISHER:-loadgen}" = ffmpeg ]; then
    ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -f mjpeg -framerate 20 \
      -i videos/video.mjpeg -c:v copy -f rtsp -rtsp_transport tcp "rtsp://127.0.0.1:$port/live/cam" &
  else
    ./target/release/loadgen publish "rtsp://127.0.0.1:$port/live/cam" --file videos/video.mjpeg --fps 20 &
  fi
  pub=$!
  for _ in $(seq 100); do
    curl -s "http://127.0.0.1:$http/api/paths" | grep '"frames_in": *[1-9]' >/dev/null && break
    sleep 0.1
  done
  steal0=$(awk '/^cpu /{print $9}' /proc/stat)
  echo "### pair $pair, live: loadgen run rtsp://127.0.0.1:$port/live/cam --sessions $viewers --seconds $secs --pid $srv; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  out=$(./target/release/loadgen run "rtsp://127.0.0.1:$port/live/cam" --sessions "$viewers" --seconds "$secs" --pid "$srv")
  echo "$out"
  rows+=("| live $pair $(echo "$out" | grep '^| [0-9]') steal $(($(awk '/^cpu /{print $9}' /proc/stat) - steal0)) ticks |")
  echo
  echo "the path after the window (/api/paths):"
  curl -s "http://127.0.0.1:$http/api/paths" | python3 -c 'import json,sys; p=json.load(sys.stdin)["paths"]; [print("frames_in", x["frames_in"], "frames_lost", x.get("frames_lost"), "viewers", x["viewers"], "dropped by viewers", sum(v.get("frames_dropped",0) for v in x.get("viewer_list",[]))) for x in p]'
  kill $pub; wait $pub 2>/dev/null || true
  pub=
  sleep 3
  steal0=$(awk '/^cpu /{print $9}' /proc/stat)
  echo
  echo "### pair $pair, file: loadgen run rtsp://127.0.0.1:$port/video.mjpeg --sessions $viewers --seconds $secs --pid $srv; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  out=$(./target/release/loadgen run "rtsp://127.0.0.1:$port/video.mjpeg" --sessions "$viewers" --seconds "$secs" --pid "$srv")
  echo "$out"
  rows+=("| file $pair $(echo "$out" | grep '^| [0-9]') steal $(($(awk '/^cpu /{print $9}' /proc/stat) - steal0)) ticks |")
  echo
  sleep 3
done
echo "### rows (source, pair, then loadgen's columns)"
printf '%s\n' "${rows[@]}"
