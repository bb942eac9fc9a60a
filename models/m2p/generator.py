"""The ``m2p`` generator: evalkit's generator interface (evalkit/generators.py) over the m2p pipeline, beside
the model it drives. It gets only what a user has: music and a reference image (the reference keypoints are
BlazePose's on the image)."""
from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.generators import GeneratorContext, frame_size, take_options


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
        self.version = checkpoint_version(opts["checkpoint"])
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


def checkpoint_version(path) -> str:
    """``m2p@<first 8 hex of the checkpoint's sha256>``, so a retrained model is a new leaderboard version."""
    import hashlib

    from evalkit.models.m2p.pipeline import DEFAULT_CHECKPOINT

    file = Path(path) if path else DEFAULT_CHECKPOINT
    digest = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()[:8]}"
