"""On-disk cache of pose tracks, keyed by what determines them.

Key = sha256 over (backend, model file sha256, the settings that change the output, the decoded frames'
sha256 and fps). Frames are hashed after decoding, so a path and an already-decoded :class:`Video` of the
same file share one entry, and a resized or re-timed copy never hits a stale one. Entries are
``$EVALKIT_CACHE/pose/<backend>/<key>.npz``, written atomically (workers of ``extract_many`` write
concurrently).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from evalkit.paths import cache_dir

FORMAT_VERSION = 1  # bump when the stored layout or any backend's post-processing changes


def frames_sha256(frames: np.ndarray) -> str:
    """sha256 of decoded uint8 frames (T, H, W, 3), shape included."""
    arr = np.ascontiguousarray(frames)
    h = frames_hasher(arr.shape, arr.dtype)
    h.update(memoryview(arr.reshape(-1)).cast("B"))
    return h.hexdigest()


def frames_hasher(shape: tuple, dtype=np.uint8):
    """The sha256 object of ``frames_sha256`` before any frame: feed it a video's chunks in order (C-contiguous
    bytes) and its digest equals ``frames_sha256`` of the whole (T, H, W, 3) array of ``shape``."""
    return hashlib.sha256(f"{np.dtype(dtype).str}|{tuple(int(n) for n in shape)}|".encode())


def cache_key(backend: str, identity: dict, content_sha256: str, fps: float) -> str:
    payload = {"v": FORMAT_VERSION, "backend": backend, "identity": identity, "content": content_sha256,
               "fps": round(float(fps), 9)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def entry_path(backend: str, key: str) -> Path:
    return cache_dir("pose", backend) / f"{key}.npz"


def load(backend: str, key: str):
    """The cached PoseTrack, or None (missing or unreadable entries are recomputed)."""
    from evalkit.pose.track import PoseTrack

    path = entry_path(backend, key)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return PoseTrack(
                joints=z["joints"].astype(np.float64), conf=z["conf"].astype(np.float64),
                present=z["present"].astype(bool), fps=float(z["fps"]),
                size=(int(z["size"][0]), int(z["size"][1])), info=json.loads(str(z["info"])),
            )
    except Exception:  # a truncated/corrupt entry: ignore it, it is rewritten after recomputing
        return None


def save(backend: str, key: str, track) -> Path:
    path = entry_path(backend, key)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, joints=track.joints, conf=track.conf, present=track.present,
                 fps=np.float64(track.fps), size=np.asarray(track.size, dtype=np.int64),
                 info=np.str_(json.dumps(track.info, sort_keys=True, default=str)))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


_FILE_SHA: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a model file, memoised per process by (path, size, mtime) — the DWPose detector is 200+ MB."""
    from evalkit.weights.registry import sha256_file

    path = Path(path).resolve()
    st = path.stat()
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if memo not in _FILE_SHA:
        _FILE_SHA[memo] = sha256_file(path)
    return _FILE_SHA[memo]
