"""The articulated body as analytic primitives (capsules and ellipsoids) in camera space, ray-cast per pixel.

Rays start at the camera centre with direction (X, Y, 1) in OpenCV camera axes, so the ray parameter t of
a hit is its depth along the optical axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.data.synth.skeleton import (
    CAPSULES, ELLIPSOIDS, J, P, REST_OFFSETS, REST_TRUNK,
)

# Materials (rows of the identity palette).
SKIN, HAIR, TOP, TOP_ALT, BOTTOM, SHOES = range(6)
STRIPE_PERIOD = 0.07  # m, horizontal stripes on striped tops


@dataclass
class Primitive:
    kind: str  # "capsule" | "ellipsoid"
    part: int  # index into PART_NAMES (semantic label part + 1)
    a: np.ndarray  # capsule: (T, 3) start; ellipsoid: (T, 3) centre
    b: np.ndarray | None  # capsule: (T, 3) end
    axes: np.ndarray | None  # ellipsoid: (T, 3, 3) rows = unit lateral, up, forward axes
    radius: np.ndarray  # capsule: scalar radius (shape ()); ellipsoid: (3,) radii along the axes
    material: int
    stripe_offset: float = 0.0  # height of the ellipsoid centre on the trunk, so stripes continue


def _unit(v: np.ndarray, fallback) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > 1e-9, v / np.maximum(n, 1e-12), np.asarray(fallback, float))


def _frame(up: np.ndarray, lateral: np.ndarray) -> np.ndarray:
    """(T, 3, 3) orthonormal rows (lateral, up, forward); forward = lateral × up (the facing direction)."""
    up = _unit(up, [0.0, -1.0, 0.0])
    lateral = _unit(lateral - (lateral * up).sum(-1, keepdims=True) * up, [1.0, 0.0, 0.0])
    forward = np.cross(lateral, up)
    return np.stack([lateral, up, forward], axis=-2)


def _rotate_frame(frame: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Apply to each axis of ``frame`` the smallest rotation taking unit ``src`` to unit ``dst`` (T, 3)."""
    w = np.cross(src, dst)
    c = (src * dst).sum(-1)
    k = 1.0 / np.maximum(1.0 + c, 1e-6)
    out = []
    for i in range(3):
        x = frame[:, i]
        out.append(x * c[:, None] + np.cross(w, x) + w * ((w * x).sum(-1) * k)[:, None])
    return np.stack(out, axis=-2)


def body_scale(joints: np.ndarray) -> float:
    """Size of the body relative to the rest skeleton, from the pelvis→neck distance (median over frames)."""
    trunk = np.linalg.norm(joints[:, J["neck"]] - joints[:, J["pelvis"]], axis=-1)
    return float(np.clip(np.median(trunk) / REST_TRUNK, 0.5, 2.0))


def head_frame(cam_joints: np.ndarray) -> np.ndarray:
    """Head axes: the chest frame tilted as the neck→head bone is, relative to the rest pose."""
    j = cam_joints
    chest = _frame(j[:, J["neck"]] - j[:, J["spine1"]], j[:, J["left_shoulder"]] - j[:, J["right_shoulder"]])
    rest = REST_OFFSETS[J["head"]] / np.linalg.norm(REST_OFFSETS[J["head"]])  # (lateral, up, forward) coords
    src = rest[0] * chest[:, 0] + rest[1] * chest[:, 1] + rest[2] * chest[:, 2]
    dst = _unit(j[:, J["head"]] - j[:, J["neck"]], src)
    return _rotate_frame(chest, src, dst)


def head_centre(cam_joints: np.ndarray, frame: np.ndarray, scale: float) -> np.ndarray:
    return cam_joints[:, J["head"]] + scale * (0.055 * frame[:, 1] + 0.015 * frame[:, 2])


def build_primitives(cam_joints: np.ndarray, scale: float, limb_scale: np.ndarray, identity) -> list[Primitive]:
    """Capsules and ellipsoids of one dancer from (T, 24, 3) camera-space joints."""
    j = cam_joints
    shoulders = j[:, J["left_shoulder"]] - j[:, J["right_shoulder"]]
    hips = j[:, J["left_hip"]] - j[:, J["right_hip"]]
    twist = _unit(_unit(shoulders, [1, 0, 0]) + _unit(hips, [1, 0, 0]), [1, 0, 0])
    hframe = head_frame(j)
    frames = {
        "head": hframe,
        "chest": _frame(j[:, J["neck"]] - j[:, J["spine1"]], shoulders),
        "abdomen": _frame(j[:, J["spine2"]] - j[:, J["pelvis"]], twist),
        "pelvis": _frame(j[:, J["spine1"]] - j[:, J["pelvis"]], hips),
    }
    up = {name: f[:, 1] for name, f in frames.items()}
    centres = {
        "head": head_centre(j, hframe, scale),
        "chest": j[:, J["spine3"]] + 0.015 * scale * up["chest"],
        "abdomen": j[:, J["spine1"]],
        "pelvis": j[:, J["pelvis"]] - 0.03 * scale * up["pelvis"],
    }
    # Stripes are counted from the abdomen centre so they run on across chest and abdomen.
    stripe_offsets = {"chest": 0.2 * scale, "abdomen": 0.0}
    top_forearm = TOP if identity.long_sleeves else SKIN
    bottom_calf = BOTTOM if identity.long_pants else SKIN
    material = {
        "head": SKIN, "neck": SKIN, "chest": TOP, "abdomen": TOP, "pelvis": BOTTOM,
        "left_upper_arm": TOP, "right_upper_arm": TOP, "left_forearm": top_forearm,
        "right_forearm": top_forearm, "left_hand": SKIN, "right_hand": SKIN,
        "left_thigh": BOTTOM, "right_thigh": BOTTOM, "left_calf": bottom_calf, "right_calf": bottom_calf,
        "left_foot": SHOES, "right_foot": SHOES,
    }
    prims = []
    for name, radii in ELLIPSOIDS:
        r = np.asarray(radii) * scale * limb_scale[P[name]]
        prims.append(Primitive("ellipsoid", P[name], centres[name], None, frames[name], r, material[name],
                               stripe_offsets.get(name, 0.0)))
    for name, ja, jb, radius, extend in CAPSULES:
        a, b = j[:, ja], j[:, jb]
        b = b + extend * (b - a)
        r = np.asarray(radius * scale * limb_scale[P[name]])
        prims.append(Primitive("capsule", P[name], a, b, None, r, material[name]))
    return prims


def screen_bounds(prim: Primitive, focal: float, center, near: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame pixel bounds [x0, x1, y0, y1] (T, 4) of the primitive, and a (T,) mask of frames where it
    lies wholly beyond the near plane. Rigorous: each bounding sphere lies in the box centre ± r, and
    x/z over a box is extreme at its corners; a capsule's projection is within its two end spheres'."""
    if prim.kind == "capsule":
        pts = np.stack([prim.a, prim.b], axis=1)  # (T, 2, 3)
        reach = float(prim.radius)
    else:
        pts = prim.a[:, None]
        reach = float(np.max(prim.radius))
    z = pts[..., 2]
    ok = (z - reach).min(1) > near
    zs = (np.maximum(z - reach, near), z + reach)
    out = []
    for axis, c in ((0, center[0]), (1, center[1])):
        lo = np.minimum(*(c + focal * (pts[..., axis] - reach) / d for d in zs)).min(1)
        hi = np.maximum(*(c + focal * (pts[..., axis] + reach) / d for d in zs)).max(1)
        out += [lo - 1.0, hi + 1.0]  # +1 px: pixel centres are tested, not pixel areas
    return np.stack(out, axis=1), ok


def intersect(prim: Primitive, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Depth t of the first hit of rays (X, Y, 1); X (T, 1, w), Y (T, h, 1), primitive arrays (T, ...).
    Returns (T, h, w) float32, inf where the ray misses."""
    f32 = np.float32
    dd = X * X + Y * Y + f32(1.0)
    if prim.kind == "capsule":
        a = prim.a.astype(f32)
        b = prim.b.astype(f32)
        r2 = f32(float(prim.radius) ** 2)
        ba = b - a
        col = lambda v: v[:, None, None]  # noqa: E731  (T,) → (T, 1, 1)
        baba = col((ba * ba).sum(-1))
        bard = col(ba[:, 0]) * X + col(ba[:, 1]) * Y + col(ba[:, 2])
        baoa = col(-(ba * a).sum(-1))
        rdoa = -(col(a[:, 0]) * X + col(a[:, 1]) * Y + col(a[:, 2]))
        k2 = baba * dd - bard * bard
        k1 = baba * rdoa - baoa * bard
        k0 = baba * col((a * a).sum(-1)) - baoa * baoa - r2 * baba
        h = k1 * k1 - k2 * k0
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-k1 - np.sqrt(h)) / k2
            along = baoa + t * bard  # position of the hit along the axis, in units of |ba|
            best = np.where((h >= 0) & (k2 > 1e-12) & (along > 0) & (along < baba) & (t > 0), t, np.inf)
            for c in (a, b):  # the end spheres; the union's first hit is the nearest of the three
                half_b = -(col(c[:, 0]) * X + col(c[:, 1]) * Y + col(c[:, 2]))
                hs = half_b * half_b - dd * col((c * c).sum(-1) - r2)
                ts = (-half_b - np.sqrt(hs)) / dd
                best = np.where((hs >= 0) & (ts > 0) & (ts < best), ts, best)
        return best.astype(f32)
    axes = prim.axes.astype(f32)
    radii = prim.radius.astype(f32)
    c = prim.a.astype(f32)
    o = -np.einsum("tij,tj->ti", axes, c) / radii  # ray origin in the unit-sphere frame
    dl = [(axes[:, i, 0, None, None] * X + axes[:, i, 1, None, None] * Y + axes[:, i, 2, None, None]) / radii[i]
          for i in range(3)]
    qa = dl[0] * dl[0] + dl[1] * dl[1] + dl[2] * dl[2]
    qb = o[:, 0, None, None] * dl[0] + o[:, 1, None, None] * dl[1] + o[:, 2, None, None] * dl[2]
    qc = ((o * o).sum(-1) - 1.0)[:, None, None]
    h = qb * qb - qa * qc
    with np.errstate(invalid="ignore"):
        t = (-qb - np.sqrt(h)) / qa
    return np.where((h >= 0) & (t > 0), t, np.inf).astype(f32)


def surface(prim: Primitive, frame: np.ndarray, x: np.ndarray, y: np.ndarray, t: np.ndarray,
            scale: float, stripes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (n, 3) float32 in camera axes and material ids (n,) at hits given by frame index,
    ray X, Y and depth t (all (n,))."""
    f32 = np.float32
    p = (x * t, y * t, t)
    material = np.full(len(t), prim.material, dtype=np.uint8)
    if prim.kind == "capsule":
        a = prim.a[frame].astype(f32)
        ba = prim.b[frame].astype(f32) - a
        rel = [p[i] - a[:, i] for i in range(3)]
        baba = np.maximum(ba[:, 0] * ba[:, 0] + ba[:, 1] * ba[:, 1] + ba[:, 2] * ba[:, 2], f32(1e-12))
        s = np.clip((rel[0] * ba[:, 0] + rel[1] * ba[:, 1] + rel[2] * ba[:, 2]) / baba, f32(0), f32(1))
        n = [rel[i] - s * ba[:, i] for i in range(3)]  # from the nearest axis point to the hit
    else:
        axes = prim.axes[frame].astype(f32)
        radii = prim.radius.astype(f32)
        rel = [p[i] - prim.a[frame, i].astype(f32) for i in range(3)]
        # unit-sphere coordinates (lateral, up, forward) of the hit, then the gradient of |q|^2
        q = [(axes[:, k, 0] * rel[0] + axes[:, k, 1] * rel[1] + axes[:, k, 2] * rel[2]) / radii[k]
             for k in range(3)]
        g = [q[k] / radii[k] for k in range(3)]
        n = [axes[:, 0, i] * g[0] + axes[:, 1, i] * g[1] + axes[:, 2, i] * g[2] for i in range(3)]
        if prim.part == P["head"]:  # hair on the crown and the back of the head
            material[(q[1] > 0.35) | ((q[2] < -0.1) & (q[1] > -0.45))] = HAIR
        elif stripes and prim.material == TOP:
            height = q[1] * radii[1] + f32(prim.stripe_offset)
            material[np.floor(height / f32(STRIPE_PERIOD * scale)).astype(np.int64) % 2 == 1] = TOP_ALT
    norm = np.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    norm = np.maximum(norm, f32(1e-12))
    return np.stack([n[0] / norm, n[1] / norm, n[2] / norm], axis=-1), material
