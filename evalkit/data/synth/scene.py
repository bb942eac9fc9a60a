"""Dancer identity (look), pinhole camera and the static backdrop (wall + tiled floor + blob shadow)."""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from evalkit.data.synth.skeleton import NUM_PARTS, P
from evalkit.errors import EvalkitError

WALL_Z = -2.5  # the backdrop wall stands 2.5 m behind the origin, facing +z
TILE = 0.6  # floor tile size (m)


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


@dataclass
class Identity:
    """Per-dancer look. Colours are RGB 0-255; limb_scale multiplies the radius of each body part
    (skeleton.PART_NAMES order). The fields after limb_scale are optional extras with defaults."""

    skin: tuple
    top: tuple
    bottom: tuple
    background: tuple
    limb_scale: np.ndarray
    hair: tuple = (45, 32, 22)
    shoes: tuple = (35, 35, 40)
    long_sleeves: bool = True
    long_pants: bool = True
    stripes: bool = False
    texture_seed: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Identity":
        tone = rng.uniform()  # skin between a light and a dark tone
        skin = tuple(int(round(a + (b - a) * tone)) for a, b in zip((236, 196, 170), (96, 62, 42)))
        top = _rgb(rng.uniform(), rng.uniform(0.45, 0.95), rng.uniform(0.45, 0.95))
        bottom = _rgb(rng.uniform(), rng.uniform(0.1, 0.7), rng.uniform(0.15, 0.6))
        background = _rgb(rng.uniform(), rng.uniform(0.05, 0.35), rng.uniform(0.55, 0.9))
        hair = _rgb(rng.uniform(0.03, 0.12), rng.uniform(0.3, 0.8), rng.uniform(0.08, 0.6))
        shoes = _rgb(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.1, 0.95))
        build = rng.uniform(0.85, 1.2)  # slim … broad, then per part variation (left/right alike)
        scale = build * rng.normal(1.0, 0.07, size=NUM_PARTS).clip(0.8, 1.2)
        for part in ("upper_arm", "forearm", "hand", "thigh", "calf", "foot"):
            scale[P["right_" + part]] = scale[P["left_" + part]]
        scale[P["head"]] = rng.uniform(0.93, 1.07)  # heads vary less than builds
        flags = rng.uniform(size=3)
        return cls(skin=skin, top=top, bottom=bottom, background=background, limb_scale=scale,
                   hair=hair, shoes=shoes, long_sleeves=bool(flags[0] < 0.6), long_pants=bool(flags[1] < 0.7),
                   stripes=bool(flags[2] < 0.35), texture_seed=int(rng.integers(2**31)))

    def checked_limb_scale(self) -> np.ndarray:
        scale = np.asarray(self.limb_scale, dtype=np.float64)
        if scale.shape != (NUM_PARTS,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise EvalkitError(f"Identity.limb_scale must hold {NUM_PARTS} positive radius multipliers "
                               f"(one per body part), got shape {scale.shape}")
        return scale


@dataclass
class Camera:
    """Pinhole camera looking from ``position`` at ``look_at`` (world, y up), square ``size`` pixels.
    Pixel coordinates follow OpenCV: pixel (row i, column j) has its centre at (x=j, y=i)."""

    focal: float
    center: tuple
    position: np.ndarray
    look_at: np.ndarray
    size: int

    @classmethod
    def default(cls, size: int) -> "Camera":
        # 4.5 m in front of the dancer at chest height, ~2.4 m of the dancer's plane in view:
        # a 1.7 m dancer fills ~70 % of the frame height with room to jump and step aside.
        if int(size) < 16:
            raise EvalkitError(f"camera size must be at least 16 pixels, got {size}")
        size = int(size)
        return cls(focal=size * 4.5 / 2.4, center=((size - 1) / 2, (size - 1) / 2),
                   position=np.array([0.0, 1.1, 4.5]), look_at=np.array([0.0, 1.0, 0.0]), size=size)

    def rotation(self) -> np.ndarray:
        """World → camera rotation; camera axes are OpenCV's: x right, y down, z forward (depth)."""
        forward = np.asarray(self.look_at, float) - np.asarray(self.position, float)
        norm = np.linalg.norm(forward)
        if not np.isfinite(norm) or norm < 1e-9:
            raise EvalkitError("camera position and look_at must be distinct finite points")
        forward /= norm
        right = np.cross(forward, [0.0, 1.0, 0.0])
        if np.linalg.norm(right) < 1e-6:
            raise EvalkitError("camera must not look straight up or down (look_at directly above/below)")
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return np.stack([right, down, forward])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) → camera axes (x right, y down, z depth)."""
        return rotate(np.asarray(points, np.float64) - np.asarray(self.position, float), self.rotation())

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) → pixel (..., 2) and depth (...,) along the optical axis."""
        cam = self.to_camera(points)
        z = cam[..., 2]
        safe = np.where(z > 1e-6, z, 1e-6)  # points behind the camera get finite, meaningless pixels
        xy = np.stack([self.center[0] + self.focal * cam[..., 0] / safe,
                       self.center[1] + self.focal * cam[..., 1] / safe], axis=-1)
        return xy, z


def rotate(points: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """``points @ rot.T`` written out elementwise: BLAS may order the sums differently with its thread count,
    this never does."""
    p = points
    return np.stack([p[..., 0] * rot[i, 0] + p[..., 1] * rot[i, 1] + p[..., 2] * rot[i, 2] for i in range(3)],
                    axis=-1)


def pixel_rays(camera: Camera, supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Normalised image coordinates of pixel centres: X (W*ss,) and Y (H*ss,), ray = (X, Y, 1)."""
    n = camera.size * supersample
    pix = (np.arange(n) + 0.5) / supersample - 0.5
    return (pix - camera.center[0]) / camera.focal, (pix - camera.center[1]) / camera.focal


def _world_rays(camera: Camera, supersample: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = pixel_rays(camera, supersample)
    d_cam = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((1, 1))), axis=-1)
    return np.asarray(camera.position, float), rotate(d_cam, camera.rotation().T)  # (H, W, 3) world directions


def backdrop(identity: Identity, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cached :func:`_backdrop` (read-only arrays): clips of one identity and camera share it."""
    key = (tuple(float(c) for c in identity.background), int(identity.texture_seed), float(camera.focal),
           tuple(float(c) for c in camera.center), tuple(float(c) for c in camera.position),
           tuple(float(c) for c in camera.look_at), int(camera.size))
    return _backdrop_cached(key)


@lru_cache(maxsize=16)
def _backdrop_cached(key) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    background, seed, focal, center, position, look_at, size = key
    camera = Camera(focal=focal, center=center, position=np.array(position), look_at=np.array(look_at), size=size)
    arrays = _backdrop(background, seed, camera)
    for a in arrays:
        a.flags.writeable = False
    return arrays


def _backdrop(background, texture_seed: int, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The static scene behind the dancer: (H, W, 3) float32 RGB in [0, 1] (wall with a vertical
    gradient and a smooth seeded texture, checker-tiled floor), plus the floor's world x and z per pixel
    (NaN off the floor) for the blob shadow. Rendered at 2x and area-averaged, so tile edges are smooth."""
    origin, d = _world_rays(camera, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(d[..., 1] < 0, -origin[1] / d[..., 1], np.inf)
        t_wall = np.where(d[..., 2] < 0, (WALL_Z - origin[2]) / d[..., 2], np.inf)
    on_floor = t_floor < t_wall
    t = np.where(on_floor, t_floor, t_wall)
    t = np.where(np.isfinite(t), t, 50.0)  # rays missing both (looking away) see a far wall
    p = origin + t[..., None] * d

    rng = np.random.default_rng(texture_seed)
    freq = rng.uniform(0.8, 4.0, size=(4, 2)) * rng.choice([-1, 1], size=(4, 2))
    phase = rng.uniform(0, 2 * np.pi, size=4)
    u = p[..., 0]
    v = np.where(on_floor, p[..., 2], p[..., 1])
    texture = sum(np.sin(freq[k, 0] * u + freq[k, 1] * v + phase[k]) for k in range(4)) * 0.025

    base = np.asarray(background, np.float64) / 255.0
    wall = base * (1.08 - 0.12 * np.clip(p[..., 1] / 2.5, 0, 1))[..., None]
    floor_base = 0.55 * base + 0.45 * base.mean()  # a duller, darker version of the wall colour
    checker = (np.floor(p[..., 0] / TILE) + np.floor(p[..., 2] / TILE)) % 2
    floor = floor_base * (0.72 + 0.08 * checker)[..., None]
    image = np.where(on_floor[..., None], floor, wall) * (1.0 + texture)[..., None]
    size = camera.size
    image = cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)

    _, d1 = _world_rays(camera, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(d1[..., 1] < 0, -origin[1] / d1[..., 1], np.inf)
        hit = origin + np.where(np.isfinite(t1), t1, 0.0)[..., None] * d1
    floor1 = np.isfinite(t1) & (hit[..., 2] > WALL_Z)
    fx = np.where(floor1, hit[..., 0], np.nan).astype(np.float32)
    fz = np.where(floor1, hit[..., 2], np.nan).astype(np.float32)
    return np.clip(image, 0, 1), fx, fz


def shadow_factor(joints: np.ndarray, body_scale: float, fx: np.ndarray, fz: np.ndarray) -> np.ndarray:
    """(T, H, W) float32 multiplier for the backdrop: a soft dark blob on the floor under the feet that
    fades as the dancer leaves the ground. joints: (T, 24, 3) world."""
    feet = joints[:, [7, 8, 10, 11]]
    centre = 0.5 * feet[:, :, [0, 2]].mean(1) + 0.5 * joints[:, 0, [0, 2]]
    lift = feet[:, :, 1].min(1) - 0.02 * body_scale
    strength = 0.45 * np.clip(1.0 - lift / 0.6, 0.3, 1.0)
    radius2 = (0.32 * body_scale) ** 2
    dx = fx[None] - centre[:, 0, None, None].astype(np.float32)
    dz = fz[None] - centre[:, 1, None, None].astype(np.float32)
    blob = np.exp(-(dx * dx + dz * dz) / np.float32(radius2))
    out = 1.0 - strength[:, None, None].astype(np.float32) * blob
    return np.where(np.isnan(out), np.float32(1.0), out).astype(np.float32)
