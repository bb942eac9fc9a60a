"""Fréchet distance between Gaussians fitted to feature sets, in float64.

``FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``; three routes to the trace term:

* ``tfgan`` — TF-GAN's ``trace_sqrt_product``: ``tr(sqrt_sym(sqrt_sym(S1) S2 sqrt_sym(S1)))`` where
  ``sqrt_sym`` is SVD-based and leaves singular values below 1e-10 as they are (the original FVD);
* ``scipy`` — ``scipy.linalg.sqrtm(S1 @ S2)``, real part (StyleGAN-V, JH, DisCo, pytorch-fid);
* ``eigh`` — symmetric eigendecompositions in torch float64, batched and on any device (GPU for many
  distances at once, e.g. bootstrap replicates); eigenvalues below D·eps·max (round-off) count as 0.

Covariances come from running sums (see :func:`moments_from_sums`) with divisor N-1 (ddof=1, TF-GAN,
pytorch-fid, DisCo, JH) or N (ddof=0, StyleGAN-V / cd-fvd).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from evalkit.errors import EvalkitError

METHODS = ("tfgan", "scipy", "eigh")
TFGAN_EPS = 1e-10


def moments_from_sums(n: float, s1: np.ndarray, s2: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance from N, sum(x) and sum(x x^T) (float64)."""
    n = float(n)
    if n - ddof <= 0:
        raise EvalkitError(f"need more than {ddof} feature vector(s) for a covariance, got {int(n)}")
    mu = np.asarray(s1, dtype=np.float64) / n
    sigma = (np.asarray(s2, dtype=np.float64) - n * np.outer(mu, mu)) / (n - ddof)
    return mu, (sigma + sigma.T) / 2  # exact symmetry; round-off only


def warn_small_n(messages: list[str], metric: str, unit: str, n: dict, small: int, why: str,
                 bound: str = "") -> None:
    """Add the small-sample warning when a side has fewer than ``small`` units (a Fréchet distance on few
    feature vectors is biased upward), then warn every message (as from the caller's caller: its compute's)."""
    if min(n.values()) < small:
        messages.append(f"{metric} on few {unit} (pred {int(n['pred'])}, gt {int(n['gt'])} < {small}{bound}): {why}")
    for msg in messages:
        warnings.warn(msg, stacklevel=3)


def moments(feats: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    feats = np.asarray(feats, dtype=np.float64)
    return feats.mean(axis=0), np.cov(feats, rowvar=False, ddof=ddof).reshape(feats.shape[1], feats.shape[1])


def _sqrt_sym_tfgan(mat: np.ndarray) -> np.ndarray:
    try:
        u, s, vt = np.linalg.svd(mat)
    except np.linalg.LinAlgError:  # gesdd can fail on rank-deficient input; gesvd is slower but robust
        import scipy.linalg

        u, s, vt = scipy.linalg.svd(mat, lapack_driver="gesvd")
    si = np.where(s < TFGAN_EPS, s, np.sqrt(s))
    return (u * si) @ vt


def trace_sqrt_tfgan(s1: np.ndarray, s2: np.ndarray) -> float:
    root = _sqrt_sym_tfgan(s1)
    return float(np.trace(_sqrt_sym_tfgan(root @ s2 @ root)))


def trace_sqrt_scipy(s1: np.ndarray, s2: np.ndarray, retry_eps: float = 1e-6) -> tuple[float, float]:
    """tr(sqrtm(S1 S2)) (real part) and the largest |imaginary| part of the root's diagonal."""
    import scipy.linalg

    root = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(root).all():  # pytorch-fid/DisCo: retry with 1e-6 on the diagonals (Bailando: 1e-5)
        eps = np.eye(s1.shape[0]) * retry_eps
        root = scipy.linalg.sqrtm((s1 + eps) @ (s2 + eps))
    diag = np.diagonal(root)
    imag = float(np.abs(diag.imag).max()) if np.iscomplexobj(root) else 0.0
    return float(np.trace(root).real), imag


def trace_sqrt_eigh(s1, s2, device=None) -> torch.Tensor:
    """Batched tr((S1 S2)^(1/2)) = sum sqrt(eig(A^(1/2) S2 A^(1/2))) in float64 torch; (..., D, D) -> (...)."""
    a = torch.as_tensor(s1, dtype=torch.float64, device=device)
    b = torch.as_tensor(s2, dtype=torch.float64, device=a.device)
    w, v = torch.linalg.eigh(a)
    root = (v * _noise_to_zero(w).sqrt().unsqueeze(-2)) @ v.transpose(-1, -2)
    m = root @ b @ root
    lam = torch.linalg.eigvalsh((m + m.transpose(-1, -2)) / 2)
    return _noise_to_zero(lam).sqrt().sum(-1)


def _noise_to_zero(lam: torch.Tensor) -> torch.Tensor:
    """Eigenvalues below D * eps * max are round-off of a rank-deficient matrix (N <= D): set them to 0,
    as TF-GAN's threshold does, instead of adding sqrt(noise) ~ 1e-7 per dimension."""
    tol = lam.abs().amax(-1, keepdim=True) * lam.shape[-1] * torch.finfo(lam.dtype).eps
    return torch.where(lam > tol, lam, torch.zeros_like(lam))


def frechet_distance(mu1, sigma1, mu2, sigma2, method: str = "tfgan") -> dict[str, float]:
    """FD and its parts: {'fd', 'mean_term', 'trace_term', 'sqrtm_imag'} (float64)."""
    if method not in METHODS:
        raise EvalkitError(f"unknown Fréchet method '{method}'", hint=f"choose one of: {', '.join(METHODS)}")
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise EvalkitError(f"feature statistics disagree in shape: "
                           f"{mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    imag = 0.0
    if method == "tfgan":
        tr_sqrt = trace_sqrt_tfgan(sigma1, sigma2)
    elif method == "scipy":
        tr_sqrt, imag = trace_sqrt_scipy(sigma1, sigma2)
    else:
        tr_sqrt = float(trace_sqrt_eigh(sigma1, sigma2))
    trace_term = float(np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)
    return {"fd": mean_term + trace_term, "mean_term": mean_term, "trace_term": trace_term, "sqrtm_imag": imag}


def frechet_distance_batched(mu1, sigma1, mu2, sigma2, device=None) -> np.ndarray:
    """Many FDs at once via the eigh route: mu (B, D), sigma (B, D, D) -> (B,) float64."""
    m1 = torch.as_tensor(mu1, dtype=torch.float64, device=device)
    m2 = torch.as_tensor(mu2, dtype=torch.float64, device=m1.device)
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=m1.device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=m1.device)
    tr = s1.diagonal(dim1=-2, dim2=-1).sum(-1) + s2.diagonal(dim1=-2, dim2=-1).sum(-1)
    fd = ((m1 - m2) ** 2).sum(-1) + tr - 2.0 * trace_sqrt_eigh(s1, s2)
    return fd.cpu().numpy()


def fd_from_features(x: np.ndarray, y: np.ndarray, ddof: int = 1, method: str = "tfgan") -> float:
    """FD between two feature sets (N, D) — convenience for tests and small sets."""
    return frechet_distance(*moments(x, ddof), *moments(y, ddof), method=method)["fd"]
