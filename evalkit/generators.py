"""Video generators by name: the reference model and the baselines behind one interface.

Every generator implements::

    generate(sample: Sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray  # uint8 (T, H, W, 3)

with T = ``sample.num_frames`` frames at ``sample.fps`` and the ground truth's frame size; ``music`` replaces
the sample's own music (the shuffled-music control uses it). Optional hooks: ``prepare(samples)`` sees the
whole list before the first ``generate`` (generators that need the split, e.g. shuffled-music),
``info()`` returns settings and counts that the runner stores in results.json, and ``concurrent(n)`` lets up to
``n`` ``generate`` calls run at once in threads (returns how many it allows; without it: one at a time). Each has ``name`` and
``version`` (shown in the leaderboard).

Factories are looked up lazily, so an unavailable generator (m2p without its package or checkpoint) costs
nothing until it is asked for, and then fails with one line.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from evalkit.errors import EvalkitError

#: name -> "module:factory"; the order is the leaderboard's row order
GENERATORS: dict[str, str] = {
    "m2p": "evalkit.models.m2p.generator:M2P",
    "m2p-paper": "evalkit.models.m2p.paper_generator:M2PPaper",
    "posedit": "evalkit.models.posedit.generator:PoseDiTGenerator",
    "posedit+m2p": "evalkit.models.posedit.m2p_generator:PoseDiTM2P",
    "gt-pose": "evalkit.baselines.gt_pose:GroundTruthPose",
    "retrieval": "evalkit.baselines.retrieval:Retrieval",
    "beat-procedural": "evalkit.baselines.beat_procedural:BeatProcedural",
    "shuffled-music": "evalkit.baselines.shuffled_music:ShuffledMusic",
    "static": "evalkit.baselines.static:StaticReference",
}
BASELINES = tuple(name for name in GENERATORS if name not in ("m2p", "m2p-paper", "posedit", "posedit+m2p"))


@dataclass
class GeneratorContext:
    """What a factory may use besides the samples: where the split comes from and where to run."""

    dataset: str = "synth"
    root: Path | None = None
    device: str = "cpu"
    options: dict = field(default_factory=dict)  # generator options (``--opt KEY=VALUE``)


class Generator(Protocol):
    name: str
    version: str

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray: ...


def make_generator(name: str, context: GeneratorContext | None = None) -> Generator:
    """Instantiate the generator ``name``; options it does not know are an error (one line)."""
    if name not in GENERATORS:
        raise EvalkitError(f"unknown generator '{name}'", hint=f"choose one of: {', '.join(GENERATORS)}")
    context = context or GeneratorContext()
    module_name, attr = GENERATORS[name].split(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ImportError as err:
        raise EvalkitError(f"generator '{name}' is not available: cannot import {module_name} "
                           f"({type(err).__name__}: {err})", hint="install or finish that module") from None
    return factory(context)


def take_options(context: GeneratorContext, name: str, defaults: dict, types: dict | None = None) -> dict:
    """``defaults`` updated with the context's options, coerced to the defaults' types (docs/options.md);
    ``types`` declares the type (or an evalkit.options.Spec) of a default that cannot tell it, e.g. None (a None
    default without one takes text). Unknown keys and values of the wrong type: one line naming the valid keys."""
    from evalkit.options import check_options, spec_from_defaults

    specs = {key: spec_from_defaults([value], (types or {}).get(key)) for key, value in defaults.items()}
    return {**defaults, **check_options(f"generator '{name}'", context.options, specs)}


def frame_size(sample) -> tuple[int, int]:
    """(height, width) of the sample's ground-truth frames (what a generated video must match)."""
    size = sample.meta.get("frame_size")
    if size:
        return int(size[0]), int(size[1])
    return sample.load_video().size


def check_frames(frames, sample, name: str) -> np.ndarray:
    """The generated frames, or a one-line error naming what is wrong with them."""
    arr = np.asarray(frames)
    want = (int(sample.num_frames), *frame_size(sample), 3)
    if arr.dtype != np.uint8 or arr.shape != want:
        raise EvalkitError(f"generator '{name}' returned {arr.dtype} {arr.shape} for {sample.id}, "
                           f"expected uint8 {want}", hint="fix the generator's output size or frame count")
    return arr
