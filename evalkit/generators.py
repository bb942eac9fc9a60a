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
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from evalkit.errors import EvalkitError

#: name -> "module:factory"; the order is the leaderboard's row order
GENERATORS: dict[str, str] = {
    "m2p": "evalkit.generators:M2P",
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


class M2P:
    """Adapter from the m2p pipeline's ``generate(music, reference, num_frames, fps, seed)`` to this interface."""

    name = "m2p"
    #: the types of the options whose default (None: the checkpoint's own) cannot tell them
    option_types = {"checkpoint": str, "steps": int, "cfg_scale": float, "init_strength": float,
                    "keep_reference": float, "guidance_source": str, "keypoint_anchor": int, "retarget": bool,
                    "estimate_reference": bool}

    def __init__(self, context: GeneratorContext):
        opts = take_options(context, self.name, {"checkpoint": None, "steps": None, "cfg_scale": None,
                                                 "init_strength": None, "keep_reference": None,
                                                 "guidance_source": None, "keypoint_anchor": None, "retarget": None,
                                                 "estimate_reference": True}, types=self.option_types)
        try:
            from evalkit.models.m2p.pipeline import M2PPipeline
        except ImportError as err:
            raise EvalkitError(f"generator 'm2p' is not available: cannot import evalkit.models.m2p.pipeline "
                               f"({type(err).__name__}: {err})") from None
        kw = {k: opts[k] for k in self.option_types if k != "checkpoint" and opts[k] is not None}
        self.estimate_reference = kw.pop("estimate_reference")  # the adapter's, not the pipeline's
        self.sampling = kw
        self.pipe = M2PPipeline.from_checkpoint(opts["checkpoint"], device=context.device, **kw)
        self.checkpoint = opts["checkpoint"]
        self.version = _checkpoint_version(opts["checkpoint"])
        self.counts = {"resized_to_ground_truth": 0}
        self._lock = threading.Lock()  # the pose estimator, shared by concurrent generate() calls
        self._count_lock = threading.Lock()
        self._idle = queue.SimpleQueue()  # pipelines free to use: one per concurrent call
        self._idle.put(self.pipe)
        self._pipes = 1

    def concurrent(self, n: int) -> int:
        """Up to ``n`` generate() calls at once, each on its own copy of the pipeline (the model keeps a call's
        state in its reference bank). On CPU this fills cores that one call's small tensors leave idle; on a
        GPU, one call at a time."""
        if self.pipe.sampler.device.type != "cpu":
            return 1
        import copy

        while self._pipes < n:
            self._idle.put(copy.deepcopy(self.pipe))
            self._pipes += 1
        return self._pipes

    def generate(self, sample, *, music: Path | None = None, seed: int = 0) -> np.ndarray:
        with self._lock:
            keypoints = self.reference_keypoints(sample)
        pipe = self._idle.get()
        try:
            frames = pipe.generate(music or sample.music, sample.reference, sample.num_frames, sample.fps, seed,
                                   reference_keypoints=keypoints)
            retarget = pipe.last_retarget
        finally:
            self._idle.put(pipe)
        if retarget is not None:  # keypoints on the reference's body, or why not
            self._count("keypoints_" + retarget.replace(" ", "_"))
        h, w = frame_size(sample)
        if frames.shape[1:3] != (h, w):  # the pipeline keeps the reference image's size
            import cv2

            self._count("resized_to_ground_truth")
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        return frames

    def reference_keypoints(self, sample):
        """The reference image's keypoints as a user has them: BlazePose's on the image, on every split (counted;
        without the backend, counted and left out). ``estimate_reference=0`` reads the split's annotation instead
        (on synth the renderer's exact keypoints, an input no user has; counted as such)."""
        if not self.pipe.uses_reference_keypoints:
            return None
        if not self.estimate_reference:
            if sample.reference_joints2d is not None:
                self._count("reference_keypoints_from_split")
            return sample.reference_joints2d
        from evalkit.models.m2p.pipeline import load_reference
        from evalkit.pose import image_keypoints

        try:
            kp = image_keypoints(load_reference(sample.reference))
        except (EvalkitError, ImportError):
            self._count("reference_keypoints_unavailable")
            return None
        self._count("reference_keypoints_estimated")
        from evalkit.models.m2p.keypoint_guidance import face_the_camera

        kp, turned = face_the_camera(kp)  # M2PEnc knows dancers facing the camera; the estimator may mirror them
        if turned:
            self._count("reference_keypoints_sides_swapped")
        return kp

    def _count(self, key: str) -> None:
        with self._count_lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def info(self) -> dict:
        return {"checkpoint": str(self.checkpoint) if self.checkpoint else "default", "sampling": dict(self.sampling),
                "reference_keypoints": "blazepose on the reference image" if self.estimate_reference
                else "the split's annotation", "counts": dict(self.counts)}


def _checkpoint_version(path) -> str:
    """``m2p@<first 8 hex of the checkpoint's sha256>``, so a retrained model is a new leaderboard version."""
    import hashlib

    from evalkit.models.m2p.pipeline import DEFAULT_CHECKPOINT

    file = Path(path) if path else DEFAULT_CHECKPOINT
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()[:8]}"
