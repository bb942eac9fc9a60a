"""Bailando's set metrics (``utils/metrics_new.py``) on per-sequence feature vectors.

* Normalisation: both sets by the ground truth's per-dimension mean and population std (+1e−10), in the
  features' float32 — a dimension constant over the ground truth is divided by 1e−10, as there (the 2D
  variants, evalkit's own definition, keep such a dimension in its units: ``min_std``).
* FID: Fréchet distance with Σ by ``np.cov`` (N−1) in float64, the mean term in the features' float32 (as
  the reference computes it), tr sqrtm(Σ_pred Σ_gt) by ``scipy.linalg.sqrtm`` with Bailando's 1e−5 retry
  only when the root is not finite, real part (the reference returns a complex number whose real part is
  the published value). With fewer sequences than dimensions both covariances are singular; the value
  then carries that root's round-off (golden_motion.md measures it) and is only comparable at equal N.
* Diversity: mean Euclidean distance over the unordered pairs of one set, accumulated in float32 in the
  reference's loop order.
"""
from __future__ import annotations

import warnings

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.metrics.frechet import trace_sqrt_scipy

STD_EPS = 1e-10
MIN_STD_2D = 1e-6  # evalkit's 2D variants: ground-truth dimensions flatter than this are not rescaled
RETRY_EPS = 1e-5  # Bailando's calc_fid (pytorch-fid uses 1e-6)


def normalize_by_gt(gt: np.ndarray, pred: np.ndarray, min_std: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bailando's: (f − mean_gt) / (std_gt + 1e−10). With ``min_std`` (evalkit's 2D variants) a dimension
    whose ground-truth std is below it keeps its own units instead of being divided by ~1e−10, where any
    deviation of the generated set would outweigh every other dimension."""
    mean, std = gt.mean(axis=0), gt.std(axis=0)
    scale = std + STD_EPS if min_std is None else np.where(std < min_std, 1.0, std)
    return (gt - mean) / scale, (pred - mean) / scale


def fid(pred: np.ndarray, gt: np.ndarray, what: str = "features") -> dict[str, float]:
    """{'fid', 'sqrtm_imag'} between normalised feature sets (N, D)."""
    for name, x in (("generated", pred), ("ground-truth", gt)):
        if len(x) < 2:
            raise EvalkitError(f"{what}: the {name} set has {len(x)} sequence(s); a covariance needs at least 2",
                               hint="score sets of several motions (FID is a distance between distributions)")
    mu1, mu2 = pred.mean(axis=0), gt.mean(axis=0)
    s1, s2 = np.cov(pred, rowvar=False), np.cov(gt, rowvar=False)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # scipy warns that the singular product's root may be inaccurate; the
        warnings.simplefilter("ignore")  # root's imaginary part is reported instead (sqrtm_imag)
        tr_sqrt, imag = trace_sqrt_scipy(s1, s2, retry_eps=RETRY_EPS)
    value = float(diff.dot(diff)) + float(np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)
    return {"fid": value, "sqrtm_imag": imag}


def frechet_eigh(pred: np.ndarray, gt: np.ndarray) -> float:
    """Fréchet distance by symmetric eigendecompositions, round-off eigenvalues of singular covariances set
    to 0 (a set against itself is 0, not ±1e−6): evalkit's own 2D variants, where no reference fixes the route."""
    from evalkit.metrics.frechet import frechet_distance, moments

    return frechet_distance(*moments(pred), *moments(gt), method="eigh")["fd"]


def pair_distances(feats: np.ndarray) -> np.ndarray:
    """‖f_i − f_j‖ for i < j in the reference's loop order (row by row), in the features' dtype."""
    n = len(feats)
    return np.concatenate([np.linalg.norm(feats[i + 1:] - feats[i], axis=1) for i in range(n - 1)])


def diversity(feats: np.ndarray, what: str = "features") -> float:
    n = len(feats)
    if n < 2:
        raise EvalkitError(f"{what}: diversity needs at least 2 sequences, got {n}")
    d = pair_distances(feats)
    return float(np.cumsum(d, dtype=d.dtype)[-1] / d.dtype.type((n * n - n) / 2))  # sequential sum, as the loop
