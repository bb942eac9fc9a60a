"""evalkit's 2D motion features of a video's COCO-17 pose track: the kinetic and geometric families of
Bailando's 3D features, redefined for image-plane joints (docs/motion-metrics.md, "2D variants").

Preparation, as 2D-BeatAlign (evalkit.metrics.beat_align): frames without a person are left out; joints of
low confidence are interpolated over time within the frames that show a person; coordinates are divided by
the video's body size (median torso length, else bounding-box height) and taken relative to the first
person frame's hip centre, so the features do not change with image scale or translation. Velocities and
accelerations use only consecutive frames that both show a person (runs), in body sizes per second at the
video's own frame rate (Bailando's fixed 1/60 s and its misplaced parenthesis are 3D-only quirks).

* kinetic (51-d): per joint, mean squared window-mean velocity along x and along y (sliding window 2, as
  Bailando) and the mean norm of the window-mean acceleration.
* geometric (20-d): fraction of person frames for which each relational test below holds (Müller-style
  tests, as Bailando's 32; thresholds in torso lengths, speeds in torso lengths per second). y is down in
  images, so "above" is a smaller y.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit.metrics.beat_align import _fill_joints, _runs, body_scale  # 2D-BeatAlign's own preparation
from evalkit.motion.features_kinetic import window_sum

NOSE, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR, L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN = 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
KINETIC_DIMS, GEOMETRIC_DIMS = 51, 20
FAST = 1.0  # torso lengths per second: a wrist/ankle moving faster is "fast" (~0.5 m/s for a 0.5 m torso)
FAST_ROOT = 0.5
BENT = 110.0  # degrees, Bailando's elbow/knee range (0, 110)


@dataclass
class Features2D:
    kinetic: np.ndarray  # (51,) or NaN when the video has no usable person
    geometric: np.ndarray  # (20,)
    counts: dict = field(default_factory=dict)
    scale_px: float = float("nan")


def normalised_joints(track, conf_thresh: float = 0.3) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """(T, 17, 2) joints in body sizes relative to the first person frame's hip centre (NaN where no
    person), the person mask, the body size in pixels and the counts."""
    joints = np.asarray(track.joints, dtype=np.float64)[..., :2]
    conf = np.asarray(track.conf, dtype=np.float64)
    present = np.asarray(track.present, dtype=bool) & (conf >= conf_thresh).any(axis=1)
    scale, _ = body_scale(joints, conf, present, conf_thresh)
    filled, keep, n_filled = _fill_joints(joints, conf, present, conf_thresh)
    counts = {"frames": len(joints), "frames_no_person": int(len(joints) - present.sum()),
              "joints_interpolated": n_filled, "joints_never_seen": int((~keep).sum())}
    if not np.isfinite(scale) or not keep.all() or not present.any():  # every joint is needed for the tests
        return np.full(joints.shape, np.nan), np.zeros(len(joints), bool), float("nan"), counts
    first = np.flatnonzero(present)[0]
    origin = (filled[first, L_HIP] + filled[first, R_HIP]) / 2
    return (filled - origin) / scale, present, scale, counts


def kinetic_2d(p: np.ndarray, present: np.ndarray, fps: float) -> np.ndarray:
    """(51,) mean over the frames of every person run of the per-frame energies (runs shorter than 3 frames
    carry no acceleration and are skipped)."""
    ft = 1.0 / fps
    sums, n = np.zeros((17, 3)), 0
    for a, b in _runs(present):
        seg = p[a:b]
        t = len(seg)
        if t < 3:
            continue
        vsum, vcount = window_sum(seg[1:] - seg[:-1], 1, t - 1, t)
        vel = vsum / (vcount[:, None, None] * ft)
        acc = (seg[2:] - 2 * seg[1:-1] + seg[:-2]) / ft ** 2  # a_k for k = 1..t−2
        asum, acount = window_sum(acc, 1, t - 2, t)
        sums[:, 0] += (vel[..., 0] ** 2).sum(axis=0)
        sums[:, 1] += (vel[..., 1] ** 2).sum(axis=0)
        sums[:, 2] += np.linalg.norm(asum / acount[:, None, None], axis=-1).sum(axis=0)
        n += t - 1
    return (sums / n).reshape(-1) if n else np.full(KINETIC_DIMS, np.nan)


def _angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at b between b→a and b→c, degrees."""
    u, v = a - b, c - b
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero-length limb: NaN, which tests False
        cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _pose_tests(q: np.ndarray) -> list[np.ndarray]:
    """The 15 tests on one frame's pose (q: (n, 17, 2)); y down."""
    y, x = q[..., 1], q[..., 0]
    mid_hip = (q[:, L_HIP] + q[:, R_HIP]) / 2
    mid_sh = (q[:, L_SH] + q[:, R_SH]) / 2
    torso = mid_sh - mid_hip
    lean = np.degrees(np.arctan2(np.abs(torso[:, 0]), -torso[:, 1]))  # 0 = upright
    cross_r = np.sign(x[:, R_WR] - mid_hip[:, 0]) != np.sign(x[:, R_SH] - mid_hip[:, 0])
    cross_l = np.sign(x[:, L_WR] - mid_hip[:, 0]) != np.sign(x[:, L_SH] - mid_hip[:, 0])
    return [
        y[:, R_WR] < y[:, R_SH], y[:, L_WR] < y[:, L_SH],  # 1-2 wrist above its shoulder
        y[:, R_WR] < y[:, NOSE], y[:, L_WR] < y[:, NOSE],  # 3-4 wrist above the head
        _angle(q[:, R_SH], q[:, R_EL], q[:, R_WR]) < BENT, _angle(q[:, L_SH], q[:, L_EL], q[:, L_WR]) < BENT,  # 5-6
        _angle(q[:, R_HIP], q[:, R_KN], q[:, R_AN]) < BENT, _angle(q[:, L_HIP], q[:, L_KN], q[:, L_AN]) < BENT,  # 7-8
        np.abs(x[:, L_WR] - x[:, R_WR]) > 1.5,  # 9 arms spread wide
        np.abs(x[:, L_AN] - x[:, R_AN]) > 0.8,  # 10 feet apart
        y[:, R_AN] < y[:, L_AN] - 0.25, y[:, L_AN] < y[:, R_AN] - 0.25,  # 11-12 one foot lifted
        lean > 20.0,  # 13 torso leaning
        cross_r, cross_l,  # 14-15 wrist across the body's midline
    ]


def geometric_2d(p: np.ndarray, present: np.ndarray, fps: float) -> np.ndarray:
    """(20,) fractions: 15 pose tests over person frames, 5 speed tests over consecutive person pairs."""
    out = np.full(GEOMETRIC_DIMS, np.nan)
    if not present.any():
        return out
    out[:15] = np.stack(_pose_tests(p[present]), axis=1).mean(axis=0)
    pair = present[1:] & present[:-1]
    if pair.any():
        speed = np.linalg.norm(p[1:] - p[:-1], axis=-1)[pair] * fps  # (n, 17) torso lengths per second
        root = np.linalg.norm(((p[1:, L_HIP] + p[1:, R_HIP]) - (p[:-1, L_HIP] + p[:-1, R_HIP]))[pair] / 2, axis=-1) * fps
        out[15:] = np.stack([speed[:, R_WR] > FAST, speed[:, L_WR] > FAST, speed[:, R_AN] > FAST,
                             speed[:, L_AN] > FAST, root > FAST_ROOT], axis=1).mean(axis=0)  # 16-20
    return out


def features_2d(track, conf_thresh: float = 0.3) -> Features2D:
    """Kinetic and geometric 2D features of one PoseTrack (NaN vectors when no usable person)."""
    p, present, scale, counts = normalised_joints(track, conf_thresh)
    fps = float(track.fps)
    return Features2D(kinetic_2d(p, present, fps), geometric_2d(p, present, fps), counts, scale)
