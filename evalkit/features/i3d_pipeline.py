"""FVD's feature pipeline: videos' clips queued, run through I3D in batches launched without waiting, read back in
queue order (so features are added in the same order as one at a time: identical sums), and written to the
feature cache. On a GPU the host prepares batch k+1 while batch k runs, and decodes the next videos while the
last launch runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from evalkit.features.clips import Clip


@dataclass
class Job:
    """One video waiting for its clips' features."""

    side: str
    frames: object  # uint8 (T, H, W, 3), or None when ``prepared`` is given
    prepared: torch.Tensor | None  # already resized (T, 3, 224, 224) floats
    clips: list[Clip]
    content_id: str
    shape: tuple[int, int, int]
    cache: object  # a FeatureCache, or None

    def seeds(self) -> np.ndarray:
        return np.array([c.seed for c in self.clips], dtype=np.int64)


def load_i3d(device: str, settings: dict):
    """The I3D network for FVD's settings (precision, torch.compile, cuDNN autotuning)."""
    from evalkit.features.i3d import I3DFeatures

    return I3DFeatures(device, settings["precision"], compile=settings["compile"],
                       cudnn_benchmark=bool(settings["cudnn_benchmark"]))


def extractor_identity(extractor) -> dict:
    """What made the features: a custom extractor's ``info`` (or its class name), else the pinned I3D weights."""
    if extractor is not None:
        return dict(getattr(extractor, "info", {"name": type(extractor).__name__}))
    from evalkit.weights.i3d import identity

    return identity()


def is_i3d(extractor) -> bool:
    """Whether features come from the reference network (not yet loaded counts: it will be I3D)."""
    from evalkit.features.i3d import I3DFeatures

    return extractor is None or isinstance(extractor, I3DFeatures)


def video_content_id(video) -> str:
    """A video's cache key and clip seed: its file's digest, else its decoded frames'."""
    from evalkit.features.cache import file_digest, frames_digest

    return (file_digest(video.path) if video.path else None) or frames_digest(video.frames)


def feature_cache(enabled: bool, info: dict, settings: dict):
    """The on-disk cache of one side's clip features, keyed by the network's tensors and the feature settings;
    None when caching is off or the extractor is a custom one (no tensors hash to key it by)."""
    if not enabled or "tensors_sha256" not in info:
        return None
    from evalkit.features.cache import FeatureCache

    return FeatureCache(info["tensors_sha256"], settings)


class I3DPipeline:
    """The queue of videos, the launched batches, and their read-back. ``add(side, feats, seeds)`` receives each
    video's features (n, D) in queue order."""

    def __init__(self, device: str, batch_size: int, resize: str, dim: int):
        self.device, self.batch_size, self.resize, self.dim = device, int(batch_size), resize, dim
        self.pending: list[Job] = []
        self.pending_clips = 0
        self.inflight: list = []  # launched batches whose features are not read back yet

    def put(self, job: Job, extractor, add) -> None:
        """Queue a video; once enough clips wait, launch them and read back all but the newest launch."""
        self.pending.append(job)
        self.pending_clips += len(job.clips)
        # on a GPU a flush launches several batches before it waits for their features
        per_flush = 4 if torch.device(self.device).type == "cuda" else 1
        if self.pending_clips >= per_flush * self.batch_size:
            self.launch(extractor)
            self.collect(add, keep=1)  # the batches just launched run while the caller decodes the next videos

    def flush(self, extractor, add) -> None:
        """Run I3D on every queued clip and hand over all features (before any state is read)."""
        self.launch(extractor)
        self.collect(add, keep=0)

    def collect(self, add, keep: int) -> None:
        """Read back launched batches, oldest first, leaving the newest ``keep`` launches running."""
        while len(self.inflight) > keep:
            jobs, done, outputs = self.inflight.pop(0)
            for positions, feats in done:
                for (j, c), f in zip(positions, feats.cpu().numpy()):
                    outputs[j][c] = f
            for job, feats in zip(jobs, outputs):
                seeds = job.seeds()
                add(job.side, feats, seeds)
                if job.cache is not None:
                    job.cache.put(job.content_id, feats, [c.start for c in job.clips], [c.length for c in job.clips],
                                  seeds, job.shape)

    def launch(self, extractor) -> None:
        """Launch I3D (``extractor()`` gives the network) on every queued clip, batch by batch, without waiting.
        Clips are stacked from channels-last frames, so a batch is NDHWC in memory without a transpose."""
        if not self.pending:
            return
        from evalkit.features.resize import prepare_frames

        jobs, self.pending, self.pending_clips = self.pending, [], 0
        net, bs = extractor(), self.batch_size
        dtype = getattr(net, "dtype", torch.float32)
        outputs = [np.empty((len(job.clips), self.dim), np.float32) for job in jobs]
        batch, where, done = [], [], []

        def run():
            if batch:
                x = torch.stack(batch).permute(0, 4, 1, 2, 3)  # (B, T, H, W, 3) -> (B, 3, T, H, W)
                done.append((list(where), net(x)))
                batch.clear()
                where.clear()

        for j, job in enumerate(jobs):
            first = min(c.start for c in job.clips)  # resize only the frames some clip uses
            last = max(c.start + c.length for c in job.clips)
            if job.prepared is not None:
                x = job.prepared[first:last].to(self.device, dtype, non_blocking=True)
            else:
                x = prepare_frames(job.frames[first:last], self.resize, self.device, dtype=dtype)
            x = x.permute(0, 2, 3, 1)  # (T, H, W, 3)
            for c, clip in enumerate(job.clips):
                if batch and (len(batch) >= bs or batch[0].shape[0] != clip.length):
                    run()
                batch.append(x[clip.start - first:clip.start - first + clip.length])
                where.append((j, c))
        run()
        self.inflight.append((jobs, done, outputs))
