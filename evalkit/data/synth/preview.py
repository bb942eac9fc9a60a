"""A figure with one frame of every SDGPip map, and a quick renderer speed check.

    uv run python -m evalkit.data.synth.preview --out docs/img/synth_maps.png
    uv run python -m evalkit.data.synth.preview --bench --frames 150 --size 256
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evalkit.data.synth.render import MAP_NAMES, Camera, Identity, render_sequence
from evalkit.data.synth.skeleton import J, bend, rest_skeleton


def demo_motion(frames: int, fps: float = 30.0, seed: int = 0) -> np.ndarray:
    """(frames, 24, 3): a dancer swinging the arms, bending a knee and stepping side to side at 120 BPM.
    A posing aid for previews and benchmarks, not the SDGPip choreography generator."""
    rng = np.random.default_rng(seed)
    rest = rest_skeleton(rng)
    out = np.empty((frames, 24, 3))
    for i in range(frames):
        phase = 2 * np.pi * (i / fps) * 2.0  # 2 beats per second
        pose = bend(rest, J["left_shoulder"], [0, 0, 1], -70 + 55 * np.sin(phase))
        pose = bend(pose, J["left_elbow"], [0, 1, 0], 40 + 30 * np.sin(phase))
        pose = bend(pose, J["right_shoulder"], [0, 0, 1], 60 + 30 * np.cos(phase))
        pose = bend(pose, J["right_shoulder"], [1, 0, 0], -50)  # right arm reaching forward
        pose = bend(pose, J["right_elbow"], [0, 1, 0], 70)  # … and folding in front of the chest
        pose = bend(pose, J["left_hip"], [1, 0, 0], -35 * max(0.0, np.sin(phase)))
        pose = bend(pose, J["left_knee"], [1, 0, 0], 60 * max(0.0, np.sin(phase)))
        pose = bend(pose, J["pelvis"], [0, 1, 0], 25 * np.sin(phase / 2))  # whole-body turn
        pose[:, 0] += 0.25 * np.sin(phase / 4)
        out[i] = pose
    return out


def cmap_black_bad(name: str):
    import matplotlib

    cmap = matplotlib.colormaps[name].copy()
    cmap.set_bad("black")
    return cmap


def figure(path: Path, size: int = 256, frame: int = 4, seed: int = 3) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = demo_motion(frame + 1)
    identity = Identity.random(np.random.default_rng(seed))
    out = render_sequence(joints, identity, Camera.default(size))
    depth = out["depth"][frame].astype(np.float32)
    panels = [
        ("rgb", out["rgb"][frame], {}),
        ("depth (m)", np.ma.masked_equal(depth, 0.0), {"cmap": cmap_black_bad("viridis_r")}),
        ("normal", out["normal"][frame], {}),
        ("semantic", out["semantic"][frame], {}),
        ("skeleton (DWPose style)", out["skeleton"][frame], {}),
        ("heatmaps (max of 17)", out["heatmap"][frame].astype(np.float32).max(0), {"cmap": "magma"}),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3), dpi=100)
    for ax, (title, image, kw) in zip(axes, panels):
        ax.imshow(image, interpolation="nearest", **kw)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    kp = out["keypoints2d"][frame]
    shown = kp[:, 2] > 0
    axes[0].scatter(kp[shown, 0], kp[shown, 1], s=6, c=np.where(kp[shown, 2] == 1.0, "lime", "red"))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def bench(frames: int, size: int, repeats: int = 3) -> tuple[float, float]:
    """Best-of-``repeats`` frames/s for RGB + all maps, by wall clock and by this process's CPU time (the
    figure an unloaded core gives when the machine is shared). The backdrop is cached after the first run."""
    joints = demo_motion(frames)
    identity = Identity.random(np.random.default_rng(0))
    camera = Camera.default(size)
    wall = cpu = np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        render_sequence(joints, identity, camera, MAP_NAMES)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return frames / wall, frames / cpu


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/img/synth_maps.png"))
    parser.add_argument("--bench", action="store_true", help="print frames/s instead of writing the figure")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args(argv)
    if args.bench:
        wall, cpu = bench(args.frames, args.size)
        print(f"RGB + all maps, {args.size}², {args.frames} frames: {wall:.0f} frames/s wall clock, "
              f"{cpu:.0f} frames per CPU second")
    else:
        print(figure(args.out, args.size))


if __name__ == "__main__":
    main()
