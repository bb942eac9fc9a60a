"""In-the-wild split on the shared real dance clips: music from the container or a sidecar, reference image
= first frame unless given, videos without music or unreadable ones left out, counted and reported."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from evalkit.data.registry import get_split, validate
from evalkit.data.synth.store import write_wav
from evalkit.data.wild import WildSplit
from evalkit.errors import EvalkitError
from evalkit.io.video import decode_video


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def wild(shared):
    return shared / "data" / "wild"


def test_shared_clips(wild):
    split = get_split("wild", root=wild)
    samples = list(split)
    # golden.md: the three animate-x clips, 24 fps, 194/208/153 frames, 512 wide × 758 high, AAC music
    assert [(s.id, s.fps, s.num_frames) for s in samples] == [
        ("animatex_dance_1", 24.0, 194), ("animatex_dance_2", 24.0, 208), ("animatex_dance_3", 24.0, 153)]
    for s in samples:
        assert s.music == s.video and s.meta["audio_source"] == "container" and s.meta["frame_size"] == (758, 512)
        assert s.joints2d is None and s.beats is None
    assert split.skipped == {"animatex_ubc": "no music: no audio stream and no sidecar",
                             "unianimate_source_video": "no music: no audio stream and no sidecar"}
    first = decode_video(samples[0].video).frames[0]
    assert np.array_equal(np.asarray(Image.open(samples[0].reference)), first)
    assert samples[0].meta["reference_from"] == "first frame"
    assert len(split.validate()) == 2 and all("no audio stream and no sidecar" in p for p in split.validate())


def test_sidecar_music_and_given_references(wild, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    os.symlink(wild / "unianimate_source_video.mp4", folder / "solo.mp4")  # no audio track of its own
    os.symlink(wild / "animatex_dance_2.mp4", folder / "dance.mp4")
    write_wav(folder / "solo.wav", np.zeros(16000, np.float32), 16000)
    refs = tmp_path / "refs"
    refs.mkdir()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(refs / "solo.png")
    split = WildSplit(folder, reference=refs)
    by_id = {s.id: s for s in split}
    assert not split.skipped and set(by_id) == {"dance", "solo"}
    assert by_id["solo"].music == folder / "solo.wav" and by_id["solo"].meta["audio_source"] == "sidecar"
    assert by_id["solo"].fps == 16.0 and by_id["solo"].num_frames == 150  # shared/README: 16 fps, 150 frames
    assert by_id["solo"].reference == refs / "solo.png" and by_id["dance"].meta["reference_from"] == "first frame"
    assert split.validate() == [f"{refs}: no reference image for dance.mp4 (expected dance.png or .jpg)"]
    one = WildSplit(folder, reference=refs / "solo.png")  # one image for every video
    assert {s.reference for s in one} == {refs / "solo.png"}
    shutil.copy(refs / "solo.png", folder / "dance.png")  # an image beside the video
    assert {s.id: s.meta["reference_from"] for s in WildSplit(folder)}["dance"] == "beside the video"


def test_bad_folders(wild, tmp_path):
    with pytest.raises(EvalkitError, match="folder does not exist"):
        WildSplit(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalkitError, match="folder holds no videos"):
        WildSplit(tmp_path / "empty")
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "broken.mp4").write_bytes(b"\x00" * 1000)
    os.symlink(wild / "animatex_dance_3.mp4", folder / "ok.mp4")
    split = WildSplit(folder)
    assert len(split) == 1 and split.skipped["broken"].startswith("cannot be decoded")
    assert validate("wild", folder) == [f"{folder / 'broken.mp4'}: {split.skipped['broken']} — re-encode it or remove it"]
    assert validate("wild", tmp_path / "empty")[0].endswith("folder holds no videos — expected .mp4, .mov, .mkv, .webm, .avi")
    with pytest.raises(EvalkitError, match="needs a folder of music videos"):
        get_split("wild")
    with pytest.raises(EvalkitError, match="unknown dataset 'kinetics'"):
        get_split("kinetics")


def test_cli_validate_wild(wild, capsys):
    from evalkit.cli import main

    assert main(["data", "validate", str(wild), "--dataset", "wild"]) == 2
    captured = capsys.readouterr()
    assert "animatex_ubc.mp4: no audio stream" in captured.out and "unianimate_source_video.mp4" in captured.out
    assert "2 problem(s) found" in captured.err
