"""evalkit power: MDD of the paired t-test checked by simulation, N needed, the per-run table, the CLI."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.cli import main
from evalkit.stats import power
from evalkit.stats.power_table import power_table
from evalkit.stats.runs import load_run

BOARD = Path(__file__).resolve().parents[1] / "leaderboards" / "results" / "synth-test"


@pytest.mark.parametrize("n", [6, 10, 20, 50])
def test_mdd_has_80_percent_power_by_simulation(n):
    """Normal differences with mean = MDD: the two-sided paired t-test rejects in 80 % of 20 000 samples
    (binomial SE 0.0028; tolerance 0.012 ~ 4 SE)."""
    sd, reps = 0.7, 20_000
    delta = power.mdd(sd, n)
    d = np.random.default_rng(n).normal(delta, sd, size=(reps, n))
    t = d.mean(1) / (d.std(1, ddof=1) / np.sqrt(n))
    rejected = np.abs(t) > stats.t.ppf(0.975, n - 1)
    assert abs(rejected.mean() - 0.80) < 0.012


def test_mdd_normal_approximation_and_scaling():
    assert power.mdd_normal(1.0, 100) == pytest.approx(2.8016 / 10, abs=1e-4)  # (1.95996 + 0.84162) σ/√n
    assert power.mdd(1.0, 200) == pytest.approx(power.mdd_normal(1.0, 200), rel=0.01)  # t ≈ normal at large n
    assert power.mdd(1.0, 10) > 1.1 * power.mdd_normal(1.0, 10)  # the t-test needs more at small n
    assert power.mdd(2.0, 30) == pytest.approx(2 * power.mdd(1.0, 30), rel=1e-9)  # linear in σ
    assert np.isnan(power.mdd(1.0, 1)) and np.isnan(power.mdd(0.0, 10))


@pytest.mark.parametrize("diff", [0.05, 0.3, 1.0])
def test_n_needed_is_the_first_n_with_enough_power(diff):
    n = power.n_needed(diff, 1.0)
    assert power.t_power(diff, 1.0, n) >= 0.8 > power.t_power(diff, 1.0, n - 1) or n == 2
    assert power.mdd(1.0, n) <= diff + 1e-9


def test_power_table_uses_paired_spread_of_per_video_csv():
    a, b = load_run(BOARD / "static"), load_run(BOARD / "m2p")
    frame = power_table(a, b, ns=(10, 100), diffs={"ssim": 0.01}).set_index("metric")
    d = pd.read_csv(BOARD / "m2p" / "per_video.csv")["ssim"] - pd.read_csv(BOARD / "static" / "per_video.csv")["ssim"]
    assert frame.loc["ssim", "sd"] == pytest.approx(d.std(ddof=1), rel=1e-12)
    assert frame.loc["ssim", "mdd_100"] == pytest.approx(power.mdd(d.std(ddof=1), 100), rel=1e-12)
    assert frame.loc["ssim", "n_needed"] == power.n_needed(0.01, d.std(ddof=1))
    assert np.isnan(frame.loc["lpips", "n_needed"])  # no difference given for it
    single = power_table(a).set_index("metric")
    assert single.loc["ssim", "sd"] == pytest.approx(pd.read_csv(BOARD / "static" / "per_video.csv")["ssim"].std(), rel=1e-12)


def test_cli_power(tmp_path, capsys):
    args = ["power", str(BOARD / "static"), str(BOARD / "m2p"), "--diff", "ssim=0.01", "--diff", "0.05",
            "--n", "10", "--n", "64", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "MDD N=64" in out and "cannot reach p < 0.05" in out
    # the floor names the smallest N a metric was defined on (a column no video defines, n = 0, is not one)
    smallest = int(pd.read_csv(tmp_path / "power.csv").query("n > 0")["n"].min())
    assert f"n = {smallest}: the exact sign-flip test" in out and "n = 0:" not in out
    frame = pd.read_csv(tmp_path / "power.csv").set_index("metric")
    assert frame.loc["ssim", "diff"] == 0.01 and frame.loc["lpips", "diff"] == 0.05
    assert main(["power", str(BOARD / "static"), "--diff", "ssim=abc"]) == 2
    assert main(["power", str(BOARD / "static"), "--n", "1"]) == 2
    assert "bad --diff" in capsys.readouterr().err
