"""COCO-17 joints read from files beside the videos (no pose model run).

For a video ``DIR/NAME.mp4`` the file is ``DIR/NAME.{pkl,npy,json}`` (or the same name in
``keypoints_dir``); for an AIST++ video name (``gBR_sBM_c01_d04_mBR0_ch01``) also the multi-view sequence
file ``gBR_sBM_cAll_d04_mBR0_ch01.pkl``. Coordinates must be pixels of that video's frames.

* ``.pkl`` — AIST++ ``keypoints2d``: a dict with ``keypoints2d`` (9 views, T, 17, 3) = (x, y, score),
  NaN where nobody was detected, ``det_scores`` (9, T) and ``timestamps`` (T,). Views are c01…c09 in
  order; the camera is ``camera=`` if given, else the ``_cNN_`` of the video name, else c09. A
  single-view (T, 17, 3) array is accepted too. Read with a numpy-only unpickler (never runs code).
* ``.npy`` — (T, 17, 2) or (T, 17, 3); NaN marks missing joints; without a score column conf = 1 where finite.
* ``.json`` — a list (or ``{"keypoints": [...]}``) with one entry per frame: ``null``/``[]`` for no person,
  else 17 ``[x, y]`` or ``[x, y, score]``.

A frame has a person when some joint is finite with score > 0 (and, for AIST++, det_score > 0).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

AIST_VIEWS = tuple(f"c{i:02d}" for i in range(1, 10))
DEFAULT_CAMERA = "c09"
EXTS = (".pkl", ".npy", ".json")
_AIST_VIEW = re.compile(r"_(c0[1-9])_")


def find_file(video_path: Path, path: str | Path | None = None, keypoints_dir: str | Path | None = None) -> Path:
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise EvalkitError("keypoints file not found", path=path, hint="pass an existing .pkl/.npy/.json")
        return path
    video_path = Path(video_path)
    folder = Path(keypoints_dir) if keypoints_dir is not None else video_path.parent
    stems = [video_path.stem]
    if _AIST_VIEW.search(video_path.stem):
        stems.append(_AIST_VIEW.sub("_cAll_", video_path.stem, count=1))
    found = [folder / f"{stem}{ext}" for stem in stems for ext in EXTS if (folder / f"{stem}{ext}").is_file()]
    if not found:
        raise EvalkitError(f"no keypoints file for this video (looked for {stems[0]}.pkl/.npy/.json in {folder})",
                           path=video_path, hint="write one beside it, or pass keypoints_dir= / path=")
    if len(found) > 1:
        raise EvalkitError(f"several keypoints files match: {', '.join(p.name for p in found)}", path=video_path,
                           hint="keep one, or pass path=")
    return found[0]


def choose_camera(video_path: Path | None, camera: str | int | None) -> str:
    if camera is not None:
        name = f"c{int(camera):02d}" if isinstance(camera, int) or str(camera).isdigit() else str(camera)
        if name not in AIST_VIEWS:
            raise EvalkitError(f"unknown AIST++ camera '{camera}'", hint=f"choose one of {', '.join(AIST_VIEWS)}")
        return name
    match = _AIST_VIEW.search(Path(video_path).stem) if video_path is not None else None
    return match.group(1) if match else DEFAULT_CAMERA


def read_pkl(file: Path, camera: str) -> tuple[np.ndarray, np.ndarray | None, dict]:
    from evalkit.weights.unpickle import loads_numpy_only

    try:
        data = loads_numpy_only(file.read_bytes())
    except Exception as err:
        raise EvalkitError(f"cannot read keypoints pickle ({type(err).__name__}: {err})", path=file,
                           hint="expected an AIST++ keypoints2d .pkl of numpy arrays") from None
    det = None
    if isinstance(data, dict):
        if "keypoints2d" not in data:
            raise EvalkitError(f"pickle has keys {sorted(map(str, data))}, no 'keypoints2d'", path=file,
                               hint="expected an AIST++ keypoints2d .pkl")
        kp, det = data["keypoints2d"], data.get("det_scores")
    else:
        kp = data
    kp = np.asarray(kp)
    if kp.dtype == object:
        raise EvalkitError("keypoints2d holds ragged per-person lists (the whole-body OpenPose variant)", path=file,
                           hint="convert it to a (T, 17, 3) .npy")
    meta = {"format": "aist++ pkl"}
    if kp.ndim == 4:
        if kp.shape[0] != len(AIST_VIEWS):
            raise EvalkitError(f"keypoints2d has {kp.shape[0]} views, expected 9 (c01…c09)", path=file)
        view = AIST_VIEWS.index(camera)
        kp = kp[view]
        det = None if det is None else np.asarray(det, dtype=np.float64)[view]
        meta["camera"] = camera
    elif det is not None:
        det = np.asarray(det, dtype=np.float64).reshape(-1)
    return kp, det, meta


def read_json(file: Path) -> np.ndarray:
    try:
        data = json.loads(file.read_text())
    except Exception as err:
        raise EvalkitError(f"cannot read keypoints JSON ({err})", path=file, hint="fix or regenerate it") from None
    if isinstance(data, dict):
        data = data.get("keypoints", data.get("keypoints2d"))
    if not isinstance(data, list):
        raise EvalkitError("keypoints JSON must be a list of frames or {'keypoints': [...]}", path=file)
    frames = np.full((len(data), 17, 3), np.nan)
    for i, entry in enumerate(data):
        if not entry:
            continue  # null / []: no person in this frame
        arr = np.asarray(entry, dtype=np.float64)
        if arr.shape not in ((17, 2), (17, 3)):
            raise EvalkitError(f"frame {i} has shape {arr.shape}, expected 17 [x, y] or [x, y, score]", path=file)
        frames[i, :, :2] = arr[:, :2]
        frames[i, :, 2] = arr[:, 2] if arr.shape[1] == 3 else 1.0
    return frames


def to_track_arrays(kp: np.ndarray, det: np.ndarray | None = None):
    """(T,17,2|3) with NaN for missing -> joints (T,17,2), conf (T,17), present (T,) under the PoseTrack contract."""
    kp = np.asarray(kp, dtype=np.float64)
    joints = kp[..., :2].copy()
    finite = np.isfinite(joints).all(axis=-1)
    score = kp[..., 2] if kp.shape[-1] == 3 else np.ones(kp.shape[:2])
    conf = np.where(finite & np.isfinite(score), np.clip(score, 0.0, 1.0), 0.0)
    present = (conf > 0).any(axis=1)
    if det is not None:
        present &= np.nan_to_num(det, nan=0.0) > 0
    joints[~finite] = np.nan
    joints[~present] = np.nan
    conf[~present] = 0.0
    return joints, conf, present


def read_keypoints(file: Path, camera: str = DEFAULT_CAMERA) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    suffix = file.suffix.lower()
    det, meta = None, {"format": suffix[1:]}
    if suffix == ".pkl":
        kp, det, meta = read_pkl(file, camera)
    elif suffix == ".npy":
        try:
            kp = np.load(file, allow_pickle=False)
        except Exception as err:
            raise EvalkitError(f"cannot read .npy ({err})", path=file, hint="save a plain float array") from None
    elif suffix == ".json":
        kp = read_json(file)
    else:
        raise EvalkitError(f"unsupported keypoints file type '{suffix}'", path=file, hint=f"use {', '.join(EXTS)}")
    if kp.ndim != 3 or kp.shape[1:] not in ((17, 2), (17, 3)) or not np.issubdtype(kp.dtype, np.number):
        raise EvalkitError(f"keypoints have shape {kp.shape}, expected (T, 17, 2) or (T, 17, 3) COCO-17", path=file,
                           hint="reshape flat (T, 34) arrays to (T, 17, 2) pixels first")
    if det is not None and det.shape[0] != kp.shape[0]:
        raise EvalkitError(f"det_scores has {det.shape[0]} frames, keypoints2d {kp.shape[0]}", path=file)
    joints, conf, present = to_track_arrays(kp, det)
    return joints, conf, present, meta


def probe_video(video) -> tuple[int, float, tuple[int, int]]:
    """(frames, fps, (height, width)) without decoding pixels (AIST++ videos are 1080p and minutes long)."""
    from evalkit.io.video import Video, decode_video

    if isinstance(video, Video):
        return video.num_frames, video.fps, video.size
    path = Path(video)
    if path.is_dir():
        v = decode_video(path)
        return v.num_frames, v.fps, v.size
    if not path.is_file():
        raise EvalkitError("no such video file", path=path)
    import av

    from evalkit.io.video import _stream_fps

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise EvalkitError("has no video stream", path=path, hint="pass a video file")
            stream = container.streams.video[0]
            size = (int(stream.codec_context.height), int(stream.codec_context.width))
            # count packets rather than trust the header's frame count (absent in some containers)
            frames = sum(1 for packet in container.demux(stream) if packet.size)
            return frames, _stream_fps(stream), size
    except EvalkitError:
        raise
    except Exception as err:
        raise EvalkitError(f"cannot open video ({type(err).__name__})", path=path, hint="re-encode it") from None


def load(video, path: str | Path | None = None, keypoints_dir: str | Path | None = None,
         camera: str | int | None = None):
    """PoseTrack for ``video`` (a path or a decoded Video) from its keypoints file."""
    from evalkit.io.video import Video
    from evalkit.pose import PoseTrack
    from evalkit.pose.cache import file_sha256

    video_path = video.path if isinstance(video, Video) else Path(video)
    file = find_file(video_path, path, keypoints_dir)
    cam = choose_camera(video_path, camera)
    joints, conf, present, meta = read_keypoints(file, cam)
    num, fps, size = probe_video(video)
    if joints.shape[0] != num:
        raise EvalkitError(f"keypoints have {joints.shape[0]} frames, the video {num}", path=file,
                           hint=f"write one entry per frame of {video_path.name}")
    info = {"backend": "keypoints", "model": file.name, "model_sha256": file_sha256(file),
            "settings": {"camera": meta.get("camera"), "format": meta["format"]},
            "frames": int(num), "frames_with_person": int(present.sum())}
    return PoseTrack(joints=joints, conf=conf, present=present, fps=float(fps), size=size, info=info)
