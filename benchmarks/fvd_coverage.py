"""Coverage of FVD's 95 % interval: old (percentile bootstrap) vs new (basic bootstrap containing the estimate).

Gaussian "clip features" with a known Fréchet distance: pred ~ N(δ·1, I), gt ~ N(0, diag(s²)), so
FD = D·δ² + Σ_i (1 − s_i)², fed to evalkit's FVD (the real statistics, Poisson bootstrap and eigh replicate
FDs; only I3D is replaced by the generator) at N clips per side. A draw covers when the interval contains
the true FD. Also reported: the mean estimate (FD's upward small-N bias), the share of draws whose old
interval left out the estimate itself, and the NON-REFERENCE FD∞ extrapolation (Chong & Forsyth 2020).

    uv run python benchmarks/fvd_coverage.py                     # D = 32, N = 16 64 256 1024, 200 draws
    uv run python benchmarks/fvd_coverage.py --dim 400 --draws 50 --sizes 256 1024

The default feature dimension is 32, not I3D's 400, for CPU time (400-d FDs at N = 16 are
rank-deficient and the bias dwarfs everything; the mechanism is the same). Prints a Markdown table and,
last, one JSON line with every figure.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

from evalkit.metrics.fvd import FVD
from evalkit.metrics.fvd_interval import fd_infinity, percentile_interval


class NoExtractor:
    """FVD's extractor slot: features are added directly, so it is never called."""

    info = {"name": "gaussian features (benchmark)"}

    def __init__(self, dim: int):
        self.dim = dim

    def __call__(self, x):  # pragma: no cover - never called
        raise AssertionError


def population(dim: int, fd_target: float):
    """(δ, s) with D·δ² + Σ(1 − s_i)² = fd_target: half from the means, half from the spreads."""
    delta = np.sqrt(fd_target / 2 / dim)
    s = 1.0 + np.linspace(-1.0, 1.0, dim) * 0.5
    s = 1.0 + (s - 1.0) * np.sqrt(fd_target / 2 / ((s - 1.0) ** 2).sum())
    return delta, s


def one_draw(rng, n: int, dim: int, delta: float, s: np.ndarray, bootstrap: int, with_inf: bool) -> dict:
    m = FVD("tf", extractor=NoExtractor(dim), cache=False, bootstrap=bootstrap)
    pred = rng.normal(size=(n, dim)) + delta
    gt = rng.normal(size=(n, dim)) * s
    for side, feats in (("pred", pred), ("gt", gt)):
        m.add_features(side, feats, rng.integers(0, 2 ** 52, size=n))  # distinct content seeds per clip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = m.compute()
    old = percentile_interval(m._last["bootstrap_fds"])
    row = {"fd": out["fvd"], "old": old, "new": (out["fvd_ci_low"], out["fvd_ci_high"])}
    if with_inf:
        row["fd_inf"] = fd_infinity(pred, gt, draws=3, seed=int(rng.integers(1 << 30)))["fd_inf"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--bootstrap", type=int, default=100, help="FVD's replicates (its default)")
    ap.add_argument("--fd", type=float, default=8.0, help="true FD of the two populations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-inf", action="store_true", help="skip the FD∞ extrapolation (faster)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # small matrices: threads only add contention (25x slower on a loaded 2-core host)
    delta, s = population(args.dim, args.fd)
    true = args.dim * delta ** 2 + ((1 - s) ** 2).sum()
    results = []
    t0 = time.time()
    for n in args.sizes:
        rng = np.random.default_rng([args.seed, n])
        rows = [one_draw(rng, n, args.dim, delta, s, args.bootstrap, not args.no_inf) for _ in range(args.draws)]
        fd = np.array([r["fd"] for r in rows])
        cover = lambda key: float(np.mean([lo <= true <= hi for lo, hi in (r[key] for r in rows)]))
        width = lambda key: float(np.median([hi - lo for lo, hi in (r[key] for r in rows)]))
        results.append({
            "n": n, "true_fd": float(true), "mean_fd": float(fd.mean()), "sd_fd": float(fd.std(ddof=1)),
            "old_coverage": cover("old"), "new_coverage": cover("new"),
            "old_width": width("old"), "new_width": width("new"),
            "old_misses_estimate": float(np.mean([not (lo <= r["fd"] <= hi) for r in rows for lo, hi in [r["old"]]])),
            "new_misses_estimate": float(np.mean([not (lo <= r["fd"] <= hi) for r in rows for lo, hi in [r["new"]]])),
            "mean_fd_inf": None if args.no_inf else float(np.mean([r["fd_inf"] for r in rows])),
        })
        print(f"N = {n}: {results[-1]} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(f"D = {args.dim}, true FD = {true:.3f}, {args.draws} draws per N, {args.bootstrap} bootstrap replicates, "
          f"nominal 95 %; {time.time() - t0:.0f} s\n")
    print("| N per side | mean FD (bias) | FD∞ (non-ref.) | old coverage | new coverage | old misses FD | "
          "new misses FD | median width old / new |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        inf = "—" if r["mean_fd_inf"] is None else f"{r['mean_fd_inf']:.2f}"
        print(f"| {r['n']} | {r['mean_fd']:.2f} (+{r['mean_fd'] - true:.2f}) | {inf} | {r['old_coverage']:.1%} | "
              f"{r['new_coverage']:.1%} | {r['old_misses_estimate']:.1%} | {r['new_misses_estimate']:.1%} | "
              f"{r['old_width']:.2f} / {r['new_width']:.2f} |")
    print(json.dumps({"args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
