"""``evalkit compare``: paired differences B − A between runs over the videos both scored.

Per-video metrics: mean of the per-video differences (unweighted), percentile bootstrap 95 % interval over
videos (10 000 resamples, seed 0) and the two-sided sign-flip permutation p-value (exact up to 16 videos).
Set-level metrics (FVD, KVD): the paired bootstrap over videos of evalkit.stats.setlevel, on the clip
features of the matched videos (from the FVD feature cache, or a ``features`` callable), with the basic
(pivotal) interval and p-value — FD is biased upwards on resampled sets, and the pivot cancels that shift.
p-values are Holm-corrected over the metrics of each pair of runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.stats import paired, setlevel
from evalkit.stats.runs import MetricColumn, Run, load_run, matched_ids, shared_columns

COLUMNS = ["metric", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p", "p_holm"]
EXTRA = ["run_a", "run_b", "direction", "preset", "n_only_a", "n_only_b", "test"]

# features(run, metric column, video ids) -> per video (pred clip features, gt clip features), or None
FeatureSource = Callable[[Run, MetricColumn, list], "list[setlevel.VideoFeatures] | None"]


def _settings(run: Run, metric: str) -> dict:
    return dict(run.record.get("metrics", {}).get(metric, {}).get("settings", {}))


def cached_features(run: Run, col: MetricColumn, ids: list) -> list[setlevel.VideoFeatures] | None:
    """Clip features of each video from the FVD feature cache, found by the content of the pred/gt files
    per_video.csv names (relative to the run folder); None when a file or a cache entry is missing."""
    from evalkit.features.cache import file_digest
    from evalkit.metrics import build

    try:
        metric = build(col.metric, col.preset, **_settings(run, col.metric))
    except EvalkitError:
        return None
    out = []
    for vid in ids:
        pair = []
        for side in ("pred", "gt"):
            name = run.per_video.at[vid, side] if side in run.per_video.columns else None
            path = run.path / str(name) if isinstance(name, str) else None
            digest = file_digest(path) if path is not None else None
            cache = metric._cache(side) if digest else None
            entry = cache.get(digest) if cache is not None else None
            if entry is None:
                return None
            pair.append(np.asarray(entry["feats"], dtype=np.float64))
        out.append(tuple(pair))
    return out


def _statistic(run: Run, col: MetricColumn) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """The set-level metric as a function of (pred clip features, gt clip features), in the run's settings."""
    s = _settings(run, col.metric)
    if col.metric == "fvd" and col.column == "fvd":
        from evalkit.metrics.frechet import frechet_distance, moments

        ddof, method = int(s.get("ddof", 1)), s.get("fd", "tfgan")
        return lambda p, g: frechet_distance(*moments(p, ddof), *moments(g, ddof), method=method)["fd"]
    if col.metric == "kvd" and col.column == "kvd":
        from evalkit.metrics.kvd import kvd_from_features

        return lambda p, g: kvd_from_features(p, g)["kvd"]  # scale d = the feature dimension, as the metric
    return None


def _per_video_row(a: Run, b: Run, ca: MetricColumn, ids: list) -> dict:
    va, vb = a.column(ca.column).loc[ids].to_numpy(), b.column(ca.column).loc[ids].to_numpy()
    ok = np.isfinite(va) & np.isfinite(vb)  # a video either run failed on is left out of this metric
    d = vb[ok] - va[ok]
    n = int(ok.sum())
    lo, hi = paired.bootstrap_ci(d)
    test = (f"sign-flip exact ({2 ** n} patterns)" if n <= paired.EXACT_MAX_N
            else f"sign-flip {paired.DRAWS} draws")
    return {"n": n, "mean_a": float(va[ok].mean()) if n else np.nan, "mean_b": float(vb[ok].mean()) if n else np.nan,
            "diff": float(d.mean()) if n else np.nan, "ci_low": lo, "ci_high": hi,
            "p": paired.sign_flip_p(d), "test": test}


def _set_level_row(a: Run, b: Run, ca: MetricColumn, cb: MetricColumn, ids: list, features: FeatureSource,
                   resamples: int) -> dict:
    row = {"n": len(ids), "mean_a": ca.value, "mean_b": cb.value, "diff": cb.value - ca.value,
           "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    stat = _statistic(a, ca)
    fa = features(a, ca, ids) if stat else None
    fb = features(b, cb, ids) if fa is not None else None
    if fa is None or fb is None:
        row["test"] = "not tested: no per-video clip features (score both runs with the feature cache on)"
        return row
    row["mean_a"], row["mean_b"] = stat(*setlevel.stack(fa, np.arange(len(ids)))), stat(*setlevel.stack(fb, np.arange(len(ids))))
    row["diff"] = row["mean_b"] - row["mean_a"]
    reps = setlevel.paired_replicates(stat, fa, fb, resamples)
    row["ci_low"], row["ci_high"] = paired.basic_interval(row["diff"], reps)
    row["p"] = paired.pivot_p(row["diff"], reps)
    row["test"] = f"paired bootstrap over videos ({resamples}), basic interval"
    return row


def compare_pair(a: Run, b: Run, features: FeatureSource | None = None,
                 resamples: int = setlevel.RESAMPLES) -> pd.DataFrame:
    """One row per metric column both runs have (B − A), Holm-corrected over those rows."""
    ids, only_a, only_b = matched_ids(a, b)
    rows = []
    for ca, cb in shared_columns(a, b):
        if ca.column.endswith("_se"):  # a metric's standard error (kvd_se) describes it; it is not compared
            continue
        if ca.per_video and cb.per_video:
            row = _per_video_row(a, b, ca, ids)
        else:
            row = _set_level_row(a, b, ca, cb, ids, features or cached_features, resamples)
        rows.append({"metric": ca.label, **row, "run_a": a.name, "run_b": b.name, "direction": ca.direction,
                     "preset": ca.preset, "n_only_a": only_a, "n_only_b": only_b})
    frame = pd.DataFrame(rows, columns=COLUMNS + EXTRA)
    frame["p_holm"] = paired.holm(frame["p"].to_numpy(dtype=np.float64))
    return frame


def compare(runs: Sequence, out: str | Path | None = None, features: FeatureSource | None = None,
            resamples: int = setlevel.RESAMPLES) -> pd.DataFrame:
    """Compare every run after the first with the first (the control); writes ``out``/compare.csv if given."""
    if len(runs) < 2:
        raise EvalkitError("compare needs at least two runs", hint="evalkit compare RUN_A RUN_B [RUN_C ...]")
    loaded = [r if isinstance(r, Run) else load_run(r) for r in runs]
    for r in loaded[1:]:
        ids, _, _ = matched_ids(loaded[0], r)
        if not ids:
            raise EvalkitError(f"no video id in common with {loaded[0].path}", path=r.path,
                               hint="compare runs scored on the same split (ids from the 'video' column)")
    frame = pd.concat([compare_pair(loaded[0], r, features, resamples) for r in loaded[1:]], ignore_index=True)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        frame.to_csv(Path(out) / "compare.csv", index=False, float_format="%.10g")
    return frame


def render(frame: pd.DataFrame, fmt: str = "table") -> str:
    """The comparison as a terminal table or Markdown (one block per pair of runs)."""
    from evalkit.results.table import _fmt

    def p_text(p):
        return "—" if not np.isfinite(p) else (f"{p:.3g}" if p < 0.001 else f"{p:.3f}")

    blocks = []
    for (ra, rb), part in frame.groupby(["run_a", "run_b"], sort=False):
        header = ["metric", "↑/↓", "n", ra, rb, f"{rb} − {ra}", "95% CI", "p", "p (Holm)"]
        rows = [[r["metric"], r["direction"], str(r["n"]), _fmt(r["mean_a"]), _fmt(r["mean_b"]), _fmt(r["diff"]),
                 "" if not np.isfinite(r["ci_low"]) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                 p_text(r["p"]), p_text(r["p_holm"])] for r in part.to_dict(orient="records")]
        only = part.iloc[0]
        note = f"matched videos; {only['n_only_a']} only in {ra}, {only['n_only_b']} only in {rb}"
        notes = [f"{r['metric']}: {r['test']}" for r in part.to_dict(orient="records")
                 if str(r["test"]).startswith("not tested")]
        # rows no video defines (n = 0, e.g. a z with no null) say nothing about the test's floor
        flips = part["test"].str.startswith("sign-flip") & (part["n"] > 0)
        n_min = int(part.loc[flips, "n"].min()) if flips.any() else None
        boot = part[part["test"].str.startswith("paired bootstrap")]
        if len(boot) and int(boot["n"].min()) < 10:
            notes.append(f"set-level rows resample only {int(boot['n'].min())} videos: their interval and p are "
                         "coarse (few distinct resamples)")
        if n_min is not None and paired.min_sign_flip_p(n_min) > 0.05:
            notes.append(f"with {n_min} videos the smallest possible sign-flip p is "
                         f"{paired.min_sign_flip_p(n_min):.3g}: no per-video difference can be significant")
        text = _table(f"{rb} vs {ra} ({note})", header, rows, fmt)
        blocks.append(text + "".join(f"{'- ' if fmt == 'md' else '  '}{line}\n" for line in notes))
    return "\n".join(blocks) + "\n"


def _table(title: str, header: list[str], rows: list[list[str]], fmt: str) -> str:
    if fmt == "md":
        lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    # names left-aligned, numbers right-aligned, so that digits line up
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    rule = "-" * len(line(header))
    return "\n".join([title, rule, line(header), rule, *map(line, rows), rule]) + "\n"
