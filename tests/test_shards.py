"""Sharded, multi-process and torch.distributed (2 gloo processes) scoring equal the single process:
per-video rows exactly, aggregates within 1e-9."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evalkit.cli import main
from evalkit.io.video import write_video

METRICS = "ssim,psnr,l1,lpips"


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(7)
    for i in range(5):
        a = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
        b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
        write_video(root / "gt" / f"v{i}.mp4", a, 24)
        write_video(root / "pred" / f"v{i}.mp4", b, 24)
    return root


def score(dirs, out, *extra):
    assert main(["score", "--pred", str(dirs / "pred"), "--gt", str(dirs / "gt"), "--metrics", METRICS,
                 "--out", str(out), "--format", "csv", *extra]) == 0
    return load(out)


def load(out):
    record = json.loads((out / "results.json").read_text())
    return pd.DataFrame(record["aggregate"]), pd.read_csv(out / "per_video.csv")


def assert_same(a, b):
    (agg_a, rows_a), (agg_b, rows_b) = a, b
    np.testing.assert_allclose(agg_a["value"].to_numpy(float), agg_b["value"].to_numpy(float), rtol=0, atol=1e-9)
    cols = ["video", "ssim", "psnr", "l1", "lpips"]
    pd.testing.assert_frame_equal(rows_a[cols], rows_b[cols], check_exact=True)


@pytest.fixture(scope="module")
def single(dirs, tmp_path_factory):
    return score(dirs, tmp_path_factory.mktemp("single"))


def test_shards_merge_to_single(dirs, single, tmp_path):
    for i in range(3):
        score(dirs, tmp_path / f"s{i}", "--shard", f"{i}/3")
    assert main(["merge", *(str(tmp_path / f"s{i}") for i in range(3)), "--out", str(tmp_path / "m"),
                 "--format", "csv"]) == 0
    assert_same(single, load(tmp_path / "m"))


def test_worker_processes_equal_single(dirs, single, tmp_path):
    assert_same(single, score(dirs, tmp_path / "j2", "--jobs", "2"))


def test_torch_distributed_two_gloo_ranks(dirs, single, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    import torch

    # the same intra-op thread count as the single run, so convolutions reduce identically
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), "-m", "evalkit", "score", "--pred", str(dirs / "pred"), "--gt",
         str(dirs / "gt"), "--metrics", METRICS, "--out", str(out), "--format", "csv"],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(single, load(out))


def test_merge_refuses_mixed_settings(dirs, tmp_path):
    score(dirs, tmp_path / "a", "--shard", "0/2")
    assert main(["score", "--pred", str(dirs / "pred"), "--gt", str(dirs / "gt"), "--metrics", METRICS,
                 "--preset", "disco", "--out", str(tmp_path / "b"), "--shard", "1/2"]) == 0
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
