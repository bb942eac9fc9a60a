"""The main job as a new user runs it: `evalkit run-model` on the test split on a machine with no ../shared and
an empty cache (split generated, BlazePose bundle assembled from the pinned mediapipe wheel). BeatAlign must have
a value for every video, and the exit code must say every requested metric did.

The mediapipe wheel is fetched from PyPI into this machine's cache once and handed to the run through
EVALKIT_WEIGHTS_DIR, as an offline user would; the run assembles the bundle from it into its empty cache. Skips
when PyPI cannot be reached. BeatAlign with SSIM keeps the test to about a CPU-minute; the other metrics' weights
come the same way (tests/test_weights.py, tests/test_i3d.py).
"""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from evalkit.errors import EvalkitError
from evalkit.weights import registry

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    from evalkit.weights import blazepose

    folder = tmp_path_factory.mktemp("archives")
    for source in (blazepose.MEDIAPIPE,):
        try:
            path = registry.fetch_archive(source)
        except EvalkitError as err:
            if "cannot download" in str(err):
                pytest.skip(f"PyPI unreachable: {err}")
            raise
        (folder / source.filename).symlink_to(path)
    return folder


@pytest.mark.slow
def test_moving_baseline_has_beat_align_for_every_video_without_shared(archives, tmp_path):
    from evalkit.weights.blazepose import BUNDLES

    env = {**os.environ, "EVALKIT_SHARED": "none", "EVALKIT_CACHE": str(tmp_path / "cache"),
           "EVALKIT_WEIGHTS_DIR": str(archives)}
    env.pop("EVALKIT_POSE_MODEL", None)
    run = tmp_path / "run"
    # shuffled-music: real dancers (the static baseline does not move: BeatAlign is NaN by the still-video policy)
    proc = subprocess.run([sys.executable, "-m", "evalkit", "run-model", "shuffled-music", "--split", "test",
                           "--device", "cpu",
                           "--metrics", "beat_align,ssim", "--out", str(run)],
                          env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]  # 0: every metric has a value for every video
    assert "failed for" not in proc.stderr
    per_video = pd.read_csv(run / "per_video.csv")
    assert len(per_video) == 4 and per_video["beat_align"].notna().all(), per_video.to_string()
    record = json.loads((run / "results.json").read_text())
    assert record["counts"]["failed"]["beat_align"] == 0 and not record["errors"]
    # the pose model is the bundle assembled here (byte-identical to ../shared's), not a copy found elsewhere
    assert record["metrics"]["beat_align"]["pose"]["model_sha256"] == BUNDLES["full"]
    assert (tmp_path / "cache" / "weights" / "pose_landmarker_full-mediapipe-0.10.21.task").is_file()
