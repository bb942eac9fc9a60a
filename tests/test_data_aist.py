"""AIST++ loader: the official layout, camera c09 at 60 fps, centre 640² crop (+ resize) with keypoints mapped
into the crop, the ignore list, and bad roots reported in full."""
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from evalkit.data.aist import NAME_RE, AistSplit, load_pickle, read_list, validate_root
from evalkit.data.registry import get_split
from evalkit.data.synth.store import write_mp4, write_wav
from evalkit.errors import EvalkitError

TRAIN = ["gWA_sFM_cAll_d25_mWA4_ch05"]
TEST = ["gBR_sBM_cAll_d04_mBR0_ch02", "gKR_sBM_cAll_d28_mKR2_ch02", "gBR_sBM_cAll_d04_mBR0_ch08"]
IGNORED = "gBR_sBM_cAll_d04_mBR0_ch08"  # in the official ignore list too
T, W, H = 3, 1920, 1080


def blob_frames(points: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) grey frames with a bright 9×9 square centred on each frame's points (T, 17, 2)."""
    frames = np.full((len(points), H, W, 3), 40, dtype=np.uint8)
    for t, pts in enumerate(points):
        for x, y in np.rint(pts).astype(int):
            frames[t, y - 4:y + 5, x - 4:x + 5] = 230
    return frames


def make_root(base: Path) -> tuple[Path, dict]:
    """A small AIST++ root: 1920×1080 videos of camera c09 whose bright squares sit on the c09 keypoints."""
    root = base / "aist"
    rng = np.random.default_rng(0)
    for d in ("motions", "keypoints2d", "keypoints3d", "cameras", "splits", "videos", "music"):
        (root / d).mkdir(parents=True)
    (root / "splits" / "crossmodal_train.txt").write_text("\n".join(TRAIN) + "\n")
    (root / "splits" / "crossmodal_test.txt").write_text("\n".join(TEST) + "\n")
    (root / "ignore_list.txt").write_text(IGNORED + "\n")
    cams = [{"name": f"c{i:02d}", "size": [W, H], "matrix": [[1500, 0, 960], [0, 1500, 540], [0, 0, 1]],
             "distortions": [0.0] * 5, "rotation": [0.0, 0.0, 0.0], "translation": [0.0, 0.0, 500.0]}
            for i in range(1, 10)]
    (root / "cameras" / "setting2.json").write_text(json.dumps(cams))
    (root / "cameras" / "mapping.txt").write_text("".join(f"{n} setting2\n" for n in TRAIN + TEST))
    truth = {}
    for name in TRAIN + TEST:
        kp = np.zeros((9, T, 17, 3), dtype=np.float32)
        kp[..., 0] = rng.uniform(700, 1220, size=(9, T, 17))  # inside the centre crop x 640..1279
        kp[..., 1] = rng.uniform(280, 800, size=(9, T, 17))  # y 220..859
        kp[..., 2] = rng.uniform(0.5, 1.0, size=(9, T, 17))
        (root / "keypoints2d" / f"{name}.pkl").write_bytes(pickle.dumps(
            {"keypoints2d": kp, "det_scores": np.ones((9, T), np.float32), "timestamps": np.arange(T) * 16666}))
        k3 = rng.normal(0, 50, size=(T, 17, 3)).astype(np.float32)
        (root / "keypoints3d" / f"{name}.pkl").write_bytes(pickle.dumps({"keypoints3d": k3 * 2,
                                                                          "keypoints3d_optim": k3}))
        (root / "motions" / f"{name}.pkl").write_bytes(pickle.dumps(
            {"smpl_poses": np.zeros((T, 72), np.float32), "smpl_trans": np.zeros((T, 3), np.float32),
             "smpl_scaling": np.array([93.0], np.float32), "smpl_loss": np.float64(1.5)}))
        frames = blob_frames(kp[8, :, :, :2])
        write_mp4(root / "videos" / f"{name.replace('cAll', 'c09')}.mp4", frames, 60.0)
        truth[name] = {"kp": kp[8], "k3": k3, "frames": frames}
    tone = 0.1 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 440).astype(np.float32)
    for music in ("mWA4", "mBR0", "mKR2"):
        write_wav(root / "music" / f"{music}.wav", tone, 8000)
    return root, truth


@pytest.fixture(scope="module")
def aist(tmp_path_factory):
    return make_root(tmp_path_factory.mktemp("aistpp"))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))


def test_reads_camera_c09_with_centre_crop(aist):
    root, truth = aist
    split = get_split("aistpp", "test", root)
    assert split.name == "aistpp-test" and split.fps == 60.0 and len(split) == 2
    assert split.skipped == {IGNORED: "in ignore_list.txt"}  # left out, and said so
    for sample in split:
        seq = sample.meta["seq"]
        assert sample.id == seq.replace("cAll", "c09") and sample.num_frames == T
        assert sample.crop == (640, 220, 640, 640) and sample.resize is None
        expected = truth[seq]["kp"].astype(np.float64)
        np.testing.assert_allclose(sample.joints2d[..., :2], expected[..., :2] - [640, 220], atol=1e-9)
        np.testing.assert_array_equal(sample.joints2d[..., 2], expected[..., 2])
        np.testing.assert_allclose(sample.keypoints3d, truth[seq]["k3"].astype(np.float64) / 100.0, rtol=1e-12)  # optim, cm → m
        assert sample.joints3d is None and sample.beats is None and not sample.guidance
        frames = sample.load_video().frames
        assert np.array_equal(frames, truth[seq]["frames"][:, 220:860, 640:1280])
        assert sample.music.name == f"{sample.meta['music_id']}.wav"
        from PIL import Image

        assert np.array_equal(np.asarray(Image.open(sample.reference)), frames[0])  # first frame, cropped
        assert sample.meta["reference_from"] == "first frame"
        assert np.array_equal(sample.reference_joints2d, sample.joints2d[0])  # its keypoints, on the cropped frame


def test_resize_keeps_keypoints_on_the_pixels(aist):
    root, truth = aist
    sample = next(iter(AistSplit(root, "test", resize=256)))
    frames = sample.load_video().frames
    assert frames.shape == (T, 256, 256, 3) and sample.meta["frame_size"] == (256, 256)
    # each keypoint sits on the centroid of its bright square after crop + area resize (±0.35 px)
    rounded = np.rint(truth[sample.meta["seq"]]["kp"][..., :2]) - [640, 220]  # squares are drawn at rounded px
    mapped = (rounded + 0.5) * 256 / 640 - 0.5
    kp = sample.joints2d[..., :2]
    np.testing.assert_allclose(kp, (truth[sample.meta["seq"]]["kp"][..., :2] - [640, 220] + 0.5) * 0.4 - 0.5,
                               atol=1e-6)
    img = frames[0, ..., 0].astype(np.float64) - 40
    ys, xs = np.mgrid[:256, :256]
    for x, y in mapped[0]:
        win = (np.abs(xs - x) <= 3) & (np.abs(ys - y) <= 3)
        w = img * win
        cx, cy = (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()
        overlap = min(abs(cx - x), abs(cy - y))  # neighbouring squares can merge; skip those
        if overlap < 1:
            assert abs(cx - x) < 0.35 and abs(cy - y) < 0.35


def test_annotation_paths_and_ids(aist, tmp_path):
    root, _ = aist
    assert [s.meta["seq"] for s in AistSplit(root, "test", ids=[TEST[1]])] == [TEST[1]]
    with pytest.raises(EvalkitError, match="2 id\\(s\\) not in the test split list: nope, gWA"):
        AistSplit(root, "test", ids=["nope", TRAIN[0]])
    # annotations may live in ROOT/annotations, videos and music anywhere
    alt = tmp_path / "alt"
    for d in ("motions", "keypoints2d", "keypoints3d", "cameras", "splits"):
        shutil.copytree(root / d, alt / "annotations" / d)
    shutil.copy(root / "ignore_list.txt", alt / "annotations")
    split = AistSplit(alt, "train", videos=root / "videos", music=root / "music")
    assert len(split) == 1 and split.validate() == []
    with pytest.raises(EvalkitError, match="unknown part"):
        AistSplit(root, "dev")
    with pytest.raises(EvalkitError, match="no crossmodal_val.txt"):
        AistSplit(root, "val")


def test_bad_root_lists_every_problem(aist, tmp_path):
    root, _ = aist
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    (bad / "keypoints2d" / f"{TEST[0]}.pkl").write_bytes(b"garbage")  # unreadable
    (bad / "videos" / f"{TEST[1].replace('cAll', 'c09')}.mp4").unlink()  # missing video
    (bad / "music" / "mWA4.wav").unlink()  # missing music
    stray = "gHO_sFM_cAll_d19_mHO0_ch01"
    shutil.copy(bad / "motions" / f"{TRAIN[0]}.pkl", bad / "motions" / f"{stray}.pkl")  # in no split list
    with open(bad / "splits" / "crossmodal_train.txt", "a") as f:
        f.write("not_a_sequence\n")
    problems = validate_root(bad)
    text = "\n".join(problems)
    for expected in (f"{TEST[0]}.pkl: unreadable pickle", f"{TEST[1].replace('cAll', 'c09')}.mp4: missing video",
                     "mWA4.wav: missing music", f"1 file(s) named in no split list: {stray}",
                     "'not_a_sequence' is not an AIST++ sequence name"):
        assert expected in text, (expected, problems)
    assert len(problems) == 5
    assert validate_root(root) == []  # the good root has none
    # missing folders: construction fails once, naming all of them
    shutil.rmtree(bad / "keypoints3d")
    shutil.rmtree(bad / "music")
    with pytest.raises(EvalkitError) as err:
        AistSplit(bad, "test")
    assert "2 problem(s)" in str(err.value) and "keypoints3d: missing folder" in str(err.value)
    assert "music: missing music folder" in str(err.value) and "\n" not in str(err.value)
    # reading a sample with an unreadable file names that file
    shutil.copytree(root / "music", bad / "music")
    (bad / "keypoints3d").mkdir()
    with pytest.raises(EvalkitError, match="keypoints2d.*unreadable pickle"):
        list(AistSplit(bad, "test"))


def test_cli_validate_prints_every_problem(aist, tmp_path, capsys):
    from evalkit.cli import main

    root, _ = aist
    assert main(["data", "validate", str(root)]) == 0
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    for name in TRAIN + TEST[:2]:
        (bad / "keypoints3d" / f"{name}.pkl").unlink()
    assert main(["data", "validate", str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("keypoints3d/") == 3 and "3 problem(s) found" in captured.err


def test_pickles_are_read_without_running_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"keypoints2d": Evil()}))
    with pytest.raises(EvalkitError, match="unreadable pickle.*refusing to load global builtins.print"):
        load_pickle(path)


def test_official_split_lists_parse(shared, tmp_path):
    splits = shared / "data" / "aist" / "splits"
    for part, count in (("train", 980), ("test", 20)):
        names = read_list(splits / f"EDGE_crossmodal_{part}.txt")
        assert len(names) == count and all(NAME_RE.match(n) for n in names)
    ignored = read_list(splits / "Bailando_ignore_list.txt")  # names with .json: extension dropped
    assert ignored[0] == "gBR_sFM_cAll_d05_mBR5_ch14" and all(NAME_RE.match(n) for n in ignored)
    assert set(ignored) == set(read_list(splits / "EDGE_ignore_list.txt"))
    # the official lists in a root: EDGE's train list still names 28 ignored sequences, left out and counted
    root = tmp_path / "lists"
    for d in ("motions", "keypoints2d", "keypoints3d", "cameras", "splits", "videos", "music"):
        (root / d).mkdir(parents=True)
    (root / "cameras" / "mapping.txt").write_text("")
    for part in ("train", "test"):
        shutil.copy(splits / f"EDGE_crossmodal_{part}.txt", root / "splits")
    shutil.copy(splits / "EDGE_ignore_list.txt", root / "ignore_list.txt")
    train, test = AistSplit(root, "train"), AistSplit(root, "test")
    assert (len(train), len(train.skipped), len(test), len(test.skipped)) == (952, 28, 20, 0)
