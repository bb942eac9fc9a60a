"""Training data for m2p: split Samples → in-memory clips at the model's size and frame rate.

Per sample: RGB frames, music features, Gaussian keypoint heatmaps from ``joints2d`` (latent resolution),
the guidance maps named by the config, and the reference image. Frames are centre-cropped to a square and
resized to ``cfg.size``; the frame rate is changed by picking the nearest source frame for each model frame
time. Batches are drawn with a ``torch.Generator`` whose state goes into the training checkpoint, so a
resumed run draws the same batches as an uninterrupted one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from evalkit.errors import EvalkitError

from .config import M2PConfig
from .music import music_features

# CHAMP's map names → the names our splits use in Sample.guidance
GUIDANCE_ALIASES = {"semantic_map": "semantic", "dwpose": "skeleton"}
NEAREST_MAPS = ("semantic", "semantic_map")  # label colours: never blend


@dataclass
class Clip:
    id: str
    frames: torch.Tensor  # (T, 3, S, S) uint8
    reference: torch.Tensor  # (3, S, S) uint8
    music: torch.Tensor | None = None  # (T, D) float32
    heat: torch.Tensor | None = None  # (T, K, s, s) float16
    guidance: dict = field(default_factory=dict)  # type -> (T, 3, S, S) uint8
    reference_kp: torch.Tensor | None = None  # (K, 3) the reference image's keypoints: latent pixels, visible

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def square_crop_box(h: int, w: int) -> tuple[int, int, int]:
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side


def resize_square(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Centre square crop, then resize (area filter when shrinking, cubic when growing, or nearest)."""
    import cv2

    top, left, side = square_crop_box(*img.shape[:2])
    img = img[top:top + side, left:left + side]
    if side == size:
        return np.ascontiguousarray(img)
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)
    return cv2.resize(img, (size, size), interpolation=interp)


def frame_indices(src_frames: int, src_fps: float, fps: float) -> np.ndarray:
    """Nearest source frame for each model frame time i/fps that lies inside the source video."""
    n = int(math.floor((src_frames - 1) * fps / src_fps + 1e-6)) + 1
    return np.minimum(np.round(np.arange(n) * src_fps / fps).astype(int), src_frames - 1)


def square_pixels(joints: np.ndarray, img_hw: tuple[int, int], out: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y of pixel joints (..., ≥2) of an ``img_hw`` image in pixels of its centre square resized to ``out``²."""
    top, left, side = square_crop_box(*img_hw)
    f = side / out
    return (joints[..., 0] - left + 0.5) / f - 0.5, (joints[..., 1] - top + 0.5) / f - 0.5


def heatmaps(joints: np.ndarray, img_hw: tuple[int, int], size: int, latent: int, sigma: float) -> np.ndarray:
    """(T, K, 3) pixel joints (x, y, conf) → (T, K, latent, latent) Gaussians on the cropped, resized frame.
    Joints with conf ≤ 0 or NaN give an all-zero map."""
    x, y = square_pixels(joints, img_hw, latent)
    valid = np.isfinite(x) & np.isfinite(y) & (np.nan_to_num(joints[..., 2]) > 0)
    grid = np.arange(latent, dtype=np.float32)
    gx = np.exp(-((grid[None, None, :] - np.nan_to_num(x)[..., None]) ** 2) / (2 * sigma ** 2))
    gy = np.exp(-((grid[None, None, :] - np.nan_to_num(y)[..., None]) ** 2) / (2 * sigma ** 2))
    maps = gy[..., :, None] * gx[..., None, :]
    return (maps * valid[..., None, None]).astype(np.float32)


def reference_latent_keypoints(joints, img_hw: tuple[int, int], latent: int) -> np.ndarray:
    """The reference image's (K, 3) pixel keypoints (x, y, conf) → (K, 3) in latent pixels of its centre square,
    visible 1/0 (NaN or conf ≤ 0: not visible, at 0, 0)."""
    j = np.asarray(joints, np.float64).reshape(-1, 3)
    x, y = square_pixels(j, img_hw, latent)
    vis = np.isfinite(x) & np.isfinite(y) & (np.nan_to_num(j[:, 2]) > 0)
    return np.stack([np.where(vis, x, 0), np.where(vis, y, 0), vis], -1).astype(np.float32)


def _read_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise EvalkitError("cannot read reference image", path=path, hint="use a PNG or JPEG file")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def map_to_rgb(arr: np.ndarray, path) -> np.ndarray:
    """A guidance map sequence as (T, H, W, 3) uint8. Colour maps pass through; float (T, H, W) maps (depth
    in metres, 0 = background) are normalised per clip over the foreground, nearer = brighter, grey."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint8 and arr.ndim == 4 and arr.shape[-1] == 3:
        return arr
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        fg = arr > 0
        lo, hi = (float(arr[fg].min()), float(arr[fg].max())) if fg.any() else (0.0, 1.0)
        near = np.where(fg, 0.25 + 0.75 * (hi - arr) / max(hi - lo, 1e-6), 0.0)
        return np.repeat((near * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    if arr.ndim == 4 and arr.shape[-1] == 3:
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        return np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    raise EvalkitError(f"guidance map has shape {arr.shape}; expected (T,H,W) or (T,H,W,3)", path=path)


def read_guidance(sample, name: str) -> np.ndarray:
    """Through ``Sample.load_guidance`` (which knows the split's storage), else from the path directly."""
    if hasattr(sample, "load_guidance"):
        return map_to_rgb(sample.load_guidance(name), sample.guidance.get(name))
    from evalkit.io.video import decode_video

    path = Path(sample.guidance[name])
    if path.suffix.lower() in (".npy", ".npz"):
        arr = np.load(path, allow_pickle=False)
        if isinstance(arr, np.lib.npyio.NpzFile):
            arr = arr[arr.files[0]]
        return map_to_rgb(arr, path)
    return decode_video(path).frames


def load_video(sample):
    """The ground-truth frames as the split defines them (its crop/resize applied)."""
    if hasattr(sample, "load_video"):
        return sample.load_video()
    from evalkit.io.video import decode_video

    return decode_video(sample.video)


def load_clip(sample, cfg: M2PConfig, need_motion: bool = True, need_guidance: bool = True) -> Clip:
    """Everything training needs from one Sample (music/heatmaps only when ``need_motion``)."""
    video = load_video(sample)
    idx = frame_indices(video.num_frames, video.fps, cfg.fps)
    frames = np.stack([resize_square(video.frames[i], cfg.size) for i in idx])
    reference = _read_image(Path(sample.reference))
    clip = Clip(sample.id, torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),
                torch.from_numpy(resize_square(reference, cfg.size)).permute(2, 0, 1))
    if need_motion:
        clip.music = torch.from_numpy(music_features(sample.music, cfg.fps, len(idx), cfg.music_frontend,
                                                     cfg.music_dir))
        if sample.joints2d is None:
            raise EvalkitError(f"sample '{sample.id}' has no 2D joints; M2PEnc's heatmap targets need them",
                               path=sample.video)
        joints = np.asarray(sample.joints2d, np.float32)[np.minimum(idx, len(sample.joints2d) - 1)]
        hm = heatmaps(joints, video.frames.shape[1:3], cfg.size, cfg.latent_size, cfg.heatmap_sigma)
        clip.heat = torch.from_numpy(hm).to(torch.float16)
        ref_joints = getattr(sample, "reference_joints2d", None)
        if ref_joints is not None:
            clip.reference_kp = torch.from_numpy(reference_latent_keypoints(ref_joints, reference.shape[:2],
                                                                            cfg.latent_size))
    if need_guidance:
        for kind in cfg.guidance_types:
            name = GUIDANCE_ALIASES.get(kind, kind)
            if name not in (sample.guidance or {}):
                raise EvalkitError(f"sample '{sample.id}' has no '{name}' guidance map",
                                   path=sample.video, hint=f"the config needs: {', '.join(cfg.guidance_types)}")
            maps = read_guidance(sample, name)
            if len(maps) < video.num_frames:
                raise EvalkitError(f"'{name}' map has {len(maps)} frames, the video {video.num_frames}",
                                   path=sample.guidance[name])
            near = kind in NEAREST_MAPS
            clip.guidance[kind] = torch.from_numpy(
                np.stack([resize_square(maps[i], cfg.size, nearest=near) for i in idx])).permute(0, 3, 1, 2)
    return clip


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1]."""
    return x.float() / 127.5 - 1.0


class ClipSet:
    """Clips held in memory (on ``device``) with seeded batch sampling."""

    def __init__(self, clips: list[Clip], device="cpu"):
        if not clips:
            raise EvalkitError("no training clips")
        self.clips = [self._to(c, device) for c in clips]
        self.device = torch.device(device)

    @staticmethod
    def _to(c: Clip, device) -> Clip:
        mv = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Clip(c.id, mv(c.frames), mv(c.reference), mv(c.music), mv(c.heat),
                    {k: mv(v) for k, v in c.guidance.items()}, mv(c.reference_kp))

    def music_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        allm = torch.cat([c.music for c in self.clips if c.music is not None]).float()
        return allm.mean(0), allm.std(0)

    def reference_mean(self) -> torch.Tensor | None:
        """The mean reference keypoints (K, 3) over the clips that have them (None when none has)."""
        refs = [c.reference_kp for c in self.clips if c.reference_kp is not None]
        return torch.stack(refs).float().mean(0) if refs else None

    def long_enough(self, frames: int) -> list[int]:
        return [i for i, c in enumerate(self.clips) if c.num_frames >= frames]

    def batch(self, n: int, frames: int, gen: torch.Generator, guidance: bool = True,
              motion: bool = False) -> dict:
        """n random windows of ``frames`` frames: 'frames' (n,3,F,S,S) in [-1,1], 'reference' (n,3,S,S),
        'guidance' {type: (n,3,F,S,S) in [0,1]}, and with ``motion`` 'music' (n,F,D), 'heat' (n,K,F,s,s) and, when
        every clip has them, 'reference_kp' (n,K,3)."""
        pool = self.long_enough(frames)
        if not pool:
            raise EvalkitError(f"no training clip has {frames} frames at the model fps",
                               hint="use longer clips or fewer frames per clip")
        pick = torch.randint(len(pool), (n,), generator=gen, device=gen.device).tolist()
        out = {"frames": [], "reference": [], "music": [], "heat": [], "reference_kp": [], "guidance": {}}
        for j in pick:
            c = self.clips[pool[j]]
            start = int(torch.randint(c.num_frames - frames + 1, (1,), generator=gen, device=gen.device))
            sl = slice(start, start + frames)
            out["frames"].append(c.frames[sl])
            out["reference"].append(c.reference)
            if motion:
                out["music"].append(c.music[sl])
                out["heat"].append(c.heat[sl])
                out["reference_kp"].append(c.reference_kp)
            if guidance:
                for k, v in c.guidance.items():
                    out["guidance"].setdefault(k, []).append(v[sl])
        res = {"frames": to_unit(torch.stack(out["frames"])).permute(0, 2, 1, 3, 4),
               "reference": to_unit(torch.stack(out["reference"]))}
        if motion:
            res["music"] = torch.stack(out["music"]).float()
            res["heat"] = torch.stack(out["heat"]).float().permute(0, 2, 1, 3, 4)
            if all(r is not None for r in out["reference_kp"]):
                res["reference_kp"] = torch.stack(out["reference_kp"]).float()
        res["guidance"] = {k: (torch.stack(v).float() / 255.0).permute(0, 2, 1, 3, 4)
                           for k, v in out["guidance"].items()}
        return res


def load_clips(samples, cfg: M2PConfig, need_motion=True, need_guidance=True, jobs: int = 1,
               progress=None) -> list[Clip]:
    """Load every sample (in ``jobs`` worker processes when > 1), in split order."""
    samples = list(samples)
    if jobs <= 1 or len(samples) <= 1:
        clips = []
        for sample in samples:
            clips.append(load_clip(sample, cfg, need_motion, need_guidance))
            if progress:
                progress(len(clips), len(samples))
        return clips
    import concurrent.futures as cf
    import multiprocessing as mp

    # the first clip, in this process, compiles librosa's numba kernels into the on-disk cache once: 16 workers
    # compiling into a cold cache at once left a cache on the H200 image that segfaulted every later process
    clips = [load_clip(samples[0], cfg, need_motion, need_guidance)]
    if progress:
        progress(1, len(samples))
    with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(load_clip, s, cfg, need_motion, need_guidance) for s in samples[1:]]
        for fut in futures:
            clips.append(fut.result())
            if progress:
                progress(len(clips), len(samples))
    return clips
