"""What the tiny geometry allows at best: the ground truth itself through the model's centre square, size and
frame rate (and optionally through the checkpoint's VAE), brought back exactly as ``M2PPipeline`` brings its
frames back, and scored against the ground truth. A generator that is perfect at the model's resolution scores
these numbers; the static reference frame is the bar the must-show sets.

    python -m evalkit.models.m2p.evaluate ceiling --checkpoint CKPT --out DIR
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .data import frame_indices, resize_square, to_unit
from .infer import retime
from .pipeline import paste_square

GEOMETRIES = ((64, 10.0), (64, 30.0), (128, 10.0), (128, 30.0))  # tiny is 64² at 10 fps


class GroundTruthAt:
    """The ground truth at ``size``² and ``fps`` (through ``pipe``'s VAE when given), at the video's geometry."""

    version = "1"

    def __init__(self, size: int, fps: float, pipe=None):
        self.size, self.fps, self.pipe = size, fps, pipe
        self.name = f"gt-{'vae-' if pipe else ''}{size}px-{fps:g}fps"

    def generate(self, sample, music=None, seed: int = 0) -> np.ndarray:
        gt = sample.load_video().frames
        small = np.stack([resize_square(gt[i], self.size) for i in frame_indices(len(gt), sample.fps, self.fps)])
        if self.pipe is not None:
            small = self._vae_round_trip(small)
        return paste_square(retime(small, self.fps, sample.fps, len(gt)), gt[0])

    def _vae_round_trip(self, frames: np.ndarray) -> np.ndarray:
        import torch

        return self.pipe.sampler.round_trip(to_unit(torch.from_numpy(frames)).permute(0, 3, 1, 2))


def ceiling(checkpoint, out: Path, device: str = "cpu", metrics=("ssim", "psnr", "l1", "lpips")) -> dict:
    from evalkit.data.registry import get_split
    from evalkit.runner import generate_split
    from evalkit.scoring import score

    from .pipeline import M2PPipeline

    samples = sorted(get_split("synth", "test"), key=lambda s: s.id)
    pipe = M2PPipeline.from_checkpoint(checkpoint, device=device)
    runs = [GroundTruthAt(s, f) for s, f in GEOMETRIES] + [GroundTruthAt(pipe.cfg.size, pipe.cfg.fps, pipe)]
    table = {}
    for gen in runs:
        run_dir = out / "ceiling" / gen.name
        generate_split(gen, samples, run_dir, progress=False)
        agg = score(run_dir / "pred", run_dir / "gt", metrics=list(metrics))
        table[gen.name] = {r["metric"]: r["value"] for r in agg.to_dict(orient="records")}
        print(gen.name, ", ".join(f"{k} {v:.4f}" for k, v in table[gen.name].items()), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ceiling.json").write_text(json.dumps(table, indent=1))
    return table
