"""BlazePose (MediaPipe Tasks PoseLandmarker) backend: real clips, the COCO-17 mapping, no-person frames."""
import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.io.video import Video, decode_video
from evalkit.pose import COCO17, extract
from evalkit.pose.blazepose import BLAZEPOSE_TO_COCO17, timestamps_ms

pytest.importorskip("mediapipe")


@pytest.fixture()
def bundle(shared, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    path = shared / "weights" / "pose" / "pose_landmarker_full.task"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def test_mapping_matches_mediapipe_landmark_names():
    from mediapipe.tasks.python.vision import PoseLandmark

    assert [PoseLandmark[name.upper()].value for name in COCO17] == list(BLAZEPOSE_TO_COCO17)


def test_timestamps_follow_fps_and_strictly_increase():
    np.testing.assert_array_equal(timestamps_ms(5, 24.0), [0, 42, 83, 125, 167])  # round(i·1000/24)
    fast = timestamps_ms(50, 3000.0)
    assert (np.diff(fast) >= 1).all() and fast[0] == 0
    with pytest.raises(EvalkitError, match="frame rate"):
        timestamps_ms(3, 0.0)


@pytest.mark.slow
@pytest.mark.parametrize("clip", [1, 2, 3])
def test_person_found_in_99_percent_of_frames(shared, bundle, clip):
    track = extract(shared / "data" / "wild" / f"animatex_dance_{clip}.mp4", model=bundle, cache=False)
    found = track.present.mean()
    print(f"animatex_dance_{clip}: person in {found:.2%} of {track.num_frames} frames")
    assert found >= 0.99
    height, width = track.size
    assert (height, width) == (758, 512) and track.fps == 24.0
    j = track.joints[track.present]
    # the mapping puts joints where they belong on an upright dancer: nose above shoulders above hips above
    # ankles in >= 90 % of frames, and the confident joints lie inside the frame
    y = {name: j[:, COCO17.index(name), 1] for name in ("nose", "left_shoulder", "left_hip", "left_ankle")}
    order = (y["nose"] < y["left_shoulder"]) & (y["left_shoulder"] < y["left_hip"]) & (y["left_hip"] < y["left_ankle"])
    assert order.mean() >= 0.9
    sure = track.conf[track.present] > 0.9
    assert ((j[..., 0][sure] >= 0) & (j[..., 0][sure] <= width) & (j[..., 1][sure] >= 0)
            & (j[..., 1][sure] <= height)).mean() >= 0.99
    assert track.info["model_sha256"] and track.info["settings"]["running_mode"] == "VIDEO"


def test_fresh_landmarker_per_video(shared, bundle):
    """VIDEO mode tracks across frames; a fresh landmarker per video makes results independent of order."""
    clip = decode_video(shared / "data" / "wild" / "animatex_dance_3.mp4")
    short = Video(clip.frames[:24], clip.fps, clip.path)
    first = extract(short, model=bundle, cache=False)
    extract(Video(clip.frames[60:72], clip.fps, clip.path), model=bundle, cache=False)
    again = extract(short, model=bundle, cache=False)
    np.testing.assert_array_equal(first.joints, again.joints)


def test_no_person_is_nan_and_quiet(bundle, capfd):
    rng = np.random.default_rng(0)
    frames = np.concatenate([np.zeros((3, 96, 128, 3), np.uint8), rng.integers(0, 256, (3, 96, 128, 3), np.uint8)])
    track = extract(Video(frames, 25.0, bundle.parent / "noise.mp4"), model=bundle, cache=False)
    assert not track.present.any() and np.isnan(track.joints).all() and (track.conf == 0).all()
    assert track.info["frames_with_person"] == 0
    err = capfd.readouterr().err
    assert "W0000" not in err and "XNNPACK" not in err  # MediaPipe's C++ log lines are swallowed


def test_missing_or_bad_bundle(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "empty-shared").mkdir()  # shared material without a bundle (else shared/ beside the checkout is used)
    monkeypatch.setenv("EVALKIT_SHARED", str(tmp_path / "empty-shared"))
    monkeypatch.delenv("EVALKIT_POSE_MODEL", raising=False)
    video = Video(np.zeros((1, 32, 32, 3), np.uint8), 25.0, tmp_path / "v.mp4")
    # full is assembled from the mediapipe wheel (tests/test_weights_blazepose.py); lite has no registry source
    with pytest.raises(EvalkitError, match="no PoseLandmarker bundle 'pose_landmarker_lite.task'"):
        extract(video, variant="lite")
    bad = tmp_path / "bad.task"
    bad.write_bytes(b"not a bundle")
    monkeypatch.setenv("EVALKIT_POSE_MODEL", str(bad))
    with pytest.raises(EvalkitError, match="cannot load PoseLandmarker bundle"):
        extract(video, cache=False)
    with pytest.raises(EvalkitError, match="variant"):
        extract(video, variant="huge")
