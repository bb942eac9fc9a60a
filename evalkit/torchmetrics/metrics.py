"""evalkit's SSIM, PSNR, L1, LPIPS, FVD and BeatAlign as ``torchmetrics.Metric`` classes (docs/torchmetrics.md).

One ``update`` call takes one video (4-D frames) or a batch of videos (5-D), and every video counts as one
video of ``evalkit.score``: the frame metrics average over all frames of all videos (evalkit's headline),
FVD plans its clips per video, BeatAlign scores each video against its own music.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.io.audio import Audio
from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.torchmetrics.adapter import EvalkitMetric
from evalkit.torchmetrics.inputs import per_video, to_uint8_videos, to_waveforms


def _paired(pred, gt) -> list[tuple[np.ndarray, np.ndarray | None]]:
    preds = to_uint8_videos(pred, "pred")
    if gt is None:
        return [(p, None) for p in preds]
    gts = to_uint8_videos(gt, "gt")
    if len(gts) != len(preds) or any(p.shape != g.shape for p, g in zip(preds, gts)):
        raise EvalkitError(f"pred {[p.shape for p in preds]} and gt {[g.shape for g in gts]} differ in shape",
                           hint="pass pred and gt videos of the same length and size (evalkit --length error)")
    return list(zip(preds, gts))


class _PairedVideos(EvalkitMetric):
    """``update(pred, gt)``: generated and ground-truth videos of equal shape."""

    def update(self, pred, gt=None) -> None:
        if gt is None and "gt" in self.core().needs:
            raise EvalkitError(f"{self.metric} needs the ground-truth frames", hint="call update(pred, gt)")
        for p, g in _paired(pred, gt):
            # no path: FVD draws its bootstrap weights from the frames' content hash (a file's own hash in
            # evalkit.score), the frame metrics and LPIPS do not look at it
            self._score(ScoreItem("video", Video(p, 0.0, None), None if g is None else Video(g, 0.0, None)))


class SSIM(_PairedVideos):
    """SSIM per frame, mean over all frames (presets clean, disco, disco-v1, jh: evalkit.metrics.ssim)."""

    metric = "ssim"


class PSNR(_PairedVideos):
    """PSNR per frame in float64, mean over all frames, 100 dB cap counted (evalkit.metrics.psnr)."""

    metric = "psnr"


class L1(_PairedVideos):
    """Mean absolute error per frame, mean over all frames (evalkit.metrics.l1)."""

    metric = "l1"


class LPIPS(_PairedVideos):
    """LPIPS v0.1 per frame with the pinned backbone weights, mean over all frames (evalkit.metrics.lpips)."""

    metric = "lpips"


class FVD(_PairedVideos):
    """FVD of the I3D logits of all clips of all videos, with its bootstrap interval (evalkit.metrics.fvd).

    The state is evalkit's float64 sums of features and outer products per side (and of the bootstrap
    replicates), synced by summation. ``cache`` defaults to False here: generated videos change every epoch, so
    caching their features would only fill the disk. ``update(pred)`` alone works with ``gt_stats=FILE``."""

    metric = "fvd"
    adapter_defaults = {"cache": False}


class BeatAlign(EvalkitMetric):
    """2D-BeatAlign of generated videos against their music, with its chance levels (evalkit.metrics.beat_align).

    ``update(pred, audio, fps, sample_rate, names=None)``: frames as the other adapters take them; ``audio``
    the music as float samples (n,) or (channels, n) — one waveform per video — at ``sample_rate`` Hz; ``fps``
    the videos' frame rate (one number, or one per video). Music beats come from the preset's beat tracker
    exactly as in ``evalkit score``, so beat times are not an input. ``names`` (optional, one per video): what
    evalkit would see as the file names — the ``fact`` preset reads AIST++ music ids there for its tempo hint."""

    metric = "beat_align"

    def update(self, pred, audio, fps, sample_rate: int, names=None) -> None:
        videos = to_uint8_videos(pred, "pred")
        waves = to_waveforms(audio, len(videos))
        rates = per_video(fps, len(videos), "fps")
        keys = per_video(names, len(videos), "names") if names is not None else [f"video{i}" for i in
                                                                                   range(len(videos))]
        if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
            raise EvalkitError(f"sample_rate {sample_rate!r}", hint="give the audio's sampling rate in Hz, an integer")
        for frames, wave, rate, key in zip(videos, waves, rates, keys):
            rate = float(rate)
            if not np.isfinite(rate) or rate <= 0:
                raise EvalkitError(f"fps {rate}", hint="give the video's frame rate, a positive number")
            music = Audio(wave, int(sample_rate), Path(f"{key}.wav"), "tensor")
            self._score(ScoreItem(str(key), Video(frames, rate, Path(str(key))), None, lambda a=music: a))
