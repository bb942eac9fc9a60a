"""FVD's streaming statistics: per side, float64 running sums of clip features and of their outer products, plus
the same sums for B Poisson(1) bootstrap replicates whose per-clip weights are drawn from the clip's content
hash — so shards merge exactly and the interval depends on neither order nor sharding.

A side's sums are six leaves (``LEAVES``): n, sum (D), outer (D, D), boot_n (B), boot_sum (B, D) and boot_outer
(B, D(D+1)/2, packed upper triangles: half the bytes). They live in the metric's numpy state (merged by
``Metric.merge``); ``DeviceSums`` holds the torch tensors features are added into.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from evalkit.metrics.frechet import frechet_distance_batched

LEAVES = ("n", "sum", "outer", "boot_n", "boot_sum", "boot_outer")


def _poisson_cdf(kmax: int = 24) -> np.ndarray:
    pmf = np.array([math.exp(-1.0) / math.factorial(k) for k in range(kmax)])
    return np.cumsum(pmf)


_CDF = _poisson_cdf()


def poisson_weights(seeds, replicates: int) -> np.ndarray:
    """(n,) clip seeds -> (n, B) Poisson(1) weights, a pure function of (seed, replicate)."""
    with np.errstate(over="ignore"):  # splitmix64 relies on wrapping uint64 arithmetic
        z = np.asarray(seeds, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
        z = z + np.arange(1, replicates + 1, dtype=np.uint64)[None, :] * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return np.searchsorted(_CDF, u, side="right").astype(np.float64)


_TRIU: dict = {}


def triu(dim: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Row/column indices of the packed upper triangle (cached per dim and device)."""
    key = (dim, str(device))
    if key not in _TRIU:
        iu = torch.triu_indices(dim, dim, device=device)
        _TRIU[key] = (iu[0], iu[1])
    return _TRIU[key]


def unpack(packed: torch.Tensor, dim: int) -> torch.Tensor:
    """(..., D(D+1)/2) upper triangles -> (..., D, D) symmetric, on the tensor's device."""
    i, j = triu(dim, packed.device)
    out = packed.new_zeros(packed.shape[:-1] + (dim, dim))
    out[..., i, j] = packed
    out[..., j, i] = packed
    return out


def zero_sums(dim: int, replicates: int) -> dict[str, np.ndarray]:
    """A side's six leaves, zero (float64)."""
    return {"n": np.zeros(()), "sum": np.zeros(dim), "outer": np.zeros((dim, dim)), "boot_n": np.zeros(replicates),
            "boot_sum": np.zeros((replicates, dim)), "boot_outer": np.zeros((replicates, dim * (dim + 1) // 2))}


def declare(add_state, side: str, dim: int, replicates: int, capped: bool) -> None:
    """One side's state in ``Metric.add_state``: capped, the held clips' content keys and features (concatenated
    on merge); else the six sums (added on merge)."""
    if capped:
        add_state(f"{side}_keys", np.zeros((0,)), "cat")
        add_state(f"{side}_feats", np.zeros((0, dim)), "cat")
    else:
        for leaf, zero in zero_sums(dim, replicates).items():
            add_state(f"{side}_{leaf}", zero)


def keep_smallest(state: dict, side: str, cap: int) -> None:
    """Keep the ``cap`` held clips with the smallest content hashes (order- and shard-independent)."""
    keys, feats = state[f"{side}_keys"], state[f"{side}_feats"]
    if keys.shape[0] > cap:
        keep = np.sort(np.argsort(keys, kind="stable")[:cap])
        state[f"{side}_keys"], state[f"{side}_feats"] = keys[keep], feats[keep]


def accumulate(acc: dict, feats: torch.Tensor, weights: torch.Tensor) -> None:
    """Add features (n, D) and bootstrap weights (n, B), float64 on acc's device, into the sums."""
    idx = triu(feats.shape[1], feats.device)
    acc["n"] += feats.shape[0]
    acc["sum"] += feats.sum(0)
    acc["outer"] += feats.T @ feats
    acc["boot_n"] += weights.sum(0)
    acc["boot_sum"] += weights.T @ feats
    for i in range(0, feats.shape[0], 64):  # packed outer products, 64 clips at a time (bounded memory)
        f = feats[i:i + 64]
        acc["boot_outer"] += weights[i:i + 64].T @ (f[:, idx[0]] * f[:, idx[1]])


def sums_of(seeds: np.ndarray, feats: np.ndarray, replicates: int) -> dict[str, np.ndarray]:
    """The six leaves of held features (n, D) with their content seeds (the capped protocol's layout)."""
    zeros = zero_sums(feats.shape[1], replicates)
    acc = {k: torch.from_numpy(v) for k, v in zeros.items()}
    if len(seeds):
        accumulate(acc, torch.from_numpy(feats), torch.from_numpy(poisson_weights(seeds, replicates)))
    return zeros  # the tensors were views of these arrays


def moments(sums: dict, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (divided by n - ddof) of one side's sums."""
    n = float(sums["n"])
    mu = sums["sum"] / n
    return mu, (sums["outer"] - n * np.outer(mu, mu)) / (n - ddof)


class DeviceSums:
    """Per side, the torch tensors features are added into: views of the numpy state itself on the CPU, float64
    deltas on a GPU that ``sync`` moves into the state. Never copied: a clone builds its own on first use."""

    def __init__(self, state: dict, sides, device: str):
        self.device = torch.device(device)
        self.acc = {}
        for side in sides:
            if self.device.type == "cpu":
                self.acc[side] = {k: torch.from_numpy(state[f"{side}_{k}"]) for k in LEAVES}
            else:
                self.acc[side] = {k: torch.zeros(state[f"{side}_{k}"].shape, dtype=torch.float64, device=self.device)
                                  for k in LEAVES}

    def add(self, side: str, feats: np.ndarray, seeds: np.ndarray, replicates: int) -> None:
        acc = self.acc[side]
        dev = acc["sum"].device
        accumulate(acc, torch.from_numpy(feats).to(dev), torch.from_numpy(poisson_weights(seeds, replicates)).to(dev))

    def sync(self, state: dict) -> None:
        """Move GPU deltas into the numpy state (nothing to do on the CPU, where they are the state)."""
        if self.device.type == "cpu":
            return
        for side, acc in self.acc.items():
            for k, t in acc.items():
                state[f"{side}_{k}"] += t.cpu().numpy()
                t.zero_()

    def __deepcopy__(self, memo):
        return None  # views of another instance's state: the copy makes its own (FVD.clone)


def bootstrap_fds(sums: dict, sides, ddof: int, dim: int, device: str, chunk: int = 20) -> np.ndarray:
    """The FDs of the valid bootstrap replicates (both sides with more than ddof clips). On the metric's GPU when
    it has one: the sums go there packed, and the (B, D, D) covariances are built there too (elementwise, so
    the same values as on the CPU)."""
    bn = {s: sums[s]["boot_n"] for s in sides}
    idx = np.flatnonzero((bn[sides[0]] > ddof) & (bn[sides[1]] > ddof))
    dev = torch.device(device) if torch.device(device).type == "cuda" else torch.device("cpu")
    fds = []
    for start in range(0, len(idx), chunk):
        sel = idx[start:start + chunk]
        mus, sigmas = [], []
        for s in sides:
            nn_ = torch.as_tensor(bn[s][sel], device=dev)[:, None]
            mu = torch.as_tensor(sums[s]["boot_sum"][sel], device=dev) / nn_
            outer = unpack(torch.as_tensor(sums[s]["boot_outer"][sel], device=dev), dim)
            sigma = (outer - nn_[..., None] * mu[:, :, None] * mu[:, None, :]) / (nn_[..., None] - ddof)
            mus.append(mu)
            sigmas.append(sigma)
        fds.append(frechet_distance_batched(mus[0], sigmas[0], mus[1], sigmas[1], device=dev))
    return np.concatenate(fds) if fds else np.zeros(0)
