"""The comparison page of ``evalkit compare … --out DIR``: ``DIR/compare.html`` from ``DIR/compare.csv``."""
from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.report.html import cell, esc, page, table, write_page
from evalkit.report.site import ALPHA, read_csv

SHOWN = ["metric", "direction", "preset", "n", "mean_a", "mean_b", "diff", "ci_low", "ci_high", "p", "p_holm", "test"]


def _significant(row: dict) -> bool:
    try:
        return float(row["p_holm"]) < ALPHA
    except (KeyError, ValueError):
        return False


def comparison_page(csv_path: Path) -> str:
    columns, rows = read_csv(csv_path)
    missing = [c for c in SHOWN + ["run_a", "run_b"] if c not in columns]
    if missing:
        raise EvalkitError(f"has no column '{missing[0]}'", path=csv_path, hint="re-run `evalkit compare --out`")
    pairs: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        pairs.setdefault((r["run_a"], r["run_b"]), []).append(r)
    body = ["<h1>evalkit comparison</h1>",
            f'<p class="note">Paired differences B − A over the videos both runs scored, from {esc(csv_path.name)}. '
            f'<span class="sig">*</span>: Holm-corrected p &lt; {ALPHA}. Click a header to sort.</p>']
    for k, ((a, b), part) in enumerate(pairs.items()):
        trs = ["<tr>" + "".join(cell(r[c], cls="t" if c in ("metric", "direction", "preset", "test") else "")
                                for c in SHOWN)
               + (f'<td data-v="1"><span class="sig">*</span></td>' if _significant(r) else '<td data-v="0"></td>')
               + "</tr>" for r in part]
        only = part[0]
        body += [f"<h2>{esc(b)} vs {esc(a)} (control)</h2>",
                 f'<p class="note">{esc(only.get("n_only_a", "0"))} videos only in {esc(a)}, '
                 f'{esc(only.get("n_only_b", "0"))} only in {esc(b)}</p>',
                 table(f"compare-{k}", SHOWN + ["sig."], trs)]
    return page("evalkit comparison", "\n".join(body))


def write_comparison(out_dir: str | Path) -> Path:
    """Write ``out_dir/compare.html`` from the ``compare.csv`` there."""
    csv_path = Path(out_dir) / "compare.csv"
    if not csv_path.is_file():
        raise EvalkitError("has no compare.csv", path=out_dir, hint="run `evalkit compare RUN_A RUN_B --out DIR`")
    return write_page(Path(out_dir) / "compare.html", comparison_page(csv_path))
