"""Pose extraction: backends behind one interface returning COCO-17 body joints per frame."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.pose.track import PoseTrack  # noqa: F401  (its own module: evalkit.pose.cache needs it too)

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


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


def backend_settings(backend: str, settings: dict) -> dict:
    """``settings`` of pose backend ``backend``, checked against its constructor's keywords (docs/options.md):
    coerced to the types of their defaults; keywords defaulting to None are passed as given (the backend checks
    them). One line naming the valid keys otherwise."""
    import inspect

    from evalkit.options import AS_GIVEN, Spec, check_options, spec_from_defaults

    specs = {}
    for name, param in inspect.signature(_resolve(backend)).parameters.items():
        if name != "video":
            given = param.default is None or param.default is inspect.Parameter.empty
            specs[name] = Spec(AS_GIVEN, nullable=True) if given else spec_from_defaults([param.default])
    return check_options(f"pose backend '{backend}'", settings, specs)


def _construct(factory, backend: str, settings: dict):
    settings = backend_settings(backend, settings)
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


def image_keypoints(image, backend: str = "blazepose", min_conf: float = 0.5, **settings) -> np.ndarray:
    """COCO-17 keypoints (17, 3) = (x, y, conf) in pixels of one RGB image (H, W, 3) uint8, through ``extract``
    (cached like a one-frame video); joints below ``min_conf``, or no person found, get conf 0."""
    from evalkit.io.video import Video

    track = extract(Video(np.asarray(image)[None], 1.0, Path("<image>")), backend, **settings)
    conf = np.where(track.conf[0] >= min_conf, track.conf[0], 0.0) if track.present[0] else np.zeros(17)
    return np.concatenate([np.nan_to_num(track.joints[0]), conf[:, None]], axis=1)


def _size_hint(video) -> float:
    """Work estimate for scheduling: frames × pixels of a decoded video, the file size of a path."""
    import os

    if hasattr(video, "frames"):
        return float(np.prod(video.frames.shape[:3]))
    try:
        return float(os.path.getsize(video))
    except OSError:
        return 0.0


def _extract_job(job):
    video, backend, cache, settings = job
    return extract(video, backend=backend, cache=cache, **settings)


def extract_many(videos, backend: str = "blazepose", jobs: int | None = None, cache: bool = True,
                 **settings) -> list[PoseTrack]:
    """:func:`extract` for each video, over ``jobs`` workers (default: one per CPU, at most one per video);
    results in input order and identical to the sequential loop. ``jobs=1`` runs in this process.

    The calling process is one of the workers: it starts on the first video while ``jobs − 1`` spawned
    processes import MediaPipe (~1.7 s each), and every worker takes the next video when it is free."""
    import os
    import threading

    videos = list(videos)
    _construct(_resolve(backend), backend, settings)  # fail on a bad backend/setting/model before forking
    jobs = min(len(videos), jobs or os.cpu_count() or 1)
    work = [(v, backend, cache, settings) for v in videos]
    if jobs <= 1:
        return [_extract_job(w) for w in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    results: list = [None] * len(work)
    errors: list[BaseException] = []
    # longest first, so the last videos handed out are short and no worker idles long at the end
    order = sorted(range(len(work)), key=lambda i: -_size_hint(videos[i]))
    lock, next_job = threading.Lock(), iter(order)

    def take() -> int | None:
        with lock:
            return None if errors else next(next_job, None)

    def feed(pool) -> None:  # one thread per pool process: hand it the next video when it is free
        while (i := take()) is not None:
            try:
                results[i] = pool.submit(_extract_job, work[i]).result()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                errors.append(exc)

    # spawn: MediaPipe/onnxruntime/torch thread pools do not survive fork safely
    with ProcessPoolExecutor(max_workers=jobs - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        feeders = [threading.Thread(target=feed, args=(pool,), daemon=True) for _ in range(jobs - 1)]
        for t in feeders:
            t.start()
        try:
            while (i := take()) is not None:
                results[i] = _extract_job(work[i])
        except BaseException as exc:
            errors.append(exc)
        for t in feeders:
            t.join()
    if errors:
        raise errors[0]
    return results
