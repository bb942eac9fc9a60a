"""Pose-level metrics of generated 2D pose sequences, and the posedit evaluation behind its README figures.

* **BeatAlign on 2D joints** (:func:`pose_beat_align`) — the 3D formula of Bailando (music → motion) on the
  17 COCO joints in pixels: kinetic velocity = mean joint speed between frames, Gaussian-smoothed (σ = 5
  frames at 60 fps), motion beats = its local minima, score = mean over music beats of exp(−d²/2σ²) with d
  the distance to the nearest motion beat (σ = 3 frames at 60 fps). Frame constants are converted to the
  sequence's fps (σ in seconds stays Bailando's), music beats are the sample's beat times.
* **Distance to the data and diversity** — FID_k2d, FID_g2d and Div_k2d of each method's sequences against the
  ground truth's (evalkit.motion.sets_2d: Bailando's kinetic and geometric feature families on 2D joints,
  normalised with the ground truth's statistics; docs/motion-metrics.md). Div_k2d is read beside the ground
  truth's own (``div_k2d_gt``) and beside FID_k2d: frame-to-frame noise raises diversity but also the
  distance. ``jitter`` (mean joint acceleration, torso lengths/s²) is reported next to the ground truth's.

``python -m evalkit.models.posedit.eval`` runs the comparison of the issue on a split: posedit with each
sample's own music, posedit with shuffled music (sample i gets sample i+1's), the retrieval baseline's poses
(its retargeted motion projected through the dataset camera) and the ground truth; it prints a table and
writes JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError

L_SH, R_SH, L_HIP, R_HIP = 5, 6, 11, 12


def torso_length(poses: np.ndarray) -> float:
    """Median mid-shoulder to mid-hip distance of a (T, 17, 2+) sequence (pixels)."""
    p = np.asarray(poses, dtype=np.float64)[..., :2]
    t = np.linalg.norm((p[:, L_SH] + p[:, R_SH]) / 2 - (p[:, L_HIP] + p[:, R_HIP]) / 2, axis=-1)
    t = t[np.isfinite(t) & (t > 0)]
    if t.size == 0:
        raise EvalkitError("pose sequence has no frame with finite shoulders and hips")
    return float(np.median(t))


def pose_beat_align(poses: np.ndarray, fps: float, music_beats_s: np.ndarray) -> float:
    """Bailando BeatAlign (music → motion) of 2D poses (T, 17, 2+) at ``fps`` against beat times (s)."""
    from evalkit.metrics.beat_align import bailando_beat_align

    p = np.asarray(poses, dtype=np.float64)[..., :2] / torso_length(poses)
    if not np.isfinite(p).all():
        raise EvalkitError("pose sequence has non-finite joints; fill them before BeatAlign")
    beats = np.round(np.asarray(music_beats_s, dtype=np.float64) * fps).astype(np.int64)
    return bailando_beat_align(p, beats, sigma=3.0 * fps / 60.0, smooth=5.0 * fps / 60.0)


def jitter(poses: np.ndarray, fps: float) -> float:
    """Mean joint acceleration magnitude (torso lengths / s²)."""
    p = np.asarray(poses, dtype=np.float64)[..., :2] / torso_length(poses)
    return float(np.linalg.norm(np.diff(p, n=2, axis=0) * fps * fps, axis=-1).mean())


def summarize(sets: dict[str, list[np.ndarray]], beats: list[np.ndarray], fps: float, reference: str = "ground truth"):
    """Per method: BeatAlign mean (against each sample's own beats), FID_k2d / FID_g2d / Div_k2d against
    ``reference`` and the jitter."""
    from evalkit.motion.sets_2d import set_scores_2d

    motion = set_scores_2d(sets, fps, reference)
    out = {}
    for name, seqs in sets.items():
        ba = [pose_beat_align(p, fps, b) for p, b in zip(seqs, beats)]
        out[name] = {"beat_align": float(np.nanmean(ba)), "beat_align_per_sample": ba,
                     **{k: motion[name][k] for k in ("fid_k2d", "fid_g2d", "div_k2d", "div_k2d_gt")},
                     "jitter": float(np.mean([jitter(p, fps) for p in seqs])), "n": len(seqs)}
    return out


def baseline_poses(sample, baseline, pose_backend: str = "blazepose") -> np.ndarray:
    """A motion baseline's (retrieval, beat-procedural) motion for ``sample`` as (T, 17, 2) pixels, without
    rendering it."""
    from evalkit.baselines.look import look_for
    from evalkit.data.synth.render import coco17_points

    look = look_for(sample, pose_backend)
    joints = baseline.motion(sample, None, look.rest)
    if look.kind == "sdgpip":
        return look.camera.project(coco17_points(joints))[0]
    return look.place(joints)


def evaluate(split: str = "test", dataset: str = "synth", root=None, checkpoint=None, device: str = "cpu",
             seed: int = 0, steps: int | None = None, cfg_scale: float | None = None, limit: int | None = None,
             with_baselines: bool = True) -> dict:
    from evalkit.baselines.shuffled_music import derangement
    from evalkit.data.registry import get_split
    from evalkit.generators import GeneratorContext

    from .generator import PoseDiTGenerator

    samples = sorted(get_split(dataset, split, root), key=lambda s: s.id)[:limit]
    if len(samples) < 2:
        raise EvalkitError("the pose evaluation needs at least two samples (FID, diversity, shuffled music)")
    opts = {k: v for k, v in {"checkpoint": checkpoint, "steps": steps, "cfg_scale": cfg_scale}.items() if v is not None}
    gen = PoseDiTGenerator(GeneratorContext(dataset, root, device, {k: str(v) for k, v in opts.items()}))
    donor = derangement([s.id for s in samples])
    by_id = {s.id: s for s in samples}
    sets: dict[str, list[np.ndarray]] = {"posedit": [], "posedit + shuffled music": [], "ground truth": []}
    for i, s in enumerate(samples):
        if s.joints2d is None or s.beats is None:
            raise EvalkitError(f"sample {s.id} lacks joints2d or beats: the pose evaluation needs both")
        sets["posedit"].append(gen.poses(s, None, seed + i))
        sets["posedit + shuffled music"].append(gen.poses(s, by_id[donor[s.id]].music, seed + i))
        sets["ground truth"].append(np.asarray(s.joints2d, dtype=np.float64))
    if with_baselines:
        from evalkit.baselines.beat_procedural import BeatProcedural
        from evalkit.baselines.retrieval import Retrieval

        for name, cls in (("retrieval", Retrieval), ("beat-procedural", BeatProcedural)):
            baseline = cls(GeneratorContext(dataset, root, "cpu", {}))
            sets[name] = [baseline_poses(s, baseline) for s in samples]
    fps = float(samples[0].fps)
    if any(float(s.fps) != fps for s in samples):
        raise EvalkitError("the pose evaluation needs one frame rate across the split")
    result = summarize(sets, [np.asarray(s.beats) for s in samples], fps)
    return {"split": f"{dataset}-{split}", "samples": [s.id for s in samples], "fps": fps, "seed": seed,
            "generator": gen.info(), "version": gen.version, "methods": result}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="posedit pose-level evaluation (BeatAlign, FID_k2d/FID_g2d/Div_k2d)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--dataset", default="synth")
    ap.add_argument("--root", default=None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--cfg", type=float, default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N samples (by id)")
    ap.add_argument("--out", default=None, help="JSON file to write")
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    res = evaluate(args.split, args.dataset, args.root, args.checkpoint, device, args.seed, args.steps, args.cfg,
                   args.limit)
    print(f"{'method':28s} {'BeatAlign':>9s} {'FID_k2d':>9s} {'FID_g2d':>9s} {'Div_k2d':>9s} {'jitter':>9s}")
    for name, row in res["methods"].items():
        print(f"{name:28s} {row['beat_align']:9.4f} {row['fid_k2d']:9.3f} {row['fid_g2d']:9.3f} {row['div_k2d']:9.3f} "
              f"{row['jitter']:9.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    try:
        main()
    except EvalkitError as err:
        import sys

        print(f"evalkit: error: {err}")
        sys.exit(err.exit_code)
