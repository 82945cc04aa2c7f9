#!/usr/bin/env bash
# Usage: benches/hls_origin.sh [SECONDS] [CONNECTIONS] [THREADS] [RUNS] [PLAYERS]
#   HLS segments from the origin's cache against nginx serving the same files from disk, and
#   the origin's offload behind a caching edge (deploy/nginx-edge.conf).
#
#   1. Our server (release build, HTTP on a free port, a fresh --cache-dir) serves
#      videos/video.mjpeg; `loadgen hls --players 1` reads the whole ladder once, so every
#      segment is encoded and in the origin's memory before anything is measured.
#   2. The segment files the origin serves are written, under the same paths, into a
#      directory that a plain nginx static server (sendfile on, keep-alive, 2 workers as
#      Debian's worker_processes auto gives on 2 cores) serves.
#   3. wrk, with the same CONNECTIONS, THREADS and SECONDS, GETs the media segments in turn
#      (a wrk Lua script written below) from ours, then nginx, RUNS times alternating. Each row gives
#      requests/s, latency, the server's CPU (percent of one core, and per request), wrk's,
#      and what every other process took of the machine meanwhile; the summary gives
#      ours / nginx per pair, of requests/s and of CPU per request. wrk shares the two cores
#      with the server, so requests/s is also what wrk and every other process leave it;
#      CPU per request is the server's own cost.
#   4. Offload: nginx with deploy/nginx-edge.conf (only listen, upstream and cache path
#      changed; a cold cache) in front of a second, cold origin; `loadgen hls --players
#      PLAYERS` reads the whole ladder through it, twice (cold edge, then warm). Origin
#      requests are the edge's access-log lines with an upstream address; player requests
#      are loadgen's.
#   A shared machine: other work shows in every row, so the peers run back to back in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
threads=${3:-2}
runs=${4:-2}
players=${5:-50}
if ! command -v wrk >/dev/null; then
  echo "wrk is not installed (apt-get install -y wrk): no segment requests/s measured" >&2
  exit 2
fi
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install -y nginx)" >&2; exit 2; }
cargo build --release -q -p server -p loadgen
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u '+%F %T UTC')"
echo "wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2), $(nginx -v 2>&1 | cut -d' ' -f3)"
work=$(mktemp -d /tmp/hls-origin.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# origin NAME: starts a server with a fresh segment cache; sets $port and $srv.
origin() {
  local log=$work/$1.log
  ./target/release/server 0 --bind 127.0.0.1 --http 0 --videos videos \
    --cache-dir "$work/$1-segments" 2>"$log" &
  srv=$!
  pids+=("$srv")
  for _ in $(seq 200); do grep -q "HTTP streams on" "$log" && break; sleep 0.05; done
  port=$(grep "HTTP streams on" "$log" | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2)
  [ -n "$port" ] || { cat "$log" >&2; exit 1; }
}

# nginx_conf DIR SITE: a main config around SITE with every path under DIR; starts it.
nginx_run() {
  local dir=$1 site=$2
  mkdir -p "$dir"
  printf '%s\n' "$site" >"$dir/site.conf"
  cat >"$dir/main.conf" <<EOF
user root;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { video/iso.segment m4s; video/mp4 mp4; application/vnd.apple.mpegurl m3u8; }
  log_format edge '\$upstream_cache_status \$upstream_addr \$status \$request_uri';
  access_log $dir/access.log edge;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  include $dir/site.conf;
}
EOF
  nginx -p "$dir" -c "$dir/main.conf" -g 'daemon off;' &
  pids+=("$!")
  nginx_master=$!
}

# wait_port PORT: until something listens there (10 s).
wait_port() {
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "nothing listens on $1" >&2
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# cpu_ticks PID...: user+system clock ticks of these processes.
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# Busy ticks of the whole machine (user, nice, system, irq, softirq, steal), over all cores.
total_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

origin main
base="http://127.0.0.1:$port"
multi=/videos/video.mjpeg/hls/index.m3u8
t0=$(date +%s.%N)
./target/release/loadgen hls "$base$multi" --players 1 >"$work/warm.txt"
echo "origin: target/release/server 0 --bind 127.0.0.1 --http 0 --videos videos --cache-dir DIR (pid $srv); every segment encoded in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s: $(cat "$work/warm.txt")"

# The segment paths, and the files the origin serves at them.
: >"$work/paths.txt"
for m in $(curl -sf "$base$multi" | grep -v '^#'); do
  mpath="${multi%/*}/$m"
  for s in $(curl -sf "$base$mpath" | grep -v '^#'); do echo "${mpath%/*}/$s" >>"$work/paths.txt"; done
done
while read -r p; do
  mkdir -p "$work/static$(dirname "$p")"
  curl -sf "$base$p" -o "$work/static$p"
done <"$work/paths.txt"
nseg=$(wc -l <"$work/paths.txt")
bytes=$(cat "$work/paths.txt" | sed "s#^#$work/static#" | xargs stat -c %s | awk '{s += $1} END {print s}')
echo "segments: $nseg, $bytes bytes ($(awk "BEGIN { printf \"%.0f\", $bytes / $nseg }") bytes each on average)"

sport=$(free_port)
nginx_run "$work/static-nginx" "server { listen 127.0.0.1:$sport; root $work/static; access_log off; location / { } }"
static_master=$nginx_master
wait_port "$sport"
static_workers=$(pgrep -P "$static_master" | xargs)

# wrk's request function: the segment paths in turn, each thread from its own place.
cat >"$work/paths.lua" <<'EOF'
local paths = {}
for line in io.lines(os.getenv("HLS_PATHS")) do
  if line ~= "" then paths[#paths + 1] = line end
end
local i = math.random(#paths)
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
EOF

rows=$work/rows.txt
# bench WHO URL PID...: one wrk run; appends a row.
bench() {
  local who=$1 url=$2; shift 2
  local c0 a0 c1 a1 out
  c0=$(cpu_ticks "$@"); a0=$(total_ticks)
  HLS_PATHS="$work/paths.txt" /usr/bin/time -f "wrk-cpu %U %S" -o "$work/wrk-time" \
    wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$work/paths.lua" "$url" >"$work/wrk-out" 2>&1
  c1=$(cpu_ticks "$@"); a1=$(total_ticks)
  out=$(cat "$work/wrk-out")
  local wcpu
  wcpu=$(awk '$1 == "wrk-cpu" { printf "%.0f", ($2 + $3) * 100 / '"$secs"' }' "$work/wrk-time")
  local rps p50 p99 errs
  rps=$(echo "$out" | awk '/^Requests\/sec:/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
  # CPU as percent of one core: ticks are 1/100 s; the machine's total is over all cores.
  local cpu others per
  cpu=$(awk "BEGIN { printf \"%.0f\", ($c1 - $c0) / $secs }")
  others=$(awk "BEGIN { printf \"%.0f\", (($a1 - $a0) - ($c1 - $c0)) / $secs - $wcpu }")
  # Server CPU per request, in microseconds: what the machine's noise changes least.
  per=$(awk "BEGIN { printf \"%.1f\", ($c1 - $c0) * 10000 / $secs / $rps }")
  echo "$who $rps $p50 $p99 $cpu $per $wcpu $others ${errs:-none}" >>"$rows"
  echo "$who: $rps req/s, latency p50 $p50 p99 $p99, server CPU ${cpu}% of a core ($per us a request), wrk ${wcpu}%, all else ${others}%, errors: ${errs:-none}" >&2
}

: >"$rows"
echo "wrk -t$threads -c$conns -d${secs}s --latency -s paths.lua URL (paths.lua: GETs the $nseg segment paths in turn)"
for _ in $(seq "$runs"); do
  bench ours "http://127.0.0.1:$port" "$srv"
  bench nginx "http://127.0.0.1:$sport" $static_workers
done
kill "$static_master" 2>/dev/null || true

echo
echo "| run | server | requests/s | latency p50 | latency p99 | server CPU (% of a core) | server CPU per request (us) | wrk CPU (%) | all other processes (%) | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
awk '{ n[$1]++; printf "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n[$1], $1, $2, $3, $4, $5, $6, $7, $8, substr($0, index($0, $9)) }' "$rows"
echo
echo "| run | ours req/s | nginx req/s | ours / nginx | ours CPU us/request | nginx CPU us/request | ours / nginx |"
echo "|---|---|---|---|---|---|---|"
awk '$1 == "ours" { o[++i] = $2; oc[i] = $6 } $1 == "nginx" { g[++j] = $2; gc[j] = $6 }
  END { for (k = 1; k <= i; k++) {
          printf "| %d | %s | %s | %.3f | %s | %s | %.2f |\n", k, o[k], g[k], o[k] / g[k], oc[k], gc[k], oc[k] / gc[k]
          so += o[k]; sg += g[k]; soc += oc[k]; sgc += gc[k] }
        printf "| mean | %.0f | %.0f | %.3f | %.1f | %.1f | %.2f |\n", so / i, sg / j, so / sg, soc / i, sgc / j, soc / sgc }' "$rows"

# Offload through the edge: a cold origin, a cold edge.
echo
origin offload
eport=$(free_port)
site=$(sed -e "s#listen 80;#listen 127.0.0.1:$eport;#" -e "s#server 127.0.0.1:8080;#server 127.0.0.1:$port;#" \
  -e "s#/var/cache/nginx/mjpeg-edge#$work/edge-cache#" deploy/nginx-edge.conf)
nginx_run "$work/edge" "$site"
wait_port "$eport"
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
echo "offload: deploy/nginx-edge.conf in front of a cold origin (pid $srv); loadgen hls http://EDGE$multi --players $players, twice"
echo "| pass | player requests | player segments | errors | req/s | p50 ms | p99 ms | origin requests (edge log, upstream) | origin / player requests | origin whole segment responses | segments served again |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for pass in cold warm; do
  before=$(wc -l <"$work/edge/access.log" 2>/dev/null || echo 0)
  out=$(./target/release/loadgen hls "http://127.0.0.1:$eport$multi" --players "$players")
  kv() { echo "$out" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
  # nginx logs a request once its response is sent, which can be just after loadgen read it.
  for _ in $(seq 100); do
    [ "$(wc -l <"$work/edge/access.log")" -ge $((before + $(kv requests))) ] && break
    sleep 0.05
  done
  up=$(tail -n +"$((before + 1))" "$work/edge/access.log" | awk '$2 != "-"' | wc -l)
  echo "| $pass | $(kv requests) | $(kv segments) | $(kv errors) | $(kv req_per_s) | $(kv p50_ms) | $(kv p99_ms) | $up | $(awk "BEGIN { printf \"%.4f\", $up / $(kv requests) }") | $(metric mjpeg_cmaf_segment_responses_total || true) | $(metric mjpeg_cmaf_segments_served_again_total || true) |" | sed 's/|  |/| - |/g; s/|  |/| - |/g'
done
