"""Keypoints backend: joints from AIST++ .pkl, .npy and .json files beside the videos."""
import json
import pickle

import numpy as np
import pytest

from evalkit.errors import EvalkitError
from evalkit.io.video import Video, write_video
from evalkit.pose import extract
from evalkit.pose.keypoints import AIST_VIEWS

T = 12


def _video(path, frames=T, size=(48, 64), fps=60.0):
    """An in-memory Video (the backend only needs its path, frame count, fps and size)."""
    return Video(np.zeros((frames, *size, 3), np.uint8), fps, path)


def _aist_pickle(path):
    """An AIST++-style keypoints2d pickle: view v holds x = 100·v + joint, y = frame; frame 3 undetected
    (NaN, det_score 0) and frame 5 detected with det_score 0 in every view."""
    kp = np.zeros((9, T, 17, 3), np.float32)
    kp[..., 0] = (100 * np.arange(9))[:, None, None] + np.arange(17)[None, None, :]
    kp[..., 1] = np.arange(T)[None, :, None]
    kp[..., 2] = 0.8
    kp[:, 3] = np.nan
    det = np.ones((9, T), np.float32)
    det[:, 3] = 0.0
    det[:, 5] = 0.0
    path.write_bytes(pickle.dumps({"keypoints2d": kp, "det_scores": det, "timestamps": np.arange(T) * 16}))
    return kp


def test_aist_pickle_camera_from_video_name(tmp_path):
    kp = _aist_pickle(tmp_path / "gBR_sBM_cAll_d04_mBR0_ch01.pkl")
    track = extract(_video(tmp_path / "gBR_sBM_c02_d04_mBR0_ch01.mp4"), backend="keypoints")
    assert track.info["settings"]["camera"] == "c02" and track.info["model"] == "gBR_sBM_cAll_d04_mBR0_ch01.pkl"
    np.testing.assert_array_equal(track.present, ~np.isin(np.arange(T), [3, 5]))
    np.testing.assert_array_equal(track.joints[track.present], kp[1][track.present][..., :2])  # view c02 = index 1
    assert np.isnan(track.joints[[3, 5]]).all() and (track.conf[[3, 5]] == 0).all()
    np.testing.assert_allclose(track.conf[0], 0.8, rtol=1e-6)
    assert track.fps == 60.0 and track.size == (48, 64)


def test_aist_camera_default_and_override(tmp_path):
    kp = _aist_pickle(tmp_path / "dance.pkl")
    default = extract(_video(tmp_path / "dance.mp4"), backend="keypoints")
    assert default.info["settings"]["camera"] == "c09"
    np.testing.assert_array_equal(default.joints[0], kp[8, 0, :, :2])
    chosen = extract(_video(tmp_path / "dance.mp4"), backend="keypoints", camera="c04")
    np.testing.assert_array_equal(chosen.joints[0], kp[AIST_VIEWS.index("c04"), 0, :, :2])
    with pytest.raises(EvalkitError, match="unknown AIST\\+\\+ camera"):
        extract(_video(tmp_path / "dance.mp4"), backend="keypoints", camera="c10")


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    (tmp_path / "v.pkl").write_bytes(pickle.dumps({"keypoints2d": Evil()}))
    with pytest.raises(EvalkitError, match="refusing to load global"):
        extract(_video(tmp_path / "v.mp4"), backend="keypoints")


def test_real_aist_sequence_from_npy(shared, tmp_path):
    """The shared AIST++ 2D keypoints (z-scored (T,34)) un-scaled to 1080p pixels round-trip through .npy."""
    src = shared / "data" / "aist" / "keypoints2d"
    scaler = np.load(src / "kps_scaler_mean_scale.npz")
    flat = np.load(src / "gHO_sFM_cAll_d19_mHO0_ch01.npy")
    pixels = (flat.reshape(len(flat), 17, 2) * scaler["scale"] + scaler["mean"])[:300]
    np.save(tmp_path / "seq.npy", pixels)
    track = extract(_video(tmp_path / "seq.mp4", frames=300, size=(1080, 1920), fps=60.0), backend="keypoints")
    np.testing.assert_array_equal(track.joints, pixels)
    assert track.present.all() and (track.conf == 1).all()
    assert (track.joints[..., 0].min() >= 0) and (track.joints[..., 0].max() <= 1920)  # pixels of a 1080p frame
    np.save(tmp_path / "seq.npy", flat[:300])  # the raw (T, 34) layout is refused with a hint
    with pytest.raises(EvalkitError, match=r"expected \(T, 17, 2\)"):
        extract(_video(tmp_path / "seq.mp4", frames=300), backend="keypoints")


def test_npy_with_scores_and_missing_joints(tmp_path):
    kp = np.random.default_rng(1).uniform(0, 60, (T, 17, 3))
    kp[..., 2] = 0.5
    kp[2, 4, :2] = np.nan  # one missing joint
    kp[7] = np.nan  # nobody
    np.save(tmp_path / "clip.npy", kp)
    track = extract(_video(tmp_path / "clip.mp4"), backend="keypoints")
    assert track.present.sum() == T - 1 and not track.present[7]
    assert np.isnan(track.joints[2, 4]).all() and track.conf[2, 4] == 0 and track.conf[2, 5] == 0.5


def test_json_frames(tmp_path):
    frames = [[[x + 0.5, 2.0 * x, 0.9] for x in range(17)], None, [], [[1.0, 2.0]] * 17]
    (tmp_path / "clip.json").write_text(json.dumps({"keypoints": frames}))
    track = extract(_video(tmp_path / "clip.mp4", frames=4), backend="keypoints")
    np.testing.assert_array_equal(track.present, [True, False, False, True])
    np.testing.assert_allclose(track.joints[0, :, 0], np.arange(17) + 0.5)
    np.testing.assert_allclose(track.conf[[0, 3], 0], [0.9, 1.0])
    (tmp_path / "clip.json").write_text(json.dumps([[[0, 0]] * 16]))
    with pytest.raises(EvalkitError, match="frame 0 has shape"):
        extract(_video(tmp_path / "clip.mp4", frames=1), backend="keypoints")


def test_video_file_is_probed_not_decoded(tmp_path):
    path = write_video(tmp_path / "clip.mp4", np.zeros((7, 32, 48, 3), np.uint8), fps=30)
    np.save(tmp_path / "clip.npy", np.zeros((7, 17, 2)))
    track = extract(path, backend="keypoints")
    assert track.num_frames == 7 and track.size == (32, 48) and track.fps == pytest.approx(30.0)


def test_errors_name_the_problem(tmp_path):
    video = _video(tmp_path / "clip.mp4")
    with pytest.raises(EvalkitError, match="no keypoints file"):
        extract(video, backend="keypoints")
    np.save(tmp_path / "clip.npy", np.zeros((T + 1, 17, 2)))
    with pytest.raises(EvalkitError, match=f"keypoints have {T + 1} frames, the video {T}"):
        extract(video, backend="keypoints")
    (tmp_path / "clip.json").write_text("[]")
    with pytest.raises(EvalkitError, match="several keypoints files"):
        extract(video, backend="keypoints")
    np.save(tmp_path / "other.npy", np.zeros((T, 17, 2)))
    assert extract(video, backend="keypoints", path=tmp_path / "other.npy").num_frames == T
    with pytest.raises(EvalkitError, match="has no option .* valid keys"):
        extract(video, backend="keypoints", model="x")


def test_extract_many_order_and_errors_with_the_caller_as_a_worker(tmp_path):
    """jobs=2: the calling process and one spawned worker share the videos (longest first); results come back in
    input order, equal to the loop, and a failing video's error reaches the caller."""
    from evalkit.pose import extract_many

    paths = []
    for i, frames in enumerate((5, 9, 7)):
        p = write_video(tmp_path / f"v{i}.mp4", np.zeros((frames, 32, 48, 3), np.uint8), fps=30)
        np.save(tmp_path / f"v{i}.npy", np.full((frames, 17, 2), float(i)))
        paths.append(p)
    seq = [extract(p, backend="keypoints") for p in paths]
    par = extract_many(paths, "keypoints", jobs=2)
    assert [t.num_frames for t in par] == [5, 9, 7]
    assert all(np.array_equal(a.joints, b.joints) for a, b in zip(seq, par))
    (tmp_path / "v1.npy").unlink()
    with pytest.raises(EvalkitError, match="no keypoints file"):
        extract_many(paths, "keypoints", jobs=2)
