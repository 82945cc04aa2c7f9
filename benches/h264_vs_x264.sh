#!/usr/bin/env bash
# Our H.264 encoder (crates/h264, OpenH264) against ffmpeg's libx264 on the same frames
# (issue 17): encode speed, bitrate and PSNR at three bitrates on a 1280x720 clip and on
# videos/video.mjpeg (384x288), and the bitrate x264 needs for the PSNR ours reaches.
#
#   bash benches/h264_vs_x264.sh [ROUNDS] [VARIANTS]
#
# ROUNDS (default 3): each round runs ours and x264 in turn at each rate. VARIANTS (default
# crate): comma-separated encoders of ours, `crate` being H264Encoder itself and the others
# OpenH264 configured as it is plus changes (see crates/h264/benches/vs_x264.rs).
# The 1280x720 clip is made here, under target/ (not committed): ffmpeg's testsrc2, 10 s at
# 20 fps, as JPEGs at -q:v 3 in the lab format (each behind its length as 5 ASCII digits).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
variants=${2:-crate}
out=target/h264-bench
mkdir -p "$out"
clip=$out/hd720.mjpeg
if [ ! -s "$clip" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  ffmpeg -nostdin -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=20:duration=10" \
    -c:v mjpeg -pix_fmt yuvj420p -q:v 3 -threads 1 "$tmp/f%04d.jpg"
  : >"$clip.tmp"
  for f in "$tmp"/f*.jpg; do
    printf '%05d' "$(stat -c %s "$f")" >>"$clip.tmp"
    cat "$f" >>"$clip.tmp"
  done
  mv "$clip.tmp" "$clip"
fi
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates/h264 || echo ' (crates/h264 modified)')"
echo "# $(ffmpeg -hide_banner -version | head -1); x264 $(ffmpeg -hide_banner -h encoder=libx264 >/dev/null 2>&1 && echo via libx264)"
cargo bench -q -p h264 --bench vs_x264 --no-run
cargo bench -q -p h264 --bench vs_x264 -- --clip "$PWD/$clip" --rounds "$rounds" --variants "$variants" \
  --rates 1000000,2000000,4000000 --x264-rates 250000,500000,750000,1000000,1500000,2000000,3000000,4000000
cargo bench -q -p h264 --bench vs_x264 -- --clip "$PWD/videos/video.mjpeg" --rounds "$rounds" --variants "$variants" \
  --rates 250000,500000,1000000 --x264-rates 62500,125000,187500,250000,375000,500000,750000,1000000
