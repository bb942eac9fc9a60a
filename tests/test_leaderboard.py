"""Leaderboards: build is byte-reproducible from committed results; check catches planted drift (exit 1, new (old))."""
import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.cli import main
from evalkit.generators import GENERATORS
from evalkit.leaderboard import BOARDS, NOT_RUN, build, compare, markdown, read_board, table

METRICS = [  # (metric, column, preset, direction, has CI)
    ("ssim", "ssim", "clean", "↑", True),
    ("fvd", "fvd", "tf", "↓", True),
    ("beat_align", "beat_align", "bailando", "↑", False),
    ("beat_align", "beat_align_motion_to_music", "bailando", "↑", False),
]


def record(model: str, values: dict, n: int = 4, created: str = "2025-03-01T10:00:00+00:00") -> dict:
    rows = []
    for metric, column, preset, direction, has_ci in METRICS:
        v = values[column]
        rows.append({"metric": metric, "column": column, "preset": preset, "direction": direction, "value": v,
                     "ci_low": v - 0.01 if has_ci else None, "ci_high": v + 0.01 if has_ci else None,
                     "n_videos": n, "n_failed": 0, "frames": 480, "reference": "x"})
    return {"schema": 1, "created": created, "settings": {"metrics": sorted({m[0] for m in METRICS})},
            "aggregate": rows, "run": {"model": model, "version": "1", "pose_backend": "blazepose", "seed": 0}}


BASE = {
    "static": {"ssim": 0.80, "fvd": 900.0, "beat_align": 0.10, "beat_align_motion_to_music": 0.0},
    "gt-pose": {"ssim": 0.99, "fvd": 10.0, "beat_align": 0.60, "beat_align_motion_to_music": 0.5},
}


def write(folder: Path, model: str, rec: dict) -> None:
    (folder / model).mkdir(parents=True, exist_ok=True)
    (folder / model / "results.json").write_text(json.dumps(rec))


@pytest.fixture
def boards(tmp_path):
    d = tmp_path / "leaderboards"
    for model, values in BASE.items():
        write(d / "results" / "synth-test", model, record(model, values))
    write(d / "results" / "wild", "static", record("static", BASE["static"], n=3))
    for split in BOARDS:  # every registered board, as `leaderboard build` without --split writes them
        build(split, d)
    return d


def test_build_twice_is_byte_identical(boards):
    first = {p.name: p.read_bytes() for p in boards.glob("*.csv")}
    # a results file rewritten with the same content (new mtime, other key order) changes nothing
    path = boards / "results" / "synth-test" / "static" / "results.json"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=3, sort_keys=True))
    assert main(["leaderboard", "build", "--dir", str(boards)]) == 0
    assert {p.name: p.read_bytes() for p in boards.glob("*.csv")} == first
    assert set(first) == {"synth-test.csv", "synth-bench.csv", "wild.csv", "aistpp-test.csv"}


def test_board_columns_and_rows(boards):
    rows = read_board(boards / "synth-test.csv")
    head = rows[0]
    assert head[:4] == ["model", "version", "pose backend", "date"]
    assert "ssim (clean) ↑" in head and "fvd (tf) ↓" in head  # metric, preset and direction
    assert {"ssim (clean) ↑ CI low", "ssim (clean) ↑ CI high", "ssim (clean) ↑ N"} <= set(head)
    by_model = {r[0]: dict(zip(head, r)) for r in rows[1:]}
    assert by_model["static"]["ssim (clean) ↑"] == "0.8000"
    assert by_model["static"]["ssim (clean) ↑ CI low"] == "0.7900" and by_model["static"]["ssim (clean) ↑ N"] == "4"
    assert by_model["static"]["beat_align (bailando) ↑ CI low"] == ""  # the metric gives no interval
    assert by_model["static"]["date"] == "2025-03-01" and by_model["static"]["pose backend"] == "blazepose"
    # registered generators without results show "not run"; rows come in registry order
    assert by_model["m2p"]["ssim (clean) ↑"] == NOT_RUN
    assert [r[0] for r in rows[1:]] == list(GENERATORS)
    aist = read_board(boards / "aistpp-test.csv")
    assert aist[0] == head  # every board shares one layout
    assert all(r[4] == NOT_RUN for r in aist[1:])


def test_planted_drift_fails_check(boards, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    drifted = dict(BASE["static"], ssim=0.8123)  # well beyond SSIM's 5e-4 tolerance
    write(fresh, "static", record("static", drifted, created="2026-01-01T00:00:00+00:00"))
    code = main(["leaderboard", "check", "--split", "synth-test", "--results", str(fresh), "--dir", str(boards)])
    out = capsys.readouterr().out
    assert code == 1
    assert "ssim (clean) ↑: 0.8123 (0.8000)" in out  # new (old)
    assert "ssim (clean) ↑ CI low: 0.8023 (0.7900)" in out
    assert "fvd" not in out  # unchanged cells are not listed


def test_check_passes_within_tolerance_and_flags_count_changes(boards, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    write(fresh, "static", record("static", dict(BASE["static"], ssim=0.80004, fvd=900.3)))
    write(fresh, "gt-pose", record("gt-pose", BASE["gt-pose"]))
    args = ["leaderboard", "check", "--split", "synth-test", "--results", str(fresh), "--dir", str(boards)]
    assert main(args) == 0
    assert "no drift" in capsys.readouterr().out
    # a tighter tolerance from the command line turns the same difference into drift
    assert main(args + ["--tolerance", "fvd=0.01"]) == 1
    assert "fvd (tf) ↓: 900.3000 (900.0000)" in capsys.readouterr().out
    write(fresh, "gt-pose", record("gt-pose", BASE["gt-pose"], n=3))  # one video fewer scored: drift
    assert main(args) == 1
    assert "gt-pose" in capsys.readouterr().out


def test_hand_edited_board_is_reported(boards, tmp_path, capsys):
    csv_path = boards / "synth-test.csv"
    csv_path.write_text(csv_path.read_text().replace("0.8000", "0.8500", 1))
    fresh = tmp_path / "fresh"
    write(fresh, "static", record("static", BASE["static"]))
    code = main(["leaderboard", "check", "--split", "synth-test", "--results", str(fresh), "--dir", str(boards)])
    out = capsys.readouterr().out
    assert code == 1 and "never edit it by hand" in out


def test_compare_treats_missing_columns_and_rows_as_drift(boards):
    committed = table("synth-test", boards)
    fresh = [list(r) for r in committed]
    fresh[0] = fresh[0] + ["new_metric (x) ↑"]
    for r in fresh[1:]:
        r.append("1.0000" if r[1] else NOT_RUN)
    drifts = compare(committed, fresh)
    assert {d.column for d in drifts} == {"new_metric (x) ↑"}
    assert all(d.old == "(no column)" for d in drifts)


def test_markdown_rendering(boards):
    md = markdown(read_board(boards / "synth-test.csv"))
    lines = md.splitlines()
    assert lines[0].startswith("| model | version | pose backend | date | N | ssim (clean) ↑")
    assert any(line.startswith("| static | 1 | blazepose | 2025-03-01 | 4 | 0.8000 [0.7900, 0.8100]") for line in lines)
    assert any(line.startswith("| m2p |") and NOT_RUN in line for line in lines)


def test_bad_arguments_are_one_line_errors(boards, capsys):
    assert main(["leaderboard", "build", "--split", "nope", "--dir", str(boards)]) == 2
    assert main(["leaderboard", "check", "--split", "synth-test", "--results", str(boards), "--dir", str(boards),
                 "--tolerance", "ssim"]) == 2
    err = capsys.readouterr().err
    assert "unknown leaderboard split 'nope'" in err and "bad --tolerance 'ssim'" in err


def test_check_recomputes_committed_results(tmp_path, capsys):
    """End to end on a tiny SDGPip root with two cheap metrics: `leaderboard run` stores results, `check` re-runs
    the models with their committed protocol and finds no drift; a tampered committed number is found."""
    from evalkit.data.synth.pipeline import SynthConfig, generate
    from evalkit.leaderboard import run_board, store_run

    root = tmp_path / "sdgpip"
    generate(root, SynthConfig(train=1, test=2, seconds=2.0, size=32, fps=10.0, seed=5, maps=("rgb",)))
    boards = tmp_path / "lb"
    models = ["static"]  # the cheapest generator: this tests the check, not the baselines
    runs = run_board("synth-test", models, boards, root, tmp_path / "work", progress=False,
                     protocols={m: {"metrics": ["psnr", "l1"]} for m in models})
    for run_dir in runs.values():
        store_run(run_dir, "synth-test", boards)
    build("synth-test", boards)
    per_video = (boards / "results" / "synth-test" / "static" / "per_video.csv").read_text()
    assert str(tmp_path) not in per_video and "pred/" in per_video  # committed rows carry no machine paths
    args = ["leaderboard", "check", "--split", "synth-test", "--dir", str(boards), "--root", str(root),
            "--models", "static"]
    assert main(args) == 0, capsys.readouterr()
    assert "no drift (static within tolerance)" in capsys.readouterr().out
    path = boards / "results" / "synth-test" / "static" / "results.json"
    rec = json.loads(path.read_text())
    for row in rec["aggregate"]:
        if row["metric"] == "psnr":
            old, row["value"] = row["value"], row["value"] + 0.5
    path.write_text(json.dumps(rec))
    build("synth-test", boards)
    assert main(args) == 1
    assert f"psnr (clean) ↑: {old:.4f} ({old + 0.5:.4f})" in capsys.readouterr().out


def test_intervals_over_videos_from_per_video_rows(tmp_path):
    """Metrics without their own interval get a bootstrap over videos, when the aggregate is the (frame-weighted)
    mean of the per-video values; an aggregate of another kind gets none."""
    import pandas as pd

    from evalkit.leaderboard import load_entry

    rec = record("static", BASE["static"])
    per_video = pd.DataFrame({"video": ["a", "b", "c", "d"], "frames": [100, 100, 50, 50],
                              "ssim": [0.7, 0.9, 0.8, 0.6], "beat_align": [0.0, 0.2, 0.1, np.nan]})
    for row in rec["aggregate"]:
        row["ci_low"] = row["ci_high"] = None if row["metric"] != "fvd" else row["ci_low"]
        if row["column"] == "ssim":
            row["value"] = (0.7 * 100 + 0.9 * 100 + 0.8 * 50 + 0.6 * 50) / 300  # frame-weighted
        if row["column"] == "beat_align":
            row["value"] = 0.1  # plain mean of the defined values
        if row["column"] == "beat_align_motion_to_music":
            row["value"] = 0.123  # no per-video column: no interval
    write(tmp_path, "static", rec)
    per_video.to_csv(tmp_path / "static" / "per_video.csv", index=False)
    cells = {k[1]: v for k, v in load_entry(tmp_path / "static").cells.items()}
    lo, hi = cells["ssim"]["ci_low"], cells["ssim"]["ci_high"]
    assert 0.6 <= lo < cells["ssim"]["value"] < hi <= 0.9
    assert 0.0 <= cells["beat_align"]["ci_low"] < 0.1 < cells["beat_align"]["ci_high"] <= 0.2
    assert cells["beat_align_motion_to_music"]["ci_low"] is None
    assert cells["fvd"]["ci_low"] == pytest.approx(899.99)  # the metric's own interval is kept
    again = {k[1]: v for k, v in load_entry(tmp_path / "static").cells.items()}
    assert again["ssim"]["ci_low"] == lo  # seeded: the same interval every build
