#!/usr/bin/env bash
# Our H.264 encoder (crates/h264, OpenH264) against ffmpeg's libx264 on the same frames
# (issue 17): encode speed, bitrate and PSNR at three bitrates, and the bitrate x264 needs for
# the PSNR ours reaches, on three clips: hd720 (1280x720 testsrc2), static720 (1280x720, a
# still background with light noise and one moving inset, like a fixed camera) and
# videos/video.mjpeg (384x288).
#
#   bash benches/h264_vs_x264.sh [ROUNDS] [VARIANTS]
#
# ROUNDS (default 3): each round runs ours and x264 in turn at each rate. VARIANTS (default
# crate): comma-separated encoders of ours, `crate` being H264Encoder itself and the others
# OpenH264 configured as it is plus changes (`bg`: background detection back on; see
# crates/h264/benches/vs_x264.rs). The 1280x720 clips are made here, under target/ (not
# committed): 10 s at 20 fps, JPEGs at -q:v 3 / 4 in the lab format (each behind its length
# as 5 ASCII digits).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
variants=${2:-crate}
out=target/h264-bench
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# make_clip NAME Q FFMPEG-INPUT-ARGS...: target/h264-bench/NAME.mjpeg from ffmpeg's frames.
make_clip() {
  local name=$1 q=$2 clip=$out/$1.mjpeg
  shift 2
  [ -s "$clip" ] && return
  rm -f "$tmp"/f*.jpg
  ffmpeg -nostdin -hide_banner -loglevel error -y "$@" \
    -c:v mjpeg -pix_fmt yuvj420p -q:v "$q" -threads 1 "$tmp/f%04d.jpg"
  : >"$clip.tmp"
  for f in "$tmp"/f*.jpg; do
    printf '%05d' "$(stat -c %s "$f")" >>"$clip.tmp"
    cat "$f" >>"$clip.tmp"
  done
  mv "$clip.tmp" "$clip"
}
make_clip hd720 3 -f lavfi -i "testsrc2=size=1280x720:rate=20:duration=10"
make_clip static720 4 -f lavfi -i "smptehdbars=size=1280x720:rate=20:duration=10" \
  -f lavfi -i "testsrc2=size=320x240:rate=20:duration=10" \
  -filter_complex "[0][1]overlay=x='100+40*t':y=300,noise=alls=3:allf=t"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/h264 || echo ' (crates/h264 modified)')"
echo "# $(ffmpeg -hide_banner -version | head -1)"
cargo bench -q -p h264 --bench vs_x264 --no-run
bench() {
  cargo bench -q -p h264 --bench vs_x264 -- --rounds "$rounds" --variants "$variants" --clip "$@"
}
bench "$PWD/$out/hd720.mjpeg" --rates 1000000,2000000,4000000 \
  --x264-rates 250000,500000,750000,1000000,1500000,2000000,3000000,4000000
bench "$PWD/$out/static720.mjpeg" --rates 250000,500000,1000000 \
  --x264-rates 62500,125000,187500,250000,375000,500000,750000,1000000,1500000
bench "$PWD/videos/video.mjpeg" --rates 250000,500000,1000000 \
  --x264-rates 62500,125000,187500,250000,375000,500000,750000,1000000
