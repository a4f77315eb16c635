"""Kelly report (pyxl demo section) and ``pyxl kelly`` CLI on the bundled data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.core import kelly as K
from pyxl.data import load_sp500_index
from pyxl.reports import kelly as R


def test_month_end_mask():
    dates = pd.to_datetime(["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-28",
                            "2020-03-02"])
    # returns are dated dates[1:]: Jan 31 and Feb 28 are month ends; Mar 2 is the last row
    np.testing.assert_array_equal(R.month_end_mask(pd.DatetimeIndex(dates)),
                                  [True, False, True, True])


def test_run_demo_writes_consistent_files(tmp_path):
    files = R.run_demo(tmp_path)
    names = {f.name for f in files}
    assert {"growth_vs_leverage.png", "growth_vs_leverage.csv", "fractional_table.csv",
            "horizon.csv", "leverage_drift.csv", "summary.md"} <= names
    assert all(f.exists() and f.stat().st_size > 0 for f in files)
    prices = load_sp500_index()
    r, mu, sigma = R.estimate(prices)
    assert mu == pytest.approx(np.mean(np.diff(prices.to_numpy()) / prices.to_numpy()[:-1]) * 252)
    frac = pd.read_csv(tmp_path / "kelly" / "fractional_table.csv")
    n_star = K.kelly_leverage(mu, sigma, R.DEFAULT_RF)
    assert frac["leverage"].iloc[-1] == pytest.approx(n_star)
    curve = pd.read_csv(tmp_path / "kelly" / "growth_vs_leverage.csv")
    # the approximation and the exact daily-history growth agree near n = 1 and part at high n
    near1 = curve.iloc[(curve["leverage"] - 1).abs().argmin()]
    assert near1["approx"] == pytest.approx(near1["exact_daily_history"], abs=2e-3)
    drift = pd.read_csv(tmp_path / "kelly" / "leverage_drift.csv")
    daily = drift[(drift["rebalance"] == "daily") & (drift["target"] == 2.0)].iloc[0]
    # daily rebalancing realises the exact daily-history growth minus the fees (log drag)
    assert daily["realised_growth"] == pytest.approx(
        daily["exact_daily_history"] - daily["fees_per_year"], abs=2e-4)
    # the range is the drift before each day's trade back to 2 (after it, always 2.00)
    assert daily["max_leverage"] > 2.0 > daily["min_leverage"]
    monthly = drift[(drift["rebalance"] == "monthly") & (drift["target"] == 2.0)].iloc[0]
    assert monthly["turnover_per_year"] < daily["turnover_per_year"]
    assert monthly["max_leverage"] > 2.0 > monthly["min_leverage"]   # leverage drifts
    hor = pd.read_csv(tmp_path / "kelly" / "horizon.csv")
    row = hor[(hor["strategy"] == "full Kelly") & (hor["versus"] == "cash")].iloc[0]
    assert row["years"] == pytest.approx(K.horizon_years(mu, sigma, R.DEFAULT_RF))
    assert "Kelly leverage n*" in (tmp_path / "kelly" / "summary.md").read_text()


def test_cli_commands(capsys, tmp_path):
    assert main(["kelly", "leverage", "0.085", "0.182", "0.01"]) == 0
    assert "2.2642" in capsys.readouterr().out
    assert main(["kelly", "horizon", "0.041", "0.18", "0"]) == 0
    assert "208." in capsys.readouterr().out
    assert main(["kelly", "horizon", "0.0412", "0.18", "0", "--leverage", "5"]) == 2
    assert "never out-grows" in capsys.readouterr().err
    assert main(["kelly", "leverage", "0.085", "0", "0.01"]) == 2
    assert "sigma: must be > 0" in capsys.readouterr().err
    assert main(["kelly", "table", "0.085", "0.182", "0"]) == 0
    assert "0.1250" in capsys.readouterr().out
    assert main(["kelly", "growth", "0.085", "0.182", "0.01", "--n", "1", "3"]) == 0
    assert "ruin" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    scen = pd.DataFrame(rng.normal([0.01, 0.004], [0.06, 0.02], (40, 2)), columns=["A", "B"])
    scen.to_csv(tmp_path / "s.csv", index=False)
    assert main(["kelly", "scenario", str(tmp_path / "s.csv"), "--max-leverage", "3"]) == 0
    out = capsys.readouterr().out
    w = K.kelly_scenario(scen.to_numpy(), 0.0, 3.0)
    assert f"{w[0]:10.4f}" in out
    cov = pd.DataFrame([[0.04, 0.01], [0.01, 0.02]], columns=["A", "B"])
    cov.to_csv(tmp_path / "c.csv", index=False)
    assert main(["kelly", "weights", "--mu", "0.08", "0.06", "--cov", str(tmp_path / "c.csv"),
                 "--rf", "0.01"]) == 0
    assert "1.2857" in capsys.readouterr().out
    assert main(["kelly", "drift", "--targets", "2", "--start", "2000-01-01",
                 "--csv", str(tmp_path / "d.csv")]) == 0
    d = pd.read_csv(tmp_path / "d.csv")
    assert bool(d.loc[d["rebalance"].str.startswith("never"), "ruined"].iloc[0])
    assert math.isinf(float(d.loc[d["rebalance"].str.startswith("never"),
                                  "realised_growth"].iloc[0]))
