"""Mean Farneback optical-flow magnitude between consecutive frames (the motion signal of AV-Align).

Each pair is independent, so the work splits into contiguous frame ranges that share one boundary frame and
runs in worker processes (or threads: OpenCV releases the GIL); every pair is computed by the same calls on
the same pixels, so the result is identical to the single-process loop (tests assert equality).

Magnitude: the reference takes ``cv2.mean(cv2.magnitude(fx, fy))``. OpenCV 5.0's float32 magnitude is an
approximation whose small values flip between two results on alternate calls with identical input (measured:
the per-pair mean moves by ~1e-13 from call to call, so even the reference's own trajectory is not bit
reproducible and depends on how calls interleave across threads). We take the magnitude of the same float32
flow in float64 and its mean with numpy: deterministic, and within 1.3e-9 px of the reference's mean on the real
clips, while neighbouring values that decide the peaks differ by ≥ 5e-4 px there (golden IoUs reproduced exactly).
"""
from __future__ import annotations

import atexit
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from evalkit.errors import EvalkitError

#: cv2.calcOpticalFlowFarneback arguments used by TempoTokens (pyr_scale, levels, winsize, iterations,
#: poly_n, poly_sigma, flags)
FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)

_POOLS: dict[tuple[str, int], Executor] = {}


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(T,H,W,3) RGB uint8 → (T,H,W) uint8; COLOR_RGB2GRAY on RGB equals the reference's BGR2GRAY on BGR."""
    import cv2

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise EvalkitError(f"expected uint8 frames (T,H,W,3), got {frames.dtype} {frames.shape}")
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])


def pair_magnitudes(grey: np.ndarray) -> np.ndarray:
    """Mean flow magnitude (px) of each consecutive pair of a (T,H,W) uint8 stack → (T−1,) float64."""
    import cv2

    out = np.empty(max(len(grey) - 1, 0), dtype=np.float64)
    for i in range(len(out)):
        flow = cv2.calcOpticalFlowFarneback(grey[i], grey[i + 1], None, *FARNEBACK).astype(np.float64)
        out[i] = np.sqrt(flow[..., 0] ** 2 + flow[..., 1] ** 2).mean()
    return out


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV threads inside would only oversubscribe


def default_workers() -> int:
    """Every core this process may use (a scoring worker passes its share instead: evalkit.runtime)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _pool(kind: str, workers: int) -> Executor:
    key = (kind, workers)
    if key not in _POOLS:
        if kind == "threads":
            _POOLS[key] = ThreadPoolExecutor(workers)
        else:
            import multiprocessing as mp

            # spawn, not fork: a forked child inherits OpenCV's thread pool in a dead state and hangs in
            # its first parallel call (observed); spawn needs the caller's script to be import-safe
            _POOLS[key] = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_worker_init)
    return _POOLS[key]


@atexit.register
def shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def mean_flow_magnitudes(frames: np.ndarray, workers: int | None = None, executor: str | None = None,
                         grey: bool = False) -> np.ndarray:
    """(T−1,) mean flow magnitude between frames t and t+1, in ``workers`` processes or threads (None: all
    cores, 1: in this process).

    Chunks are contiguous pair ranges; a chunk of pairs [a, b) carries frames a…b, so neighbouring chunks
    share one frame and no pair is lost or computed twice.
    """
    # None: processes; scoring workers pass threads (evalkit.runtime: no nested process pools, no start-up cost)
    executor = executor or "processes"
    if executor not in ("processes", "threads"):
        raise EvalkitError(f"unknown flow executor '{executor}'", hint="choose processes or threads")
    g = np.asarray(frames) if grey else to_grey(frames)
    pairs = len(g) - 1
    workers = default_workers() if workers is None else int(workers)
    if workers <= 1 or pairs < 8:
        return pair_magnitudes(g)
    # two chunks per worker evens out the load when one worker is slowed by other work on the machine
    bounds = np.linspace(0, pairs, min(pairs, 2 * workers) + 1).round().astype(int)
    chunks = [g[a:b + 1] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    try:
        results = list(_pool(executor, workers).map(pair_magnitudes, chunks))
    except BrokenProcessPool:
        _POOLS.pop((executor, workers), None)
        raise EvalkitError("optical-flow worker processes failed to start",
                           hint="guard your script's entry point with `if __name__ == '__main__':`, "
                                "or pass workers=1 / executor='threads'") from None
    return np.concatenate(results)


def flow_batch(size: tuple[int, int], pixels: float | None = None) -> int | None:
    """Pairs per torch-flow batch: None (the module's default, ~7 GB of CUDA temporaries) unless a scoring
    worker passes a pixel budget (evalkit.runtime.Runtime.flow_batch_pixels) — N workers share one GPU's memory."""
    return max(1, int(float(pixels) // (size[0] * size[1]))) if pixels else None


def flow_trajectory(frames: np.ndarray, workers: int | None = None, executor: str | None = None,
                    device: str | None = None, batch_pixels: float | None = None) -> np.ndarray:
    """TempoTokens' trajectory, length T: ``[flow(0,1)] + [flow(i−1,i) for i in 1…T−1]`` (first value doubled).
    ``device``: compute the flow with the torch Farneback there (``flow_torch``) instead of cv2 worker pools,
    ``batch_pixels`` pixels per batch."""
    if len(frames) < 2:
        raise EvalkitError(f"optical flow needs at least 2 frames, got {len(frames)}")
    if device is not None:
        from evalkit.features.flow_torch import mean_flow_magnitudes_torch

        mags = mean_flow_magnitudes_torch(to_grey(frames), device=device, batch=flow_batch(frames.shape[1:3], batch_pixels))
    else:
        mags = mean_flow_magnitudes(frames, workers, executor)
    return np.concatenate([mags[:1], mags])


class TrajectoryStream:
    """``flow_trajectory`` over a video given chunk by chunk: the last grey frame of each chunk is carried into the
    next, so every consecutive pair is computed once and the trajectory equals the whole video's (tested)."""

    def __init__(self, workers: int | None = None, executor: str | None = None, device: str | None = None,
                 batch_pixels: float | None = None):
        self.workers, self.executor, self.device, self.batch_pixels = workers, executor, device, batch_pixels
        self.frames = 0
        self._carry: np.ndarray | None = None
        self._mags: list[np.ndarray] = []

    def add(self, frames: np.ndarray) -> None:
        grey = to_grey(frames)
        self.frames += len(grey)
        if self._carry is not None:
            grey = np.concatenate([self._carry, grey])
        self._carry = grey[-1:].copy()  # a copy: not a view that keeps the whole chunk alive
        if len(grey) < 2:
            return
        if self.device is not None:
            from evalkit.features.flow_torch import mean_flow_magnitudes_torch

            batch = flow_batch(grey.shape[1:3], self.batch_pixels)
            self._mags.append(mean_flow_magnitudes_torch(grey, device=self.device, batch=batch))
        else:
            self._mags.append(mean_flow_magnitudes(grey, self.workers, self.executor, grey=True))

    def trajectory(self) -> np.ndarray:
        if self.frames < 2:
            raise EvalkitError(f"optical flow needs at least 2 frames, got {self.frames}")
        mags = np.concatenate(self._mags)
        return np.concatenate([mags[:1], mags])
