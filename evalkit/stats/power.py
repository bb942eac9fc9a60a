"""Power of the paired comparison: minimum detectable difference (MDD) and the number of videos needed.

Model: per-video differences d_i ~ Normal(δ, σ²), two-sided paired t-test at level α. Its power is
P(|T| > t_{n−1, 1−α/2}) with T ~ noncentral t(n − 1, δ√n/σ); the MDD is the δ where this reaches the target
power (solved numerically). The normal approximation MDD ≈ (z_{1−α/2} + z_{power}) σ/√n (= 2.80 σ/√n at
α = 0.05, 80 %) is a few percent smaller for n ≥ 20 and much smaller for tiny n. The sign-flip test
`evalkit compare` runs has nearly the t-test's power for normal differences once n ≳ 10; below that it
is coarser (with n videos its smallest p-value is 2/2^n, so n <= 5 can never reach p < 0.05).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.80
N_GRID = (10, 20, 50, 100, 200)


def t_power(diff: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test for a true mean difference ``diff`` with per-video SD ``sd``."""
    if n < 2 or not sd > 0:
        return float("nan")
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = abs(diff) * math.sqrt(n) / sd
    upper = stats.nct.sf(crit, df, nc)
    lower = stats.nct.cdf(-crit, df, nc)  # scipy returns NaN far out in this tail, where it is ~0
    return float(upper + (lower if np.isfinite(lower) else 0.0))


def mdd(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable |difference| at ``power`` (paired t-test, noncentral t); NaN for n < 2 or sd <= 0."""
    if n < 2 or not sd > 0:
        return float("nan")
    hi = (stats.t.ppf(1 - alpha / 2, n - 1) + 10) * sd / math.sqrt(n)  # 10 SDs past the critical value: power 1
    return float(optimize.brentq(lambda d: t_power(d, sd, n, alpha) - power, 0.0, hi, xtol=1e-12 * sd))


def mdd_normal(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Normal approximation (z_{1−α/2} + z_power) σ/√n of :func:`mdd`."""
    return float((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * sd / math.sqrt(n))


def n_needed(diff: float, sd: float, alpha: float = ALPHA, power: float = POWER, n_max: int = 1_000_000) -> int | None:
    """Smallest n >= 2 whose paired t-test detects ``diff`` with ``power``; None when above n_max or undefined."""
    if not sd > 0 or diff == 0 or not np.isfinite(diff):
        return None
    guess = max(2, int(math.floor(((stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * sd / diff) ** 2)))
    lo, hi = 2, max(guess * 2, 4)
    while t_power(diff, sd, hi, alpha) < power:  # the normal guess is an underestimate; widen until above
        lo, hi = hi, hi * 2
        if hi > n_max:
            return None
    while lo < hi:  # power grows with n: bisect for the first n reaching it
        mid = (lo + hi) // 2
        if t_power(diff, sd, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo
