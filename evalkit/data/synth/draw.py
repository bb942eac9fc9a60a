"""DWPose/OpenPose-style body skeleton drawing from COCO-17 keypoints.

The look of DWPose's body map: the 18-point OpenPose body (COCO-17 plus a neck at the shoulders' midpoint),
17 limbs as filled ellipses in the OpenPose rainbow on black, dimmed to 60 %, then full-colour joint dots.
"""
from __future__ import annotations

import cv2
import numpy as np

# OpenPose-18 body order: nose, neck, r_shoulder, r_elbow, r_wrist, l_shoulder, l_elbow, l_wrist,
# r_hip, r_knee, r_ankle, l_hip, l_knee, l_ankle, r_eye, l_eye, r_ear, l_ear.
# COCO-17 index of each OpenPose point (-1: the neck, made from both shoulders).
OPENPOSE18_FROM_COCO17 = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# Limbs as pairs of OpenPose-18 indices, in the order (and so the colours) of the OpenPose body model.
OPENPOSE_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# The OpenPose body palette (RGB): one colour per point; limb i uses colour i.
OPENPOSE_COLORS = np.array([
    [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
    [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
    [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
], dtype=np.uint8)
LIMB_DIM = 0.6  # limbs are drawn at 60 % intensity, joints at full


def openpose18(keypoints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) COCO-17 (x, y, vis) → (..., 18, 3) OpenPose-18; the neck's vis is the min of the shoulders'."""
    kp = np.asarray(keypoints, dtype=np.float64)
    idx = np.array(OPENPOSE18_FROM_COCO17)
    out = kp[..., np.maximum(idx, 0), :].copy()
    shoulders = kp[..., [5, 6], :]
    out[..., 1, :2] = shoulders[..., :2].mean(-2)
    out[..., 1, 2] = shoulders[..., 2].min(-1)
    return out


def stroke_sizes(size: int) -> tuple[int, int]:
    """(limb half-width, joint radius) in pixels: DWPose's 4 px sticks / 4 px dots at ~512 px, scaled."""
    return max(1, round(size / 128)), max(2, round(size / 64))


def draw_skeleton(keypoints: np.ndarray, height: int, width: int) -> np.ndarray:
    """One frame: (17, 3) COCO-17 pixels (x, y, vis) → (H, W, 3) uint8 RGB. Points with vis 0 are skipped."""
    pts = openpose18(keypoints)
    stick, radius = stroke_sizes(min(height, width))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    centres = np.rint(pts[:, :2]).astype(np.int64)
    shown = pts[:, 2] > 0
    for i, (a, b) in enumerate(OPENPOSE_LIMBS):
        if not (shown[a] and shown[b]):
            continue
        (xa, ya), (xb, yb) = pts[a, :2], pts[b, :2]
        length = float(np.hypot(xb - xa, yb - ya))
        angle = int(round(np.degrees(np.arctan2(yb - ya, xb - xa))))
        centre = (int(round((xa + xb) / 2)), int(round((ya + yb) / 2)))
        poly = cv2.ellipse2Poly(centre, (int(round(length / 2)), stick), angle, 0, 360, 1)
        cv2.fillConvexPoly(canvas, poly, OPENPOSE_COLORS[i].tolist())
    # Integer arithmetic so the dimming is exact and platform-independent.
    canvas = (canvas.astype(np.uint16) * int(LIMB_DIM * 10) // 10).astype(np.uint8)
    for i in np.flatnonzero(shown):
        cv2.circle(canvas, (int(centres[i, 0]), int(centres[i, 1])), radius, OPENPOSE_COLORS[i].tolist(), -1)
    return canvas
