"""Training data for posedit: split Samples → pose clips on the canvas, music features, reference poses.

Per sample: the annotated COCO-17 joints (``joints2d``) resampled to the model frame rate by linear
interpolation at times i/fps, the 35-d music features at that rate (m2p's front-end), and the reference pose
(:func:`reference_pose`: the pose the reference image shows). Poses are stored in unit canvas coordinates of
the canvas the reference pose defines. Batches apply the same random mirror (left ↔ right) and scale/shift
jitter to a window's poses and its reference, drawn from a ``torch.Generator`` whose state is saved with the
training state, so a resumed run draws the batches an uninterrupted run would.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from evalkit.errors import EvalkitError

from .codec import Canvas, clip_unit, flip_unit
from .config import PoseDiTConfig

JITTER_SCALE = 0.1  # canvas scale drawn from 1 ± this
JITTER_SHIFT = 0.04  # canvas shift (fraction of its side) drawn from ± this


def reference_pose(sample, pose_backend: str = "blazepose") -> tuple[np.ndarray, np.ndarray, str]:
    """(keypoints (17, 2) pixels, confidences (17,), source) of the pose shown by ``sample.reference``.

    SDGPip samples: the dancer's neutral stance (which the reference image renders) projected exactly through
    the dataset camera. Else the first annotated frame when the reference is the video's first frame, or the
    pose backend run on the reference image (evalkit.baselines.look)."""
    from evalkit.baselines.look import SynthLook, load_reference, reference_pose as look_reference_pose, sdgpip_clip

    found = sdgpip_clip(sample)
    if found is not None:
        from evalkit.data.synth.motion import neutral_pose
        from evalkit.data.synth.render import coco17_points

        look = SynthLook(*found)
        kp, _ = look.camera.project(coco17_points(neutral_pose(look.dancer)[None]))
        return kp[0], np.ones(17), "SDGPip neutral pose (exact)"
    image, _ = load_reference(sample)
    return look_reference_pose(sample, image, pose_backend)


def resample_joints(joints: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """(T, 17, 3) joints (x, y, conf) at ``src_fps`` → (n, 17, 3) at ``fps`` by linear interpolation at times i/fps
    (n frames inside the source); a joint is invalid (conf 0, NaN) where either neighbour is."""
    kp = np.asarray(joints, dtype=np.float64)
    n = int(math.floor((len(kp) - 1) * fps / src_fps + 1e-6)) + 1
    pos = np.arange(n) * src_fps / fps
    lo = np.minimum(np.floor(pos + 1e-9).astype(int), len(kp) - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    nxt = np.where(w > 1e-9, np.minimum(lo + 1, len(kp) - 1), lo)  # on a source frame: that frame alone
    ok = np.isfinite(kp[..., :2]).all(-1) & (np.nan_to_num(kp[..., 2]) > 0)
    valid = ok[lo] & ok[nxt]
    out = np.empty((n, kp.shape[1], 3))
    out[..., :2] = kp[lo, :, :2] * (1 - w)[:, None, None] + kp[nxt, :, :2] * w[:, None, None]
    out[..., 2] = np.minimum(kp[lo, :, 2], kp[nxt, :, 2])
    out[~valid] = (np.nan, np.nan, 0.0)
    return out


@dataclass
class PoseClip:
    id: str
    unit: np.ndarray  # (n, 17, 2) float32 canvas coordinates
    valid: np.ndarray  # (n, 17) bool
    music: np.ndarray  # (n, D) float32
    ref_unit: np.ndarray  # (17, 2)
    ref_valid: np.ndarray  # (17,)
    canvas: Canvas

    @property
    def num_frames(self) -> int:
        return len(self.unit)


def load_clip(sample, cfg: PoseDiTConfig, pose_backend: str = "blazepose") -> tuple[PoseClip, dict]:
    """One Sample → PoseClip and counts (joints clipped to the canvas)."""
    from evalkit.models.m2p.music import music_features

    if sample.joints2d is None:
        raise EvalkitError(f"sample '{sample.id}' has no 2D joints (posedit trains on annotated poses)",
                           path=sample.video, hint="train on a split with joints2d (synth, aistpp)")
    joints = resample_joints(sample.joints2d, sample.fps, cfg.fps)
    ref, ref_conf, _ = reference_pose(sample, pose_backend)
    canvas = Canvas.from_reference(ref, cfg.canvas_torsos)
    valid = np.isfinite(joints[..., :2]).all(-1) & (joints[..., 2] > 0)
    unit, clipped = clip_unit(torch.from_numpy(canvas.to_unit(joints[..., :2])), torch.from_numpy(valid))
    ref_valid = np.isfinite(ref).all(-1) & (np.asarray(ref_conf) >= 0.3)
    ref_unit, ref_clipped = clip_unit(torch.from_numpy(canvas.to_unit(ref)), torch.from_numpy(ref_valid))
    music = music_features(sample.music, cfg.fps, len(joints), cfg.music_frontend)
    clip = PoseClip(sample.id, np.nan_to_num(unit.numpy()).astype(np.float32), valid, music,
                    np.nan_to_num(ref_unit.numpy()).astype(np.float32), ref_valid, canvas)
    return clip, {"joints_clipped": clipped + ref_clipped, "joints_invalid": int((~valid).sum())}


def _load_job(job):
    sample, cfg = job
    return load_clip(sample, cfg)


def load_clips(samples, cfg: PoseDiTConfig, echo=print, jobs: int = 1, cache: bool = True) -> tuple[list[PoseClip], dict]:
    """Every sample as a PoseClip (``jobs`` worker processes for the music features), with counts. The result is
    cached as an npz under ``$EVALKIT_CACHE/posedit/clips`` keyed by the samples' files and the config's data
    settings, so a second training run starts at once."""
    samples = list(samples)
    path = _cache_path(samples, cfg) if cache else None
    if path is not None and path.is_file():
        clips, counts = _read_cache(path)
        echo(f"clips from the cache {path}")
    else:
        counts = {"joints_clipped": 0, "joints_invalid": 0}
        work = [(sample, cfg) for sample in samples]
        if jobs > 1 and len(work) > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: librosa/torch thread pools do not survive fork safely
            with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
                results = []
                for i, r in enumerate(pool.map(_load_job, work, chunksize=4)):
                    results.append(r)
                    echo(f"\rloading clips {i + 1}/{len(work)}", end="" if i + 1 < len(work) else "\n")
        else:
            results = []
            for i, w in enumerate(work):
                results.append(_load_job(w))
                echo(f"\rloading clips {i + 1}/{len(work)}", end="" if i + 1 < len(work) else "\n")
        clips = []
        for clip, c in results:
            for k, v in c.items():
                counts[k] += v
            clips.append(clip)
        if path is not None:
            _write_cache(path, clips, counts)
    short = [c for c in clips if c.num_frames < cfg.window]
    counts = {**counts, "clips_too_short": len(short)}  # shorter than one training window: counted, not used
    clips = [c for c in clips if c.num_frames >= cfg.window]
    if not clips:
        raise EvalkitError(f"no training clip has {cfg.window} frames at {cfg.fps:g} fps",
                           hint="use longer clips or a config with a shorter window")
    return clips, counts


def _cache_path(samples, cfg: PoseDiTConfig):
    import hashlib
    import json
    from pathlib import Path

    from evalkit.paths import cache_dir

    def stamp(path):
        try:
            st = Path(path).stat()
            return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]
        except (OSError, TypeError):
            return [str(path)]

    key = [[s.id, s.fps, stamp(s.music), stamp(s.meta.get("keypoints2d_file") or s.video), stamp(s.reference)]
           for s in samples]
    key.append([cfg.fps, cfg.music_frontend, cfg.canvas_torsos, 1])  # 1: cache layout version
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir("posedit", "clips") / f"clips-{digest}.npz"


def _write_cache(path, clips: list[PoseClip], counts: dict) -> None:
    import json
    import os

    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, ids=np.array([c.id for c in clips]), lengths=np.array([c.num_frames for c in clips]),
             unit=np.concatenate([c.unit for c in clips]), valid=np.concatenate([c.valid for c in clips]),
             music=np.concatenate([c.music for c in clips]), ref_unit=np.stack([c.ref_unit for c in clips]),
             ref_valid=np.stack([c.ref_valid for c in clips]),
             canvas=np.array([[c.canvas.x0, c.canvas.y0, c.canvas.side] for c in clips]),
             counts=np.array(json.dumps(counts)))
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file


def _read_cache(path) -> tuple[list[PoseClip], dict]:
    import json

    with np.load(path, allow_pickle=False) as z:
        ends = np.cumsum(z["lengths"])
        starts = ends - z["lengths"]
        clips = [PoseClip(str(z["ids"][i]), z["unit"][a:e], z["valid"][a:e], z["music"][a:e], z["ref_unit"][i],
                          z["ref_valid"][i], Canvas(*map(float, z["canvas"][i])))
                 for i, (a, e) in enumerate(zip(starts, ends))]
        return clips, json.loads(str(z["counts"]))


class ClipBank:
    """All clips as tensors on one device, and seeded batch drawing with augmentation."""

    def __init__(self, clips: list[PoseClip], cfg: PoseDiTConfig, device="cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        self.ids = [c.id for c in clips]
        self.lengths = torch.tensor([c.num_frames for c in clips])
        to = lambda a: torch.as_tensor(np.asarray(a)).to(self.device)  # noqa: E731
        self.unit = [to(c.unit).float() for c in clips]
        self.valid = [to(c.valid) for c in clips]
        self.music = [to(c.music).float() for c in clips]
        self.ref_unit = torch.stack([to(c.ref_unit).float() for c in clips])
        self.ref_valid = torch.stack([to(c.ref_valid) for c in clips])

    def music_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        allm = torch.cat(self.music)
        return allm.mean(0), allm.std(0)

    def _augment(self, unit, valid, ref, ref_valid, gen):
        """Same mirror and scale/shift for a window and its reference."""
        b = unit.shape[0]
        flip = torch.rand(b, generator=gen, device=self.device) < 0.5
        fu, fv = flip_unit(unit, valid)
        fr, frv = flip_unit(ref, ref_valid)
        sel = flip.view(b, *([1] * (unit.ndim - 1)))
        unit, valid = torch.where(sel, fu, unit), torch.where(flip.view(b, *([1] * (valid.ndim - 1))), fv, valid)
        ref, ref_valid = torch.where(flip.view(b, 1, 1), fr, ref), torch.where(flip.view(b, 1), frv, ref_valid)
        scale = 1 + JITTER_SCALE * (2 * torch.rand(b, generator=gen, device=self.device) - 1)
        shift = JITTER_SHIFT * (2 * torch.rand(b, 2, generator=gen, device=self.device) - 1)
        move = lambda u: (u - 0.5) * scale.view(b, *([1] * (u.ndim - 1))) + 0.5 + shift.view(b, *([1] * (u.ndim - 2)), 2)  # noqa: E731
        unit, _ = clip_unit(move(unit), valid)
        ref, _ = clip_unit(move(ref), ref_valid)
        return unit, valid, ref, ref_valid

    def windows(self, n: int, frames: int, gen: torch.Generator) -> dict:
        """``n`` random windows of ``frames`` frames (clips drawn in proportion to their windows)."""
        spans = (self.lengths - frames + 1).clamp_min(0).double()
        u = torch.rand(2, n, generator=gen, device=self.device, dtype=torch.float64).cpu()
        pick = torch.searchsorted(spans.cumsum(0), u[0] * spans.sum(), right=True).clamp_max(len(spans) - 1)
        starts = (u[1] * spans[pick]).long()
        unit = torch.stack([self.unit[c][s:s + frames] for c, s in zip(pick.tolist(), starts.tolist())])
        valid = torch.stack([self.valid[c][s:s + frames] for c, s in zip(pick.tolist(), starts.tolist())])
        music = torch.stack([self.music[c][s:s + frames] for c, s in zip(pick.tolist(), starts.tolist())])
        idx = pick.to(self.device)
        unit, valid, ref, ref_valid = self._augment(unit, valid, self.ref_unit[idx], self.ref_valid[idx], gen)
        return {"unit": unit, "valid": valid, "music": music, "ref_unit": ref, "ref_valid": ref_valid}

    def frames(self, n: int, gen: torch.Generator) -> dict:
        """``n`` random single frames (for the VAE), augmented like the windows."""
        b = self.windows(n, 1, gen)
        return {"unit": b["unit"][:, 0], "valid": b["valid"][:, 0]}
