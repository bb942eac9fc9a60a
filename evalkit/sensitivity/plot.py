"""One PNG per metric: its response to each damage, per clip source — the lift over chance with its 95 %
interval, and beside it the raw score and its chance level (the shift null's mean)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def metric_figure(frame, metric: str):
    """Matplotlib figure of one metric's rows of the long table (evalkit.sensitivity.suite)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = frame[frame["metric"] == metric]
    sources = list(dict.fromkeys(rows["source"]))
    damages = list(dict.fromkeys(rows["damage"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), dpi=110, sharey=False)
    x = np.arange(len(damages))
    width = 0.8 / max(len(sources), 1)
    for k, source in enumerate(sources):
        g = rows[rows["source"] == source].set_index(["damage", "column"])

        def series(column, field="value"):
            return np.array([g[field].get((d, column), np.nan) for d in damages], dtype=float)

        lift, lo, hi = series(f"{metric}_lift"), series(f"{metric}_lift", "ci_low"), series(f"{metric}_lift", "ci_high")
        pos = x + (k - (len(sources) - 1) / 2) * width
        axes[0].bar(pos, lift, width, label=source, color=f"C{k}", alpha=0.8)
        axes[0].errorbar(pos, lift, yerr=[lift - lo, hi - lift], fmt="none", ecolor="k", capsize=2, lw=1)
        axes[1].plot(pos, series(metric), "o", color=f"C{k}", label=f"{source}: raw score")
        axes[1].plot(pos, series(f"{metric}_null"), "_", color=f"C{k}", ms=14, mew=2,
                     label=f"{source}: chance (shift null)")
    axes[0].axhline(0, color="0.3", lw=0.8)
    axes[0].set_title(f"{metric}: lift over chance (score − shift-null mean), 95 % bootstrap CI", fontsize=9,
                      loc="left")
    axes[1].set_title(f"{metric}: raw score and its chance level", fontsize=9, loc="left")
    for ax in axes:
        ax.set_xticks(x, damages, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def write_figures(frame, out: Path, metrics, figure=None) -> list[Path]:
    """``sensitivity_<metric>.png`` per metric (``figure``: :func:`metric_figure` by default)."""
    import matplotlib.pyplot as plt

    paths = []
    for metric in metrics:
        fig = (figure or metric_figure)(frame, metric)
        path = Path(out) / f"sensitivity_{metric}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def appearance_figure(frame, metric: str):
    """One metric's value with its 95 % interval for each appearance damage, per clip source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = frame[frame["metric"] == metric]
    sources = list(dict.fromkeys(rows["source"]))
    damages = list(dict.fromkeys(rows["damage"]))
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    x = np.arange(len(damages))
    width = 0.8 / max(len(sources), 1)
    for k, source in enumerate(sources):
        g = rows[rows["source"] == source].set_index("damage")
        value, lo, hi = (np.array([g[f].get(d, np.nan) for d in damages], dtype=float)
                         for f in ("value", "ci_low", "ci_high"))
        pos = x + (k - (len(sources) - 1) / 2) * width
        ax.bar(pos, value, width, label=source, color=f"C{k}", alpha=0.8)
        ax.errorbar(pos, value, yerr=[np.clip(value - lo, 0, None), np.clip(hi - value, 0, None)], fmt="none",
                    ecolor="k", capsize=2, lw=1)
    ax.set_title(f"{metric}: damaged clip against the clean one, 95 % interval", fontsize=9, loc="left")
    ax.set_xticks(x, damages, rotation=35, ha="right", fontsize=8)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig

