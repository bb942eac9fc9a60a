"""Pose extraction: backends behind one interface returning COCO-17 body joints per frame."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


@dataclass
class PoseTrack:
    """Body joints of one video.

    joints: (T, 17, 2) float64 pixel coordinates (x, y) in the decoded frame; NaN where no person.
    conf:   (T, 17) float64 confidences in [0, 1]; 0 where no person.
    present: (T,) bool, a person was found in the frame.
    info: backend, model file sha256, settings — recorded in every result that uses the track.
    """

    joints: np.ndarray
    conf: np.ndarray
    present: np.ndarray
    fps: float
    size: tuple[int, int]  # (height, width) of the frames the joints refer to
    info: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


#: backend name -> "module:Class" (model backends) or "module:function" (keypoints files)
BACKENDS = {
    "blazepose": "evalkit.pose.blazepose:BlazePose",
    "dwpose": "evalkit.pose.dwpose:DWPose",
    "keypoints": "evalkit.pose.keypoints:load",
}


def _resolve(backend: str):
    import importlib

    if backend not in BACKENDS:
        from evalkit.errors import EvalkitError

        raise EvalkitError(f"unknown pose backend '{backend}'", hint=f"choose one of: {', '.join(BACKENDS)}")
    module, attr = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), attr)


def _construct(factory, backend: str, settings: dict):
    import inspect

    from evalkit.errors import EvalkitError

    known = [p for p in inspect.signature(factory).parameters if p != "video"]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise EvalkitError(f"pose backend '{backend}' has no setting(s) {', '.join(unknown)}",
                           hint=f"its settings: {', '.join(known)}")
    return factory(**settings) if backend != "keypoints" else None


def extract(video, backend: str = "blazepose", cache: bool = True, **settings) -> PoseTrack:
    """COCO-17 joints of ``video`` (a path or an :class:`evalkit.io.video.Video`) with ``backend``.

    Model backends (blazepose, dwpose) are cached under ``$EVALKIT_CACHE/pose`` by decoded-frame content
    hash, model sha256 and settings; ``info`` records backend, model, model sha256, settings, the content
    hash and the runtime versions. ``keypoints`` reads joints from a file beside the video (never cached).
    """
    from evalkit.io.video import Video, decode_video
    from evalkit.pose import cache as pose_cache

    factory = _resolve(backend)
    model = _construct(factory, backend, settings)
    if model is None:
        return factory(video, **settings)
    decoded = video if isinstance(video, Video) else decode_video(video)
    content = pose_cache.frames_sha256(decoded.frames)
    identity = model.identity()
    key = pose_cache.cache_key(backend, identity, content, decoded.fps)
    if cache:
        hit = pose_cache.load(backend, key)
        if hit is not None:
            return hit
    joints, conf, present = model(decoded.frames, decoded.fps)
    info = {"backend": backend, **identity, "video_sha256": content, "frames": decoded.num_frames,
            "frames_with_person": int(present.sum()), **model.runtime()}
    track = PoseTrack(joints=joints, conf=conf, present=present, fps=float(decoded.fps), size=decoded.size, info=info)
    if cache:
        pose_cache.save(backend, key, track)
    return track


def _extract_job(job):
    video, backend, cache, settings = job
    return extract(video, backend=backend, cache=cache, **settings)


def extract_many(videos, backend: str = "blazepose", jobs: int | None = None, cache: bool = True,
                 **settings) -> list[PoseTrack]:
    """:func:`extract` for each video, over ``jobs`` worker processes (default: one per CPU, at most one per
    video); results in input order and identical to the sequential loop. ``jobs=1`` runs in this process."""
    import os

    videos = list(videos)
    _construct(_resolve(backend), backend, settings)  # fail on a bad backend/setting/model before forking
    jobs = min(len(videos), jobs or os.cpu_count() or 1)
    work = [(v, backend, cache, settings) for v in videos]
    if jobs <= 1:
        return [_extract_job(w) for w in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: MediaPipe/onnxruntime/torch thread pools do not survive fork safely
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_extract_job, work))
