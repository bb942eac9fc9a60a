"""Guidance drawn from M2PEnc's keypoints (``guidance_source="keypoints"``), instead of its regressed features.

M2PEnc regresses the guidance encoders' summed features G* directly (the paper's path, ``"m2penc"``). Where the
music does not fix the pose, that regression averages poses, and the denoiser turns the averaged features into
limb fragments. This path takes M2PEnc's regressed keypoints (``tiny`` with a sequence encoder), or reads them
from its heatmaps (``keypoints_from_heat``: place from the peak, motion from the soft-argmax), draws them as the
DWPose-style skeleton map the skeleton encoder was trained on, and feeds the guidance encoders that map alone — the other map types (semantic, depth, …) are zero maps, which stages
2 and 3 train for with ``guidance_dropout`` — so the denoiser gets guidance on its training distribution.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .data import GUIDANCE_ALIASES, reference_latent_keypoints
from .windows import windows
from .m2penc import soft_argmax

SOURCES = ("m2penc", "keypoints")
VISIBLE_PEAK = 0.1  # a joint whose heatmap peak stays below this is not drawn (targets peak at 1)


def skeleton_type(types) -> str:
    """The config's name for the skeleton map ('skeleton' in tiny, CHAMP's 'dwpose' in full)."""
    for t in types:
        if GUIDANCE_ALIASES.get(t, t) == "skeleton":
            return t
    raise ValueError(f"no skeleton guidance among {tuple(types)}")


def drop_maps(maps: dict[str, torch.Tensor], skeleton: str, drop: torch.Tensor | None = None) -> dict:
    """Zero every map but the skeleton, for the samples where ``drop`` (B,) is True (all when None)."""
    out = {}
    for k, v in maps.items():
        if k == skeleton:
            out[k] = v
        elif drop is None:
            out[k] = torch.zeros_like(v)
        else:
            out[k] = v * (~drop).view(-1, *([1] * (v.dim() - 1))).to(v.dtype)
    return out


@torch.no_grad()
def m2penc_sequence(model, feats, window: int, overlap: int,
                    reference: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """M2PEnc on a whole clip: heatmaps (1, K, T, s, s) and regressed keypoints (1, K, T, 2) in latent pixels
    (None when M2PEnc does not regress them); windows of ``window`` frames, overlaps averaged. ``reference``
    (K, 3): the reference's keypoints in latent pixels, for an M2PEnc that reads them."""
    param = next(model.m2penc.parameters())
    x = torch.as_tensor(np.asarray(feats), dtype=torch.float32).unsqueeze(0).to(param.device, param.dtype)
    ref = None if reference is None else torch.as_tensor(np.asarray(reference), dtype=torch.float32,
                                                         device=param.device)[None]
    n = x.shape[1]
    heat_acc = kp_acc = None
    count = torch.zeros(n, device=param.device)
    for a, b in windows(n, window, overlap):
        _, heat, kp = model.m2penc(x[:, a:b], keypoints=True, reference=ref)
        if heat_acc is None:
            heat_acc = heat.new_zeros(heat.shape[:2] + (n,) + heat.shape[3:], dtype=torch.float32)
            kp_acc = None if kp is None else kp.new_zeros(kp.shape[:2] + (n, 2), dtype=torch.float32)
        heat_acc[:, :, a:b] += heat.float()
        if kp is not None:
            kp_acc[:, :, a:b] += kp.float()
        count[a:b] += 1
    heat = heat_acc / count.view(1, 1, -1, 1, 1)
    return heat, None if kp_acc is None else kp_acc / count.view(1, 1, -1, 1)


def heat_sequence(model, feats, window: int, overlap: int) -> torch.Tensor:
    """M2PEnc heatmaps for a whole clip (1, K, T, s, s) (``m2penc_sequence``)."""
    return m2penc_sequence(model, feats, window, overlap)[0]


def m2penc_keypoints(model, feats, anchor_frames: int | None = None,
                     reference_keypoints: np.ndarray | None = None) -> np.ndarray:
    """(T, K, 3) keypoints (x, y, visible) in pixels of the model's frame: the regressed ones when M2PEnc has
    them, else read from the heatmaps (``keypoints_from_heat``). ``reference_keypoints`` (K, 3) in the same
    pixels: read by an M2PEnc with ``reference_pose`` (its training mean reference when None)."""
    cfg = model.cfg
    ref = None
    if reference_keypoints is not None and model.m2penc.reads_reference_pose:  # the model's square → latent pixels
        ref = reference_latent_keypoints(reference_keypoints, (cfg.size, cfg.size), cfg.latent_size)
    heat, kp = m2penc_sequence(model, feats, cfg.window, cfg.overlap, ref)
    if kp is None:
        return keypoints_from_heat(heat, cfg.size, cfg.keypoint_anchor if anchor_frames is None else anchor_frames)
    return _in_pixels(kp[0].cpu().numpy().transpose(1, 0, 2), heat, cfg.size)


def _in_pixels(xy: np.ndarray, heat: torch.Tensor, size: int) -> np.ndarray:
    """(T, K, 2) latent-pixel keypoints → (T, K, 3) in pixels of the ``size``² frame, visible where the joint's
    heatmap peak reaches ``VISIBLE_PEAK``."""
    f = size / heat.shape[-1]
    shown = (heat[0].float().cpu().amax(dim=(-2, -1)) >= VISIBLE_PEAK).T.numpy()
    return np.concatenate([(xy + 0.5) * f - 0.5, shown[..., None]], -1).astype(np.float64)


def keypoints_from_heat(heat: torch.Tensor, size: int, anchor_frames: int = 24) -> np.ndarray:
    """(1, K, T, s, s) heatmaps → (T, K, 3) COCO keypoints (x, y, visible) in pixels of the ``size``² frame.

    Two readouts of M2PEnc's heatmaps disagree. The soft-argmax over the whole map (what the motion term trains
    and `evaluate pose` scores) carries the beat-timed motion, but the maps' diffuse positive mass pulls every
    joint towards the map centre (on the test split the body comes out at 55 % of its size, 14.9 px mean error);
    the centre of mass above half the peak places the joints (9.7 px) but hardly moves. So each joint takes its
    place from the peak readout and its motion from the soft-argmax: the peak readout's moving average over
    ``anchor_frames`` plus the soft-argmax's deviation from its own moving average (README, "keypoint guidance").
    """
    from scipy.ndimage import uniform_filter1d

    h = heat[0].float().cpu()  # (K, T, s, s)
    soft = soft_argmax(h[None])[0].numpy()  # (K, T, 2), latent pixels
    above = (h - 0.5 * h.amax(dim=(-2, -1), keepdim=True)).clamp_min(0)
    peak = soft_argmax(above[None])[0].numpy()
    mean = lambda x: uniform_filter1d(x, max(1, anchor_frames), axis=1, mode="nearest")  # noqa: E731
    xy = (mean(peak) + soft - mean(soft)).transpose(1, 0, 2)  # (T, K, 2)
    return _in_pixels(xy, heat, size)


# COCO-17 indices of the points that measure a body: face (head top side), hips, ankles
FACE, HIPS, ANKLES = (0, 1, 2, 3, 4), (11, 12), (15, 16)


def body_measure(kp: np.ndarray) -> np.ndarray | None:
    """(17, 3) keypoints → (hip centre x, feet line y, head-to-feet height) in their pixels, or None when a
    face point, both hips or both ankles are not visible."""
    seen = [kp[list(ix)][kp[list(ix), 2] > 0] for ix in (FACE, HIPS, ANKLES)]
    if any(len(s) == 0 for s in seen):
        return None
    face, hips, ankles = seen
    head, feet = face[:, 1].mean(), ankles[:, 1].mean()
    return np.array([hips[:, 0].mean(), feet, feet - head])


COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)  # each joint's other side


def face_the_camera(kp: np.ndarray) -> tuple[np.ndarray, bool]:
    """(17, 3) keypoints of a reference image → the same body seen from the front, and whether its sides were
    swapped. A pose estimator cannot tell a faceless figure's front from its back (BlazePose mirrors SDGPip's
    dancers: 31 px from the true joints at 256², 3.8 px swapped); M2PEnc learned only dancers facing the camera,
    whose left shoulder and hip lie on the image's right. Where both visible pairs say the other way, the sides
    are swapped; a body with neither pair visible is left as it is."""
    kp = np.asarray(kp, np.float64)
    votes = [kp[left, 0] - kp[right, 0] for left, right in ((5, 6), (11, 12)) if kp[left, 2] > 0 and kp[right, 2] > 0]
    if votes and all(v < 0 for v in votes):
        return kp[list(COCO_FLIP)].copy(), True
    return kp, False


@lru_cache(maxsize=1)
def sdgpip_body_prior(dancers: int = 256) -> tuple[float, float, float]:
    """The average SDGPip dancer's relaxed stance (what a music-only M2PEnc trained on SDGPip draws): mean hip
    centre x, feet line y and head-to-feet height, as fractions of the frame side (the default camera)."""
    from evalkit.data.synth.motion import Dancer, neutral_pose
    from evalkit.data.synth.pipeline import DANCER_STREAM, _rng
    from evalkit.data.synth.render import Camera, Identity, render_sequence

    size, rows = 256, []
    for i in range(dancers):
        rng = _rng(2026, DANCER_STREAM, i)
        dancer, identity = Dancer.random(rng), Identity.random(rng)
        kp = render_sequence(neutral_pose(dancer)[None], identity, Camera.default(size), maps=())["keypoints2d"][0]
        rows.append(body_measure(kp))
    return tuple(float(v) for v in np.mean(rows, axis=0) / size)


def retarget(keypoints: np.ndarray, reference: np.ndarray, size: int,
             prior: tuple[float, float, float] | None = None) -> np.ndarray | None:
    """Map keypoints (T, K, 3) drawn for the average dancer (``prior``, fractions of the ``size``² frame;
    default ``sdgpip_body_prior``) onto the reference's body (17, 3) in the same frame: scaled by the reference's
    height over the prior's, about the prior's hip centre x and feet line, which land on the reference's. None
    when the reference's body cannot be measured (``body_measure``)."""
    ref = body_measure(np.asarray(reference, np.float64))
    if ref is None:
        return None
    hip_x, feet, height = np.asarray(prior or sdgpip_body_prior()) * size
    out = np.array(keypoints, np.float64, copy=True)
    out[..., :2] = ref[:2] + ref[2] / height * (out[..., :2] - np.array([hip_x, feet]))
    return out


def reference_body_keypoints(model, feats, anchor_frames: int | None = None,
                             reference_keypoints: np.ndarray | None = None) -> np.ndarray:
    """M2PEnc's keypoints (T, K, 3) on the reference's body when its keypoints (17, 3, the model's frame) are
    given and measurable (``body_measure``): read by an M2PEnc with ``reference_pose``, else mapped afterwards
    (``retarget``); on the average (or training-mean) body otherwise."""
    if reference_keypoints is not None and body_measure(np.asarray(reference_keypoints, np.float64)) is None:
        reference_keypoints = None
    if model.m2penc.reads_reference_pose:
        return m2penc_keypoints(model, feats, anchor_frames, reference_keypoints)
    kp = m2penc_keypoints(model, feats, anchor_frames)
    moved = None if reference_keypoints is None else retarget(kp, reference_keypoints, model.cfg.size)
    return kp if moved is None else moved


def render_skeletons(keypoints: np.ndarray, size: int) -> torch.Tensor:
    """(T, K, 3) keypoints → skeleton maps (1, 3, T, size, size) in [0, 1], drawn as the training maps are."""
    from evalkit.data.synth.draw import draw_skeleton

    maps = np.stack([draw_skeleton(kp, size, size) for kp in keypoints])
    return torch.from_numpy(maps).permute(3, 0, 1, 2).unsqueeze(0).float().div(255.0)


@torch.no_grad()
def keypoint_guidance(model, feats, anchor_frames: int | None = None,
                      reference_keypoints: np.ndarray | None = None) -> torch.Tensor:
    """Music features (T, D) → guidance (1, C_guid, T, s, s) from M2PEnc's keypoints through the encoders;
    ``anchor_frames``: the heatmap readout's moving average (default ``cfg.keypoint_anchor``; unused when M2PEnc
    regresses keypoints); ``reference_keypoints`` (17, 3) in the model's frame: the keypoints are first mapped onto
    the reference's body (``retarget``; left as they are when its body cannot be measured)."""
    return skeleton_guidance(model, reference_body_keypoints(model, feats, anchor_frames, reference_keypoints))


@torch.no_grad()
def skeleton_guidance(model, keypoints: np.ndarray) -> torch.Tensor:
    """(T, K, 3) keypoints (x, y, visible) in pixels of the model's frame → guidance (1, C_guid, T, s, s): their
    skeleton drawn as the training maps, through the guidance encoders with every other map zero. Any pose
    source can drive the denoiser this way (M2PEnc's keypoints, posedit's poses)."""
    cfg = model.cfg
    skel = render_skeletons(keypoints, cfg.size)
    param = next(model.guidance.parameters())
    skel = skel.to(param.device, param.dtype)
    name = skeleton_type(cfg.guidance_types)
    return model.guidance(drop_maps({t: skel for t in cfg.guidance_types}, name))
