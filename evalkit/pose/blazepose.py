"""BlazePose through MediaPipe Tasks ``PoseLandmarker`` (VIDEO running mode), mapped to COCO-17.

One fresh landmarker per video (VIDEO mode tracks across frames, so state must not leak between videos);
frame i gets timestamp round(i·1000/fps) ms. Landmarks come normalised to the frame; joints are
x·W, y·H pixels of the decoded frame. Confidence = the landmark's ``visibility`` (the model's probability
that the point is in view and not occluded — what MediaPipe's own drawing code thresholds).
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.paths import cache_dir, shared_dir

MODEL_ENV = "EVALKIT_POSE_MODEL"
VARIANTS = ("lite", "full", "heavy")
OFFICIAL_URL = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
                "pose_landmarker_{v}/float16/latest/pose_landmarker_{v}.task")

# BlazePose's 33 landmarks -> COCO-17 order (nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles)
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def find_model(model: str | Path | None = None, variant: str = "full") -> Path:
    """The bundle, first found of: ``model``; ``$EVALKIT_POSE_MODEL``; ``pose_landmarker_{variant}.task`` placed
    in ``$EVALKIT_CACHE/pose/models`` (e.g. the official asset); the shared folder's; else the pinned bundle
    assembled from the mediapipe wheel on PyPI (:mod:`evalkit.weights.blazepose`; fetched on first use)."""
    if variant not in VARIANTS:
        raise EvalkitError(f"unknown BlazePose variant '{variant}'", hint=f"choose one of: {', '.join(VARIANTS)}")
    for given, origin in ((model, "model"), (os.environ.get(MODEL_ENV), MODEL_ENV)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise EvalkitError(f"PoseLandmarker bundle not found (from {origin})", path=path,
                                   hint="pass the path of a pose_landmarker_*.task file")
            return path
    name = f"pose_landmarker_{variant}.task"
    candidates = [cache_dir("pose", "models") / name]
    if shared_dir() is not None:
        candidates.append(shared_dir() / "weights" / "pose" / name)
    for path in candidates:
        if path.is_file():
            return path
    from evalkit.weights import blazepose as registry_bundle

    if variant not in registry_bundle.BUNDLES:
        raise EvalkitError(f"no PoseLandmarker bundle '{name}'", path=candidates[0].parent,
                           hint=f"download {OFFICIAL_URL.format(v=variant)} there, set {MODEL_ENV}, or pass model=PATH")
    try:
        return registry_bundle.bundle(variant)
    except EvalkitError as err:
        raise EvalkitError(f"no BlazePose bundle ({err})",
                           hint=f"or set {MODEL_ENV}=pose_landmarker_{variant}.task") from None


def timestamps_ms(num_frames: int, fps: float) -> np.ndarray:
    """round(i·1000/fps), forced strictly increasing (VIDEO mode rejects repeated timestamps above 1000 fps)."""
    if not fps or fps <= 0:
        raise EvalkitError("video has no frame rate", hint="pass fps= or re-encode it with one")
    index = np.arange(num_frames)
    ts = np.round(index * 1000.0 / fps).astype(np.int64)
    # ts[i] >= ts[i-1] + 1  <=>  ts[i] - i is non-decreasing
    return np.maximum.accumulate(ts - index) + index


@contextlib.contextmanager
def native_stderr_to(sink):
    """Point file descriptor 2 at ``sink`` (MediaPipe's C++ logging bypasses Python's sys.stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _log_tail(sink, lines: int = 3) -> str:
    sink.seek(0)
    text = sink.read().decode(errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


class BlazePose:
    name = "blazepose"

    def __init__(self, model: str | Path | None = None, variant: str = "full",
                 min_pose_detection_confidence: float = 0.5, min_pose_presence_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        from evalkit.pose.cache import file_sha256

        self.model = find_model(model, variant)
        self.model_sha256 = file_sha256(self.model)
        self.settings = {
            "running_mode": "VIDEO", "num_poses": 1, "timestamps": "round(i*1000/fps) ms",
            "min_pose_detection_confidence": float(min_pose_detection_confidence),
            "min_pose_presence_confidence": float(min_pose_presence_confidence),
            "min_tracking_confidence": float(min_tracking_confidence),
            "confidence": "visibility", "coordinates": "x*W, y*H",
        }

    def identity(self) -> dict:
        """What determines the output (goes into the cache key and into every result)."""
        return {"model": self.model.name, "model_sha256": self.model_sha256, "settings": self.settings}

    def runtime(self) -> dict:
        import mediapipe

        return {"mediapipe": mediapipe.__version__}

    def __call__(self, frames: np.ndarray, fps: float):
        """frames (T,H,W,3) uint8 RGB -> joints (T,17,2) px, conf (T,17), present (T,)."""
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        num, height, width = frames.shape[:3]
        joints = np.full((num, 17, 2), np.nan)
        conf = np.zeros((num, 17))
        present = np.zeros(num, dtype=bool)
        stamps = timestamps_ms(num, fps)
        s = self.settings
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model)), running_mode=vision.RunningMode.VIDEO,
            num_poses=1, min_pose_detection_confidence=s["min_pose_detection_confidence"],
            min_pose_presence_confidence=s["min_pose_presence_confidence"],
            min_tracking_confidence=s["min_tracking_confidence"])
        scale = np.array([width, height], dtype=np.float64)
        with tempfile.TemporaryFile() as log:
            with native_stderr_to(log):
                try:
                    landmarker = vision.PoseLandmarker.create_from_options(options)
                except Exception as err:
                    failure = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                    landmarker = None
            if landmarker is None:
                raise EvalkitError(f"cannot load PoseLandmarker bundle ({failure}; {_log_tail(log)})",
                                   path=self.model, hint="pass an official pose_landmarker_*.task file")
            with native_stderr_to(log), landmarker:
                for i in range(num):
                    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frames[i]))
                    result = landmarker.detect_for_video(image, int(stamps[i]))
                    if not result.pose_landmarks:
                        continue  # no person: NaN joints, conf 0
                    marks = result.pose_landmarks[0]
                    arr = np.array([(marks[j].x, marks[j].y, marks[j].visibility) for j in BLAZEPOSE_TO_COCO17],
                                   dtype=np.float64)
                    joints[i] = arr[:, :2] * scale
                    conf[i] = np.clip(arr[:, 2], 0.0, 1.0)
                    present[i] = True
        return joints, conf, present
