"""KVD: kernel video distance — unbiased MMD² between I3D features of generated and real clips.

The FVD paper's (Unterthiner et al. 2018) kernel alternative to FVD, with KID's polynomial kernel
k(x, y) = (xᵀy/d + 1)³, d = 400 (the feature dimension). The unbiased estimator

    MMD²_u = Σ_{i≠j} k(x_i, x_j)/(m(m−1)) + Σ_{i≠j} k(y_i, y_j)/(n(n−1)) − 2 Σ_{i,j} k(x_i, y_j)/(mn)

has no small-N bias (FD's grows like 1/N), so KVD can be compared across set sizes; it can be slightly
negative when the sets are alike. Reported raw (not ×1000 as some KID tables do), in float64, with a
two-sample delete-one-clip jackknife standard error and the normal 95 % interval KVD ± 1.96·SE. The SE
treats clips as independent; windows of one video are correlated, so it is a lower bound.

Features, clips and protocols are FVD's (this class *is* the FVD feature pipeline — I3D, resizing, clip
plans, feature cache — with the features held instead of summed). State: every clip's feature and content
seed per side, concatenated across shards and sorted by seed before computing, so a merge of shards gives
the same bits as one process. Memory cap: at most ``max_clips`` clips per side (default 8192 = 26 MB per
side; ``stylegan-v``: 2048 like FVD), beyond which the clips with the smallest content seeds are kept
(independent of order and sharding) and a warning says so.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.features.i3d_pipeline import is_i3d
from evalkit.metrics.fvd import FVD, SIDES, SMALL_N

CAP = 8192
_BLOCK = 2048  # kernel rows per block: a 2048 x 8192 float64 block is 128 MB at most
_UNUSED = ("ddof", "fd")  # FVD settings that do not apply to a kernel distance


def _kvd_presets() -> dict:
    out = {}
    for name, preset in FVD.presets.items():
        s = {k: v for k, v in preset.items() if k not in _UNUSED}
        s.update(max_clips=int(preset["max_clips"]) or CAP, bootstrap=0)
        out[name] = s
    return out


def _kernel_sums(x: np.ndarray, y: np.ndarray, scale: float, same: bool) -> tuple[np.ndarray, float]:
    """Row sums of k(x_i, y_j) (without j = i when ``same``) and their total, blockwise in float64."""
    rows = np.empty(x.shape[0])
    for start in range(0, x.shape[0], _BLOCK):
        k = (x[start:start + _BLOCK] @ y.T / scale + 1.0) ** 3
        if same:
            idx = np.arange(k.shape[0])
            k[idx, start + idx] = 0.0
        rows[start:start + _BLOCK] = k.sum(1)
    return rows, float(rows.sum())


def kvd_from_features(x, y, scale: float | None = None) -> dict[str, float]:
    """Unbiased MMD² of feature sets x (m, D) and y (n, D) with k = (xᵀy/scale + 1)³ (scale: D by default),
    and its two-sample jackknife SE: {'kvd', 'se', 'm', 'n'}."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2:
        return {"kvd": math.nan, "se": math.nan, "m": m, "n": n}
    scale = float(scale or x.shape[1])
    rx, sxx = _kernel_sums(x, x, scale, True)
    ry, syy = _kernel_sums(y, y, scale, True)
    cx, sxy = _kernel_sums(x, y, scale, False)  # cx: sums over y for each x
    cy = _kernel_sums(y, x, scale, False)[0]
    value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2 * sxy / (m * n)
    se = math.nan
    if m > 2 and n > 2:
        # leave clip i out: its row (twice: k is symmetric) leaves the within-sum, its cross row the cross-sum
        loo_x = (sxx - 2 * rx) / ((m - 1) * (m - 2)) + syy / (n * (n - 1)) - 2 * (sxy - cx) / ((m - 1) * n)
        loo_y = sxx / (m * (m - 1)) + (syy - 2 * ry) / ((n - 1) * (n - 2)) - 2 * (sxy - cy) / (m * (n - 1))
        var = (m - 1) / m * ((loo_x - loo_x.mean()) ** 2).sum() + (n - 1) / n * ((loo_y - loo_y.mean()) ** 2).sum()
        se = math.sqrt(var)
    return {"kvd": float(value), "se": se, "m": m, "n": n}


class KVD(FVD):
    name = "kvd"
    higher_is_better = False
    reference = ("KVD (Unterthiner et al. 2018): unbiased MMD² with k(x, y) = (xᵀy/d + 1)³ (KID's kernel) on the "
                 "FVD protocol's I3D Kinetics-400 logits")
    presets = _kvd_presets()
    on_boards = False  # FVD's declarations, not its place on the boards (nor its --gt-stats: see below)
    takes_gt_stats = False

    def __init__(self, preset: str | None = None, device: str = "cpu", **kwargs):
        if kwargs.get("gt_stats"):  # before FVD's constructor would load it
            raise EvalkitError("kvd needs the ground-truth clips' features; an FVD statistics file holds only sums",
                               path=kwargs["gt_stats"], hint="score kvd with the gt videos (no --gt-stats)")
        super().__init__(preset, device, **kwargs)
        if int(self.settings["bootstrap"]) != 0:
            raise EvalkitError("kvd has no bootstrap (its standard error is a jackknife)", hint="drop kvd.bootstrap")
        if int(self.settings["max_clips"]) < 1:
            raise EvalkitError("kvd holds its clips' features: max_clips must be at least 1",
                               hint=f"use the default cap {CAP} or another positive number")

    def feature_settings(self, side: str) -> dict:
        """FVD's, so that both metrics share the feature cache (the cap does not change a video's features)."""
        s = super().feature_settings(side)
        s["max_clips"] = int(FVD.presets[self.preset]["max_clips"])
        return s

    def features(self, side: str) -> np.ndarray:
        """One side's held clip features (k, D), sorted by content seed (then by value): order-independent."""
        self._flush()
        keys, feats = self._state[f"{side}_keys"], self._state[f"{side}_feats"]
        order = np.lexsort(tuple(feats.T[::-1]) + (keys,))
        return feats[order]

    def compute(self) -> dict[str, float]:
        """{'kvd', 'kvd_ci_low', 'kvd_ci_high', 'kvd_se'}; NaN (with a warning) below 2 clips a side."""
        feats = {side: self.features(side) for side in SIDES}
        res = kvd_from_features(feats["pred"], feats["gt"], self._dim)
        n = {side: float(len(feats[side])) for side in SIDES}
        self._last = {"warnings": [], "n": n, "se": res["se"]}
        if min(n.values()) < 2:
            self._last["warnings"].append(f"KVD undefined: needs 2 clips per side (pred {int(n['pred'])}, "
                                          f"gt {int(n['gt'])})")
        elif min(n.values()) < SMALL_N:
            self._last["warnings"].append(f"KVD on few clips (pred {int(n['pred'])}, gt {int(n['gt'])} < {SMALL_N}): "
                                          "unbiased but noisy; see its standard error")
        cap = int(self.settings["max_clips"])
        if any(self._state[f"{side}_videos"] and len(feats[side]) >= cap for side in SIDES):
            self._last["warnings"].append(f"KVD on the {cap} clips per side with the smallest content seeds "
                                          "(memory cap; raise kvd.max_clips to use more)")
        for msg in self._last["warnings"]:
            warnings.warn(msg, stacklevel=2)
        half = 1.959963984540054 * res["se"]
        return {"kvd": res["kvd"], "kvd_ci_low": res["kvd"] - half, "kvd_ci_high": res["kvd"] + half,
                "kvd_se": res["se"]}

    def identity(self) -> dict:
        from evalkit.metrics.base import Metric

        ident = Metric.identity(self)  # FVD's adds covariance/sqrt/bootstrap fields a kernel distance has not
        s = self.settings
        reference_mode = s["precision"] == "fp32" and is_i3d(self._extractor)
        ident.update({
            "protocol": self.preset, "clip_len": int(s["clip_len"]), "stride": int(s["stride"]),
            "clip_sampling": {"gt": s["gt_clips"], "pred": s["pred_clips"]}, "resize": s["resize"],
            "weights": self.extractor_info(), "precision": s["precision"], "reference_mode": reference_mode,
            "kernel": "polynomial (xᵀy/d + 1)³", "d": self._dim, "estimator": "unbiased MMD² (U-statistic)",
            "standard_error": {"value": self._last.get("se"),
                               "method": "two-sample delete-one-clip jackknife (clips independent)"},
            "interval": "KVD ± 1.96 SE (normal)", "feature_cap_per_side": int(s["max_clips"]),
            "N": {k: int(v) for k, v in self._last.get("n", {}).items()},
            "warnings": list(self._last.get("warnings", [])),
        })
        if not reference_mode:
            ident["reference"] = f"NON-REFERENCE ({s['precision']} features or custom extractor): {self.reference}"
        return ident
