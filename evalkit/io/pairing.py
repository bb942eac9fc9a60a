"""Pair predicted and ground-truth videos by relative path stem, and apply explicit policies.

Nothing is dropped or substituted silently: a mismatch is an error naming the files and the option
that resolves it; what an option did is recorded in the item's notes and counted in the results.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.io.video import IMAGE_EXTS, VIDEO_EXTS, Video


@dataclass(frozen=True)
class PairPaths:
    key: str  # relative path without extension, '/'-separated
    pred: Path
    gt: Path | None


def list_videos(root: Path) -> dict[str, Path]:
    """Relative stem -> path for every video file and every frame folder under ``root``."""
    root = Path(root)
    if not root.exists():
        raise EvalkitError("directory not found", path=root)
    if root.is_file():
        return {root.stem: root}
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in VIDEO_EXTS:
            key = rel.with_suffix("").as_posix()
        elif path.is_dir() and any(p.suffix.lower() in IMAGE_EXTS for p in path.iterdir() if p.is_file()):
            key = rel.as_posix()
        else:
            continue
        if key in found:
            raise EvalkitError(f"two videos share the stem '{key}': {found[key].name} and {path.name}", path=root,
                               hint="keep one per stem")
        found[key] = path
    return found


def pair_dirs(pred: str | Path, gt: str | Path | None, *, allow_extra_gt: bool = False) -> list[PairPaths]:
    pred_map = list_videos(Path(pred))
    if not pred_map:
        raise EvalkitError("no videos found", path=pred, hint=f"expected {', '.join(VIDEO_EXTS)} files or frame folders")
    if gt is None:
        return [PairPaths(k, p, None) for k, p in pred_map.items()]
    gt_map = list_videos(Path(gt))
    if not gt_map:
        raise EvalkitError("no videos found", path=gt, hint=f"expected {', '.join(VIDEO_EXTS)} files or frame folders")
    missing = sorted(set(pred_map) - set(gt_map))
    if missing:
        raise EvalkitError(f"{len(missing)} predicted video(s) have no ground truth, e.g. {pred_map[missing[0]]}",
                           path=gt, hint="name each prediction after its ground-truth video (same relative stem)")
    extra = sorted(set(gt_map) - set(pred_map))
    if extra and not allow_extra_gt:
        raise EvalkitError(f"{len(extra)} ground-truth video(s) have no prediction, e.g. {gt_map[extra[0]]}",
                           path=pred, hint="generate them, or pass --allow-missing-pred to score the subset (counted)")
    return [PairPaths(k, pred_map[k], gt_map[k]) for k in sorted(pred_map)]


def reconcile(pred: Video, gt: Video, *, length: str = "error", resize_pred_to_gt: bool = False,
              fps_tolerance: float | None = 1e-3) -> tuple[Video, Video, dict]:
    """Make a pair comparable under the chosen policies; returns the videos and notes of what was done."""
    notes: dict = {}
    if fps_tolerance is not None and abs(pred.fps - gt.fps) > fps_tolerance:
        raise EvalkitError(f"fps differ: {pred.path} {pred.fps:g} vs {gt.path} {gt.fps:g}",
                           hint="re-encode at the ground truth's fps, or pass --ignore-fps")
    if pred.fps != gt.fps:
        notes["fps_mismatch"] = 1
    if pred.size != gt.size:
        if not resize_pred_to_gt:
            raise EvalkitError(
                f"frame sizes differ: {pred.path} {pred.size[1]}x{pred.size[0]} vs {gt.path} {gt.size[1]}x{gt.size[0]}",
                hint="pass --resize-pred-to-gt (bilinear, as DisCo does)")
        import cv2

        h, w = gt.size

        def resize(frames: np.ndarray) -> np.ndarray:  # per chunk as the metrics read it: never the whole video
            return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames])

        pred = pred.mapped(resize, (h, w), {**pred.meta, "resized_from": pred.size})
        notes["resized"] = 1
    if pred.num_frames != gt.num_frames:
        if length != "truncate":
            raise EvalkitError(f"frame counts differ: {pred.path} {pred.num_frames} vs {gt.path} {gt.num_frames}",
                               hint="pass --length truncate to score the common prefix (dropped frames are counted)")
        n = min(pred.num_frames, gt.num_frames)
        notes["truncated_frames"] = pred.num_frames + gt.num_frames - 2 * n
        pred, gt = pred.head(n), gt.head(n)
    return pred, gt, notes
