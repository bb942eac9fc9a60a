"""A 2D "paper puppet" renderer: the person in a reference image, cut into parts and moved to new keypoints.

Used by the pose-driven baselines on real footage (wild, AIST++), where no 3D look of the dancer exists.
Each body part (torso, head, upper arms, forearms, thighs, calves) is a region around its COCO-17 bone in the
reference image; for a target pose every part's pixels are moved by the affine map that takes the reference
bone onto the target bone (along the bone: the bone's stretch; across it: unchanged width), and painted back
to front over a background plate (the reference with the person's region inpainted by OpenCV's Telea
method). A classic cheap pose-transfer baseline: it keeps the reference's colours and clothes texture, and has
no notion of depth, occlusion or cloth.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from evalkit.errors import EvalkitError

# COCO-17 indices
NOSE, L_SH, R_SH, L_EL, R_EL, L_WR, R_WR, L_HIP, R_HIP, L_KN, R_KN, L_AN, R_AN = 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
# name, bone (a, b), half-width as a fraction of the torso length, the other side's part (texture fallback)
LIMBS = (
    ("left_thigh", (L_HIP, L_KN), 0.17, "right_thigh"), ("right_thigh", (R_HIP, R_KN), 0.17, "left_thigh"),
    ("left_calf", (L_KN, L_AN), 0.13, "right_calf"), ("right_calf", (R_KN, R_AN), 0.13, "left_calf"),
    ("left_upper_arm", (L_SH, L_EL), 0.10, "right_upper_arm"), ("right_upper_arm", (R_SH, R_EL), 0.10, "left_upper_arm"),
    ("left_forearm", (L_EL, L_WR), 0.085, "right_forearm"), ("right_forearm", (R_EL, R_WR), 0.085, "left_forearm"),
)
# painter's order: legs, torso, head, arms (dancers mostly face the camera with the arms in front)
ORDER = ("left_thigh", "right_thigh", "left_calf", "right_calf", "torso", "head",
         "left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm")
HAND_EXTENSION = 0.35  # forearms reach this fraction of their length past the wrist (the hand)
MIN_CONF = 0.3


def torso_length(kp: np.ndarray) -> float:
    """Distance from the mid-shoulder to the mid-hip point (pixels): the puppet's size yardstick."""
    return float(np.linalg.norm((kp[L_SH] + kp[R_SH]) / 2 - (kp[L_HIP] + kp[R_HIP]) / 2))


def head_bone(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mid-shoulder, face centre): the face centre is the mean of the face points that are known."""
    face = kp[:5][np.isfinite(kp[:5]).all(axis=1)]
    neck = (kp[L_SH] + kp[R_SH]) / 2
    return neck, (face.mean(axis=0) if len(face) else np.full(2, np.nan))


def bone_affine(a0, b0, a1, b1, across: float = 1.0) -> np.ndarray:
    """2x3 affine taking bone a0→b0 onto a1→b1: stretch along the bone, ``across`` scale perpendicular to it."""
    u, v = b0 - a0, b1 - a1
    lu, lv = np.linalg.norm(u), np.linalg.norm(v)
    eu, ev = u / lu, (v / lv if lv > 1e-6 else u / lu)
    nu, nv = np.array([-eu[1], eu[0]]), np.array([-ev[1], ev[0]])
    lin = (lv / lu) * np.outer(ev, eu) + across * np.outer(nv, nu)
    return np.hstack([lin, (a1 - lin @ a0)[:, None]])


def lstsq_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 affine minimising the squared error from ``src`` (n, 2) to ``dst`` (n, 2) points (n >= 3)."""
    design = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return sol.T


@dataclass
class Part:
    name: str
    mask: np.ndarray  # uint8 (H, W) region of the part in the reference image
    texture_from: str  # the part whose reference bone gives the texture (itself or the other side)

    @property
    def corners(self) -> np.ndarray:
        """(4, 2) corners of the mask's bounding box (computed once)."""
        if not hasattr(self, "_corners"):
            ys, xs = np.nonzero(self.mask)
            self._corners = (np.array([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.min(), ys.max()],
                                       [xs.max(), ys.max()]], np.float64) if len(xs) else np.zeros((0, 2)))
        return self._corners


@dataclass
class Puppet:
    """The reference image cut into parts. ``counts`` gathers what could not be drawn as asked."""

    image: np.ndarray  # uint8 (H, W, 3)
    keypoints: np.ndarray  # (17, 2) reference pose; NaN where unknown
    background: np.ndarray
    parts: dict[str, Part]
    scale: float  # reference torso length, pixels
    counts: dict = field(default_factory=lambda: {"parts_skipped": 0})

    @classmethod
    def from_reference(cls, image: np.ndarray, keypoints: np.ndarray, conf: np.ndarray | None = None) -> "Puppet":
        image = np.ascontiguousarray(image, dtype=np.uint8)
        kp = np.asarray(keypoints, dtype=np.float64).copy()
        if kp.shape != (17, 2):
            raise EvalkitError(f"reference keypoints must be COCO-17 (17, 2), got {kp.shape}")
        if conf is not None:
            kp[np.asarray(conf) < MIN_CONF] = np.nan
        if not np.isfinite(kp[[L_SH, R_SH, L_HIP, R_HIP]]).all():
            raise EvalkitError("no person with visible shoulders and hips found in the reference image",
                               hint="give a reference image showing the dancer's whole body")
        L = torso_length(kp)
        h, w = image.shape[:2]
        masks = {}
        for name, (a, b), half, _ in LIMBS:
            if np.isfinite(kp[[a, b]]).all():
                pa, pb = kp[a], kp[b]
                if "forearm" in name:
                    pb = pb + HAND_EXTENSION * (pb - pa)
                masks[name] = _capsule((h, w), pa, pb, half * L)
        centre = kp[[L_SH, R_SH, R_HIP, L_HIP]].mean(axis=0)
        quad = centre + 1.15 * (kp[[L_SH, R_SH, R_HIP, L_HIP]] - centre)
        masks["torso"] = _polygon((h, w), quad)
        neck, face = head_bone(kp)
        if np.isfinite(face).all():
            masks["head"] = _capsule((h, w), neck + 0.45 * (face - neck), face + 0.35 * (face - neck), 0.22 * L)
        parts = {}
        for name, _, _, other in LIMBS:
            source = name if name in masks else (other if other in masks else None)
            if source is not None:
                parts[name] = Part(name, masks[source], source)
        for name in ("torso", "head"):
            if name in masks:
                parts[name] = Part(name, masks[name], name)
        hole = np.zeros((h, w), np.uint8)
        for m in masks.values():
            hole |= m
        hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(0.25 * L) | 1,) * 2))
        return cls(image, kp, _inpaint(image, hole), parts, L)

    # ------------------------------------------------------------------------------------------ drawing
    def part_affine(self, name: str, target: np.ndarray) -> np.ndarray | None:
        """The reference→target affine of one part, or None when the target pose lacks its joints."""
        part = self.parts[name]
        ref = self.keypoints
        if name == "torso":
            idx = [L_SH, R_SH, R_HIP, L_HIP]
            if not np.isfinite(target[idx]).all():
                return None
            return lstsq_affine(ref[idx], target[idx])
        if name == "head":
            a1, b1 = head_bone(target)
            a0, b0 = head_bone(ref)
        else:
            a, b = next(bone for n, bone, _, _ in LIMBS if n == name)
            src = next(bone for n, bone, _, _ in LIMBS if n == part.texture_from)
            a0, b0, a1, b1 = ref[src[0]], ref[src[1]], target[a], target[b]
        if not (np.isfinite(a1).all() and np.isfinite(b1).all()) or np.linalg.norm(b0 - a0) < 1e-6:
            return None
        return bone_affine(a0, b0, a1, b1)

    def render(self, keypoints: np.ndarray) -> np.ndarray:
        """Frames (T, H, W, 3) for target poses (T, 17, 2) in this image's pixel coordinates (NaN: unknown)."""
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[1:] != (17, 2):
            raise EvalkitError(f"target keypoints must be (T, 17, 2), got {kp.shape}")
        out = np.empty((len(kp),) + self.image.shape, np.uint8)
        for t in range(len(kp)):
            frame = self.background.copy()
            for name in ORDER:
                if name not in self.parts:
                    continue
                m = self.part_affine(name, kp[t])
                if m is None:
                    self.counts["parts_skipped"] += 1
                    continue
                _paste(frame, self.image, self.parts[name], m)
            out[t] = frame
        return out


def _capsule(shape, a, b, radius) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    thick = max(1, int(round(2 * radius)))
    cv2.line(mask, tuple(int(round(v)) for v in a), tuple(int(round(v)) for v in b), 1, thick, cv2.LINE_8)
    return mask


def _polygon(shape, points) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask


def _inpaint(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` from its surroundings (Telea), at half resolution when large (the fill is smooth anyway)."""
    h, w = hole.shape
    step = 2 if min(h, w) >= 256 else 1
    small = cv2.resize(image, (w // step, h // step), interpolation=cv2.INTER_AREA) if step > 1 else image
    small_hole = cv2.resize(hole, (w // step, h // step), interpolation=cv2.INTER_NEAREST) if step > 1 else hole
    filled = cv2.inpaint(small, cv2.dilate(small_hole, np.ones((3, 3), np.uint8)), 5, cv2.INPAINT_TELEA)
    if step > 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hole > 0] = filled[hole > 0]
    return out


def _paste(frame: np.ndarray, image: np.ndarray, part: Part, m: np.ndarray) -> None:
    """Warp ``image`` inside the part's mask by the affine ``m`` and paint it over ``frame`` (target box only)."""
    if len(part.corners) == 0:
        return
    moved = part.corners @ m[:, :2].T + m[:, 2]
    h, w = frame.shape[:2]
    x0, y0 = (int(np.floor(max(0, v))) for v in moved.min(axis=0))
    x1, y1 = int(np.ceil(min(w - 1, moved[:, 0].max()))) + 1, int(np.ceil(min(h - 1, moved[:, 1].max()))) + 1
    if x1 <= x0 or y1 <= y0:
        return
    shifted = m.copy()
    shifted[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    pix = cv2.warpAffine(image, shifted, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    sel = cv2.warpAffine(part.mask, shifted, size, flags=cv2.INTER_NEAREST, borderValue=0) > 0
    roi = frame[y0:y1, x0:x1]
    roi[sel] = pix[sel]
