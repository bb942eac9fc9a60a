"""The report's pictures: pred | gt frame strips, beat plots, and the set-level metrics' intervals."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.report.html import esc, jpeg_uri, png_uri

STRIP_HEIGHT = 96  # px per frame in a strip: enough to see a pose, small enough for 100 videos in one file
SET_METRICS = ("fvd", "fid", "kvd")  # one number per set: their intervals come from a bootstrap over clips


def locate(recorded: str, run_dir: Path, side: str) -> Path | None:
    """The video per_video.csv names, as recorded (absolute, or relative to where the run was started), else
    under the run folder (``run-model`` keeps ``pred/`` and ``gt/`` there), else None: the videos are gone."""
    if not recorded:
        return None
    path = Path(recorded)
    for candidate in (path, run_dir / path, run_dir / side / path.name):
        if candidate.exists():
            return candidate
    return None


def _thumb(frame: np.ndarray, height: int = STRIP_HEIGHT) -> np.ndarray:
    from PIL import Image

    h, w = frame.shape[:2]
    width = max(1, round(w * height / h))
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def strip(pred: Path, gt: Path | None, count: int = 4) -> tuple[str, list[float]]:
    """JPEG data URI of ``count`` frames at even timestamps: predictions on top, ground truth below; and the
    timestamps (s). Frames come from the same decoder the metrics use."""
    from evalkit.io.video import decode_video

    p = decode_video(pred)
    g = decode_video(gt) if gt is not None else None
    n = p.num_frames if g is None else min(p.num_frames, g.num_frames)
    index = np.unique(np.linspace(0, n - 1, count).round().astype(int))
    rows = [np.concatenate([_thumb(p.frames[i]) for i in index], axis=1)]
    if g is not None:
        row = np.concatenate([_thumb(g.frames[i]) for i in index], axis=1)
        rows.append(row[:, : rows[0].shape[1]] if row.shape[1] >= rows[0].shape[1]
                    else np.pad(row, ((0, 0), (0, rows[0].shape[1] - row.shape[1]), (0, 0))))
    fps = p.fps or 1.0
    return jpeg_uri(np.concatenate(rows, axis=0)), [float(i / fps) for i in index]


def beat_plot_uri(pred: Path, ident: dict, audio_dir: str | None) -> str:
    """The ``evalkit plot beats`` picture of ``pred`` with the preset and pose backend the run scored with."""
    from evalkit.report.beats import beat_plot

    fig, _ = beat_plot(pred, audio_dir, ident.get("preset", "bailando"), ident.get("settings", {}).get("pose"))
    return png_uri(fig, dpi=60)


def img(uri: str, alt: str, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{esc(alt)}"><figcaption>{esc(caption)}</figcaption></figure>'


def try_img(make, alt: str, caption: str) -> str:
    """``make()`` → data URI as a figure; a video that cannot be read becomes a note, not a broken page."""
    try:
        return img(make(), alt, caption)
    except EvalkitError as err:
        return f'<p class="note">{esc(alt)} unavailable: {esc(err)}</p>'


def interval_figure(record: dict) -> str | None:
    """Value and 95 % interval of each set-level metric (FVD/FID/KVD), over the histogram of its bootstrap
    replicates where results.json keeps them (FVD's ``bootstrap.fds``; FID has no bootstrap and KVD a jackknife,
    so theirs is the interval alone); None when no such metric has one."""
    rows = [r for r in record.get("aggregate", [])
            if r["metric"] in SET_METRICS and r["column"] == r["metric"] and r.get("ci_low") is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(7, 0.9 + 0.8 * len(rows)), squeeze=False)
    for ax, r in zip(axes[:, 0], rows):
        ident = record.get("metrics", {}).get(r["metric"], {})
        reps = ident.get("bootstrap", {}).get("replicates", "?")
        fds = [f for f in ident.get("bootstrap", {}).get("fds", []) if np.isfinite(f)]
        if fds:  # the replicates' spread and shift, from which the (basic bootstrap) interval is read
            ax.hist(fds, bins=min(30, max(5, len(fds) // 4)), color="tab:gray", alpha=0.6,
                    label=f"{len(fds)} bootstrap replicates")
        ax.plot([r["ci_low"], r["ci_high"]], [0, 0], color="tab:blue", lw=6, solid_capstyle="butt",
                label="95 % interval")
        ax.plot([r["value"]], [0], "o", color="black", label="value")
        ax.set_yticks([])
        ax.set_title(f"{r['metric']} ({r['preset']}) = {r['value']:.4g}  [{r['ci_low']:.4g}, {r['ci_high']:.4g}]"
                     f"  N = {r['n_videos']} videos, {reps} bootstrap replicates", fontsize=9, loc="left")
        pad = 0.1 * max(r["ci_high"] - r["ci_low"], abs(r["value"]) * 0.05, 1e-9)
        ax.set_xlim(min(r["ci_low"], r["value"], *fds) - pad, max(r["ci_high"], r["value"], *fds) + pad)
    axes[0, 0].legend(loc="upper right", fontsize=8, frameon=False)
    fig.tight_layout()
    return png_uri(fig, dpi=80)
