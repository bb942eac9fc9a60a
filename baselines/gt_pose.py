"""gt-pose: the ground-truth motion drawn by the baselines' renderer — the upper bound of pose-driven methods.

SDGPip samples: the ground-truth SMPL joints through the dataset's own renderer and dancer, which gives the
ground-truth video back (so on synth-test this row measures the evaluation pipeline, not a model). Real
footage: the annotated 2D keypoints (AIST++), or the pose backend run on the ground-truth video (wild), drive
the reference-image puppet. The music is not used: the motion is the ground truth's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext, take_options

MIN_CONF = 0.3


def fill_gaps(keypoints: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, int]:
    """Joints below MIN_CONF are re-estimated by linear interpolation over time (held at the ends); returns the
    keypoints and how many joint-frames were filled. Joints never seen stay NaN (their parts are skipped)."""
    kp = np.asarray(keypoints, dtype=np.float64).copy()
    bad = ~(np.asarray(conf) >= MIN_CONF) | ~np.isfinite(kp).all(axis=-1)
    t = np.arange(len(kp))
    for j in range(kp.shape[1]):
        good = ~bad[:, j]
        if good.any() and not good.all():
            for c in range(2):
                kp[bad[:, j], j, c] = np.interp(t[bad[:, j]], t[good], kp[good, j, c])
        elif not good.any():
            kp[:, j] = np.nan
    return kp, int(bad.sum())


def gt_keypoints(sample, backend: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(keypoints (T, 17, 2), confidences (T, 17), source) of the ground truth's dancer."""
    if sample.joints2d is not None:
        kp = np.asarray(sample.joints2d, dtype=np.float64)
        return kp[..., :2], kp[..., 2], "annotation"
    from evalkit.pose import extract

    track = extract(sample.load_video(), backend=backend)
    if len(track.joints) != sample.num_frames:
        raise EvalkitError(f"pose track has {len(track.joints)} frames, the video {sample.num_frames}", path=sample.video)
    return track.joints, np.where(track.present[:, None], track.conf, 0.0), backend


class GroundTruthPose:
    name = "gt-pose"
    version = "1"

    def __init__(self, context: GeneratorContext | None = None):
        opts = take_options(context or GeneratorContext(), self.name, {"pose_backend": "blazepose"})
        self.pose_backend = opts["pose_backend"]
        self.counts: dict = {}
        self.sources: dict[str, int] = {}

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        from evalkit.baselines.look import look_for, merge_counts

        look = look_for(sample, self.pose_backend)
        if look.kind == "sdgpip":
            if sample.joints3d is None:
                raise EvalkitError(f"SDGPip sample {sample.id} has no SMPL joints", path=sample.meta.get("motion_file"))
            frames, source = look.render_joints(sample.joints3d), "SMPL joints (SDGPip renderer)"
        else:
            kp, conf, source = gt_keypoints(sample, self.pose_backend)
            kp, filled = fill_gaps(kp, conf)
            merge_counts(self.counts, {"joint_frames_interpolated": filled})
            frames = look.render_keypoints(kp)
        merge_counts(self.counts, look.counts)
        self.sources[source] = self.sources.get(source, 0) + 1
        return frames

    def info(self) -> dict:
        return {"pose_backend": self.pose_backend, "pose_sources": dict(self.sources), "counts": dict(self.counts)}
