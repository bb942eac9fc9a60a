"""Null models for the music-sync metrics (BeatAlign, AV-Align): what a score would be by chance.

A sync score's raw value mixes two things: how well the motion lands on the music, and how easily *any*
event train lands near the motion's events (many motion minima, as pose jitter on a still frame makes, let
every music beat find one). The nulls keep the motion fixed and move the music:

* **circular shifts** (per video): the music's event train (beats, or audio onsets) shifted by K random offsets
  modulo its span; offsets closer than ``min_shift`` to 0 or to the span are excluded (a shift of a few frames
  is still the music's own alignment). Offsets are drawn from a generator seeded by the video's content hash,
  so shards, worker processes and reruns draw the same ones.
* **cross-music** (set level): the motion of video i against the music of every other video j, cut to i's
  length; with the diagonal (own music) this is the matrix a permutation test of the set reads.

From the shift null: ``null`` (its mean: the chance level), ``lift`` = score − null, ``z`` = lift / null std.
This module knows nothing of the scores themselves: the metrics pass their own scoring functions.
"""
from __future__ import annotations

import numpy as np

#: settings every sync metric declares in its presets (typed defaults); see docs/sync-validity.md
NULL_SETTINGS: dict = {
    "null_shifts": 200,  # K circular shifts per video (0: no null columns)
    "null_permutations": 1000,  # random music permutations of the set-level test
}
#: a null with fewer finite draws than this has no mean/z (a video too short for its minimum shift)
MIN_DRAWS = 10
#: bootstrap resamples of the aggregate intervals (as the leaderboard's bootstrap over videos)
BOOTSTRAP = 2000


def content_seed(sha256_hex: str) -> int:
    """A 52-bit seed from a content hash: exact as a float64, so it travels in a metric's state."""
    return int(sha256_hex[:13], 16)


def draw_offsets(seed: int, k: int, span: float, min_shift: float, integer: bool) -> np.ndarray:
    """K offsets uniform in [min_shift, span − min_shift] (integers when ``integer``); empty when that range is
    empty (the video is shorter than two minimum shifts)."""
    rng = np.random.default_rng(seed)
    if integer:
        lo, hi = int(np.ceil(min_shift)), int(np.floor(span - min_shift))
        return rng.integers(lo, hi + 1, size=k) if k > 0 and hi >= lo else np.zeros(0, dtype=np.int64)
    if k <= 0 or span - 2 * min_shift <= 0:
        return np.zeros(0)
    return rng.uniform(min_shift, span - min_shift, size=k)


def circular_shifts(events: np.ndarray, offsets: np.ndarray, span) -> np.ndarray:
    """(K, n) event trains: ``(events + offset) mod span`` per offset, each row sorted."""
    events = np.asarray(events)
    return np.sort((events[None, :] + np.asarray(offsets)[:, None]) % span, axis=1)


def summarize(score: float, null_values: np.ndarray) -> dict[str, float]:
    """``null`` (mean of the finite draws), ``std`` (their std, ddof 1), ``lift`` (score − null) and ``z``
    (lift / std); NaN where the score is undefined, the null has fewer than MIN_DRAWS finite draws, or it does
    not vary."""
    v = np.asarray(null_values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < MIN_DRAWS:
        return {"null": float("nan"), "std": float("nan"), "lift": float("nan"), "z": float("nan"), "draws": v.size}
    mean, std = float(v.mean()), float(v.std(ddof=1))
    lift = score - mean if np.isfinite(score) else float("nan")
    z = lift / std if std > 0 and np.isfinite(lift) else float("nan")
    return {"null": mean, "std": std, "lift": lift, "z": z, "draws": v.size}


#: per-video states of a shift null: its mean, std and number of finite draws
NULL_STATES = ("null", "null_std", "null_draws")


def stored(summary: dict) -> dict[str, float]:
    """A :func:`summarize` result as per-video state values: 0 where undefined (``null_draws`` says so), so that
    states stay comparable with ``np.array_equal``."""
    ok = summary["draws"] >= MIN_DRAWS
    return {"null": summary["null"] if ok else 0.0, "null_std": summary["std"] if ok else 0.0,
            "null_draws": float(summary["draws"])}


def lift_and_z(scores: np.ndarray, null: np.ndarray, std: np.ndarray, draws: np.ndarray):
    """Per-video lift and z from stored states (NaN where the null or the score is undefined)."""
    ok = draws >= MIN_DRAWS
    lift = np.where(ok, scores - null, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        return lift, np.where(ok & (std > 0), lift / np.where(std > 0, std, 1.0), np.nan)


def pad(trains: list[np.ndarray], dtype=np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Ragged event trains as one (K, n_max) array (0 where empty) and its mask of real entries."""
    n = max((len(t) for t in trains), default=0)
    values = np.zeros((len(trains), n), dtype=dtype)
    mask = np.zeros((len(trains), n), dtype=bool)
    for i, t in enumerate(trains):
        values[i, :len(t)] = t
        mask[i, :len(t)] = True
    return values, mask


# --- ragged per-video arrays in a Metric's state ('cat' states merge by concatenation) ------------------------

def push(metric, name: str, values) -> None:
    """Append one video's variable-length ``values`` to the 'cat' states ``name`` (flat) and ``name_n`` (length)."""
    st = metric._state
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    st[name] = np.append(st[name], v)
    st[f"{name}_n"] = np.append(st[f"{name}_n"], float(v.size))


def unpack(state: dict, name: str) -> list[np.ndarray]:
    """The per-video arrays :func:`push` stored (in state order)."""
    bounds = np.concatenate([[0], np.cumsum(state[f"{name}_n"].astype(np.int64))])
    return [state[name][a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def declare(metric, names: tuple[str, ...], ragged: tuple[str, ...]) -> None:
    """Declare per-video 'cat' states ``names`` and ragged ones (``name`` + ``name_n``)."""
    for name in names:
        metric.add_state(name, [], reduce="cat")
    for name in ragged:
        metric.add_state(name, [], reduce="cat")
        metric.add_state(f"{name}_n", [], reduce="cat")


# --- set level ---------------------------------------------------------------------------------------------------

def canonical_order(ids: np.ndarray) -> np.ndarray:
    """Videos sorted by content seed: the set-level numbers do not depend on shard or merge order."""
    return np.argsort(np.asarray(ids), kind="stable")


def cross_summary(matrix: np.ndarray, permutations: int, seed: int) -> dict[str, float]:
    """Set-level numbers from S[i, j] = score of motion i against music j (own music on the diagonal).

    ``cross``: mean over videos of their mean off-diagonal score (the cross-music chance level);
    ``cross_lift``: mean over videos of own − that mean; ``p``: permutation test of the mean own score
    against random reassignments of the music (identity included, (1 + hits) / (1 + draws)).
    Videos whose own score is undefined are left out.
    """
    nan = float("nan")
    s = np.asarray(matrix, dtype=np.float64)
    keep = np.isfinite(np.diag(s)) if s.size else np.zeros(0, dtype=bool)
    s = s[np.ix_(keep, keep)]
    n = len(s)
    if n < 2:
        return {"cross": nan, "cross_lift": nan, "p": nan}
    off = s.copy()
    np.fill_diagonal(off, np.nan)
    with np.errstate(invalid="ignore"):
        per_video = np.nanmean(off, axis=1) if np.isfinite(off).any() else np.full(n, np.nan)
    own = np.diag(s)
    observed = own.mean()
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((max(permutations, 0), n)), axis=1)
    picked = s[np.arange(n)[None, :], perms]
    with np.errstate(invalid="ignore"):
        means = np.nanmean(picked, axis=1) if permutations > 0 else np.zeros(0)
    p = (1 + int((means >= observed - 1e-12).sum())) / (1 + len(means)) if permutations > 0 else nan
    ok = np.isfinite(per_video)
    return {"cross": float(per_video[ok].mean()) if ok.any() else nan,
            "cross_lift": float((own[ok] - per_video[ok]).mean()) if ok.any() else nan, "p": float(p)}


def mean_ci(values: np.ndarray, replicates: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean over videos (NaN left out) and its 95 % percentile bootstrap interval,
    widened to contain the mean if a small sample's percentiles miss it; NaN interval under two videos. The values
    are sorted first, so that shards merged in any order give the same bits."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(replicates, v.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return mean, float(min(lo, mean)), float(max(hi, mean))


def stouffer(z: np.ndarray) -> float:
    """The set's z: Σ z_i / √n over videos with a z (Stouffer). On constant-tempo music one video's shift null is
    a null over beat phases, whose z cannot exceed ≈ 2–3 (docs/sync-validity.md); the set's z grows with √n."""
    z = np.sort(np.asarray(z, dtype=np.float64))  # sorted: the same bits in any merge order
    z = z[np.isfinite(z)]
    return float(z.sum() / np.sqrt(z.size)) if z.size else float("nan")


def with_ci(name: str, values: np.ndarray) -> dict[str, float]:
    """``{name: mean, name_ci_low: …, name_ci_high: …}`` as Metric.compute returns aggregate rows."""
    mean, lo, hi = mean_ci(values)
    return {name: mean, f"{name}_ci_low": lo, f"{name}_ci_high": hi}
