"""The generator interface shared with the baselines:
``generate(music_path, reference_image, num_frames, fps, seed) -> uint8 (T, H, W, 3)``.

The model works on the centre square of the reference image at ``cfg.size`` and at ``cfg.fps``; the output
is brought back to the caller's frame rate (linear blending of neighbouring model frames) and to the
reference image's size: the generated square is resized into the reference's centre square and the rest
of the frame keeps the reference image (for square references — the synthetic split — this is a plain
resize).

``keep_reference=τ`` (off by default) keeps the reference image's own pixels where the model leaves them alone:
the output is the reference plus the model's change, ``generated − VAE(reference)`` at the model's size, where
that change (blurred, max over channels, 0–255) exceeds τ, ramping in over τ..2τ. It undoes the VAE's and
the upsampling's losses on what did not move (background, still body parts); what moved is the model's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evalkit.errors import EvalkitError

from .data import _read_image, frame_indices, resize_square, square_crop_box, square_pixels, to_unit
from .infer import M2PSampler, model_frames, retime
from .keypoint_guidance import SOURCES
from .music import music_features

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "tiny.safetensors"


def load_reference(reference_image) -> np.ndarray:
    if isinstance(reference_image, (str, Path)):
        return _read_image(Path(reference_image))
    img = np.asarray(reference_image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise EvalkitError(f"reference image must be uint8 (H, W, 3), got {img.dtype} {img.shape}")
    return img


def paste_square(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Square frames (T, s, s, 3) → (T, H, W, 3): resized into the reference's centre square."""
    import cv2

    h, w = reference.shape[:2]
    top, left, side = square_crop_box(h, w)
    interp = cv2.INTER_CUBIC if side > frames.shape[1] else cv2.INTER_AREA
    out = np.repeat(reference[None], len(frames), axis=0)
    for i, fr in enumerate(frames):
        out[i, top:top + side, left:left + side] = cv2.resize(fr, (side, side), interpolation=interp)
    return out


def paste_changes(frames: np.ndarray, recon: np.ndarray, reference: np.ndarray, tau: float) -> np.ndarray:
    """The reference image plus the model's change: frames (T, s, s, 3) and recon (s, s, 3), the VAE's copy of
    the reference at the model's size; the change counts where its blurred magnitude passes ``tau``."""
    import cv2

    h, w = reference.shape[:2]
    top, left, side = square_crop_box(h, w)
    change = frames.astype(np.float32) - recon.astype(np.float32)[None]
    mag = np.stack([cv2.GaussianBlur(np.abs(c).max(-1), (0, 0), 1.5) for c in change])
    gate = np.clip((mag - tau) / max(tau, 1.0), 0, 1) if tau > 0 else np.ones_like(mag)
    out = np.repeat(reference[None].astype(np.float32), len(frames), axis=0)
    for i, (c, g) in enumerate(zip(change, gate)):
        out[i, top:top + side, left:left + side] += cv2.resize(c * g[..., None], (side, side),
                                                                interpolation=cv2.INTER_CUBIC)
    return np.clip(out.round(), 0, 255).astype(np.uint8)


class M2PPipeline:
    name = "m2p"

    def __init__(self, model, device="cpu", dtype=torch.float32, steps: int | None = None,
                 cfg_scale: float | None = None, jukebox_dir: str | Path | None = None,
                 init_strength: float | None = None, keep_reference: float | None = None,
                 guidance_source: str | None = None, keypoint_anchor: int | None = None, retarget: bool = True):
        self.retarget = bool(retarget)
        self.last_retarget = None  # what generate() did with the reference's keypoints (for the run's counts)
        if keypoint_anchor is not None and keypoint_anchor < 1:
            raise EvalkitError(f"keypoint_anchor is a number of frames ≥ 1, got {keypoint_anchor}")
        self.keypoint_anchor = keypoint_anchor
        self.sampler = M2PSampler(model, device, dtype)
        self.cfg = model.cfg
        self.steps, self.cfg_scale, self.jukebox_dir = steps, cfg_scale, jukebox_dir
        self.init_strength = init_strength
        if keep_reference is not None and not 0 <= keep_reference <= 255:
            raise EvalkitError(f"keep_reference is a threshold in 0..255 (pixel units), got {keep_reference}")
        self.keep_reference = keep_reference
        if guidance_source is not None and guidance_source not in SOURCES:
            raise EvalkitError(f"guidance_source is one of {', '.join(SOURCES)}, got {guidance_source!r}")
        self.guidance_source = guidance_source

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = None,
                        dtype: torch.dtype | None = None, **kw) -> "M2PPipeline":
        from .model import load_checkpoint

        path = Path(path) if path else DEFAULT_CHECKPOINT
        if not path.is_file():
            raise EvalkitError("m2p checkpoint not found", path=path,
                               hint="train it (models/m2p/train_gpu.sh) or pass --checkpoint")
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
        model, _ = load_checkpoint(path)
        return cls(model, device, dtype, **kw)

    def music(self, music_path, num_frames: int, fps: float) -> np.ndarray:
        n = model_frames(num_frames, fps, self.cfg.fps)
        return music_features(music_path, self.cfg.fps, n, self.cfg.music_frontend,
                              self.jukebox_dir or self.cfg.music_dir)

    def generate(self, music_path, reference_image, num_frames: int, fps: float, seed: int = 0, *,
                 music: np.ndarray | None = None, continuation: bool = True, progress=None,
                 reference_keypoints: np.ndarray | None = None) -> np.ndarray:
        """uint8 (num_frames, H, W, 3) at ``fps``; ``music`` may pass precomputed model-fps features;
        ``reference_keypoints`` (17, 3) COCO-17 in the reference image's pixels: with keypoint guidance and
        ``retarget`` on, M2PEnc's keypoints are mapped onto that body (``keypoint_guidance.retarget``)."""
        if num_frames < 1 or fps <= 0:
            raise EvalkitError(f"need num_frames ≥ 1 and fps > 0, got {num_frames}, {fps}")
        ref = load_reference(reference_image)
        feats = self.music(music_path, num_frames, fps) if music is None else np.asarray(music, np.float32)
        ref_t = to_unit(torch.from_numpy(resize_square(ref, self.cfg.size))).permute(2, 0, 1)
        ref_kp = self.reference_keypoints(reference_keypoints, ref.shape[:2])
        lat = self.sampler.latents(feats, ref_t, seed, self.steps, self.cfg_scale, continuation, progress,
                                   self.init_strength, guidance_source=self.guidance_source,
                                   keypoint_anchor=self.keypoint_anchor, reference_keypoints=ref_kp)
        return self._frames(lat, ref, ref_t, fps, num_frames)

    def render_poses(self, keypoints: np.ndarray, reference_image, num_frames: int, fps: float,
                     seed: int = 0) -> np.ndarray:
        """Poses → video without music: ``keypoints`` (T ≥ num_frames, 17, 3) COCO-17 (x, y, visible) in the
        reference image's pixels at ``fps`` are taken at the model's frame rate (nearest frame), drawn as skeleton
        maps in the model's frame and drive the denoiser (``keypoint_guidance.skeleton_guidance``); uint8
        (num_frames, H, W, 3) at ``fps``. The pose-to-video half of a two-stage pipeline (posedit+m2p)."""
        from .keypoint_guidance import skeleton_guidance

        if num_frames < 1 or fps <= 0 or len(keypoints) < num_frames:
            raise EvalkitError(f"need num_frames ≥ 1, fps > 0 and a pose per frame, got {num_frames}, {fps}, "
                               f"{len(keypoints)} poses")
        ref = load_reference(reference_image)
        idx = frame_indices(num_frames, fps, self.cfg.fps)
        kp = np.array(np.asarray(keypoints, np.float64)[idx], copy=True)
        kp[..., 0], kp[..., 1] = square_pixels(kp, ref.shape[:2], self.cfg.size)
        shown = np.isfinite(kp).all(-1) & (kp[..., 2] > 0)
        kp[~shown] = 0.0  # draw_skeleton skips joints with visibility 0
        ref_t = to_unit(torch.from_numpy(resize_square(ref, self.cfg.size))).permute(2, 0, 1)
        guidance = skeleton_guidance(self.sampler.model, kp)
        lat = self.sampler.latents(np.zeros((len(idx), self.cfg.music_dim), np.float32), ref_t, seed, self.steps,
                                   self.cfg_scale, init_strength=self.init_strength, guidance=guidance)
        return self._frames(lat, ref, ref_t, fps, num_frames)

    def _frames(self, lat, ref: np.ndarray, ref_t: torch.Tensor, fps: float, num_frames: int) -> np.ndarray:
        """Latents at the model's rate and size → uint8 frames at ``fps`` in the reference image's frame."""
        frames = retime(self.sampler.decode(lat), self.cfg.fps, fps, num_frames)
        if self.keep_reference is None:
            return paste_square(frames, ref)
        return paste_changes(frames, self.sampler.round_trip(ref_t[None])[0], ref, self.keep_reference)

    @property
    def keypoint_guided(self) -> bool:
        return (self.guidance_source or self.cfg.guidance_source) == "keypoints"

    @property
    def uses_reference_keypoints(self) -> bool:
        """Whether ``generate`` reads ``reference_keypoints``: keypoint guidance with ``retarget`` on, or M2PEnc's
        own guidance from an M2PEnc that reads the reference pose (the paper route on ``tiny``)."""
        if self.keypoint_guided:
            return self.retarget
        return self.sampler.model.m2penc.reads_reference_pose

    def reference_keypoints(self, keypoints, hw: tuple[int, int]) -> np.ndarray | None:
        """The reference's keypoints in the model's frame (its centre square at ``cfg.size``), or None; records in
        ``last_retarget`` what happens: 'reference body', 'off', 'no reference keypoints', 'not measurable',
        'm2penc reads reference' (M2PEnc's own guidance) or None (neither path reads them)."""
        from .keypoint_guidance import body_measure

        if not self.uses_reference_keypoints:
            self.last_retarget = "off" if self.keypoint_guided else None
            return None
        if keypoints is None:
            self.last_retarget = "no reference keypoints"
            return None
        kp = np.array(keypoints, np.float64, copy=True).reshape(17, 3)
        kp[:, 0], kp[:, 1] = square_pixels(kp, hw, self.cfg.size)
        if not self.keypoint_guided:
            self.last_retarget = "m2penc reads reference"
        else:
            self.last_retarget = "reference body" if body_measure(kp) is not None else "not measurable"
        return kp
