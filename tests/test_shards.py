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


def test_torchrun_ranks_with_workers_traced(dirs, single, tmp_path):
    """2 gloo ranks × 2 forked workers each: the same numbers, and every process's events in the trace."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, trace_dir = tmp_path / "ddp", tmp_path / "trace"
    trace_dir.mkdir()
    import torch

    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "EVALKIT_TRACE": str(trace_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), "-m", "evalkit", "score", "--pred", str(dirs / "pred"), "--gt",
         str(dirs / "gt"), "--metrics", METRICS, "--out", str(out), "--format", "csv", "--jobs", "2"],
        capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same(single, load(out))

    from evalkit import trace

    events = trace.read(trace_dir)
    by = {}
    for e in events:
        by.setdefault(e["event"], []).append(e)
    assert sorted(e["rank"] for e in by["cli_start"]) == [0, 1]
    assert len(by["dist_ready"]) == 2 and len(by["gathered"]) == 2 and len(by["finished"]) == 1
    assert len(by["worker_ready"]) == 4  # forked from each rank's forkserver
    assert len({e["pid"] for e in by["worker_ready"]} & {e["pid"] for e in by["cli_start"]}) == 0
    assert sorted(e["video"] for e in by["scored"]) == [f"v{i}" for i in range(5)]  # each video once, in workers
    assert {e["pid"] for e in by["scored"]} <= {e["pid"] for e in by["worker_ready"]}
    assert set(by["scored"][0]["seconds"]) == set(METRICS.split(","))
    assert all(e.get("proc_start") for e in events if e["event"] in ("cli_start", "worker_start"))


def test_workers_take_the_parents_current_environment(dirs, tmp_path, monkeypatch):
    """The forkserver keeps the environment it started with; workers must see the parent's at pool time. The
    parent never loads a network (it only merges), yet records the weights' identity."""
    from evalkit import execution
    from evalkit.scoring import ScoreConfig, finish, run

    execution.context(METRICS.split(","))  # serving before the variable below exists
    monkeypatch.setenv("EVALKIT_TRACE", str(tmp_path))
    cfg = ScoreConfig(metrics=tuple(METRICS.split(",")), jobs=2)
    scorer = run(dirs / "pred", dirs / "gt", cfg)
    from evalkit import trace

    workers = {e["pid"] for e in trace.read(tmp_path) if e["event"] == "worker_ready"}
    assert len(workers) == 2 and os.getpid() not in workers
    assert scorer.metrics["lpips"]._net is None
    record = finish(scorer).attrs["record"]
    assert len(record["metrics"]["lpips"]["weights"]["trunk_sha256"]) == 64


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_weights_that_do_not_load_stop_the_run(dirs, tmp_path, capsys, jobs):
    """Networks load in whichever process scores (a worker, or this one): a bad path is one line, exit 2."""
    code = main(["score", "--pred", str(dirs / "pred"), "--gt", str(dirs / "gt"), "--metrics", "lpips",
                 "--opt", f"lpips.weights={tmp_path / 'missing.pth'}", "--jobs", jobs])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "LPIPS backbone file not found" in err[0] and "missing.pth" in err[0]


def test_device_lists():
    from evalkit.errors import EvalkitError
    from evalkit.execution import devices_of

    assert devices_of("cuda:0,1") == devices_of("cuda:0, cuda:1") == ["cuda:0", "cuda:1"]
    assert devices_of("cuda") == ["cuda"] and devices_of("cpu") == ["cpu"] and devices_of("cuda:3") == ["cuda:3"]
    for bad in ("cpu,cuda:0", "cuda:0,x", "cuda:1,1"):
        with pytest.raises(EvalkitError, match="bad --device"):
            devices_of(bad)


def test_more_gpus_than_workers_is_one_line(dirs, capsys):
    code = main(["score", "--pred", str(dirs / "pred"), "--gt", str(dirs / "gt"), "--metrics", "psnr",
                 "--device", "cuda:0,1", "--jobs", "1"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--jobs 2" in err[0]


two_gpus = pytest.mark.skipif(
    not __import__("torch").cuda.is_available() or __import__("torch").cuda.device_count() < 2,
    reason="needs 2 CUDA GPUs")


@two_gpus
def test_two_gpus_from_one_process_equal_one_gpu(dirs, tmp_path, monkeypatch):
    """`--device cuda:0,1`: workers take the GPUs in turn (traced), and the numbers equal one GPU's."""
    from evalkit import trace

    one = score(dirs, tmp_path / "g1", "--device", "cuda:0", "--jobs", "2")
    monkeypatch.setenv("EVALKIT_TRACE", str(tmp_path / "trace"))
    (tmp_path / "trace").mkdir()
    two = score(dirs, tmp_path / "g2", "--device", "cuda:0,1", "--jobs", "4")
    assert_same(one, two)
    ready = [e["device"] for e in trace.read(tmp_path / "trace") if e["event"] == "worker_ready"]
    assert sorted(set(ready)) == ["cuda:0", "cuda:1"] and abs(ready.count("cuda:0") - ready.count("cuda:1")) <= 1
