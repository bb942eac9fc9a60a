"""The static leaderboard site: generated from the board CSVs, rendered by headless Chromium, equal to them."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from browser import body_rows, check_of, header, load, needs_chromium, parse

BOARDS = Path(__file__).resolve().parents[1] / "leaderboards"
META = ("model", "version", "pose backend", "date")


def _csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames), list(reader)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from evalkit.cli import main

    out = tmp_path_factory.mktemp("site")
    assert main(["leaderboard", "site", "--out", str(out), "--dir", str(BOARDS)]) == 0
    return out


def _cells(table) -> list[dict]:
    cols = header(table)
    return [dict(zip(cols, cells)) for cells in body_rows(table)]


def _check_board(page_dom: str, split: str) -> None:
    fields, rows = _csv(BOARDS / f"{split}.csv")
    labels = [c for c in fields if c not in META and not c.endswith((" CI low", " CI high", " N"))]
    table = parse(page_dom).tables["board"]
    assert header(table) == list(META) + labels
    shown = _cells(table)
    assert [c["model"][0]["data-v"] for c in shown] == [r["model"] for r in rows]
    for cells, row in zip(shown, rows):
        for key in META:
            assert cells[key][0]["data-v"] == row[key]
        for lab in labels:
            attrs, text = cells[lab]
            assert (attrs["data-v"], attrs["data-lo"], attrs["data-hi"], attrs["data-n"]) == (
                row[lab], row[f"{lab} CI low"], row[f"{lab} CI high"], row[f"{lab} N"])
            assert text.startswith(row[lab])  # the visible number is the CSV's text, not a re-rounding
            if row[f"{lab} CI low"]:
                assert f"[{row[f'{lab} CI low']}, {row[f'{lab} CI high']}]" in text and f"N={row[f'{lab} N']}" in text


def test_site_has_every_board_and_links_each_stored_run(site):
    boards = sorted(p.stem for p in BOARDS.glob("*.csv"))
    assert sorted(p.stem for p in site.glob("*.html")) == sorted(boards + ["index"])
    index = parse((site / "index.html").read_text())
    assert index.links == [f"{b}.html" for b in boards]
    for split in boards:
        page = parse((site / f"{split}.html").read_text())
        stored = sorted(p.parent.name for p in (BOARDS / "results" / split).glob("*/results.json"))
        links = sorted(link.split("/")[1] for link in page.links if link.endswith("report.html"))
        assert links == stored
        assert all((site / link).is_file() for link in page.links if link.endswith("report.html"))


def test_significance_markers_follow_the_decisions_file(tmp_path):
    """A two-row board whose decisions say one metric is significant (Holm p 0.01) and one is not (0.40)."""
    from evalkit.errors import EvalkitError
    from evalkit.report.site import build_site

    lab = "ssim (clean) ↑"
    cols = list(META) + [lab, f"{lab} CI low", f"{lab} CI high", f"{lab} N"]
    lab2 = "psnr (clean) ↑"
    cols += [lab2, f"{lab2} CI low", f"{lab2} CI high", f"{lab2} N"]
    rows = [["static", "1", "", "2026-12-07", "0.80", "0.70", "0.90", "40", "20.0", "19.0", "21.0", "40"],
            ["m", "1", "", "2026-12-07", "0.90", "0.85", "0.95", "40", "21.0", "20.0", "22.0", "40"]]
    board = tmp_path / "b"
    (board / "decisions").mkdir(parents=True)
    with open(board / "toy.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([cols] + rows)
    (board / "decisions" / "toy.csv").write_text(
        "model,metric,control,n,diff,ci_low,ci_high,p,p_holm,mdd\n"
        "m,ssim,static,40,0.10,0.05,0.15,0.005,0.01,0.03\n"
        "m,psnr,static,40,1.0,-0.5,2.5,0.20,0.40,1.5\n")
    build_site(board, tmp_path / "out")
    text = (tmp_path / "out" / "toy.html").read_text()
    cells = _cells(parse(text).tables["board"])
    assert [c["model"][0]["data-v"] for c in cells] == ["static", "m"]
    assert cells[1][lab][1].endswith("*") and cells[1][lab2][1].endswith("·")  # significant / decided, not
    assert cells[0][lab][1].endswith("C") and cells[0][lab2][1].endswith("C")  # the control
    assert text.count('class="sig"') == 1  # the one marker (the legend's span is class='sig')
    with open(board / "toy.csv", "w", newline="") as handle:  # a board missing its N column is refused
        csv.writer(handle).writerows([cols[:-1]] + [r[:-1] for r in rows])
    with pytest.raises(EvalkitError, match="psnr \\(clean\\) ↑ N"):
        build_site(board, tmp_path / "out2")


@needs_chromium
@pytest.mark.parametrize("split", ["synth-test", "wild"])
def test_chromium_renders_each_board_equal_to_its_csv(site, split):
    dom, console = load(site / f"{split}.html")
    assert console == []
    assert check_of(dom) == {"images": 0, "loaded": 0, "errors": []}
    _check_board(dom, split)


@needs_chromium
def test_chromium_sorts_a_board_and_opens_a_row_report(site):
    lab = "ssim (clean) ↑"
    dom, console = load(site / "synth-test.html", f"sort=board:{lab}:desc")
    assert console == []
    _, rows = _csv(BOARDS / "synth-test.csv")
    ran = sorted((float(r[lab]) for r in rows if r[lab] not in ("not run", "n/a")), reverse=True)
    shown = [c[lab][0]["data-v"] for c in _cells(parse(dom).tables["board"])]
    assert [float(v) for v in shown[:len(ran)]] == ran and set(shown[len(ran):]) <= {"not run", "n/a"}
    # the linked report of a stored run: its results table equals that run's results.json
    dom, console = load(site / "synth-test" / "m2p" / "report.html")
    assert console == [] and check_of(dom)["errors"] == []
    record = json.loads((BOARDS / "results" / "synth-test" / "m2p" / "results.json").read_text())
    values = [float(c["value"][0]["data-v"]) for c in _cells(parse(dom).tables["results"])]
    assert values == [a["value"] for a in record["aggregate"]]
    assert "videos not available" in dom  # the board keeps results only
    shown = {cells[1][0]["data-v"] for cells in body_rows(parse(dom).tables["prov-weights"])}
    hashes = set(re.findall(r'"\w*sha256": "([0-9a-f]{64})"', json.dumps(record["metrics"])))
    assert len(hashes) >= 5 and shown == hashes  # LPIPS, I3D, BlazePose: every sha256 the run recorded
