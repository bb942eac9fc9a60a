"""README figures for SDGPip, drawn from a generated clip read back through the AIST++ loader.

    uv run python -m evalkit.data.synth.figures --out docs/img

sdgpip_sample.png: the reference image and one frame of the video and of every stored guidance map.
sdgpip_sync.png: the dancer's 2D kinetic velocity with its own music's beats, and another clip's beats.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def _figures(root: Path, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evalkit.data.aist import AistSplit
    from evalkit.data.synth.motion import kinetic_velocity

    samples = list(AistSplit(root, "test"))
    s = samples[0]
    beat_frames = np.rint(s.beats * s.fps).astype(int)
    t = int(beat_frames[len(beat_frames) // 2])  # a frame on a beat
    depth = s.load_guidance("depth")[t].astype(np.float32)
    panels = [
        ("reference image", plt.imread(s.reference), {}),
        (f"rgb (frame {t})", s.load_video().frames[t], {}),
        ("depth", np.ma.masked_equal(depth, 0.0), {"cmap": "viridis_r"}),
        ("normal", s.load_guidance("normal")[t], {}),
        ("semantic", s.load_guidance("semantic")[t], {}),
        ("skeleton", s.load_guidance("skeleton")[t], {}),
        ("heatmap (max of 17)", s.load_guidance("heatmap")[t].astype(np.float32).max(0), {"cmap": "magma"}),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3.0), dpi=100)
    for ax, (title, image, kw) in zip(axes, panels):
        if "cmap" in kw:
            kw["cmap"] = matplotlib.colormaps[kw["cmap"]].with_extremes(bad="black")
        ax.imshow(image, interpolation="nearest", **kw)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "sdgpip_sample.png"]
    fig.savefig(paths[0])
    plt.close(fig)

    other = samples[1]
    speed = kinetic_velocity(s.joints2d[..., :2]) * s.fps
    time = (np.arange(len(speed)) + 0.5) / s.fps
    fig, ax = plt.subplots(figsize=(9, 2.6), dpi=100)
    ax.plot(time, speed, color="black", lw=1.2, label="2D kinetic velocity (px/s)")
    for k, b in enumerate(s.beats):
        ax.axvline(b, color="tab:green", lw=1.5, alpha=0.8, label="its music's beats" if k == 0 else None)
    for k, b in enumerate(other.beats):
        ax.axvline(b, color="tab:red", lw=1, ls="--", alpha=0.7, label="another clip's beats" if k == 0 else None)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{s.id}: {s.meta['genre']} at {60 / np.median(np.diff(s.beats)):.0f} BPM", fontsize=9)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    paths.append(out / "sdgpip_sync.png")
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def main(argv=None) -> None:
    from evalkit.data.synth.pipeline import SynthConfig, generate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        generate(root, SynthConfig(train=0, test=2, seconds=6.0, size=256, fps=30.0, seed=args.seed))
        for path in _figures(root, args.out):
            print(path)


if __name__ == "__main__":
    main()
