"""SDGPip renderer: SMPL joints → RGB video and the guidance maps (depth, normal, semantic, skeleton,
heatmap) plus COCO-17 keypoints, by analytic ray casting of an articulated capsule/ellipsoid body.

Everything is numpy on the CPU, elementwise per pixel (no reductions over pixels), so the same inputs give
byte-identical outputs on a given machine and numpy build, whatever the thread settings.
"""
from __future__ import annotations

import cv2
import numpy as np

from evalkit.data.synth.body import (
    BOTTOM, HAIR, SHOES, SKIN, TOP, TOP_ALT, body_scale, build_primitives, head_centre, head_frame,
    intersect, screen_bounds, surface,
)
from evalkit.data.synth.draw import draw_skeleton
from evalkit.data.synth.scene import Camera, Identity, backdrop, pixel_rays, shadow_factor
from evalkit.data.synth.skeleton import (  # noqa: F401  (re-exported names: see __all__)
    CAPSULES, COCO17_FROM_SMPL, COCO17_OWNERS, ELLIPSOIDS, P, PART_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS,
    rest_skeleton, t_pose,
)
from evalkit.errors import EvalkitError

__all__ = [
    "Identity", "Camera", "render_sequence", "coco17_points", "MAP_NAMES", "SEMANTIC_COLORS",
    "SMPL_PARENTS", "SMPL_JOINT_NAMES", "COCO17_FROM_SMPL", "PART_NAMES", "t_pose", "rest_skeleton",
]

MAP_NAMES = ("rgb", "depth", "normal", "semantic", "skeleton", "heatmap")
NEAR = 0.05  # m: primitives reaching closer to the camera than this are not drawn in that frame
# Semantic colours (RGB), row = label = part index + 1; row 0 is the background.
SEMANTIC_COLORS = np.array([
    [0, 0, 0],
    [255, 220, 60], [200, 140, 40], [220, 40, 40], [250, 120, 100], [150, 30, 90],       # head … pelvis
    [60, 120, 255], [255, 110, 30], [40, 200, 255], [255, 170, 90], [120, 230, 255], [255, 220, 160],  # arms
    [40, 180, 60], [170, 90, 220], [120, 240, 120], [210, 160, 255], [0, 110, 70], [110, 40, 160],     # legs
], dtype=np.uint8)
SEMANTIC_LUT = [np.zeros(256, dtype=np.uint8) for _ in range(3)]
for _c in range(3):
    SEMANTIC_LUT[_c][:len(SEMANTIC_COLORS)] = SEMANTIC_COLORS[:, _c]
LIGHT = np.array([-0.4, -0.6, -0.7]) / np.linalg.norm([-0.4, -0.6, -0.7])  # towards the light, camera axes
AMBIENT, DIFFUSE = 0.38, 0.62
VISIBLE, OCCLUDED, OUTSIDE = 1.0, 0.5, 0.0  # keypoints2d[..., 2]
HEATMAP_FLOOR = np.float32(2.0 ** -14)
OCCLUSION_SLACK = 0.03  # m: tolerance of the visibility test (face points sit ~1 cm inside the head)


def coco17_points(joints3d: np.ndarray, camera: Camera | None = None) -> np.ndarray:
    """(T, 17, 3) COCO-17 points in metres: body joints from SMPL joints, nose/eyes/ears on the head ellipsoid
    (head/neck joints + facing direction). World coordinates, or camera axes when ``camera`` is given."""
    joints = _check_joints(joints3d)
    pts = joints if camera is None else camera.to_camera(joints)
    return _coco17(pts, body_scale(joints), 1.0)


def _coco17(j: np.ndarray, scale: float, head_scale: float) -> np.ndarray:
    frame = head_frame(j)
    centre = head_centre(j, frame, scale)
    rl, ru, rf = np.asarray(ELLIPSOIDS[0][1]) * scale * head_scale
    lat, up, fwd = frame[:, 0], frame[:, 1], frame[:, 2]
    face = [
        centre + 0.97 * rf * fwd - 0.22 * ru * up,  # nose
        centre + 0.88 * rf * fwd + 0.12 * ru * up + 0.40 * rl * lat,  # left eye (the dancer's left)
        centre + 0.88 * rf * fwd + 0.12 * ru * up - 0.40 * rl * lat,  # right eye
        centre - 0.05 * ru * up + rl * lat,  # left ear, on the head's widest outline seen from the front
        centre - 0.05 * ru * up - rl * lat,  # right ear
    ]
    body = [j[:, idx] for idx in COCO17_FROM_SMPL[5:]]
    return np.stack(face + body, axis=1)


def _check_joints(joints3d) -> np.ndarray:
    joints = np.asarray(joints3d, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (24, 3) or joints.shape[0] == 0:
        raise EvalkitError(f"joints3d must have shape (T, 24, 3) with T >= 1 (SMPL joints in metres), "
                           f"got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        bad = int((~np.isfinite(joints)).any(axis=(1, 2)).sum())
        raise EvalkitError(f"joints3d has non-finite values in {bad} frame(s); fill or drop them before rendering")
    return joints


def _palette(identity: Identity) -> np.ndarray:
    """(6, 3) float32 albedo in [0, 1] per material; checks every colour of the identity."""
    colours = {"skin": identity.skin, "hair": identity.hair, "top": identity.top, "bottom": identity.bottom,
               "shoes": identity.shoes, "background": identity.background}
    for name, value in colours.items():
        rgb = np.asarray(value, dtype=np.float64)
        if rgb.shape != (3,) or not np.all(np.isfinite(rgb)) or np.any(rgb < 0) or np.any(rgb > 255):
            raise EvalkitError(f"Identity.{name} must be an RGB triple in 0-255, got {value!r}")
    top = np.asarray(identity.top, np.float64)
    alt = np.where(top.mean() > 110, top * 0.55, top * 0.4 + 150)  # a contrasting stripe colour
    rows = [identity.skin, identity.hair, identity.top, alt, identity.bottom, identity.shoes]
    order = (SKIN, HAIR, TOP, TOP_ALT, BOTTOM, SHOES)
    pal = np.zeros((6, 3))
    for k, row in zip(order, rows):
        pal[k] = row
    return (pal / 255.0).astype(np.float32)


def _windows(bounds: np.ndarray, ok: np.ndarray, size: int):
    """Integer windows of one common shape (h, w) per frame covering each frame's bounds; None if empty."""
    x0 = np.clip(np.floor(bounds[:, 0]), 0, size).astype(np.int64)
    x1 = np.clip(np.ceil(bounds[:, 1]) + 1, 0, size).astype(np.int64)
    y0 = np.clip(np.floor(bounds[:, 2]), 0, size).astype(np.int64)
    y1 = np.clip(np.ceil(bounds[:, 3]) + 1, 0, size).astype(np.int64)
    ok = ok & (x1 > x0) & (y1 > y0)
    if not ok.any():
        return None
    w = int((x1 - x0)[ok].max())
    h = int((y1 - y0)[ok].max())
    return np.minimum(x0, size - w), np.minimum(y0, size - h), h, w, ok


def _raycast(prims, t0, t1, size, xs, ys):
    """Z-buffer the primitives over frames t0:t1. Returns depth (n, H, W) float32 (inf = background) and
    the index + 1 of the primitive seen at each pixel (n, H, W) uint8 (0 = background)."""
    n = t1 - t0
    zbuf = np.full((n, size, size), np.inf, dtype=np.float32)
    owner = np.zeros((n, size, size), dtype=np.uint8)
    flat_z, flat_o = zbuf.reshape(-1), owner.reshape(-1)
    for k, (prim, (bounds, ok)) in enumerate(prims):
        win = _windows(bounds[t0:t1], ok[t0:t1], size)
        if win is None:
            continue
        x0, y0, h, w, ok_w = win
        cols = x0[:, None] + np.arange(w)  # (n, w)
        rows = y0[:, None] + np.arange(h)  # (n, h)
        depth = intersect(_slice(prim, t0, t1), xs[cols][:, None, :], ys[rows][:, :, None])
        depth[~ok_w] = np.inf
        index = (np.arange(n)[:, None, None] * size + rows[:, :, None]) * size + cols[:, None, :]
        closer = depth < flat_z[index]
        hit = index[closer]  # pixels within one frame's window are distinct: no write races
        flat_z[hit] = depth[closer]
        flat_o[hit] = k + 1
    return zbuf, owner


def _surfaces(prims, t0, pix, owner, zbuf, size, xs, ys, scale, stripes):
    """Unit normals (n, 3) float32 (camera axes) and material ids (n,) at the body pixels ``pix`` (flat
    indices into the chunk), computed once per pixel for the primitive that won the z-buffer."""
    normals = np.zeros((len(pix), 3), dtype=np.float32)
    materials = np.zeros(len(pix), dtype=np.uint8)
    seen = owner.reshape(-1)[pix]
    order = np.argsort(seen, kind="stable")  # group the pixels by primitive
    bounds = np.searchsorted(seen[order], np.arange(1, len(prims) + 2))
    pix_sorted = pix[order]
    frame, rest = np.divmod(pix_sorted, size * size)
    row, col = np.divmod(rest, size)
    t = zbuf.reshape(-1)[pix_sorted]
    for k, (prim, _) in enumerate(prims):
        lo, hi = bounds[k], bounds[k + 1]
        if hi == lo:
            continue
        sel = order[lo:hi]
        nrm, mat = surface(prim, frame[lo:hi] + t0, xs[col[lo:hi]], ys[row[lo:hi]], t[lo:hi], scale, stripes)
        normals[sel] = nrm
        materials[sel] = mat
    return normals, materials


def _slice(prim, t0, t1):
    from dataclasses import replace
    return replace(prim, a=prim.a[t0:t1], b=None if prim.b is None else prim.b[t0:t1],
                   axes=None if prim.axes is None else prim.axes[t0:t1])


def keypoint_reach(scale: float, limb_scale: np.ndarray) -> np.ndarray:
    """(17,) how deep (m) each COCO keypoint may lie under the visible surface and still count as seen:
    0 for the face points (on the head's surface), else the thickest body part around the joint
    (capsule radius, or an ellipsoid's forward radius)."""
    thickness = np.zeros(len(PART_NAMES))
    for name, _, _, radius, _ in CAPSULES:
        thickness[P[name]] = max(thickness[P[name]], radius)
    for name, radii in ELLIPSOIDS:
        thickness[P[name]] = max(thickness[P[name]], radii[2])
    thickness *= scale * np.asarray(limb_scale)
    reach = np.array([max(thickness[P[name]] for name in parts) for parts in COCO17_OWNERS])
    reach[:5] = 0.0
    return reach


def _visibility(kp_xy, kp_z, zbuf, size, reach):
    """(n, 17) VISIBLE / OCCLUDED / OUTSIDE. A keypoint in the image is hidden when the surface seen at its
    pixel is nearer than the keypoint's depth minus its reach (and a small slack)."""
    n = kp_xy.shape[0]
    px = np.rint(kp_xy).astype(np.int64)
    inside = (kp_z > NEAR) & (px[..., 0] >= 0) & (px[..., 0] < size) & (px[..., 1] >= 0) & (px[..., 1] < size)
    cx = np.clip(px[..., 0], 0, size - 1)
    cy = np.clip(px[..., 1], 0, size - 1)
    seen_depth = zbuf[np.arange(n)[:, None], cy, cx]  # inf where no body part is drawn
    unhidden = seen_depth >= kp_z - reach - OCCLUSION_SLACK
    return np.where(inside, np.where(unhidden, VISIBLE, OCCLUDED), OUTSIDE)


def _heatmaps(kp: np.ndarray, size: int) -> np.ndarray:
    """(n, 17, size//4, size//4) Gaussians at the keypoints (stride 4: heatmap pixel j ↔ image x = 4j + 1.5),
    sigma = max(1, size/128) heatmap pixels; zero for keypoints outside the image. Values below the smallest
    normal float16 (2^-14, i.e. beyond ~4.4 sigma) are stored as 0, which also keeps numpy's cast fast."""
    hs = size // 4
    sigma = max(1.0, size / 128)  # 2 px at 256² (64² maps), the usual heatmap width
    grid = np.arange(hs, dtype=np.float32)
    mu = ((kp[..., :2] - 1.5) / 4.0).astype(np.float32)
    gx = np.exp(-((grid - mu[..., 0, None]) ** 2) / np.float32(2 * sigma * sigma))
    gy = np.exp(-((grid - mu[..., 1, None]) ** 2) / np.float32(2 * sigma * sigma))
    gx = gx * (kp[..., 2, None] > 0)
    maps = gy[..., :, None] * gx[..., None, :]
    maps[maps < HEATMAP_FLOOR] = 0.0
    return _to_float16(maps)


def _lut(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """table[values] for uint8 arrays via OpenCV's LUT (as a 2-D image: no channel-count limits)."""
    return cv2.LUT(values.reshape(-1, values.shape[-1]), table).reshape(values.shape)


def _to_float16(x: np.ndarray) -> np.ndarray:
    # numpy's cast rounds to nearest even; it is slow only for float16 subnormals, which we never produce.
    return x.astype(np.float16)


def render_sequence(joints3d: np.ndarray, identity: Identity, camera: Camera,
                    maps=MAP_NAMES, *, chunk: int = 16) -> dict[str, np.ndarray]:
    """Render a dancer. joints3d: (T, 24, 3) SMPL joints, metres, y up, feet near y = 0.

    Returns the requested maps, each with T frames: "rgb", "normal" (camera-space unit normals, x right,
    y up, z towards the camera, mapped (n+1)*127.5; background 0), "semantic" (SEMANTIC_COLORS by part),
    "skeleton" (DWPose-style) as uint8 (T, H, W, 3); "depth" float16 (T, H, W) metres along the optical
    axis (0 = background); "heatmap" float16 (T, 17, H/4, W/4); and always "keypoints2d" (T, 17, 3): COCO-17
    pixel x, y and visibility (1 visible, 0.5 hidden behind the body, 0 outside the image).
    ``chunk`` frames are ray-cast together (memory ~ chunk * H * W * 30 bytes); results do not depend on it.
    """
    joints = _check_joints(joints3d)
    unknown = [m for m in maps if m not in MAP_NAMES]
    if unknown:
        raise EvalkitError(f"unknown map(s) {unknown}; choose from {', '.join(MAP_NAMES)}")
    if int(chunk) < 1:
        raise EvalkitError(f"chunk must be >= 1, got {chunk}")
    limb_scale = identity.checked_limb_scale()
    palette = _palette(identity)
    size = int(camera.size)
    T = joints.shape[0]
    scale = body_scale(joints)
    cam_joints = camera.to_camera(joints)
    prims = build_primitives(cam_joints, scale, limb_scale, identity)
    prims = [(p, screen_bounds(p, camera.focal, camera.center, NEAR)) for p in prims]
    xs, ys = (v.astype(np.float32) for v in pixel_rays(camera))
    part_lut = np.zeros(256, dtype=np.uint8)  # primitive id + 1 → semantic label
    part_lut[1:len(prims) + 1] = [p.part + 1 for p, _ in prims]

    kp3 = _coco17(cam_joints, scale, limb_scale[P["head"]])
    reach = keypoint_reach(scale, limb_scale)
    kp_z = kp3[..., 2]
    kp_xy = np.stack([camera.center[0] + camera.focal * kp3[..., 0] / np.maximum(kp_z, NEAR),
                      camera.center[1] + camera.focal * kp3[..., 1] / np.maximum(kp_z, NEAR)], axis=-1)
    keypoints = np.concatenate([kp_xy, np.zeros((T, 17, 1))], axis=-1)

    want = set(maps)
    need_surface = bool(want & {"rgb", "normal"})
    out: dict[str, np.ndarray] = {}
    for name in ("rgb", "normal", "semantic", "skeleton"):
        if name in want:
            out[name] = np.zeros((T, size, size, 3), dtype=np.uint8)
    if "depth" in want:
        out["depth"] = np.zeros((T, size, size), dtype=np.float16)
    if "heatmap" in want:
        out["heatmap"] = np.zeros((T, 17, size // 4, size // 4), dtype=np.float16)
    if "rgb" in want:
        back, floor_x, floor_z = backdrop(identity, camera)
        back_u8 = np.rint(back * 255.0).astype(np.uint8)
        floor_rows = np.flatnonzero(np.isfinite(floor_x).any(axis=1))
        r0 = int(floor_rows[0]) if len(floor_rows) else size  # the shadow can only fall on rows r0:
        light = LIGHT.astype(np.float32)

    for t0 in range(0, T, int(chunk)):
        t1 = min(T, t0 + int(chunk))
        zbuf, owner = _raycast(prims, t0, t1, size, xs, ys)
        label = _lut(owner, part_lut)
        body = owner > 0
        pix = np.flatnonzero(body)  # the body covers a small part of the frame: shade only there
        keypoints[t0:t1, :, 2] = _visibility(kp_xy[t0:t1], kp_z[t0:t1], zbuf, size, reach)
        if "depth" in want:
            zbuf[~body] = 0.0
            out["depth"][t0:t1] = _to_float16(zbuf)
        if "semantic" in want:
            sem = out["semantic"][t0:t1]
            for c in range(3):  # a table look-up per channel: much faster than fancy indexing
                sem[..., c] = _lut(label, SEMANTIC_LUT[c])
        if need_surface:
            nrm, material = _surfaces(prims, t0, pix, owner, zbuf, size, xs, ys, scale, identity.stripes)
        if "normal" in want:
            gl = nrm * np.array([1.0, -1.0, -1.0], dtype=np.float32)  # OpenCV → OpenGL-style axes
            out["normal"][t0:t1].reshape(-1, 3)[pix] = np.rint((gl + 1.0) * 127.5).astype(np.uint8)
        if "rgb" in want:
            rgb = out["rgb"][t0:t1]
            rgb[:] = back_u8
            if r0 < size:
                shadow = shadow_factor(joints[t0:t1], scale, floor_x[r0:], floor_z[r0:])
                rgb[:, r0:] = np.rint(back[r0:] * 255.0 * shadow[..., None]).astype(np.uint8)
            lambert = nrm[:, 0] * light[0] + nrm[:, 1] * light[1] + nrm[:, 2] * light[2]
            shade = AMBIENT + DIFFUSE * np.maximum(lambert, 0.0)
            person = palette[material] * shade[:, None]
            rgb.reshape(-1, 3)[pix] = np.rint(np.clip(person, 0.0, 1.0) * 255.0).astype(np.uint8)
        if "skeleton" in want:
            for k in range(t0, t1):
                out["skeleton"][k] = draw_skeleton(keypoints[k], size, size)
        if "heatmap" in want:
            out["heatmap"][t0:t1] = _heatmaps(keypoints[t0:t1], size)
    out["keypoints2d"] = keypoints
    return out
