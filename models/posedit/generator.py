"""The ``posedit`` generator (evalkit.generators interface): music → poses (PoseDiT) → video (render.py).

Options (``--opt KEY=VALUE``; ``--checkpoint/--steps/--cfg`` on ``evalkit run-model`` too): checkpoint (default
the committed ``checkpoints/posedit.safetensors``), steps (Euler steps), cfg_scale (music guidance),
renderer (puppet | skeleton), pose_backend (reference pose on real footage). The last generated poses per
sample stay in ``self.poses_of`` for pose-level metrics.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from evalkit.generators import GeneratorContext, take_options


class PoseDiTGenerator:
    name = "posedit"

    def __init__(self, context: GeneratorContext | None = None):
        from .model import DEFAULT_CHECKPOINT
        from .sample import PosePipeline

        context = context or GeneratorContext()
        opts = take_options(context, self.name, {"checkpoint": None, "steps": None, "cfg_scale": None,
                                                 "renderer": "puppet", "pose_backend": "blazepose"},
                            types={"checkpoint": str, "steps": int, "cfg_scale": float})
        self.checkpoint = Path(opts["checkpoint"]) if opts["checkpoint"] else DEFAULT_CHECKPOINT
        self.pipe = PosePipeline.from_checkpoint(
            self.checkpoint, context.device, steps=int(opts["steps"]) if opts["steps"] is not None else None,
            cfg_scale=float(opts["cfg_scale"]) if opts["cfg_scale"] is not None else None)
        self.renderer, self.pose_backend = opts["renderer"], opts["pose_backend"]
        self.version = f"sha256:{_sha256(self.checkpoint)[:8]}"
        self.counts: dict = {}
        self.poses_of: dict[str, np.ndarray] = {}
        self._references: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def poses(self, sample, music: Path | None = None, seed: int = 0) -> np.ndarray:
        """(num_frames, 17, 3) poses (x, y, confidence) in the sample's frame pixels at its fps."""
        from evalkit.models.m2p.music import music_features

        from .sample import model_frames, retime_poses

        cfg = self.pipe.cfg
        ref, conf = self.reference(sample)
        n = model_frames(int(sample.num_frames), float(sample.fps), cfg.fps)
        feats = music_features(Path(music or sample.music), cfg.fps, n, cfg.music_frontend)
        poses, counts = self.pipe.poses(feats, ref, conf, seed)
        self._count(counts)
        out = retime_poses(poses, cfg.fps, float(sample.fps), int(sample.num_frames))
        self.poses_of[sample.id] = out
        return out

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        from .render import render_poses

        poses = self.poses(sample, music, seed)
        frames, counts = render_poses(sample, poses, self.renderer, self.pose_backend, self.reference(sample))
        self._count(counts)
        return frames

    def reference(self, sample) -> tuple[np.ndarray, np.ndarray]:
        """The reference pose (17, 2) and confidences of ``sample`` (found once per sample)."""
        from .data import reference_pose

        if sample.id not in self._references:
            self._references[sample.id] = reference_pose(sample, self.pose_backend)[:2]
        return self._references[sample.id]

    def _count(self, counts: dict) -> None:
        for key, value in counts.items():
            if key != "windows":
                self.counts[key] = self.counts.get(key, 0) + int(value)

    def info(self) -> dict:
        return {"checkpoint": str(self.checkpoint), "steps": self.pipe.steps, "cfg_scale": self.pipe.cfg_scale,
                "renderer": self.renderer, "pose_backend": self.pose_backend, "counts": dict(self.counts)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
