"""Result folders read for comparisons: results.json + per_video.csv, and the metrics two runs share.

A metric column is *per-video* when per_video.csv has it (SSIM, LPIPS, BeatAlign…): runs are compared on
the per-video values. Otherwise it is *set-level* (FVD, KVD): one number for the whole set of clips.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError

ID = "video"


@dataclass
class Run:
    path: Path
    name: str
    record: dict
    per_video: pd.DataFrame  # indexed by video id

    def column(self, name: str) -> pd.Series:
        return pd.to_numeric(self.per_video[name], errors="coerce").astype(np.float64)


@dataclass(frozen=True)
class MetricColumn:
    label: str  # "ssim", "beat_align:beat_align_motion_to_music"
    metric: str
    column: str
    preset: str
    direction: str
    value: float
    per_video: bool


def load_run(path: str | Path) -> Run:
    path = Path(path)
    results, rows = path / "results.json", path / "per_video.csv"
    for f in (results, rows):
        if not f.is_file():
            raise EvalkitError(f"no {f.name} in the run folder", path=path,
                               hint="give the --out folder of `evalkit score` or `evalkit run-model`")
    try:
        record = json.loads(results.read_text())
        per_video = pd.read_csv(rows)
    except (OSError, ValueError) as err:
        raise EvalkitError(f"unreadable run results ({type(err).__name__})", path=path) from None
    if ID not in per_video.columns:
        raise EvalkitError(f"per_video.csv has no '{ID}' column", path=rows, hint="remake it with evalkit score")
    if per_video[ID].duplicated().any():
        dup = per_video[ID][per_video[ID].duplicated()].iloc[0]
        raise EvalkitError(f"video id '{dup}' appears twice", path=rows, hint="score each video once per run")
    name = record.get("run", {}).get("model") or path.name
    return Run(path, str(name), record, per_video.set_index(ID, drop=False))


def metric_columns(run: Run) -> dict[str, MetricColumn]:
    out = {}
    for r in run.record.get("aggregate", []):
        label = r["column"] if r["column"] == r["metric"] else f"{r['metric']}:{r['column']}"
        value = np.nan if r.get("value") is None else float(r["value"])
        out[label] = MetricColumn(label, r["metric"], r["column"], str(r["preset"]), r["direction"], value,
                                  r["column"] in run.per_video.columns)
    return out


def shared_columns(a: Run, b: Run) -> list[tuple[MetricColumn, MetricColumn]]:
    """The metric columns both runs have, in A's order; the same column under two presets is an error."""
    ca, cb = metric_columns(a), metric_columns(b)
    pairs = []
    for label, col in ca.items():
        if label not in cb:
            continue
        if col.preset != cb[label].preset:
            raise EvalkitError(f"{label} was scored with preset '{col.preset}' in {a.path} and '{cb[label].preset}' "
                               "here: the numbers are not comparable", path=b.path,
                               hint="re-score one run with the other's preset (--preset / --opt)")
        pairs.append((col, cb[label]))
    return pairs


def matched_ids(a: Run, b: Run) -> tuple[list[str], int, int]:
    """Video ids both runs scored (A's order), and how many only A / only B has."""
    ids_b = set(b.per_video.index)
    both = [v for v in a.per_video.index if v in ids_b]
    return both, len(a.per_video) - len(both), len(b.per_video) - len(both)
