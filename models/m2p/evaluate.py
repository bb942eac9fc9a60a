"""Figures for models/m2p/README.md from a trained checkpoint.

    python -m evalkit.models.m2p.evaluate continuity --checkpoint CKPT --out DIR   # 20-s video, seams
    python -m evalkit.models.m2p.evaluate controls --checkpoint CKPT --out DIR     # own / shifted music / static
    python -m evalkit.models.m2p.evaluate pose --checkpoint CKPT --out DIR         # M2PEnc keypoints vs beats
    python -m evalkit.models.m2p.evaluate ceiling --checkpoint CKPT --out DIR      # ground truth at the model's size

``continuity`` generates a 20-s video (procedural music, a test-split reference) at the model's frame rate,
with and without the segment continuation, and compares the mean absolute frame-to-frame change at the
segment hand-overs with the change inside segments (JSON + PNG).
``pose`` scores M2PEnc alone: the keypoints keypoint guidance draws, on the test split (or ``--root``): pixel
error against the truth, and 2D-BeatAlign against each clip's beats when driven by the clip's own music and by
another clip's, next to the ground-truth keypoints — whether the pose stage follows the music, without a pose
detector in the loop.
``controls`` runs ``evalkit run-model`` three times on the synthetic test split — m2p with each clip's own
music, m2p driven by another clip's music (scored against the clip's own music), and the static reference
frame — and writes one table (JSON + Markdown) of every metric.
``ceiling`` scores the ground truth itself brought to the model's size and frame rate and back (and through the
checkpoint's VAE): the best any generator at that geometry can score (``ceiling.py``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def seam_stats(frames: np.ndarray, seams: list[int], carry: int) -> dict:
    """Frame-to-frame mean |Δ| (0–255) near the segment hand-overs vs inside the segments."""
    d = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    near = sorted({i for a in seams for i in range(a - 1, a + carry + 1) if 0 <= i < len(d)})
    inside = [i for i in range(len(d)) if i not in near]
    return {"boundary_max": float(d[near].max()), "boundary_mean": float(d[near].mean()),
            "inside_max": float(d[inside].max()), "inside_p95": float(np.percentile(d[inside], 95)),
            "inside_median": float(np.median(d[inside])), "diffs": d.tolist(), "near": near}


def continuity(checkpoint, out: Path, seconds: float = 20.0, seed: int = 0, device=None) -> dict:
    import soundfile as sf

    from evalkit.data.registry import get_split
    from evalkit.data.synth.music import synth_track

    from .windows import segments
    from .pipeline import M2PPipeline

    out.mkdir(parents=True, exist_ok=True)
    pipe = M2PPipeline.from_checkpoint(checkpoint, device=device)
    cfg = pipe.cfg
    track = synth_track(np.random.default_rng(seed), seconds)
    music = out / "continuity_music.wav"
    sf.write(music, track.audio, track.sample_rate)
    reference = next(iter(get_split("synth", "test"))).reference
    n = int(round(seconds * cfg.fps))
    seams = [a for a, _ in segments(n, cfg.segment_frames, cfg.carry)[1:]]
    result = {"seconds": seconds, "frames": n, "fps": cfg.fps, "segment_frames": cfg.segment_frames,
              "carry": cfg.carry, "seams": seams}
    for name, cont in (("continuation", True), ("independent", False)):
        frames = pipe.generate(music, reference, n, cfg.fps, seed, continuation=cont)
        result[name] = seam_stats(frames, seams, cfg.carry)
    _plot(result, out / "continuity.png")
    (out / "continuity.json").write_text(json.dumps(result, indent=2))
    return result


def _plot(result: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3))
    for name in ("continuation", "independent"):
        ax.plot(result[name]["diffs"], label=name, alpha=0.8)
    for s in result["seams"]:
        ax.axvspan(s - 0.5, s + result["carry"] - 0.5, color="grey", alpha=0.2)
    ax.set_xlabel(f"frame ({result['fps']:g} fps); grey = carried frames at each segment hand-over")
    ax.set_ylabel("mean |frame(t+1) − frame(t)|")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def pose_sync(checkpoint, out: Path, device: str = "cpu", root: Path | None = None) -> dict:
    """M2PEnc's keypoints (what keypoint guidance draws) on the synthetic test split (or the one at ``root``):
    mean pixel error against the true keypoints at the model's size — without the reference's keypoints (the
    average or training-mean body) and on the reference's body (read by M2PEnc or mapped by ``retarget``; NaN
    without reference keypoints) — beside the first true pose held and the reference's pose held, and
    2D-BeatAlign of what is drawn with each clip's beats, driven by its own music and by the next clip's, and
    FID_k2d / FID_g2d / Div_k2d of the drawn sets against the true keypoints (evalkit.motion.sets_2d)."""
    from evalkit.audio.beats import times_to_frames
    from evalkit.data.registry import get_split
    from evalkit.metrics.beat_align import beat_align_2d
    from evalkit.pose import PoseTrack

    from .data import frame_indices
    from .keypoint_guidance import m2penc_keypoints, reference_body_keypoints
    from .pipeline import M2PPipeline, load_reference

    out.mkdir(parents=True, exist_ok=True)
    pipe = M2PPipeline.from_checkpoint(checkpoint, device=device)
    model, cfg = pipe.sampler.model, pipe.cfg
    samples = sorted(get_split("synth", "test", root=root), key=lambda s: s.id)
    feats = [pipe.music(s.music, s.num_frames, s.fps) for s in samples]
    track = lambda kp: PoseTrack(kp[..., :2], np.clip(kp[..., 2], 0, 1), np.ones(len(kp), bool), cfg.fps,  # noqa
                                 (cfg.size, cfg.size), {})
    rows = []
    drawn_sets: dict[str, list[np.ndarray]] = {"own": [], "shifted": [], "ground truth": []}
    for i, s in enumerate(samples):
        n = len(feats[i])
        beats, _ = times_to_frames(s.beats, cfg.fps, n)
        idx = frame_indices(s.num_frames, s.fps, cfg.fps)[:n]
        truth = np.asarray(s.joints2d, np.float64)[idx]
        truth[..., :2] *= cfg.size / s.meta["frame_size"][0]
        vis = truth[..., 2] > 0
        row = {"id": s.id}
        ref = pipe.reference_keypoints(s.reference_joints2d, load_reference(s.reference).shape[:2])
        err = lambda k, m: float(np.linalg.norm(k[:, :, :2] - truth[:m, :, :2], axis=-1)[vis[:m]].mean())  # noqa
        for label, f in (("own", feats[i]), ("shifted", feats[(i + 1) % len(samples)])):
            m = min(n, len(f))
            drawn = reference_body_keypoints(model, f[:m], reference_keypoints=ref)
            row[label] = beat_align_2d(track(drawn), beats[beats < m])["beat_align"]
            drawn_sets[label].append(drawn[..., :2])
            if label == "own":
                row["error_px"] = err(m2penc_keypoints(model, f[:m]), m)
                row["error_on_reference_body_px"] = err(drawn, m) if ref is not None else float("nan")
        row["ground_truth"] = beat_align_2d(track(truth), beats)["beat_align"]
        drawn_sets["ground truth"].append(truth[..., :2])
        held = lambda pose: err(np.repeat(pose[None], len(truth), axis=0), len(truth))  # noqa: E731
        row["first_pose_held_error_px"] = held(truth[0])
        row["reference_pose_held_error_px"] = held(ref) if ref is not None else float("nan")
        rows.append(row)
    keys = ("own", "shifted", "ground_truth", "error_px", "error_on_reference_body_px", "first_pose_held_error_px",
            "reference_pose_held_error_px")
    summary = {k: float(np.nanmean([r[k] for r in rows])) for k in keys}
    from evalkit.motion.sets_2d import set_scores_2d

    result = {"clips": rows, "mean": summary, "fps": cfg.fps, "size": cfg.size, "split": str(root or "synth test"),
              "motion_2d": set_scores_2d(drawn_sets, cfg.fps, "ground truth")}
    (out / "pose_sync.json").write_text(json.dumps(result, indent=2))
    return result


def controls(checkpoint, out: Path, device: str = "cpu", metrics=None) -> dict:
    from evalkit.runner import run_model

    out.mkdir(parents=True, exist_ok=True)
    runs = {"m2p-own": ("m2p (own music)", "m2p", False),
            "m2p-shifted": ("m2p (another clip's music)", "m2p", True),
            "static": ("static reference frame", "static", False)}
    table = {}
    for folder, (label, name, shifted) in runs.items():
        options = {"checkpoint": str(checkpoint)} if name == "m2p" and checkpoint else {}
        agg = run_model(name, split="test", dataset="synth", out=out / folder, device=device, shuffle_music=shifted,
                        options=options, metrics=metrics)
        table[label] = {(r["metric"] if r["column"] == r["metric"] else f"{r['metric']}:{r['column']}"): r["value"]
                        for r in agg.to_dict(orient="records")}
    (out / "controls.json").write_text(json.dumps(table, indent=2, default=float))
    cols = sorted({c for row in table.values() for c in row})
    lines = ["| run | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    lines += [f"| {label} | " + " | ".join(f"{row.get(c, float('nan')):.4g}" for c in cols) + " |"
              for label, row in table.items()]
    (out / "controls.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="m2p README figures")
    ap.add_argument("what", choices=("continuity", "controls", "pose", "ceiling", "all"))
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/m2p-eval"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--root", type=Path, default=None, help="pose: a synthetic split's folder (default: embedded)")
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.what in ("continuity", "all"):
        r = continuity(args.checkpoint, args.out, device=device)
        for name in ("continuation", "independent"):
            s = r[name]
            print(f"{name}: boundary max {s['boundary_max']:.2f}, inside max {s['inside_max']:.2f}, "
                  f"inside median {s['inside_median']:.2f}")
    if args.what in ("pose", "all"):
        r = pose_sync(args.checkpoint, args.out, device=device, root=args.root)
        print("M2PEnc keypoints (BeatAlign music→motion; error in pixels): " +
              ", ".join(f"{k} {v:.3f}" for k, v in r["mean"].items()))
        for name, m in r["motion_2d"].items():
            print(f"  {name}: FID_k2d {m['fid_k2d']:.3f}, FID_g2d {m['fid_g2d']:.3f}, Div_k2d {m['div_k2d']:.3f} "
                  f"(ground truth {m['div_k2d_gt']:.3f}), n {m['n']}")
    if args.what in ("controls", "all"):
        controls(args.checkpoint, args.out, device=device)
    if args.what in ("ceiling", "all"):
        from .ceiling import ceiling

        ceiling(args.checkpoint, args.out, device=device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
