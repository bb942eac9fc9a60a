"""evalkit compare: paired differences, sign-flip p-values, Holm, set-level paired bootstrap, CLI."""
import itertools
import json
import shutil
from pathlib import Path

import re

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.cli import main
from evalkit.comparison import compare
from evalkit.metrics.frechet import fd_from_features
from evalkit.stats import paired

BOARD = Path(__file__).resolve().parents[1] / "leaderboards" / "results" / "synth-test"


#: committed board runs compared: (board, control, model)
PAIRS = [("synth-test", "static", "m2p")]


@pytest.mark.parametrize("board, control, model", PAIRS)
def test_mean_differences_match_per_video_csv(tmp_path, board, control, model):
    runs = BOARD.parent / board
    frame = evalkit.compare(runs / control, runs / model, out=tmp_path)
    a = pd.read_csv(runs / control / "per_video.csv").set_index("video")
    b = pd.read_csv(runs / model / "per_video.csv").set_index("video")
    written = pd.read_csv(tmp_path / "compare.csv")
    assert list(written.columns[:9]) == ["metric", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p", "p_holm"]
    for metric in ("ssim", "lpips", "psnr", "beat_align", "av_align"):
        row = frame.set_index("metric").loc[metric]
        matched = a.index.intersection(b.index)
        va, vb = a.loc[matched, metric].to_numpy(), b.loc[matched, metric].to_numpy()
        both = np.isfinite(va) & np.isfinite(vb)  # a video either run has no value for is left out (e.g. still)
        d = (vb - va)[both]
        assert len(matched) == len(b.index) and row["n"] == both.sum() == len(d) >= 2
        assert row["diff"] == pytest.approx(d.mean(), abs=1e-12)
        assert row["mean_a"] == pytest.approx(va[both].mean(), abs=1e-12)
        assert row["ci_low"] <= row["diff"] <= row["ci_high"]
        assert written.set_index("metric").loc[metric, "diff"] == pytest.approx(d.mean(), rel=1e-9)
    # the SSIM p-value is the exact enumeration over the 2^n sign patterns of the committed runs' differences
    d_ssim = (b["ssim"] - a.loc[b.index, "ssim"]).to_numpy()
    assert len(d_ssim) <= 16  # enumerated by compare too (beyond 16 videos it draws patterns)
    assert frame.set_index("metric").loc["ssim", "p"] == pytest.approx(brute_force_p(d_ssim), abs=1e-12)


def brute_force_p(d):
    """Independent enumeration: every sign pattern by itertools, |mean| compared with a tolerance."""
    obs = abs(np.mean(d))
    hits = sum(abs(np.mean([s * x for s, x in zip(signs, d)])) >= obs - 1e-12
               for signs in itertools.product((1, -1), repeat=len(d)))
    return hits / 2 ** len(d)


@pytest.mark.parametrize("seed", range(5))
def test_sign_flip_p_equals_enumeration(seed):
    d = np.random.default_rng(seed).normal(0.3, 1.0, size=7 + seed)
    assert paired.sign_flip_p(d) == pytest.approx(brute_force_p(d), abs=1e-15)


def test_sign_flip_small_cases_by_hand():
    assert paired.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)  # only all-plus and all-minus reach 2
    assert paired.sign_flip_p([1.0, -1.0]) == 1.0  # every pattern has |mean| >= 0
    assert paired.min_sign_flip_p(4) == 0.125


def test_sign_flip_monte_carlo_close_to_exact():
    d = np.random.default_rng(7).normal(0.4, 1.0, size=17)  # 2^17 patterns: drawn, not enumerated
    exact = np.mean(np.abs(paired.sign_patterns(17) @ d) / 17 >= abs(d.mean()) - 1e-12)
    drawn = paired.sign_flip_p(d)
    assert abs(drawn - exact) < 4 * np.sqrt(exact * (1 - exact) / paired.DRAWS) + 1e-5  # binomial error of the draws


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 (m = 3): 3*0.01 = 0.03, 2*0.03 = 0.06, max(0.06, 1*0.04) = 0.06
    out = paired.holm([0.04, 0.01, np.nan, 0.03])
    np.testing.assert_allclose(out[[1, 3, 0]], [0.03, 0.06, 0.06], rtol=1e-12)
    assert np.isnan(out[2])
    np.testing.assert_array_equal(paired.holm([0.5, 0.9]), [1.0, 1.0])  # 2 * 0.5 capped at 1, then monotone


def _fake_run(folder: Path, name: str, values: dict, ids):
    folder.mkdir(parents=True)
    rows = pd.DataFrame({"video": ids, "pred": [f"pred/{i}.mp4" for i in ids], "gt": [f"gt/{i}.mp4" for i in ids],
                         **values})
    rows.to_csv(folder / "per_video.csv", index=False)
    agg = [{"metric": m, "column": m, "preset": "clean", "direction": "↑", "value": float(np.mean(v))}
           for m, v in values.items()]
    agg.append({"metric": "fvd", "column": "fvd", "preset": "tf", "direction": "↓", "value": 1.0})
    record = {"run": {"model": name}, "aggregate": agg,
              "metrics": {"fvd": {"settings": {"ddof": 1, "fd": "scipy"}}}}
    (folder / "results.json").write_text(json.dumps(record))
    return folder


def test_unmatched_videos_counted_and_large_n_uses_draws(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in range(30)]
    a = _fake_run(tmp_path / "a", "A", {"ssim": rng.normal(0.5, 0.1, 30)}, ids)
    b = _fake_run(tmp_path / "b", "B", {"ssim": rng.normal(0.6, 0.1, 28)}, ids[2:])
    row = compare([a, b], features=lambda *args: None).set_index("metric").loc["ssim"]
    assert (row["n"], row["n_only_a"], row["n_only_b"]) == (28, 2, 0)
    assert row["test"] == f"sign-flip {paired.DRAWS} draws"
    assert row["p"] < 0.01 and row["ci_low"] > 0


def test_set_level_paired_bootstrap(tmp_path):
    """FVD compared on per-video clip features: the point values are FDs of those features, the interval
    contains the difference, and a real shift of B's features is detected."""
    rng = np.random.default_rng(1)
    ids = [f"v{i}" for i in range(24)]
    a = _fake_run(tmp_path / "a", "A", {"ssim": rng.normal(0.5, 0.1, 24)}, ids)
    b = _fake_run(tmp_path / "b", "B", {"ssim": rng.normal(0.5, 0.1, 24)}, ids)
    gt = [rng.normal(size=(4, 3)) for _ in ids]
    feats = {"A": [(g + rng.normal(scale=0.3, size=g.shape), g) for g in gt],
             "B": [(g + 1.5 + rng.normal(scale=0.3, size=g.shape), g) for g in gt]}
    frame = compare([a, b], features=lambda run, col, vids: feats[run.name], resamples=200)
    row = frame.set_index("metric").loc["fvd"]
    fd_a = fd_from_features(np.concatenate([f[0] for f in feats["A"]]), np.concatenate(gt), method="scipy")
    fd_b = fd_from_features(np.concatenate([f[0] for f in feats["B"]]), np.concatenate(gt), method="scipy")
    assert row["mean_a"] == pytest.approx(fd_a, rel=1e-9) and row["diff"] == pytest.approx(fd_b - fd_a, rel=1e-9)
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] and row["ci_low"] > 0
    assert row["p"] < 0.01
    assert np.isfinite(frame["p_holm"]).all()


def test_cli_compare_writes_csv_and_rejects_bad_input(tmp_path, capsys):
    assert main(["compare", str(BOARD / "static"), str(BOARD / "m2p"), "--out", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    # 4 videos (fewer where a column is undefined on one): the floor is 2 / 2^n, at least 0.125
    floor = re.search(r"smallest possible sign-flip p is ([0-9.]+)", shown)
    assert "m2p vs static" in shown and floor and float(floor.group(1)) >= 0.125
    # one row per aggregate column both runs report, as the Python function returns them
    assert len(pd.read_csv(tmp_path / "compare.csv")) == len(evalkit.compare(BOARD / "static", BOARD / "m2p")) > 8
    assert main(["compare", str(BOARD / "static")]) == 2
    assert main(["compare", str(BOARD / "static"), str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    other = tmp_path / "other"
    shutil.copytree(BOARD / "m2p", other)
    record = json.loads((other / "results.json").read_text())
    record["aggregate"][0]["preset"] = "disco"
    (other / "results.json").write_text(json.dumps(record))
    assert main(["compare", str(BOARD / "static"), str(other)]) == 2
    assert "not comparable" in capsys.readouterr().err


def test_leaderboard_decisions_from_committed_runs(tmp_path):
    """Each model vs its control (static: appearance, shuffled-music: sync) as evalkit compare gives it, and
    the board's MDD row the median of the models' MDDs; `leaderboard build` writes the file."""
    from evalkit.leaderboard import build
    from evalkit.stats.decisions import BOARD_ROW, decisions

    frame = decisions(BOARD)
    row = frame[(frame["model"] == "m2p") & (frame["metric"] == "ssim")].iloc[0]
    ref = compare([BOARD / "static", BOARD / "m2p"]).set_index("metric").loc["ssim"]
    assert row["control"] == "static" and row["diff"] == pytest.approx(ref["diff"], abs=1e-12)
    assert row["p"] == ref["p"]
    sync = frame[(frame["model"] == "m2p") & (frame["metric"] == "beat_align")].iloc[0]
    assert sync["control"] == "shuffled-music"
    ssim = frame[(frame["metric"] == "ssim") & (frame["model"] != BOARD_ROW)]
    board = frame[(frame["model"] == BOARD_ROW) & (frame["metric"] == "ssim")].iloc[0]
    assert board["mdd"] == pytest.approx(ssim["mdd"].median(), rel=1e-12)
    assert "static" not in set(ssim["model"])  # a control is not compared with itself
    shutil.copytree(BOARD.parents[1], tmp_path / "lb")
    build("synth-test", tmp_path / "lb")
    written = pd.read_csv(tmp_path / "lb" / "decisions" / "synth-test.csv")
    assert len(written) == len(frame) and list(written.columns[:4]) == ["model", "metric", "control", "n"]
