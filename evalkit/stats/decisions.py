"""Leaderboard decisions: each model's difference to a control per metric, with its p-value, and the
board's minimum detectable difference, from the committed runs (results/<split>/<model>/).

Controls (configurable): the static frame for appearance metrics, shuffled music for sync metrics — a
model must beat the copy-the-reference baseline on looks and its own beat-procedural motion with another
clip's music on sync. Differences are `evalkit compare`'s (paired over matched videos, sign-flip p, Holm over
the metrics of one model vs its control); the MDD is `evalkit power`'s (80 %, α = 0.05) at the board's N
from the paired SD of model − control, and the board row gives its median over the models.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.stats import power
from evalkit.stats.paired import holm
from evalkit.stats.runs import load_run

#: metric -> control model; "*" for the others
CONTROLS = {"beat_align": "shuffled-music", "av_align": "shuffled-music", "*": "static"}
BOARD_ROW = "(board MDD)"
COLUMNS = ["model", "metric", "control", "n", "diff", "ci_low", "ci_high", "p", "p_holm", "mdd"]


def control_of(label: str, controls: dict = CONTROLS) -> str:
    return controls.get(label.split(":")[0], controls["*"])


def decisions(results: Path, controls: dict = CONTROLS) -> pd.DataFrame:
    """Rows of COLUMNS for every model folder under ``results`` with per_video.csv (controls left out)."""
    from evalkit.comparison import compare_pair

    runs = {p.parent.name: load_run(p.parent) for p in sorted(Path(results).glob("*/per_video.csv"))
            if (p.parent / "results.json").is_file()}
    rows = []
    for model, run in runs.items():
        for control in sorted(set(controls.values())):
            if control == model or control not in runs:
                continue
            frame = compare_pair(runs[control], run, features=lambda *a: None)
            frame = frame[[control_of(m, controls) == control for m in frame["metric"]]]
            if frame.empty:
                continue
            # Holm over this model's metrics against this control only
            frame = frame.assign(p_holm=holm(frame["p"].to_numpy(dtype=np.float64)))
            ids = [v for v in run.per_video.index if v in runs[control].per_video.index]
            for r in frame.to_dict(orient="records"):
                col = r["metric"].split(":")[-1]
                d = (run.column(col).loc[ids] - runs[control].column(col).loc[ids]).to_numpy() if (
                    col in run.per_video.columns) else np.array([])
                d = d[np.isfinite(d)]
                mdd = power.mdd(float(d.std(ddof=1)), d.size) if d.size > 1 else np.nan
                rows.append({"model": model, "control": control, "mdd": mdd,
                             **{k: r[k] for k in ("metric", "n", "diff", "ci_low", "ci_high", "p", "p_holm")}})
    out = pd.DataFrame(rows, columns=COLUMNS)
    board = [{"model": BOARD_ROW, "metric": m, "control": part["control"].iloc[0], "n": int(part["n"].max()),
              "mdd": float(np.nanmedian(part["mdd"])) if part["mdd"].notna().any() else np.nan}
             for m, part in out.groupby("metric", sort=False)]
    return pd.concat([out, pd.DataFrame(board, columns=COLUMNS)], ignore_index=True)


def write(results: Path, path: Path, controls: dict = CONTROLS) -> Path:
    """``decisions/<split>.csv`` of a board folder: four decimals for numbers, as the board."""
    frame = decisions(results, controls)
    if frame.empty:  # a board without committed runs (aistpp-test): nothing to decide
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(frame.to_csv(index=False, float_format="%.4f", lineterminator="\n"), encoding="utf-8")
    return path
