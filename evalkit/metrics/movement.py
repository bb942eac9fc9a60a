"""How much the dancer moves, reported beside BeatAlign: a sync score means little for a dancer who stands
still, and a "metronomic stop" on every beat scores well without dancing.

From the kinetic velocity BeatAlign already computed (:class:`~evalkit.metrics.beat_align.Kinetics2D`, mean
joint speed in body sizes per second between consecutive frames that show a person):

* ``speed``: its median over those frames, in **body heights per second** — the body height is the median over
  frames of the vertical extent of the confident joints (COCO-17: nose to ankles when visible);
* ``still``: the fraction of those frames whose speed is below ``still_speed`` body heights per second
  (default 0.05: BlazePose on a repeated real frame measured 0.005 median / 0.010 at the 90th percentile, real
  dancers 0.40 median / 0.18 at the 10th percentile; animatex_dance_1, 24 fps).
"""
from __future__ import annotations

import numpy as np

#: body heights per second below which a frame counts as still (see the module docstring)
STILL_SPEED = 0.05


def body_height(joints: np.ndarray, conf: np.ndarray, present: np.ndarray, conf_thresh: float) -> float:
    """Median over frames with ≥ 2 confident joints of their vertical extent (px); NaN when there is none."""
    ok = present[:, None] & (conf >= conf_thresh) & np.isfinite(joints).all(axis=2)
    heights = [np.ptp(joints[t, ok[t], 1]) for t in np.flatnonzero(ok.sum(axis=1) >= 2)]
    heights = [h for h in heights if h > 0]
    return float(np.median(heights)) if heights else float("nan")


def movement(kin, track, conf_thresh: float = 0.3, still_speed: float = STILL_SPEED) -> dict[str, float]:
    """``speed`` (median body heights / s) and ``still`` (fraction of frames below ``still_speed``) of one
    video from its kinetics and pose track; NaN when no two consecutive frames show a person."""
    joints = np.asarray(track.joints, dtype=np.float64)[..., :2]
    conf = np.asarray(track.conf, dtype=np.float64)
    height = body_height(joints, conf, np.asarray(track.present, dtype=bool), conf_thresh)
    speed = kin.velocity[kin.valid] * kin.scale_px / height  # body sizes (torso) → body heights
    if speed.size == 0 or not np.isfinite(height):
        return {"speed": float("nan"), "still": float("nan")}
    return {"speed": float(np.median(speed)), "still": float((speed < still_speed).mean())}
