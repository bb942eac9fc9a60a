"""A metric registers in one place (docs/architecture.md): a toy metric — one module (tests/toy_metric.py) plus
its registry line — is scored by `evalkit score` in one process and in worker processes, listed by `--help`,
scored by run-model's default list, checked by the leaderboards with its own tolerance and preflight, and its
declared inputs decide the workers' preload. No orchestration module names a metric."""
import ast
from pathlib import Path

import numpy as np
import pytest

import evalkit
from evalkit import leaderboard, metrics
from evalkit.cli import main
from evalkit.errors import EvalkitError
from evalkit.io.video import decode_video
from test_cli_score import dirs  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]
ORCHESTRATION = ("evalkit/scoring.py", "evalkit/execution.py", "evalkit/runner.py",
                 *(f"evalkit/leaderboard/{p.name}" for p in sorted((ROOT / "evalkit/leaderboard").glob("*.py"))),
                 "evalkit/cli/score.py", "evalkit/shards.py", "evalkit/preload/scoring.py")


@pytest.fixture
def toy(monkeypatch):
    """The registry line."""
    monkeypatch.setitem(metrics.REGISTRY, "toy", "toy_metric:Toy")
    monkeypatch.setitem(metrics.REGISTRY, "toy_audio", "toy_metric:ToyAudio")
    return metrics.metric_class("toy")


def expected(pred_dir, gt_dir) -> float:
    """The toy's number computed here from the decoded frames: mean over all frames of the brightness difference."""
    diffs = []
    for path in sorted(Path(pred_dir).glob("*.mp4")):
        p, g = decode_video(path).frames, decode_video(Path(gt_dir) / path.name).frames
        diffs.append(p.astype(np.float64).mean(axis=(1, 2, 3)) - g.astype(np.float64).mean(axis=(1, 2, 3)))
    return float(np.concatenate(diffs).mean())


def test_scored_in_one_process_and_in_workers(toy, dirs):  # noqa: F811
    pred, gt = dirs
    want = expected(pred, gt)
    one = evalkit.score(pred, gt, metrics=["toy", "psnr"])
    two = evalkit.score(pred, gt, metrics=["toy", "psnr"], jobs=2)  # the workers find the toy's registry line
    for df in (one, two):
        row = df[df["metric"] == "toy"].iloc[0]
        assert row["value"] == pytest.approx(want, abs=1e-12) and row["n_videos"] == 2 and row["direction"] == "↓"
    half = evalkit.score(pred, gt, metrics=["toy"], preset="half")  # a global preset only the toy has
    assert half["value"].iloc[0] == pytest.approx(want / 2, abs=1e-12)
    with pytest.raises(EvalkitError, match="metric 'toy' has no option 'scael' — valid keys: scale"):
        evalkit.score(pred, gt, metrics=["toy"], metric_options={"toy": {"scael": "2"}})


def test_listed_by_help(toy, capsys):
    assert main(["score", "--help"]) == 0
    assert "toy" in capsys.readouterr().out


def test_on_the_boards(toy):
    from evalkit.runner import available_metrics

    names, lacking = available_metrics()
    assert names[-1] == "toy" and "toy_audio" not in names and not lacking  # declared on_boards, registry order
    assert {"ssim", "fvd", "beat_align"} <= set(names)
    assert leaderboard.metric_tolerances()["toy"] == (0.25, 0.0)
    head = [*leaderboard.META, "toy (clean) ↓"]  # one value column after the board's META columns

    def row(value):
        return ["static", *["x"] * (len(leaderboard.META) - 1), value]

    assert leaderboard.compare([head, row("1.0")], [head, row("1.2")]) == []  # within the toy's 0.25
    assert len(leaderboard.compare([head, row("1.0")], [head, row("1.3")])) == 1


def test_preflight_is_the_metrics_own(toy, monkeypatch):
    leaderboard.preflight([{"metrics": ["toy"]}])
    monkeypatch.setattr(toy, "model_present", False)
    with pytest.raises(EvalkitError, match="toy: model file missing"):
        leaderboard.preflight([{"metrics": ["toy"]}])


def test_declared_inputs_decide_the_audio_preload(toy):
    assert metrics.needs_audio(["toy_audio"]) and not metrics.needs_audio(["toy", "ssim"])
    assert metrics.needs_audio(["beat_align"]) and metrics.needs_audio(["nosuch", "av_align"])


def test_no_metric_named_in_the_orchestration():
    """Metric knowledge lives in the metric's class: orchestration modules hold no registered name as a string."""
    names = set(metrics.REGISTRY)
    found = []
    for rel in ORCHESTRATION:
        for node in ast.walk(ast.parse((ROOT / rel).read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, found
