"""FVD's bootstrap interval, and FD's small-N bias with an optional FD∞ extrapolation (non-reference).

FD estimated from N clips is biased upwards: the trace term tr(S1) + tr(S2) − 2 tr((S1 S2)^½) of two sample
covariances is positive even when the populations are equal (noise never cancels in a square root), and
so is ||μ̂1 − μ̂2||² (E = ||μ1 − μ2||² + tr(Σ1)/N + tr(Σ2)/N). The bias shrinks roughly like 1/N
(Chong & Forsyth 2020). A bootstrap replicate is a resampled set with repeats — fewer distinct clips —
so its FD is biased *more*, and the percentile interval [q2.5, q97.5] of the replicates is shifted above
the estimate: with few clips it can leave the estimate out altogether (FVD 917 with "95 % CI" [918, 1282]).

The interval reported now is the **basic (pivotal) bootstrap** interval [2θ̂ − q97.5, 2θ̂ − q2.5]: it reads
the replicates' spread *and shift* around θ̂ as the estimate's around the truth, so the shift corrects the
bias instead of adding to it. It is widened where needed to contain θ̂ (a reported interval always
contains its number) and floored at 0 (FD is a squared distance). benchmarks/fvd_coverage.py measures
its coverage against the old one on Gaussian features with a known FD (docs/fvd-interval.md).
"""
from __future__ import annotations

import numpy as np

LEVEL = 0.95
METHOD = "basic (pivotal) bootstrap [2·FVD − q97.5, 2·FVD − q2.5], widened to contain FVD, floored at 0"


def percentile_interval(replicates, level: float = LEVEL) -> tuple[float, float]:
    """The old interval: percentiles of the replicate FDs (biased upwards at small N; kept for comparison)."""
    r = np.asarray(replicates, np.float64)
    if r.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(r, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_interval(estimate: float, replicates, level: float = LEVEL) -> tuple[float, float]:
    """FVD's interval (see METHOD) from the estimate and its bootstrap replicate FDs; NaN without replicates."""
    return from_percentiles(estimate, *percentile_interval(replicates, level))


def from_percentiles(estimate: float, q_lo: float, q_hi: float) -> tuple[float, float]:
    """The interval from the estimate and the replicates' percentile interval (so an old result's
    [q2.5, q97.5] converts exactly)."""
    if not (np.isfinite(q_lo) and np.isfinite(q_hi) and np.isfinite(estimate)):
        return float("nan"), float("nan")
    lo, hi = 2 * estimate - q_hi, 2 * estimate - q_lo
    # floored at 0, but never above the estimate: identical sets give an FD of ~−1e-11 by rounding, and the
    # interval must still contain it (a floor applied after the widening gave [0, −3.8e-11]).
    return float(min(max(0.0, lo), estimate)), float(max(hi, estimate))


def fd_infinity(x, y, sizes=None, draws: int = 5, seed: int = 0, ddof: int = 1) -> dict:
    """NON-REFERENCE extrapolation FD∞ (Chong & Forsyth 2020): FD on random subsets of N_k clips per side,
    a line FD = FD∞ + slope/N fitted over 1/N_k, its intercept. Needs the clip features (KVD holds them).
    Returns {'fd_inf', 'slope', 'sizes', 'fds'}; a research aid, not comparable with published FVD."""
    from evalkit.metrics.frechet import fd_from_features

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = min(len(x), len(y))
    sizes = np.asarray(sizes if sizes is not None else np.unique(np.linspace(max(n // 5, 8), n, 6).astype(int)))
    rng = np.random.default_rng(seed)
    fds = np.array([np.mean([fd_from_features(x[rng.choice(len(x), k, replace=False)],
                                              y[rng.choice(len(y), k, replace=False)], ddof=ddof, method="eigh")
                             for _ in range(draws)]) for k in sizes])
    slope, intercept = np.polyfit(1.0 / sizes, fds, 1)
    return {"fd_inf": float(intercept), "slope": float(slope), "sizes": sizes.tolist(), "fds": fds.tolist()}
