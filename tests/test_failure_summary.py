"""A metric that fails says why under the table (one line per reason, with its count and fix), and the exit
code says whether every requested metric produced a value: 0 yes, 3 no (EXIT_INCOMPLETE)."""
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evalkit.io.video import write_video
from evalkit.results.table import EXIT_INCOMPLETE, failure_lines

NO_AUDIO = "has no audio stream — put a sidecar .wav/.mp3/.ogg/.flac with the same stem beside it, or pass --audio DIR"


def test_one_line_per_metric_and_reason():
    bundle = "/c/pose/models: no PoseLandmarker bundle 'pose_landmarker_full.task' — set EVALKIT_POSE_MODEL"
    errors = [{"video": f"v{i}", "metric": "beat_align", "error": bundle} for i in range(4)]
    errors += [{"video": f"sub/v{i}", "metric": "av_align", "error": f"/runs/pred/sub/v{i}.mp4: {NO_AUDIO}"}
               for i in range(2)]
    errors.append({"video": "v9", "metric": "av_align", "error": "/runs/pred/v9.mp4: cannot decode — re-encode it"})
    aggregate = pd.DataFrame([
        {"metric": "beat_align", "column": "beat_align", "value": math.nan},
        {"metric": "fvd", "column": "fvd", "value": math.nan},  # no value and no per-video failure
        {"metric": "ssim", "column": "ssim", "value": 0.8},
        {"metric": "ssim", "column": "ssim_cross", "value": math.nan},  # a secondary column: not a failure
    ])
    record = {"errors": errors, "run": {"metrics_unavailable": ["dwpose_metric"]}}
    lines = failure_lines(record, aggregate)
    assert lines == [
        f"beat_align failed for 4 videos (v0, v1, v2, …): {bundle}",  # one path for all: kept
        f"av_align failed for 2 videos (sub/v0, sub/v1): {NO_AUDIO}",  # each video's own path: dropped
        "av_align failed for 1 video (v9): cannot decode — re-encode it",
        "dwpose_metric not scored: this installation lacks it",
        "fvd has no value (see results.json)",
    ]
    assert failure_lines({"errors": []}, aggregate.iloc[2:]) == []  # ssim and its NaN secondary column


def run_cli(*args, env=None):
    proc = subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=600,
                          env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def silent_pairs(tmp_path):
    rng = np.random.default_rng(0)
    for side in ("pred", "gt"):
        for i in range(2):
            write_video(tmp_path / side / f"s{i}.mp4", rng.integers(0, 256, (6, 32, 48, 3), dtype=np.uint8), 24)
    return tmp_path / "pred", tmp_path / "gt"


def test_score_prints_reasons_under_the_table_and_exits_3(silent_pairs, tmp_path):
    pred, gt = silent_pairs
    code, out, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "ssim,av_align",
                             "--out", str(tmp_path / "out"))
    assert code == EXIT_INCOMPLETE == 3, err
    assert "ssim" in out and "av_align" in out  # the table is still printed and results written
    assert (tmp_path / "out" / "results.json").is_file()
    failures = [ln for ln in err.splitlines() if "failed for" in ln]
    assert failures == [f"av_align failed for 2 videos (s0, s1): {NO_AUDIO}"], err
    code, out, err = run_cli("score", "--pred", str(pred), "--gt", str(gt), "--metrics", "ssim")
    assert code == 0 and "failed for" not in err, err


@pytest.mark.slow
def test_run_model_prints_reasons_and_exits_3(tmp_path):
    import os

    env = {**os.environ, "EVALKIT_POSE_MODEL": str(tmp_path / "missing.task"), "EVALKIT_CACHE": str(tmp_path / "c")}
    code, out, err = run_cli("run-model", "static", "--limit", "1", "--metrics", "beat_align", "--device", "cpu",
                             "--out", str(tmp_path / "run"), env=env)
    assert code == 3, err
    failures = [ln for ln in err.splitlines() if "failed for" in ln]
    assert len(failures) == 1 and failures[0].startswith("beat_align failed for 1 video ("), err
    assert "missing.task: PoseLandmarker bundle not found (from EVALKIT_POSE_MODEL)" in failures[0]
