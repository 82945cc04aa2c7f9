#!/usr/bin/env bash
# Regenerates videos/video.mjpeg, the sample the README serves.
#
# 384x288 like the lab's movie, 20 s at 20 fps (400 frames): ffmpeg's moving testsrc2 pattern with
# the frame number and the media time burned in, so loss, pause and seeking show by eye.
# Every frame is directly RFC 2435 streamable: baseline, 4:2:0 (Y 2x2, Cb/Cr 1x1), the standard
# Annex K Huffman tables (-huffman default) and two quantization tables
# (-force_duplicated_matrix 1). The container is the lab's: each JPEG behind its length as
# 5 ASCII digits.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf
ffmpeg -nostdin -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=384x288:rate=20:duration=20" \
  -vf "drawtext=fontfile=$font:fontsize=28:fontcolor=white:box=1:boxcolor=black@0.7:x=10:y=10:text='frame %{frame_num}',drawtext=fontfile=$font:fontsize=28:fontcolor=yellow:box=1:boxcolor=black@0.7:x=10:y=h-40:text='t %{pts\:hms}'" \
  -c:v mjpeg -pix_fmt yuvj420p -huffman default -force_duplicated_matrix 1 -q:v 8 -threads 1 \
  "$tmp/f%04d.jpg"
out=video.mjpeg.tmp
: >"$out"
for f in "$tmp"/f*.jpg; do
  printf '%05d' "$(stat -c %s "$f")" >>"$out"
  cat "$f" >>"$out"
done
mv "$out" video.mjpeg
echo "wrote videos/video.mjpeg: $(ls "$tmp" | wc -l) frames, $(stat -c %s video.mjpeg) bytes"
