"""Seams of long stitched pose sequences: does the trained model jump where one window hands over to the next?

For each sample's music (30-s SDGPip clips, ``evalkit data synth --seconds 30``) posedit generates the whole
sequence twice from the same noise: stitched as the generator does (continuation: each window continues the
previous one's shared frames, then a cross-fade) and, as the control that shows a seam when there is one,
independent windows cut in the middle of their overlap. The step of a frame is the mean joint displacement to
the next frame in torso lengths of the reference pose. A seam step is one that touches a window's shared frames;
the rest are inside steps. Figures: the largest and mean seam and inside steps, and their ratio (largest seam /
largest inside; ≈ 1: no visible seam), for both stitchings, beside the ground truth's largest step.

    python -m evalkit.models.posedit.seams --root runs/sdgpip-30s --split train --out seams.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError


def steps(poses: np.ndarray, torso: float) -> np.ndarray:
    """(T, 17, 2+) pixels → (T − 1,) mean joint displacement between consecutive frames (torso lengths)."""
    p = np.asarray(poses, np.float64)[..., :2] / torso
    return np.linalg.norm(np.diff(p, axis=0), axis=-1).mean(-1)


def seam_mask(n: int, windows: list[tuple[int, int]]) -> np.ndarray:
    """(n − 1,) True for the steps that touch a window's shared frames (from the step into the next window's
    first frame to the previous window's last frame): where a hand-over would show."""
    mask = np.zeros(n - 1, bool)
    for (a, _), (_, e_prev) in zip(windows[1:], windows[:-1]):
        mask[max(a - 1, 0):e_prev] = True
    return mask


def seam_figures(step: np.ndarray, mask: np.ndarray) -> dict:
    seam, inside = step[mask], step[~mask]
    return {"seam_max": float(seam.max()), "seam_mean": float(seam.mean()), "inside_max": float(inside.max()),
            "inside_mean": float(inside.mean()), "ratio_max": float(seam.max() / inside.max()),
            "ratio_mean": float(seam.mean() / inside.mean())}


def measure(samples, pipe, seed: int = 0) -> dict:
    """Per sample and pooled seam figures of ``pipe`` (a PosePipeline) on ``samples`` (with music and joints)."""
    from evalkit.models.m2p.music import music_features

    from .data import reference_pose, resample_joints
    from .eval import torso_length
    from .sample import window_starts

    cfg = pipe.cfg
    per, pooled = [], {"stitched": ([], []), "independent": ([], [])}
    for i, s in enumerate(samples):
        gt = resample_joints(s.joints2d, s.fps, cfg.fps)
        n = len(gt)
        ref, ref_conf, source = reference_pose(s)
        torso = torso_length(ref[None])
        music = music_features(s.music, cfg.fps, n, cfg.music_frontend)
        wins = window_starts(n, cfg.window, cfg.overlap)
        if len(wins) < 2:
            raise EvalkitError(f"sample {s.id} fits in one window ({n} frames): no seam to measure",
                               path=s.music, hint="use longer clips (evalkit data synth --seconds 30)")
        mask = seam_mask(n, wins)
        row = {"id": s.id, "frames": n, "windows": len(wins), "reference": source,
               "ground_truth_max_step": float(np.nanmax(steps(gt, torso)))}
        for name, continuation in (("stitched", True), ("independent", False)):
            poses, _ = pipe.poses(music, ref, ref_conf, seed=seed + i, continuation=continuation)
            st = steps(poses, torso)
            row[name] = seam_figures(st, mask)
            pooled[name][0].append(st)
            pooled[name][1].append(mask)
        per.append(row)
    summary = {name: seam_figures(np.concatenate(st), np.concatenate(mk)) for name, (st, mk) in pooled.items()}
    return {"samples": per, "pooled": summary, "fps": cfg.fps, "window": cfg.window, "overlap": cfg.overlap,
            "steps": pipe.steps, "cfg_scale": pipe.cfg_scale, "seed": seed}


def main(argv=None) -> None:
    from evalkit.data.registry import get_split

    from .sample import PosePipeline

    ap = argparse.ArgumentParser(description="posedit seams of long stitched sequences")
    ap.add_argument("--root", required=True, help="an SDGPip folder of long clips (evalkit data synth --seconds 30)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="Euler steps (default: the config's)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=None, help="JSON file to write")
    args = ap.parse_args(argv)
    samples = sorted(get_split("synth", args.split, args.root), key=lambda s: s.id)[:args.limit]
    if not samples:
        raise EvalkitError(f"no samples in split '{args.split}'", path=args.root)
    pipe = PosePipeline.from_checkpoint(args.checkpoint, device=args.device, steps=args.steps)
    result = {"checkpoint": str(args.checkpoint or "default"), **measure(samples, pipe, args.seed)}
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
    for name, f in result["pooled"].items():
        print(f"{name}: seam max {f['seam_max']:.4f} / inside max {f['inside_max']:.4f} = {f['ratio_max']:.2f}; "
              f"means {f['seam_mean']:.4f} / {f['inside_mean']:.4f} = {f['ratio_mean']:.2f} (torso lengths/frame)")


if __name__ == "__main__":
    main()
