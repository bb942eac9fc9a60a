"""FID_k2d / FID_g2d / Div_k2d of sets of 2D pose sequences that are not videos (a pose stage's output: M2PEnc
keypoints, posedit poses), against a reference set — the same features and set metrics as the video metrics
in evalkit.metrics.motion2d."""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.motion.features_2d import features_2d
from evalkit.motion.metrics import MIN_STD_2D, diversity, frechet_eigh, normalize_by_gt


def pose_track(joints: np.ndarray, fps: float):
    """(T, 17, 2+) pixel joints as a PoseTrack: a frame shows a person where all its joints are finite."""
    from evalkit.pose.track import PoseTrack

    p = np.asarray(joints, dtype=np.float64)[..., :2]
    present = np.isfinite(p).all(axis=(1, 2))
    conf = np.repeat(present[:, None].astype(np.float64), p.shape[1], axis=1)
    return PoseTrack(p, conf, present, float(fps), (0, 0), {"backend": "pose sequence"})


def set_scores_2d(sets: dict[str, list[np.ndarray]], fps: float, reference: str) -> dict[str, dict]:
    """Per set: fid_k2d and fid_g2d against ``reference``, div_k2d beside the reference's div_k2d_gt, n.
    Features of every set are normalised with the reference set's statistics."""
    feats = {}
    for name, seqs in sets.items():
        f = [features_2d(pose_track(p, fps)) for p in seqs]
        usable = [x for x in f if np.isfinite(x.kinetic).all() and np.isfinite(x.geometric).all()]
        if len(usable) < 2:
            raise EvalkitError(f"{name}: {len(usable)} usable pose sequence(s); the 2D motion metrics need 2")
        feats[name] = (np.stack([x.kinetic for x in usable]), np.stack([x.geometric for x in usable]), len(f) - len(usable))
    gk, gg, _ = feats[reference]
    out = {}
    for name, (k, g, dropped) in feats.items():
        gk_n, k_n = normalize_by_gt(gk, k, MIN_STD_2D)
        gg_n, g_n = normalize_by_gt(gg, g, MIN_STD_2D)
        out[name] = {"fid_k2d": frechet_eigh(k_n, gk_n), "fid_g2d": frechet_eigh(g_n, gg_n),
                     "div_k2d": diversity(k_n), "div_k2d_gt": diversity(gk_n), "n": len(k), "unusable": dropped}
    return out
