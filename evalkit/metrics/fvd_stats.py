"""FVD reference statistics files (``evalkit stats make``, ``--gt-stats``): one side's running sums, its mean and
covariance for other tools, and the protocol that made them, as .npz (no pickles). A file is used only by a
metric whose feature settings and bootstrap replicates are the file's own."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.metrics.fvd_sums import LEAVES, moments

if TYPE_CHECKING:
    from evalkit.metrics.fvd import FVD

STATS_FORMAT = "evalkit-fvd-stats/1"


def save_stats(path: str | Path, metric: FVD, side: str = "gt", source: dict | None = None) -> Path:
    """Write one side's running sums (+ mean/covariance for other tools) and the protocol as .npz."""
    path = Path(path)
    sums = metric.side_sums(side)
    n = float(sums["n"])
    ddof = int(metric.settings["ddof"])
    if n > ddof:
        mu, sigma = moments(sums, ddof)
    else:
        mu = sums["sum"] / n if n else np.zeros_like(sums["sum"])
        sigma = np.full_like(sums["outer"], np.nan)
    meta = {
        "format": STATS_FORMAT,
        "protocol": metric.preset,
        "side": side,
        "features": metric.feature_settings(side),
        "bootstrap": int(metric.settings["bootstrap"]),
        "ddof": ddof,
        "weights": metric.extractor_info(),
        "counts": metric.side_counts(side),
        "source": source or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), mu=mu, sigma=sigma, **sums)
    tmp.replace(path)
    return path


def load_stats(path: str | Path, metric: FVD) -> dict:
    """Read a stats file written by ``evalkit stats make`` and check it matches ``metric``'s protocol."""
    path = Path(path)
    if not path.is_file():
        raise EvalkitError("no such statistics file", path=path,
                           hint="make one with: evalkit stats make DIR --out FILE")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data["meta"]))
    except Exception as err:
        raise EvalkitError(f"not an FVD statistics file ({type(err).__name__})", path=path,
                           hint="make one with: evalkit stats make DIR --out FILE") from None
    if meta.get("format") != STATS_FORMAT:
        raise EvalkitError(f"unknown statistics format {meta.get('format')!r}", path=path, hint="remake it")
    want = metric.feature_settings("gt")
    if meta["features"] != want:
        diff = sorted(k for k in set(want) | set(meta["features"]) if want.get(k) != meta["features"].get(k))
        raise EvalkitError(f"made with other FVD settings ({', '.join(diff)}; protocol '{meta['protocol']}')",
                           path=path, hint=f"remake it with --protocol {metric.preset} or score with its protocol")
    if meta["bootstrap"] != int(metric.settings["bootstrap"]):
        raise EvalkitError(f"has {meta['bootstrap']} bootstrap replicates, the metric uses "
                           f"{metric.settings['bootstrap']}", path=path, hint="use the same --bootstrap")
    out = {k: np.asarray(data[k], dtype=np.float64) for k in LEAVES}
    out["meta"] = meta
    return out
