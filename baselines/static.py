"""static: the reference image repeated for every frame — the motion lower bound (no motion at all)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.generators import GeneratorContext, take_options


class StaticReference:
    name = "static"
    version = "1"

    def __init__(self, context: GeneratorContext | None = None):
        take_options(context or GeneratorContext(), self.name, {})
        self.counts = {"reference_resized": 0}

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        from evalkit.baselines.look import load_reference

        image, resized = load_reference(sample)  # music and seed cannot change a still image
        self.counts["reference_resized"] += int(resized)
        return np.repeat(image[None], int(sample.num_frames), axis=0)

    def info(self) -> dict:
        return {"counts": dict(self.counts)}
