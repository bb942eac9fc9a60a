"""AV-Align: golden values of the TempoTokens reference on real clips, peak rules of both versions, parallel flow
identical to sequential, and bad input (no audio, no peaks)."""
import math
import re
from pathlib import Path

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.features.flow import flow_trajectory, mean_flow_magnitudes
from evalkit.io.audio import Audio
from evalkit.io.item import ScoreItem
from evalkit.io.video import Video
from evalkit.metrics.av_align import AVAlign, av_align_iou, count_matches, video_peaks

# shared/data/golden.md (c): TempoTokens av_align.py @bf0b1e3 run unmodified
GOLDEN = {1: (0.338028169014, 36, 59), 2: (0.282352941176, 42, 67), 3: (0.444444444444, 32, 46)}


def golden_peak_times(text: str, clip: int) -> tuple[np.ndarray, np.ndarray]:
    block = re.search(rf"- animatex_dance_{clip}\.mp4: audio ([\d., ]+)\n\s+video ([\d., ]+)", text)
    return tuple(np.array([float(x) for x in g.split(",")]) for g in block.groups())


@pytest.fixture(scope="module")
def real_results(shared):
    from evalkit.io.audio import audio_for_video
    from evalkit.io.video import decode_video
    from evalkit.metrics.av_align import av_align

    out = {}
    for clip in GOLDEN:
        path = shared / "data" / "wild" / f"animatex_dance_{clip}.mp4"
        video = decode_video(path)  # PyAV RGB24: golden.md shows it gives the reference's IoUs
        out[clip] = av_align(video.frames, video.fps, audio_for_video(path), workers=None)  # all cores
    return out


@pytest.mark.parametrize("clip", sorted(GOLDEN))
def test_real_clip_audio_peaks_equal_golden(shared, clip):
    """The audio half alone (cheap): decoded AAC → channel mean → soxr_hq 22050 Hz → onsets, as golden.md."""
    from evalkit.audio.onsets import audio_peaks
    from evalkit.io.audio import audio_for_video

    peaks = audio_peaks(audio_for_video(shared / "data" / "wild" / f"animatex_dance_{clip}.mp4"))
    audio, _ = golden_peak_times((shared / "data" / "golden.md").read_text(), clip)
    assert len(peaks) == GOLDEN[clip][1]
    np.testing.assert_allclose(peaks, audio, rtol=0, atol=5.1e-5)  # golden lists 4 decimals


@pytest.mark.slow  # optical flow on 555 frames of 758×512: ~40 s of CPU, spread over all cores
@pytest.mark.parametrize("clip", sorted(GOLDEN))
def test_real_clips_equal_golden(shared, real_results, clip):
    iou, n_audio, n_video = GOLDEN[clip]
    res = real_results[clip]
    print(f"animatex_dance_{clip}: AV-Align {res['iou']:.12f} (golden {iou:.12f}), "
          f"{len(res['audio_peaks'])} audio / {len(res['video_peaks'])} video peaks, {res['matched']} matched")
    assert abs(res["iou"] - iou) <= 1e-9  # tolerance from golden.md
    assert (len(res["audio_peaks"]), len(res["video_peaks"])) == (n_audio, n_video)
    audio, video = golden_peak_times((shared / "data" / "golden.md").read_text(), clip)
    np.testing.assert_allclose(res["audio_peaks"], audio, rtol=0, atol=5.1e-5)  # golden lists 4 decimals
    np.testing.assert_allclose(res["video_peaks"], video, rtol=0, atol=5.1e-5)


def moving_pattern(n: int = 24, h: int = 72, w: int = 96, seed: int = 0) -> np.ndarray:
    """A textured image shifted by a speed that rises and falls, so the flow trajectory has peaks."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8), (0, 0), 2.0)
    shift = np.cumsum(1.5 + 1.4 * np.sin(np.arange(n) * 1.3)).astype(int)
    return np.stack([base[:, s % w:s % w + w] for s in shift])


@pytest.mark.parametrize("executor", ["processes", "threads"])
def test_parallel_flow_identical_to_sequential(executor):
    frames = moving_pattern()
    seq = mean_flow_magnitudes(frames, workers=1)
    par = mean_flow_magnitudes(frames, workers=2, executor=executor)
    np.testing.assert_array_equal(par, seq)  # identical, not close
    traj = flow_trajectory(frames, workers=1)
    assert len(traj) == len(frames) and traj[0] == traj[1] == seq[0]  # the reference doubles the first value
    assert len(video_peaks(traj, 24.0)) > 2


def test_video_peak_rules():
    traj = np.array([0.5, 0.5, 0.9, 0.3, 0.05, 0.09, 0.02, 0.4, 0.4, 0.1, 0.8])
    # strict maxima at 2 (0.9) and 5 (0.09); 7–8 is a plateau (not strict); 10 is the last index (never a peak)
    np.testing.assert_array_equal(video_peaks(traj, 10.0), [0.2])  # 2025: ≥ 0.1 px only
    np.testing.assert_array_equal(video_peaks(traj, 10.0, min_peak=None), [0.2, 0.5])  # 2023: no threshold
    assert video_peaks(np.array([0.0, 0.1, 0.0]), 1.0).tolist() == [1.0]  # the threshold is inclusive


def test_matching_window_and_versions():
    fps = 24.0
    v = np.array([1.0])
    assert count_matches(np.array([1.0 + 1 / fps]), v, fps) == 0  # open interval: exactly one frame away misses
    assert count_matches(np.array([1.0 + 0.99 / fps]), v, fps) == 1
    audio = np.array([0.99, 1.01])  # two onsets near one motion peak
    assert av_align_iou(audio, v, fps) == pytest.approx(1 / 2)  # 2025: the video peak is used once
    assert av_align_iou(audio, v, fps, one_to_one=False) == pytest.approx(2.0)  # 2023: IoU > 1 (TempoTokens#11)
    # greedy in audio order, first unused video peak that fits
    assert count_matches(np.array([1.0, 1.05]), np.array([1.03, 1.06]), fps) == 2
    assert math.isnan(av_align_iou(np.array([]), np.array([]), fps))  # the reference divides by zero here


def _item(frames, audio_samples=None, key="v"):
    video = Video(frames, 24.0, Path(f"/nonexistent/{key}.mp4"))
    if audio_samples is None:
        def missing():
            raise EvalkitError("has no audio stream", path=video.path, hint="pass --audio DIR")
        return ScoreItem(key, video, None, missing)
    return ScoreItem(key, video, None, lambda: Audio(audio_samples, 22050, video.path, "container"))


def test_metric_nan_counts_merge_and_missing_audio():
    from test_beats import click_track

    frames = moving_pattern()
    clicks, _ = click_track(150.0, len(frames) / 24.0)
    a, b = AVAlign(workers=1), AVAlign(workers=1)
    row = a.update(_item(frames, clicks))
    assert 0 <= row["av_align"] <= 1 and row["av_align_audio_peaks"] > 0 and row["av_align_video_peaks"] > 0
    state = a.state_dict()
    with pytest.raises(EvalkitError, match="no audio stream"):
        a.update(_item(frames, None))  # raised before any flow is computed; the state is untouched
    assert all(np.array_equal(state[k], v) for k, v in a.state_dict().items())
    # a frozen, silent video has no peaks at all: NaN, counted, and left out of the mean
    still = np.repeat(frames[:1], 12, axis=0)
    assert math.isnan(b.update(_item(still, np.zeros((1, 22050), np.float32)))["av_align"])
    a.merge(b)
    assert a.compute()["av_align"] == pytest.approx(row["av_align"])
    assert a.counts()["videos"] == 2 and a.counts()["undefined"] == 1
    assert AVAlign("tempotokens-2023").settings == {"min_peak": None, "one_to_one": False}


def test_engine_reports_missing_audio_and_keeps_other_metrics(tmp_path):
    """A video without audio: av_align fails for that video with a one-line reason; psnr still comes out."""
    from evalkit.io.video import write_video
    from evalkit.scoring import ScoreConfig, run

    frames = moving_pattern(n=10, h=64, w=64)
    write_video(tmp_path / "pred" / "a.mp4", frames, 24.0)  # no audio track, no sidecar
    write_video(tmp_path / "gt" / "a.mp4", frames, 24.0)
    scorer = run(tmp_path / "pred", tmp_path / "gt", ScoreConfig(metrics=("psnr", "av_align"), preset="clean"))
    row = scorer.rows[0]
    assert np.isfinite(row["psnr"]) and math.isnan(row["av_align"])
    assert scorer.failed == {"psnr": 0, "av_align": 1}
    (err,) = scorer.errors
    assert err["metric"] == "av_align" and "a.mp4" in err["error"] and "audio" in err["error"]
    assert "\n" not in err["error"]


def test_torch_flow_backend_same_trajectory_and_identity():
    """The torch Farneback (what `--device cuda` uses) gives the cv2 path's trajectory on the same frames; the
    backend is recorded in the identity, not in the settings (shards computed either way merge)."""
    frames = moving_pattern(n=10, h=48, w=64)
    # the flows are bit-identical (tests/test_flow_torch.py); the float64 means differ in summation order only
    np.testing.assert_allclose(flow_trajectory(frames, workers=1, device="cpu"), flow_trajectory(frames, workers=1),
                               rtol=1e-14, atol=0)
    cv, th = AVAlign(), AVAlign(flow="torch")
    assert cv.settings == th.settings and th.flow_device == "cpu"
    assert "flow_torch" in th.identity()["flow"] and cv.identity()["flow"] == "cv2.calcOpticalFlowFarneback"
    assert AVAlign(device="cuda").flow == "torch" and AVAlign(device="cuda", flow="cv2").flow_device is None
    with pytest.raises(EvalkitError, match="unknown av_align flow"):
        AVAlign(flow="gpu")
