"""The run report: `evalkit score --out` writes it, headless Chromium renders it, its numbers are the files'."""
from __future__ import annotations

import csv
import json
import re
import shutil

import numpy as np
import pytest

from browser import body_rows, check_of, header, load, needs_chromium, parse

VIDEOS = ("clip_a", "clip_b")
T, FPS, SIZE = 91, 30.0, 64


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two pred/gt pairs with click-track music, scored by the real CLI (pose: the synthetic track of
    test_beat_align, so no pose model runs)."""
    import evalkit.pose
    from evalkit.cli import main
    from evalkit.io.video import write_video
    from test_beat_align import synthetic_track
    from test_beats import click_track

    root = tmp_path_factory.mktemp("run")
    samples, _ = click_track(120.0, T / FPS, sr=44100)
    rng = np.random.default_rng(0)
    for k, name in enumerate(VIDEOS):
        gt = rng.integers(0, 256, (T, SIZE, SIZE, 3), dtype=np.uint8)
        pred = np.clip(gt.astype(int) + rng.integers(-20 * (k + 1), 20 * (k + 1), gt.shape), 0, 255).astype(np.uint8)
        write_video(root / "gt" / f"{name}.mp4", gt, FPS, samples.T, 44100)
        write_video(root / "pred" / f"{name}.mp4", pred, FPS, samples.T, 44100)
    track = synthetic_track()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evalkit.pose, "extract", lambda clip, backend=None, **kw: track)
        code = main(["score", "--pred", str(root / "pred"), "--gt", str(root / "gt"), "-m",
                     "ssim,psnr,l1,beat_align", "--out", str(root / "out")])
    assert code == 0
    return root / "out"


def _per_video(run):
    with open(run / "per_video.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_score_out_writes_the_report_and_no_report_opts_out(run_dir, tmp_path):
    from evalkit.cli import main

    assert (run_dir / "report.html").stat().st_size > 10_000  # written by `score --out` by default
    page = parse((run_dir / "report.html").read_text())
    assert {"results", "per-video", "prov-weights", "prov-versions"} <= set(page.tables)
    record = json.loads((run_dir / "results.json").read_text())
    versions = {cells[0][0]["data-v"]: cells[1][0]["data-v"] for cells in body_rows(page.tables["prov-versions"])}
    assert versions == record["versions"]  # provenance is results.json's, not this interpreter's
    shown = {cells[1][0]["data-v"] for cells in body_rows(page.tables["prov-weights"])}
    hashes = set(re.findall(r'"\w*sha256": "([0-9a-f]{64})"', json.dumps(record["metrics"])))
    assert shown == hashes  # every weight / model sha256 the metrics recorded (none here: no network metric)
    out = tmp_path / "again"
    assert main(["score", "--pred", str(run_dir.parent / "pred"), "--gt", str(run_dir.parent / "gt"), "-m", "l1",
                 "--out", str(out), "--no-report"]) == 0
    assert (out / "results.json").is_file() and not (out / "report.html").exists()


def test_report_command_refuses_a_folder_without_results(tmp_path, capsys):
    from evalkit.cli import main

    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no results.json" in err[0] and str(tmp_path) in err[0]


def test_report_says_when_the_videos_are_gone(run_dir, tmp_path):
    from evalkit.report.run import write_report

    record = json.loads((run_dir / "results.json").read_text())
    away = tmp_path / "pred-away"
    shutil.move(str(run_dir.parent / "pred"), str(away))  # the run's predictions deleted after scoring
    try:
        text = write_report(run_dir, tmp_path / "r.html").read_text()
    finally:
        shutil.move(str(away), str(run_dir.parent / "pred"))
    assert text.count("videos not available") == len(VIDEOS) == record["counts"]["videos"]
    assert "<img" not in text.split("<h2>Videos</h2>")[1]  # no frames, no beat plots, no broken images


@needs_chromium
def test_chromium_renders_the_report_with_the_files_numbers(run_dir):
    record = json.loads((run_dir / "results.json").read_text())
    dom, console = load(run_dir / "report.html")
    assert console == []  # no console message and no uncaught error
    check = check_of(dom)
    # per video: a pred|gt strip and a beat plot; every image decoded in the browser
    assert check["errors"] == [] and check["images"] == 2 * len(VIDEOS) and check["loaded"] == check["images"]
    page = parse(dom)

    results = page.tables["results"]
    cols = header(results)
    assert cols[:4] == ["metric", "preset", "↑/↓", "value"]
    rows = body_rows(results)
    assert len(rows) == len(record["aggregate"])
    for cells, agg in zip(rows, record["aggregate"]):
        v = {c: attrs.get("data-v") for c, (attrs, _) in zip(cols, cells)}
        name = agg["column"] if agg["column"] == agg["metric"] else f"{agg['metric']}:{agg['column']}"
        assert v["metric"] == name and v["preset"] == agg["preset"]
        assert float(v["value"]) == agg["value"]  # exact: the page carries repr() of the JSON float
        assert v["N videos"] == str(agg["n_videos"]) and v["failed"] == str(agg["n_failed"])
        if agg["ci_low"] is not None:
            assert float(v["CI low"]) == agg["ci_low"] and float(v["CI high"]) == agg["ci_high"]
            assert agg["ci_low"] <= agg["value"] <= agg["ci_high"]
    chance = {cells[0][0]["data-v"]: cells[cols.index("chance (null)")][0]["data-v"] for cells in rows}
    null = next(a for a in record["aggregate"] if a["column"] == "beat_align_null")
    assert float(chance["beat_align"]) == null["value"]  # BeatAlign read against its null

    csv_rows = _per_video(run_dir)
    per_video = page.tables["per-video"]
    pv_cols = header(per_video)
    assert pv_cols == list(csv_rows[0])
    got = [{c: attrs["data-v"] for c, (attrs, _) in zip(pv_cols, cells)} for cells in body_rows(per_video)]
    assert got == csv_rows  # every cell, as the CSV's text


@needs_chromium
def test_chromium_sorts_the_per_video_table(run_dir):
    csv_rows = _per_video(run_dir)
    for direction in ("asc", "desc"):
        dom, console = load(run_dir / "report.html", f"sort=per-video:l1:{direction}")
        assert console == []
        table = parse(dom).tables["per-video"]
        col = header(table).index("l1")
        shown = [float(cells[col][0]["data-v"]) for cells in body_rows(table)]
        expected = sorted((float(r["l1"]) for r in csv_rows), reverse=direction == "desc")
        assert shown == expected and len(set(shown)) == len(VIDEOS)  # distinct, so the order is tested


def test_compare_out_writes_a_comparison_page_with_the_csv_numbers(run_dir, tmp_path):
    from evalkit.cli import main

    other = tmp_path / "copy"
    shutil.copytree(run_dir, other)
    out = tmp_path / "cmp"
    assert main(["compare", str(run_dir), str(other), "--out", str(out), "--resamples", "100"]) == 0
    with open(out / "compare.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = parse((out / "compare.html").read_text()).tables["compare-0"]
    cols = header(table)
    for cells, row in zip(body_rows(table), rows, strict=True):
        shown = {c: attrs.get("data-v") for c, (attrs, _) in zip(cols, cells)}
        assert all(shown[c] == row[c] for c in cols if c in row)
        assert float(row["diff"] or 0) == 0.0  # a run against its own copy
