"""On-disk cache of per-video I3D features.

An entry holds every clip feature of one video under one protocol. It is keyed by the sha256 of the
video's file content (a frame folder: names and bytes of its images; an in-memory video: its frames),
a digest of the feature-defining protocol settings, and the sha256 of the converted weights; it lives at
``cache_dir('features')/<weights>/<protocol>/<content>.npz``. The entry records the decoded frame count
and size, and a reader that decoded different frames (a trimmed pair, say) ignores it.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from evalkit.paths import cache_dir

_FIELDS = ("feats", "starts", "lengths", "seeds", "shape")


def file_digest(path: Path) -> str | None:
    """sha256 of a file, or of a folder's image files (sorted names and bytes); None if neither."""
    from evalkit.io.video import IMAGE_EXTS

    path = Path(path)
    h = hashlib.sha256()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if not files:
            return None
    else:
        return None
    for f in files:
        if path.is_dir():
            h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def frames_digest(frames: np.ndarray) -> str:
    frames = np.ascontiguousarray(frames)
    h = hashlib.sha256(f"{frames.dtype.str}{frames.shape}".encode())
    h.update(memoryview(frames).cast("B"))
    return h.hexdigest()


def protocol_digest(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


class FeatureCache:
    """get/put of per-video clip features for one (weights, protocol) pair."""

    def __init__(self, weights_sha256: str, settings: dict, root: Path | None = None):
        self.dir = Path(root) if root else cache_dir("features")
        self.dir = self.dir / f"i3d-{weights_sha256[:16]}" / protocol_digest(settings)
        self.hits = 0
        self.misses = 0

    def _path(self, content_id: str) -> Path:
        return self.dir / f"{content_id}.npz"

    def get(self, content_id: str, shape: tuple[int, int, int] | None = None) -> dict | None:
        """The entry, or None when absent, unreadable, or made from frames of another (T, H, W)."""
        path = self._path(content_id)
        try:
            with np.load(path, allow_pickle=False) as z:
                entry = {k: z[k] for k in _FIELDS}
        except (OSError, KeyError, ValueError):
            self.misses += 1
            return None
        if shape is not None and tuple(int(v) for v in entry["shape"]) != tuple(shape):
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, content_id: str, feats: np.ndarray, starts, lengths, seeds, shape) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(content_id)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, feats=np.asarray(feats, np.float32), starts=np.asarray(starts, np.int64),
                 lengths=np.asarray(lengths, np.int64), seeds=np.asarray(seeds, np.int64),
                 shape=np.asarray(shape, np.int64))
        tmp.replace(path)
