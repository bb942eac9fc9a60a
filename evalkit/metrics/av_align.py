"""AV-Align (TempoTokens ``av_align.py``; docs/metric-spec-notes.md §5): IoU of audio onsets and optical-flow peaks.

Functional core: :func:`video_peaks`, :func:`count_matches`, :func:`av_align_iou`, :func:`av_align`.
Presets: ``tempotokens-2025`` (bf0b1e3: peaks ≥ 0.1 px, each video peak matched once) and
``tempotokens-2023`` (34d9502 with its undefined ``n`` read as ``len(arr)``: no threshold, a video peak may
match many audio peaks, so IoU can exceed 1).
"""
from __future__ import annotations

import time

import numpy as np

from evalkit.errors import EvalkitError
from evalkit.metrics.base import Metric
from evalkit.metrics.sync_null import (MIN_DRAWS, NULL_SETTINGS, NULL_STATES, canonical_order, circular_shifts,
                                       content_seed, cross_summary, declare, draw_offsets, lift_and_z, push, stored,
                                       stouffer, summarize, unpack, with_ci)
from evalkit.pose.cache import frames_sha256
from evalkit.options import Spec


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
             workers: int | None = None, executor: str | None = None, flow_device: str | None = None,
             flow_batch_pixels: float | None = None) -> dict:
    """AV-Align of one video: frames (T,H,W,3) RGB uint8, its ``Audio``. Returns IoU, peaks and the trajectory.
    ``flow_device`` (e.g. "cuda"): the flow runs in torch there (bit-identical to cv2 on the golden clips)."""
    from evalkit.audio.onsets import audio_peaks
    from evalkit.features.flow import flow_trajectory

    a = audio_peaks(audio)  # before the flow: a missing or broken audio track fails fast
    traj = flow_trajectory(frames, workers, executor, flow_device, flow_batch_pixels)
    v = video_peaks(traj, fps, min_peak)
    return {"iou": av_align_iou(a, v, fps, one_to_one), "audio_peaks": a, "video_peaks": v,
            "matched": count_matches(a, v, fps, one_to_one), "trajectory": traj}


class AVAlign(Metric):
    """AV-Align IoU of generated videos against their music, with its chance level beside it (circular shifts
    of the audio onsets per video, cross-music at set level: evalkit.metrics.sync_null)."""

    name = "av_align"
    #: the nulls' settings (sync_null.NULL_SETTINGS; minimum shift 0.5 s — one beat at 120 BPM, as AV-Align
    #: tracks no tempo): declared in every preset, kept beside ``settings`` (which stay the reference's own)
    _NULL = {**NULL_SETTINGS, "null_min_shift_s": 0.5}
    presets = {
        "tempotokens-2025": {"min_peak": 0.1, "one_to_one": True, **_NULL},
        "tempotokens-2023": {"min_peak": None, "one_to_one": False, **_NULL},
    }
    higher_is_better = True
    needs = ("pred", "audio")
    reference = "TempoTokens av_align.py (guyyariv/TempoTokens @bf0b1e3, 2025-02-13)"
    on_boards = True
    drift_tolerance = (0.01, 0.0)
    runtime_options = {"workers": Spec(int, nullable=True, minimum=1),
                       "executor": Spec(str, nullable=True, choices=("processes", "threads")),
                       "flow": Spec(str, choices=("auto", "cv2", "torch"))}

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
        self.null = {key: self.settings.pop(key) for key in self._NULL}
        if self.preset == "tempotokens-2023":
            self.reference = "TempoTokens av_align.py (guyyariv/TempoTokens @34d9502, 2023-10-26)"

    _COUNTS = ("undefined", "frames", "audio_peaks", "video_peaks", "matched")
    #: per video: the shift null; for the cross-music null: content seed, fps, frames, music length (s), and
    #: ragged audio onset / video peak times (s)
    _PER_VIDEO = (*NULL_STATES, "x_id", "x_fps", "x_frames", "x_audio_s")
    _RAGGED = ("x_audio", "x_video")

    def reset(self) -> None:
        self.add_state("values", [], reduce="cat")
        for key in self._COUNTS:
            self.add_state(key, 0.0)  # undefined: videos with neither audio nor video peaks (IoU NaN)
        declare(self, self._PER_VIDEO, self._RAGGED)
        self.add_state("null_ms", 0.0)  # cost of the per-video null, next to the metric's own time
        self.add_state("update_ms", 0.0)

    def merge(self, other: "AVAlign") -> "AVAlign":
        if getattr(other, "null", None) != self.null:
            raise ValueError(f"cannot merge {other.name}/{other.preset} into {self.name}/{self.preset} (null settings)")
        return super().merge(other)

    #: the engine streams the video (docs/memory.md): the flow runs chunk by chunk, carrying one frame over each
    #: border; ``update`` (the API on a whole item) computes the same numbers from the whole video
    streams = True

    def update(self, item) -> dict[str, float]:
        started = time.perf_counter()
        audio = item.audio  # EvalkitError here (no music) leaves the state untouched
        out = av_align(item.pred.frames, item.pred.fps, audio, self.settings["min_peak"],
                       self.settings["one_to_one"], self.workers or self.runtime.inner_workers,
                       self.executor or self.runtime.executor, self.flow_device, self.runtime.flow_batch_pixels)
        return self._record(item, audio, out, frames_sha256(item.pred.frames), started)

    def start_video(self, item) -> None:
        from evalkit.audio.onsets import audio_peaks
        from evalkit.features.flow import TrajectoryStream
        from evalkit.pose.cache import frames_hasher

        started = time.perf_counter()
        audio = item.audio  # EvalkitError here (no music) leaves the state untouched
        peaks = audio_peaks(audio)  # before the flow, as av_align(): a broken audio track fails fast
        flow = TrajectoryStream(self.workers or self.runtime.inner_workers, self.executor or self.runtime.executor,
                                self.flow_device, self.runtime.flow_batch_pixels)
        self._video = {"item": item, "audio": audio, "peaks": peaks, "flow": flow, "started": started,
                       "hash": frames_hasher((item.pred.num_frames, *item.pred.size, 3))}

    def update_chunk(self, pred, gt) -> None:
        self._video["flow"].add(pred)
        self._video["hash"].update(memoryview(np.ascontiguousarray(pred).reshape(-1)).cast("B"))

    def finish_video(self) -> dict[str, float]:
        v, self._video = self._video, None
        fps, s = v["item"].pred.fps, self.settings
        video = video_peaks(v["flow"].trajectory(), fps, s["min_peak"])
        out = {"iou": av_align_iou(v["peaks"], video, fps, s["one_to_one"]), "audio_peaks": v["peaks"],
               "video_peaks": video, "matched": count_matches(v["peaks"], video, fps, s["one_to_one"])}
        return self._record(v["item"], v["audio"], out, v["hash"].hexdigest(), v["started"])

    def _record(self, item, audio, out: dict, content: str, started: float) -> dict[str, float]:
        """Add one video's IoU, peaks and shift null to the state; its row values."""
        fps = item.pred.fps
        iou = float(out["iou"])
        null_start = time.perf_counter()
        seed = content_seed(content)
        audio_s = np.asarray(audio.samples).shape[-1] / audio.sample_rate
        offsets = draw_offsets(seed, int(self.null["null_shifts"]), audio_s, self.null["null_min_shift_s"], False)
        shifted = circular_shifts(out["audio_peaks"], offsets, audio_s)
        null = summarize(iou, self._ious(shifted, out["video_peaks"], fps))
        null_ms = (time.perf_counter() - null_start) * 1e3
        st = self._state
        st["values"] = np.append(st["values"], iou)
        st["undefined"] += float(np.isnan(iou))
        st["frames"] += item.pred.num_frames
        st["audio_peaks"] += len(out["audio_peaks"])
        st["video_peaks"] += len(out["video_peaks"])
        st["matched"] += out["matched"]
        per_video = {**stored(null), "x_id": seed, "x_fps": fps,
                     "x_frames": item.pred.num_frames, "x_audio_s": audio_s}
        for key, value in per_video.items():
            st[key] = np.append(st[key], float(value))
        push(self, "x_audio", out["audio_peaks"])
        push(self, "x_video", out["video_peaks"])
        st["null_ms"] += null_ms
        st["update_ms"] += (time.perf_counter() - started) * 1e3
        return {"av_align": iou, "av_align_audio_peaks": float(len(out["audio_peaks"])),
                "av_align_video_peaks": float(len(out["video_peaks"])), "av_align_matched": float(out["matched"]),
                **{f"av_align_{k}": null[k] for k in ("null", "lift", "z")}}

    def _ious(self, audio_trains, video_times: np.ndarray, fps: float) -> np.ndarray:
        """IoU of each audio onset train against one video's peaks (the reference's own matching)."""
        return np.array([av_align_iou(a, video_times, fps, self.settings["one_to_one"]) for a in audio_trains])

    def cross_matrix(self) -> np.ndarray:
        """S[i, j]: IoU of video i's flow peaks against video j's onsets cut to i's music length; videos in
        canonical (content seed) order, own music on the diagonal."""
        st = self._state
        order = canonical_order(st["x_id"])
        audio, video = unpack(st, "x_audio"), unpack(st, "x_video")
        mat = np.full((len(order), len(order)), np.nan)
        for a, i in enumerate(order):
            trains = [audio[j][audio[j] < st["x_audio_s"][i]] if j != i else audio[i] for j in order]
            mat[a] = self._ious(trains, video[i], st["x_fps"][i])
        return mat

    def compute(self) -> dict[str, float]:
        """Mean IoU over videos (the reference's aggregate); videos whose IoU is undefined are left out and counted.
        With at least one video: the nulls' rows (mean lift, z and chance level with bootstrap intervals; the
        cross-music chance level, lift and permutation p)."""
        st = self._state
        v = st["values"]
        ok = v[~np.isnan(v)]
        out = {"av_align": float(ok.mean()) if ok.size else float("nan")}
        if v.size == 0:
            return out
        lift, z = lift_and_z(v, st["null"], st["null_std"], st["null_draws"])
        chance = np.where(st["null_draws"] >= MIN_DRAWS, st["null"], np.nan)
        out.update({**with_ci("av_align_lift", lift), **with_ci("av_align_z", z), "av_align_z_set": stouffer(z),
                    **with_ci("av_align_null", chance)})
        seed = np.random.SeedSequence([int(x) for x in st["x_id"][canonical_order(st["x_id"])]])
        cross = cross_summary(self.cross_matrix(), int(self.null["null_permutations"]), seed)
        out.update({f"av_align_{k}": value for k, value in cross.items()})
        return out

    def counts(self) -> dict[str, int]:
        return {"videos": int(self._state["values"].size), **{k: int(self._state[k]) for k in self._COUNTS},
                "null_ms": int(self._state["null_ms"]), "update_ms": int(self._state["update_ms"])}

    def identity(self) -> dict:
        import cv2
        import librosa

        flow = ("cv2.calcOpticalFlowFarneback" if self.flow == "cv2" else
                f"evalkit.features.flow_torch (cv2 5.0 rounding) on {self.flow_device}")
        return {**super().identity(), "reference": self.reference, "flow": flow, "null": dict(self.null),
                "versions": {"librosa": librosa.__version__, "opencv": cv2.__version__}}
