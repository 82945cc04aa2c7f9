#!/usr/bin/env bash
# Usage: tests/peers/make_variants.sh OUTDIR
#   Generates the JPEG variants the "any JPEG in" tests stream, deterministically, from ffmpeg's
#   testsrc2 (20 frames at 20 fps each), libjpeg's cjpeg and jpegtran (Debian: ffmpeg,
#   libjpeg-turbo-progs). Plain concatenated JPEG files OUTDIR/NAME.mjpeg. Does nothing when
#   OUTDIR already holds the output of this exact script (a stamp with its checksum).
# Adapted from the team's peers/make_videos.sh.
set -euo pipefail
OUT=${1:?usage: make_variants.sh OUTDIR}
stamp=$(sha1sum "$0" | cut -d' ' -f1)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ]; then
  exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
N=20
FF="ffmpeg -nostdin -hide_banner -loglevel error -y"
src() { echo "testsrc2=size=$1:rate=20"; }
# NAME SIZE PIXFMT EXTRA...: ffmpeg's mjpeg encoder, -threads 1 for reproducible bytes.
ffv() {
  local name=$1 size=$2 pix=$3
  shift 3
  $FF -f lavfi -i "$(src "$size")" -frames:v $N -pix_fmt "$pix" -c:v mjpeg "$@" -f mjpeg "$OUT/$name.mjpeg"
}
# NAME SOURCE_SIZE TOOL ARGS...: each frame of a yuvj420p source rewritten by a libjpeg tool.
perframe() {
  local name=$1 size=$2 tool=$3
  shift 3
  rm -f "$tmp"/*.jpg
  $FF -f lavfi -i "$(src "$size")" -frames:v $N -pix_fmt yuvj420p -c:v mjpeg -huffman default \
    -force_duplicated_matrix 1 -q:v 5 -threads 1 "$tmp/f%03d.jpg"
  : >"$OUT/$name.mjpeg"
  for f in "$tmp"/f*.jpg; do "$tool" "$@" "$f" >>"$OUT/$name.mjpeg"; done
}
Q=(-threads 1 -huffman default -force_duplicated_matrix 1)
ffv small_420 384x288 yuvj420p "${Q[@]}" -q:v 5          # as is: the lab's size
ffv hd_420 1280x720 yuvj420p "${Q[@]}" -q:v 5            # as is
ffv hd_422_ffmpeg 1280x720 yuvj422p "${Q[@]}" -q:v 5     # Y 2x2, C 1x2: lossless re-coding
ffv hd_444 1280x720 yuvj444p "${Q[@]}" -q:v 5            # 4:4:4: lossy
ffv small_444 384x288 yuvj444p "${Q[@]}" -q:v 5          # 4:4:4 like the lab's own video: lossy
ffv hd_opthuff 1280x720 yuvj420p -threads 1 -q:v 5       # ffmpeg's default optimal Huffman: lossless
ffv small_onetable 384x288 yuvj420p -threads 1 -huffman default -q:v 5  # one DQT table: as is
ffv hd_dri 1280x720 yuvj420p -threads 4 -slices 4 -huffman default -force_duplicated_matrix 1 -q:v 5  # DRI + RSTn
ffv qhd_420 2560x1440 yuvj420p "${Q[@]}" -q:v 24         # above 2040 px
ffv hd_big 1280x720 yuvj420p "${Q[@]}" -q:v 2            # frames over 64 KiB
ffv fhd_huge 1920x1080 yuvj420p "${Q[@]}" -qmin 1 -q:v 1 # about 170 KB frames
perframe small_gray 384x288 jpegtran -grayscale -copy none        # grayscale: lossless
perframe small_progressive 384x288 jpegtran -progressive -copy none  # progressive: lossless
# Canonical 4:2:2 (Y 2x1) from libjpeg: as is, RFC 2435 type 0.
rm -f "$tmp"/*
$FF -f lavfi -i "$(src 1280x720)" -frames:v $N "$tmp/p%03d.ppm"
: >"$OUT/hd_422c.mjpeg"
for f in "$tmp"/p*.ppm; do cjpeg -quality 75 -sample 2x1 "$f" >>"$OUT/hd_422c.mjpeg"; done
# RGB components (Adobe transform 0, no JFIF), as cjpeg -rgb writes them: lossy, via pixels.
rm -f "$tmp"/*
$FF -f lavfi -i "$(src 384x288)" -frames:v $N "$tmp/p%03d.ppm"
: >"$OUT/small_rgb.mjpeg"
for f in "$tmp"/p*.ppm; do cjpeg -rgb -quality 90 "$f" >>"$OUT/small_rgb.mjpeg"; done
# Three quantization tables (Cb's and Cr's differ) and 16-bit tables (SOF1, quantizers up to
# 3025): RFC 2435 sends neither, and both re-quantize exactly (the source's pixels).
cat >"$tmp/q3.txt" <<'TABLES'
16 11 10 16 24 40 51 61 12 12 14 19 26 58 60 55 14 13 16 24 40 57 69 56 14 17 22 29 51 87 80 62
18 22 37 56 68 109 103 77 24 35 55 64 81 104 113 92 49 64 78 87 103 121 120 101 72 92 95 98 112 100 103 99
17 18 24 47 99 99 99 99 18 21 26 66 99 99 99 99 24 26 56 99 99 99 99 99 47 66 99 99 99 99 99 99
99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99 99
9 9 12 24 50 50 50 50 9 11 13 33 50 50 50 50 12 13 28 50 50 50 50 50 24 33 50 50 50 50 50 50
50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50 50
TABLES
: >"$OUT/small_3tables.mjpeg"
: >"$OUT/small_16bit.mjpeg"
for f in "$tmp"/p*.ppm; do
  cjpeg -qtables "$tmp/q3.txt" -qslots 0,1,2 -sample 2x2 "$f" >>"$OUT/small_3tables.mjpeg"
  cjpeg -quality 2 "$f" 2>/dev/null >>"$OUT/small_16bit.mjpeg"
done
# Canonical 4:2:2 with a restart marker every MCU: as is.
: >"$OUT/small_422_dri.mjpeg"
for f in "$tmp"/p*.ppm; do cjpeg -sample 2x1 -restart 1 "$f" >>"$OUT/small_422_dri.mjpeg"; done
# CMYK (ImageMagick writes Adobe YCCK): lossy, via pixels.
: >"$OUT/small_cmyk.mjpeg"
for f in "$tmp"/p*.ppm; do convert "$f" -colorspace CMYK -quality 90 jpg:- >>"$OUT/small_cmyk.mjpeg"; done
# The smallest picture, 8x8 (one block of luma): as is.
rm -f "$tmp"/t*.ppm
$FF -f lavfi -i "$(src 8x8)" -frames:v $N "$tmp/t%03d.ppm"
: >"$OUT/tiny_8x8.mjpeg"
for f in "$tmp"/t*.ppm; do cjpeg "$f" >>"$OUT/tiny_8x8.mjpeg"; done
# The size changes halfway: ten frames at 384x288, ten at 320x240. As is.
rm -f "$tmp"/s*.ppm
$FF -f lavfi -i "$(src 320x240)" -frames:v 10 "$tmp/s%03d.ppm"
: >"$OUT/small_sizes.mjpeg"
for f in $(ls "$tmp"/p*.ppm | head -10) "$tmp"/s*.ppm; do cjpeg "$f" >>"$OUT/small_sizes.mjpeg"; done
# Segments RFC 2435 ignores or a parser must step over: an Exif APP1 and a COM before the
# tables, the tables (DQT, DHT) after SOF0, and 0xFF fill bytes before every marker (T.81
# B.1.1.2). As is: the same scan data.
: >"$OUT/small_segments.mjpeg"
for f in "$tmp"/p*.ppm; do
  cjpeg "$f" | wrjpgcom -comment "made by make_variants.sh" | /usr/bin/python3 -c '
import sys
d = sys.stdin.buffer.read()
segs, pos = [], 2
while d[pos + 1] != 0xDA:
    n = int.from_bytes(d[pos + 2:pos + 4], "big")
    segs.append(d[pos:pos + 2 + n])
    pos += 2 + n
tables = [s for s in segs if s[1] in (0xDB, 0xC4)]
others = [s for s in segs if s[1] not in (0xDB, 0xC4)]
exif = b"\xff\xe1" + (2 + 14).to_bytes(2, "big") + b"Exif\0\0MM\0\x2a\0\0\0\x08"
fill = lambda s: b"\xff\xff" + s
out = b"\xff\xd8" + fill(exif) + b"".join(fill(s) for s in others) + b"".join(fill(s) for s in tables) + fill(d[pos:])
sys.stdout.buffer.write(out)
' >>"$OUT/small_segments.mjpeg"
done
# The largest size the issue names, 3840x2160 (4K UHD): as is, width and height 0 in the RFC
# 2435 header and the size in the SDP.
ffv uhd_420 3840x2160 yuvj420p "${Q[@]}" -q:v 31
# Sizes that are not multiples of 8 or 16: as is, sent as 8-pixel blocks (648x480, 24x16) with
# the true size in a=x-dimensions.
# testsrc2 rounds odd sizes down to even ones: an even source cropped to the odd size.
for size in 641x479 17x9; do
  rm -f "$tmp"/o*.ppm
  w=${size%x*} h=${size#*x}
  $FF -f lavfi -i "$(src $((w + 1))x$((h + 1)))" -vf "format=rgb24,crop=$w:$h:0:0" -frames:v $N "$tmp/o%03d.ppm"
  : >"$OUT/odd_$size.mjpeg"
  for f in "$tmp"/o*.ppm; do cjpeg "$f" >>"$OUT/odd_$size.mjpeg"; done
done
# Arithmetic-coded frames mixed in (jpegtran -arithmetic, every fourth frame): those are
# skipped with a warning, every other frame plays as is.
i=0
: >"$OUT/small_arith_mixed.mjpeg"
for f in "$tmp"/p*.ppm; do
  if [ $((i % 4)) -eq 3 ]; then
    cjpeg "$f" | jpegtran -arithmetic >>"$OUT/small_arith_mixed.mjpeg"
  else
    cjpeg "$f" >>"$OUT/small_arith_mixed.mjpeg"
  fi
  i=$((i + 1))
done
# 16-bit tables whose low frequencies are primes above 1023: no 8-bit divisor but 1, so exact
# re-quantization overflows baseline and the server keeps the closer of re-quantizing to the
# nearest 8-bit table and decoding and encoding again.
/usr/bin/python3 -c '
primes = [p for p in range(1031, 3000) if all(p % d for d in range(2, int(p ** 0.5) + 1))]
luma = primes[:32] + [99] * 32
chroma = primes[32:64] + [99] * 32
for t in (luma, chroma):
    print(" ".join(map(str, t)))
' >"$tmp/qprime.txt"
: >"$OUT/small_16bit_prime.mjpeg"
for f in "$tmp"/p*.ppm; do
  cjpeg -quality 50 -qtables "$tmp/qprime.txt" -qslots 0,1 "$f" 2>/dev/null >>"$OUT/small_16bit_prime.mjpeg"
done
# Trailing garbage after the last frame's EOI: every frame plays, the rest is left out.
cp "$OUT/small_420.mjpeg" "$OUT/small_trailing.mjpeg"
printf 'trailing bytes that are no JPEG\xff\xd9\x00' >>"$OUT/small_trailing.mjpeg"
echo "$stamp" >"$OUT/.stamp"
