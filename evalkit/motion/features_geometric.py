"""Bailando's 32-d manual ("geometric") features (``utils/features/manual_new.py``), vectorised over frames.

For every frame n = 1..T−1 (with frame n−1 for velocities) 32 boolean tests on joint positions; the feature
is the fraction of frames where each holds (float32 mean, as the reference stores it). Thresholds are in
units of three fixed SMPL-template lengths (not measured on the input). Velocities are frame differences
divided by the reference's ``time_per_frame = 1/120`` — at 60 fps every speed reads twice too large; kept,
since published FID_g uses it. Tests 5 and 6 are the same test in the reference (a fourth joint name that is
never read); kept as they are.
"""
from __future__ import annotations

import numpy as np

# Bailando's names for the 24 SMPL joints, in SMPL order
NAMES = ("root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle", "chest", "ltoes",
         "rtoes", "neck", "linshoulder", "rinshoulder", "head", "lshoulder", "rshoulder", "lelbow", "relbow",
         "lwrist", "rwrist", "lhand", "rhand")
_IDX = {n: i for i, n in enumerate(NAMES)}
# distances between points of the SMPL template (humerus, shoulder width, hip width), metres
HL = 0.2568381092115207
SW = 0.39084835854945527
HW = 0.11924706586886204
TIME_PER_FRAME = 1 / 120.0

# (test, joint names, threshold in template units or an angle range in degrees), in the reference's order
TESTS = (
    ("nmove", ("neck", "rhip", "lhip", "rwrist"), 1.8 * HL),
    ("nmove", ("neck", "lhip", "rhip", "lwrist"), 1.8 * HL),
    ("nplane", ("chest", "neck", "neck", "rwrist"), 0.2 * HL),
    ("nplane", ("chest", "neck", "neck", "lwrist"), 0.2 * HL),
    ("move", ("belly", "chest", "chest"), 1.8 * HL),
    ("move", ("belly", "chest", "chest"), 1.8 * HL),
    ("angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0, 110)),
    ("angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0, 110)),
    ("nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), 2.5 * SW),
    ("move", ("lwrist", "rwrist", "rwrist"), 1.4 * HL),
    ("move", ("rwrist", "root", "lwrist"), 1.4 * HL),
    ("move", ("lwrist", "root", "rwrist"), 1.4 * HL),
    ("fast", ("rwrist",), 2.5 * HL),
    ("fast", ("lwrist",), 2.5 * HL),
    ("plane", ("root", "lhip", "ltoes", "rankle"), 0.38 * HL),
    ("plane", ("root", "rhip", "rtoes", "lankle"), 0.38 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2 * HL),
    ("nplane", ("lhip", "rhip", "lankle", "rankle"), 2.1 * HW),
    ("angle", ("rknee", "rhip", "rknee", "rankle"), (0, 110)),
    ("angle", ("lknee", "lhip", "lknee", "lankle"), (0, 110)),
    ("fast", ("rankle",), 2.5 * HL),
    ("fast", ("lankle",), 2.5 * HL),
    ("angle", ("neck", "root", "rshoulder", "relbow"), (25, 180)),
    ("angle", ("neck", "root", "lshoulder", "lelbow"), (25, 180)),
    ("angle", ("neck", "root", "rhip", "rknee"), (50, 180)),
    ("angle", ("neck", "root", "lhip", "lknee"), (50, 180)),
    ("plane", ("rankle", "neck", "lankle", "root"), 0.5 * HL),
    ("angle", ("neck", "root", "zero", "y_unit"), (70, 110)),
    ("nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2 * HL),
    ("nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2 * HL),
    ("fast", ("root",), 2.3 * HL),
)
# move tests list 3 names: the reference passes a 4th that it never reads (tests 5/6 thus read the chest)
_CONSTANTS = {"zero": (0.0, 0.0, 0.0), "y_unit": (0.0, 1.0, 0.0), "minus_y_unit": (0.0, -1.0, 0.0)}


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


class _Frames:
    """Joint positions of frames 1..T−1 (``cur``) and 0..T−2 (``prev``), and the special points."""

    def __init__(self, p: np.ndarray):
        self.cur, self.prev = p[1:], p[:-1]
        n = len(self.cur)
        self.special = {k: np.broadcast_to(np.array(v), (n, 3)) for k, v in _CONSTANTS.items()}
        y_min = np.zeros((n, 3))
        y_min[:, 1] = self.cur[:, :, 1].min(axis=1)
        self.special["y_min"] = y_min

    def at(self, name: str) -> np.ndarray:
        return self.special[name] if name in self.special else self.cur[:, _IDX[name]]

    def before(self, name: str) -> np.ndarray:
        return self.prev[:, _IDX[name]]


def _test(f: _Frames, kind: str, names: tuple, thr) -> np.ndarray:
    a = [f.at(n) for n in names]
    if kind == "fast":
        return np.linalg.norm(a[0] - f.before(names[0]), axis=1) / TIME_PER_FRAME > thr
    if kind in ("move", "nmove"):
        moving = names[2] if kind == "move" else names[3]
        vel = (f.at(moving) - a[0]) - (f.before(moving) - f.before(names[0]))
        direction = a[1] - a[0] if kind == "move" else np.cross(a[2] - a[0], a[1] - a[0])
        return _dot(vel, direction) / np.linalg.norm(direction, axis=1) / TIME_PER_FRAME > thr
    if kind == "plane":
        normal = np.cross(a[2] - a[0], a[1] - a[0])
        return _dot(normal, a[3] - a[0]) / np.linalg.norm(normal, axis=1) > thr
    if kind == "nplane":
        normal = a[1] - a[0]
        return _dot(normal, a[3] - a[2]) / np.linalg.norm(normal, axis=1) > thr
    j, k = a[1] - a[0], a[3] - a[2]  # angle
    with np.errstate(invalid="ignore"):  # arccos of round-off beyond ±1 is NaN, which tests False as there
        angle = np.degrees(np.arccos(_dot(j, k) / (np.linalg.norm(j, axis=1) * np.linalg.norm(k, axis=1))))
    return (angle > thr[0]) & (angle < thr[1])


def geometric_features(joints: np.ndarray) -> np.ndarray:
    """(T, 24, 3) joints (y up, relative to the first frame's root) → (32,) float32 frame fractions."""
    f = _Frames(np.asarray(joints, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate directions give NaN → False, as there
        tests = np.stack([_test(f, kind, names, thr) for kind, names, thr in TESTS], axis=1)
    return tests.astype(np.float32).mean(axis=0)
