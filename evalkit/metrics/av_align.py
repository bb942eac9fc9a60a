"""AV-Align (TempoTokens ``av_align.py``; metric-spec §5): IoU between audio onsets and optical-flow peaks.

Functional core: :func:`video_peaks`, :func:`count_matches`, :func:`av_align_iou`, :func:`av_align`.
Presets: ``tempotokens-2025`` (bf0b1e3: peaks ≥ 0.1 px, each video peak matched once) and
``tempotokens-2023`` (34d9502 with its undefined ``n`` read as ``len(arr)``: no threshold, a video peak may
match many audio peaks, so IoU can exceed 1).
"""
from __future__ import annotations

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.metrics.base import Metric


def video_peaks(trajectory: np.ndarray, fps: float, min_peak: float | None = 0.1) -> np.ndarray:
    """Times i/fps of strict local maxima of the flow trajectory (1 ≤ i ≤ T−2), those ≥ ``min_peak`` px."""
    a = np.asarray(trajectory, dtype=np.float64)
    i = np.arange(1, len(a) - 1)
    peak = (a[i - 1] < a[i]) & (a[i] > a[i + 1])
    if min_peak is not None:
        peak &= a[i] >= min_peak
    return i[peak] / fps


def count_matches(audio_times: np.ndarray, video_times: np.ndarray, fps: float, one_to_one: bool = True) -> int:
    """Audio peaks with a video peak strictly within ±1 frame (``v − 1/fps < a < v + 1/fps``).

    Audio peaks are visited in order and take the first matching video peak; with ``one_to_one`` a taken
    video peak is not offered again (2025 reference), otherwise it may serve several audio peaks (2023).
    """
    step = 1 / fps
    used = np.zeros(len(video_times), dtype=bool)
    hits = 0
    for a in audio_times:
        for j, v in enumerate(video_times):
            if (not one_to_one or not used[j]) and v - step < a < v + step:
                used[j] = True
                hits += 1
                break
    return hits


def av_align_iou(audio_times: np.ndarray, video_times: np.ndarray, fps: float, one_to_one: bool = True) -> float:
    """``I / (|A| + |V| − I)``; NaN when there are no peaks at all (the reference divides by zero)."""
    hits = count_matches(audio_times, video_times, fps, one_to_one)
    union = len(audio_times) + len(video_times) - hits
    return hits / union if union else float("nan")


def av_align(frames: np.ndarray, fps: float, audio, min_peak: float | None = 0.1, one_to_one: bool = True,
             workers: int | None = None, executor: str | None = None, flow_device: str | None = None) -> dict:
    """AV-Align of one video: frames (T,H,W,3) RGB uint8, its ``Audio``. Returns IoU, peaks and the trajectory.
    ``flow_device`` (e.g. "cuda"): the flow runs in torch there (bit-identical to cv2 on the golden clips)."""
    from evalkit.audio.onsets import audio_peaks
    from evalkit.features.flow import flow_trajectory

    a = audio_peaks(audio)  # before the flow: a missing or broken audio track fails fast
    traj = flow_trajectory(frames, workers, executor, flow_device)
    v = video_peaks(traj, fps, min_peak)
    return {"iou": av_align_iou(a, v, fps, one_to_one), "audio_peaks": a, "video_peaks": v,
            "matched": count_matches(a, v, fps, one_to_one), "trajectory": traj}


class AVAlign(Metric):
    name = "av_align"
    presets = {
        "tempotokens-2025": {"min_peak": 0.1, "one_to_one": True},
        "tempotokens-2023": {"min_peak": None, "one_to_one": False},
    }
    higher_is_better = True
    needs = ("pred", "audio")
    reference = "TempoTokens av_align.py (guyyariv/TempoTokens @bf0b1e3, 2025-02-13)"

    def __init__(self, preset: str | None = None, device: str = "cpu", workers: int | None = None,
                 executor: str | None = None, flow: str = "auto", **overrides):
        # how and where the flow runs changes speed, not the number (the torch Farneback reproduces cv2's
        # rounding): kept out of settings and merge checks, recorded in the identity
        if flow not in ("auto", "cv2", "torch"):
            raise EvalkitError(f"unknown av_align flow '{flow}'", hint="choose auto, cv2 or torch")
        self.workers, self.executor = workers, executor
        on_gpu = str(device).startswith("cuda")
        self.flow = "torch" if flow == "torch" or (flow == "auto" and on_gpu) else "cv2"
        self.flow_device = (device if on_gpu else "cpu") if self.flow == "torch" else None
        super().__init__(preset, device, **overrides)
        if self.preset == "tempotokens-2023":
            self.reference = "TempoTokens av_align.py (guyyariv/TempoTokens @34d9502, 2023-10-26)"

    def reset(self) -> None:
        self.add_state("values", [], reduce="cat")
        for key in ("undefined", "frames", "audio_peaks", "video_peaks", "matched"):
            self.add_state(key, 0.0)  # undefined: videos with neither audio nor video peaks (IoU NaN)

    def update(self, item) -> dict[str, float]:
        audio = item.audio  # EvalkitError here (no music) leaves the state untouched
        out = av_align(item.pred.frames, item.pred.fps, audio, self.settings["min_peak"],
                       self.settings["one_to_one"], self.workers, self.executor, self.flow_device)
        iou = float(out["iou"])
        st = self._state
        st["values"] = np.append(st["values"], iou)
        st["undefined"] += float(np.isnan(iou))
        st["frames"] += item.pred.num_frames
        st["audio_peaks"] += len(out["audio_peaks"])
        st["video_peaks"] += len(out["video_peaks"])
        st["matched"] += out["matched"]
        return {"av_align": iou, "av_align_audio_peaks": float(len(out["audio_peaks"])),
                "av_align_video_peaks": float(len(out["video_peaks"])), "av_align_matched": float(out["matched"])}

    def compute(self) -> dict[str, float]:
        """Mean IoU over videos (the reference's aggregate); videos whose IoU is undefined are left out and counted."""
        v = self._state["values"]
        ok = v[~np.isnan(v)]
        return {"av_align": float(ok.mean()) if ok.size else float("nan")}

    def counts(self) -> dict[str, int]:
        return {"videos": int(self._state["values"].size),
                **{k: int(self._state[k]) for k in ("undefined", "frames", "audio_peaks", "video_peaks", "matched")}}

    def identity(self) -> dict:
        import cv2
        import librosa

        flow = ("cv2.calcOpticalFlowFarneback" if self.flow == "cv2" else
                f"evalkit.features.flow_torch (cv2 5.0 rounding) on {self.flow_device}")
        return {**super().identity(), "reference": self.reference, "flow": flow,
                "versions": {"librosa": librosa.__version__, "opencv": cv2.__version__}}
