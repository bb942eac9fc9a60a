"""The ``posedit+m2p`` generator: music → poses (PoseDiT) → video by m2p's skeleton-driven denoiser.

Seed paper 2 positions its pose generator as the first stage before a pose-to-video model. m2p's denoiser on the
keypoint route is such a model: the skeleton drawn from keypoints drives it (``M2PPipeline.render_poses``), so
posedit's poses go through it instead of the cut-out puppet (``posedit``'s renderer). Options: checkpoint, steps,
cfg_scale and pose_backend are posedit's (as for ``posedit``); m2p_checkpoint (default the committed tiny),
m2p_steps (DDIM steps) and m2p_cfg_scale are the renderer's. The reference pose posedit starts from is BlazePose's
on the reference image on every split (counted), as for m2p: no generator input a user would not have.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.generators import GeneratorContext, frame_size, take_options
from evalkit.models.m2p.generator import checkpoint_version

from .generator import PoseDiTGenerator
from .render import MIN_CONF

POSEDIT_OPTIONS = ("checkpoint", "steps", "cfg_scale", "pose_backend")


class PoseDiTM2P:
    name = "posedit+m2p"

    def __init__(self, context: GeneratorContext | None = None):
        from evalkit.models.m2p.pipeline import M2PPipeline

        context = context or GeneratorContext()
        opts = take_options(context, self.name, {"checkpoint": None, "steps": None, "cfg_scale": None,
                                                 "pose_backend": "blazepose", "m2p_checkpoint": None,
                                                 "m2p_steps": None, "m2p_cfg_scale": None})
        poses = {k: opts[k] for k in POSEDIT_OPTIONS if opts[k] is not None}
        self.posedit = _ImageReferencePoseDiT(GeneratorContext(context.dataset, context.root, context.device,
                                                               {**poses, "renderer": "skeleton"}))
        render = {"steps": opts["m2p_steps"] and int(opts["m2p_steps"]),
                  "cfg_scale": opts["m2p_cfg_scale"] and float(opts["m2p_cfg_scale"])}
        # keypoint guidance whatever the checkpoint's default source: the poses are given, M2PEnc is not asked
        self.pipe = M2PPipeline.from_checkpoint(opts["m2p_checkpoint"], device=context.device,
                                                guidance_source="keypoints", **render)
        self.version = f"{self.posedit.version}+{checkpoint_version(opts['m2p_checkpoint'])}"
        self.m2p_checkpoint = opts["m2p_checkpoint"]
        self.counts: dict = {"resized_to_ground_truth": 0}

    @property
    def poses_of(self) -> dict[str, np.ndarray]:
        """The last generated poses per sample (for pose-level metrics), as ``posedit`` keeps them."""
        return self.posedit.poses_of

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        poses = self.posedit.poses(sample, music, seed)
        kp = np.array(poses, np.float64, copy=True)
        low = ~(kp[..., 2] >= MIN_CONF)  # as the puppet: unconfident joints are not drawn (counted)
        self.counts["joints_low_confidence"] = self.counts.get("joints_low_confidence", 0) + int(low.sum())
        kp[..., 2] = (~low).astype(np.float64)
        frames = self.pipe.render_poses(kp, sample.reference, int(sample.num_frames), float(sample.fps), seed)
        h, w = frame_size(sample)
        if frames.shape[1:3] != (h, w):  # the pipeline keeps the reference image's size
            import cv2

            self.counts["resized_to_ground_truth"] += 1
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        return frames

    def info(self) -> dict:
        poses = self.posedit.info()
        poses.pop("renderer")
        return {"poses": poses, "renderer": "m2p skeleton-driven denoiser",
                "reference_pose": "blazepose on the reference image, facing the camera",
                "m2p_checkpoint": str(self.m2p_checkpoint or "default"), "counts": dict(self.counts)}


class _ImageReferencePoseDiT(PoseDiTGenerator):
    """posedit whose reference pose is what a user has: BlazePose's on the reference image (at the frame size),
    turned to face the camera as m2p's (``keypoint_guidance.face_the_camera``) — never SDGPip's exact pose."""

    def reference(self, sample) -> tuple[np.ndarray, np.ndarray]:
        if sample.id not in self._references:
            from evalkit.baselines.look import load_reference
            from evalkit.models.m2p.keypoint_guidance import face_the_camera
            from evalkit.pose import image_keypoints

            kp, turned = face_the_camera(image_keypoints(load_reference(sample)[0]))
            self._count({"reference_pose_estimated": 1, "reference_pose_sides_swapped": int(turned)})
            self._references[sample.id] = (kp[:, :2], kp[:, 2])
        return self._references[sample.id]
