"""Poses → video for posedit.

m2p's pose-to-video path cannot take these poses: its denoiser is driven either by M2PEnc (music, no pose
input) or by guidance encoders trained on the *sum* of skeleton, semantic and depth maps rendered from the
3D body, which 2D keypoints do not give. So posedit renders with the baselines' 2D renderer: the reference
image cut into a paper puppet (evalkit.baselines.puppet) at the reference pose (:func:`data.reference_pose`:
exact for SDGPip samples), every part moved onto the generated keypoints. ``skeleton`` draws the DWPose-style
skeleton on black instead (for looking at the poses themselves).
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError

RENDERERS = ("puppet", "skeleton")
MIN_CONF = 0.3  # generated joints below this confidence are left out of the drawing (counted)


def render_poses(sample, poses: np.ndarray, renderer: str = "puppet", pose_backend: str = "blazepose",
                 reference: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, dict]:
    """(T, 17, 3) pixel poses (x, y, conf) on ``sample``'s frame → (uint8 (T, H, W, 3), counts)."""
    from evalkit.generators import frame_size

    if renderer not in RENDERERS:
        raise EvalkitError(f"unknown posedit renderer '{renderer}'", hint=f"choose from: {', '.join(RENDERERS)}")
    kp = np.asarray(poses, dtype=np.float64)
    low = kp[..., 2] < MIN_CONF
    counts = {"joints_low_confidence": int(low.sum())}
    if renderer == "skeleton":
        from evalkit.data.synth.draw import draw_skeleton

        h, w = frame_size(sample)
        vis = kp.copy()
        vis[..., 2] = (~low).astype(np.float64)
        return np.stack([draw_skeleton(p, h, w) for p in vis]), counts
    from evalkit.baselines.look import load_reference
    from evalkit.baselines.puppet import Puppet

    from .data import reference_pose

    image, resized = load_reference(sample)
    ref, ref_conf = reference if reference is not None else reference_pose(sample, pose_backend)[:2]
    puppet = Puppet.from_reference(image, np.asarray(ref)[:, :2], ref_conf)
    target = kp[..., :2].copy()
    target[low] = np.nan
    frames = puppet.render(target)
    counts.update({"parts_skipped": int(puppet.counts["parts_skipped"]), "reference_resized": int(resized)})
    return frames, counts
