"""Paired comparisons of two runs over the same videos: bootstrap interval, sign-flip test, Holm correction.

All three work on the per-video differences d_i = B_i − A_i (float64). The sign-flip test is the exact
permutation test of "A and B are exchangeable per video": under it each d_i is as likely to be −d_i, so the
p-value is the share of the 2^n sign patterns whose |mean| reaches the observed one (observed included).
"""
from __future__ import annotations

import itertools

import numpy as np

EXACT_MAX_N = 16  # 2^16 sign patterns enumerated; above, Monte Carlo draws
DRAWS = 100_000
RESAMPLES = 10_000
# |mean| ties must count as "at least as extreme" despite round-off in the sums of flipped signs
_TIE = 1e-12


def bootstrap_ci(diffs, resamples: int = RESAMPLES, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diffs`` (videos resampled with replacement); NaN for n < 2."""
    d = np.asarray(diffs, dtype=np.float64)
    if d.size < 2:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, d.size, size=(resamples, d.size))
    means = d[idx].mean(axis=1)
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def sign_patterns(n: int) -> np.ndarray:
    """All 2^n patterns of ±1, (2^n, n)."""
    return np.array(list(itertools.product((1.0, -1.0), repeat=n)), dtype=np.float64).reshape(-1, n)


def sign_flip_p(diffs, draws: int = DRAWS, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p-value of mean(diffs) = 0: exact for n <= 16, else ``draws`` seeded
    random patterns with the observed one counted in (p = (1 + hits) / (1 + draws)); NaN for n = 0."""
    d = np.asarray(diffs, dtype=np.float64)
    n = d.size
    if n == 0:
        return float("nan")
    observed = abs(d.mean())
    bar = observed - _TIE * max(1.0, observed)
    if n <= EXACT_MAX_N:
        means = np.abs(sign_patterns(n) @ d) / n
        return float((means >= bar).mean())
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, draws, 10_000):  # bounded memory: 10 000 patterns at a time
        k = min(10_000, draws - start)
        signs = rng.integers(0, 2, size=(k, n)) * 2.0 - 1.0
        hits += int((np.abs(signs @ d) / n >= bar).sum())
    return float((1 + hits) / (1 + draws))


def min_sign_flip_p(n: int) -> float:
    """The smallest p-value the exact sign-flip test can give with n videos (all differences of one sign)."""
    return 2.0 / 2 ** n if n > 0 else float("nan")


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries left out and returned as NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def pivot_p(estimate: float, replicates) -> float:
    """Two-sided p-value of "difference = 0" from the basic (pivotal) bootstrap: the share of replicates with
    |θ* − θ̂| >= |θ̂| (θ* − θ̂ stands in for θ̂ − θ); it is below α exactly when the basic interval at level 1 − α
    leaves out 0, up to ties. NaN without replicates."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0 or not np.isfinite(estimate):
        return float("nan")
    bar = abs(estimate) - _TIE * max(1.0, abs(estimate))
    return float((np.abs(r - estimate) >= bar).mean())


def basic_interval(estimate: float, replicates, level: float = 0.95) -> tuple[float, float]:
    """Basic (pivotal) bootstrap interval [2θ̂ − q_hi, 2θ̂ − q_lo], widened to contain θ̂ itself."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0 or not np.isfinite(estimate):
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    q_lo, q_hi = np.percentile(r, [tail, 100 - tail])
    return float(min(estimate, 2 * estimate - q_hi)), float(max(estimate, 2 * estimate - q_lo))
