"""Power tables of result folders: per metric, the spread of per-video values and the minimum detectable
difference (evalkit.stats.power) at the run's N and at other N, or the N needed for given differences.

With one run the spread is the SD of its per-video values — the difference of two independent runs of
that spread would have √2 times it, and two runs on the same videos usually much less, so give both runs
(`evalkit power A B`) for the paired SD of B − A, which is what `evalkit compare` tests.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from evalkit.stats import power
from evalkit.stats.runs import Run, matched_ids, metric_columns, shared_columns


def _spreads(a: Run, b: Run | None) -> list[tuple[str, str, int, float]]:
    """(metric label, direction, n, SD) per per-video metric: of B − A over matched videos, or of A's values."""
    out = []
    if b is None:
        for col in metric_columns(a).values():
            if col.per_video:
                v = a.column(col.column).to_numpy()
                v = v[np.isfinite(v)]
                out.append((col.label, col.direction, int(v.size), float(v.std(ddof=1)) if v.size > 1 else np.nan))
        return out
    ids, _, _ = matched_ids(a, b)
    for ca, _cb in shared_columns(a, b):
        if ca.per_video:
            d = (b.column(ca.column).loc[ids] - a.column(ca.column).loc[ids]).to_numpy()
            d = d[np.isfinite(d)]
            out.append((ca.label, ca.direction, int(d.size), float(d.std(ddof=1)) if d.size > 1 else np.nan))
    return out


def power_table(a: Run, b: Run | None = None, ns=power.N_GRID, diffs: dict | None = None) -> pd.DataFrame:
    """One row per per-video metric: n, sd, spread ('paired' or 'per-video'), mdd_n (at the run's n),
    mdd_<N> for each N; with ``diffs`` ({label or '*': difference}) also the difference and n_needed."""
    rows = []
    for label, direction, n, sd in _spreads(a, b):
        row = {"metric": label, "direction": direction, "n": n, "sd": sd,
               "spread": "paired B − A" if b is not None else "per-video", "mdd_n": power.mdd(sd, n)}
        row.update({f"mdd_{k}": power.mdd(sd, k) for k in ns})
        if diffs:
            diff = diffs.get(label, diffs.get("*"))
            row["diff"] = np.nan if diff is None else float(diff)
            needed = power.n_needed(float(diff), sd) if diff is not None else None
            row["n_needed"] = np.nan if needed is None else needed
        rows.append(row)
    return pd.DataFrame(rows)


def render(frame: pd.DataFrame, fmt: str = "table") -> str:
    from evalkit.comparison import _table
    from evalkit.results.table import _fmt

    cols = [c for c in frame.columns if c not in ("direction", "spread")]
    header = [c.replace("mdd_n", "MDD at n").replace("mdd_", "MDD N=").replace("n_needed", "N needed") for c in cols]
    rows = [[_fmt(r[c]) if isinstance(r[c], float) and c not in ("n_needed",) else
             ("—" if isinstance(r[c], float) and np.isnan(r[c]) else str(int(r[c]) if c == "n_needed" else r[c]))
             for c in cols] for r in frame.to_dict(orient="records")]
    spread = frame["spread"].iloc[0] if len(frame) else "per-video"
    title = (f"minimum detectable difference at 80 % power, α = 0.05 two-sided (paired t-test; SD {spread})")
    text = _table(title, header, rows, fmt)
    counts = frame["n"][frame["n"] > 0] if len(frame) else []
    if len(counts) and int(counts.min()) <= 5:  # rows no video defines (n = 0) say nothing about the floor
        text += (f"{'- ' if fmt == 'md' else '  '}n = {int(counts.min())}: the exact sign-flip test of `evalkit compare` "
                 "cannot reach p < 0.05 at any difference below 6 videos (smallest p = 2/2^n)\n")
    return text + "\n"
