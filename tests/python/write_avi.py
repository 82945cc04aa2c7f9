"""Writes a Motion-JPEG AVI the way a lab records one: OpenCV's VideoWriter with the MJPG
fourcc. Used by tests/containers.rs.

usage: write_avi.py PATH FPS FRAMES WIDTH HEIGHT
"""
import sys

import cv2
import numpy as np


def main():
    path, fps, frames, width, height = sys.argv[1], float(sys.argv[2]), *map(int, sys.argv[3:6])
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        sys.exit(f"OpenCV cannot write {path}")
    for i in range(frames):
        # Every frame different, so each received frame names its source frame.
        img = np.zeros((height, width, 3), np.uint8)
        img[:, :, 0] = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)
        img[:, :, 1] = (i * 255) // max(frames - 1, 1)
        cv2.putText(img, str(i), (width // 4, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 2, (255, 255, 255), 3)
        writer.write(img)
    writer.release()


if __name__ == "__main__":
    main()
