#!/usr/bin/env bash
# Usage: benches/capacity.sh [SECONDS] [OUR_SESSIONS_LIST] [GST_SESSIONS_LIST]
#   Capacity side by side: our server and gst-rtsp-server (a shared media factory, what its
#   users pick for many viewers) serve videos/video.mjpeg at 20 fps in a loop; crates/loadgen
#   ramps concurrent UDP sessions against each until loss passes 0.1%, the frame rate is not
#   kept, or a frame comes 200 ms late (GStreamer's default jitter buffer), reading each
#   server's CPU and RSS from /proc. Then ours again at 1000 sessions with --no-gso, and the
#   floor: one thread sending the same packets with the same send function to 1000
#   destinations, no RTSP.
#   Prints markdown for BENCHMARKS.md. Needs the Debian packages .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
ours_list=${2:-500,1000,2000,3000,3500,3750,4000,4500,5000,5500}
gst_list=${3:-250,500,750,1000,1250,1500}
cargo build --release -q -p server -p loadgen
# Three descriptors per session on our side (RTSP, RTP, RTCP): raise the limit where allowed,
# else take the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "### ours: target/release/server --loop"
start_ours() { # extra server options...
  ./target/release/server 0 --bind 127.0.0.1 --loop --max-sessions 10000 --max-connections 10000 "$@" 2>/tmp/capacity-ours.log &
  ours=$!
  trap 'kill $ours 2>/dev/null || true' EXIT
  for _ in $(seq 50); do grep -q "serving" /tmp/capacity-ours.log && break; sleep 0.1; done
  port=$(grep -o '127.0.0.1:[0-9]*' /tmp/capacity-ours.log | head -1 | cut -d: -f2)
}
start_ours
./target/release/loadgen run "rtsp://127.0.0.1:$port/video.mjpeg" --sessions "$ours_list" --seconds "$secs" --pid "$ours"
sleep 2
./target/release/loadgen idle "rtsp://127.0.0.1:$port/video.mjpeg" --sessions 500 --pid "$ours"
kill $ours; wait $ours 2>/dev/null || true
echo
echo "### ours: target/release/server --loop --no-gso (one datagram per packet, sendmmsg)"
start_ours --no-gso
./target/release/loadgen run "rtsp://127.0.0.1:$port/video.mjpeg" --sessions 1000 --seconds "$secs" --pid "$ours"
kill $ours; wait $ours 2>/dev/null || true
echo
echo "### gst-rtsp-server: tests/peers/gst_server.py --shared --loop"
/usr/bin/python3 tests/peers/gst_server.py 0 videos/video.mjpeg --fps 20 --loop --shared --quiet \
  --transports udp --udp-ports 20000-45000 >/tmp/capacity-gst.log 2>&1 &
gst=$!
trap 'kill $gst 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening" /tmp/capacity-gst.log && break; sleep 0.1; done
gport=$(grep -o 'url=rtsp://127.0.0.1:[0-9]*' /tmp/capacity-gst.log | head -1 | cut -d: -f3)
./target/release/loadgen run "rtsp://127.0.0.1:$gport/video.mjpeg" --sessions "$gst_list" --seconds "$secs" --pid "$gst"
kill $gst; wait $gst 2>/dev/null || true
echo
echo "### floor"
./target/release/loadgen floor videos/video.mjpeg --sessions 1000 --seconds "$secs"
./target/release/loadgen floor videos/video.mjpeg --sessions 1000 --seconds "$secs" --no-gso
