"""Smaller rooms (issue 27): the files split for being too large stay small — a guard against growing back.
The limits are the issue's: the FVD class file at most 300 lines, each leaderboard module at most 200, the
execution module (workers, devices, ranks) at most 350."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"evalkit/metrics/fvd.py": 300, "evalkit/execution.py": 350,
          **{f"evalkit/leaderboard/{p.name}": 200 for p in sorted((ROOT / "evalkit/leaderboard").glob("*.py"))}}


@pytest.mark.parametrize("rel", sorted(LIMITS))
def test_file_stays_small(rel):
    lines = len((ROOT / rel).read_text(encoding="utf-8").splitlines())
    assert lines <= LIMITS[rel], f"{rel}: {lines} lines > {LIMITS[rel]}"
