"""The CLI notes dates whose spacing disagrees with the periods per year.

Monthly prices run by ``pyxl backtest`` with the default 252 bars a year earned 1/21 of
their cash interest per bar and showed a CAGR over (T - 1) / 252 "years", without a word;
``pyxl scenarios`` on daily returns with its default 12 periods converted the annual
targets as monthly.  Both now print one note naming the option and the value that fits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.mnvh import frequency_note


@pytest.mark.parametrize("freq, ppy, want", [
    ("B", 252, None), ("D", 252, None), ("D", 365, None), ("W-FRI", 52, None),
    ("ME", 12, None), ("W-FRI", 252, 52), ("ME", 252, 12), ("QE", 252, 4), ("YE", 12, 1),
    ("B", 12, 252),
])
def test_frequency_note(freq, ppy, want):
    idx = pd.date_range("2010-01-01", periods=60, freq=freq)
    note = frequency_note(idx, ppy)
    if want is None:
        assert note is None
    else:
        assert note.endswith(f"give --periods-per-year {want}"), note
    assert frequency_note(pd.RangeIndex(60), ppy) is None  # no dates, no note


def _prices(freq: str, T: int = 80, N: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(4))
    p = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    idx = pd.date_range("2012-01-31", periods=T, freq=freq, name="Date")
    return pd.DataFrame(p, index=idx, columns=[f"S{i}" for i in range(N)])


def test_backtest_notes_monthly_prices(tmp_path, capsys):
    _prices("ME").to_csv(tmp_path / "m.csv")
    assert main(["backtest", str(tmp_path / "m.csv"), "--no-xlsx", "-o",
                 str(tmp_path / "o1")]) == 0
    assert "give --periods-per-year 12" in capsys.readouterr().err
    assert main(["backtest", str(tmp_path / "m.csv"), "--no-xlsx", "--periods-per-year",
                 "12", "-o", str(tmp_path / "o2")]) == 0
    assert "periods-per-year" not in capsys.readouterr().err


def test_scenarios_notes_daily_returns(tmp_path, capsys):
    r = _prices("B", T=300).pct_change().dropna()
    r.to_csv(tmp_path / "r.csv")
    mu = pd.DataFrame([np.full(4, 0.05)], columns=r.columns)
    mu.to_csv(tmp_path / "mu.csv", index=False)
    pd.DataFrame(np.eye(4) * 0.04, index=r.columns, columns=r.columns).to_csv(
        tmp_path / "cov.csv")
    args = ["scenarios", "--returns", str(tmp_path / "r.csv"), "--mu", str(tmp_path / "mu.csv"),
            "--cov", str(tmp_path / "cov.csv"), "--paths", "16", "--summary",
            str(tmp_path / "s.csv")]
    assert main(args) == 0
    assert "r.csv: the dates are 1 days apart (median), daily bars" in capsys.readouterr().err
    assert main([*args, "--periods", "252"]) == 0
    assert "give --periods" not in capsys.readouterr().err


@pytest.mark.parametrize("ppy", [0, -12])
def test_no_note_for_a_periods_per_year_the_engine_refuses(tmp_path, capsys, ppy):
    """``--periods-per-year 0`` raised ZeroDivisionError in the note (an 'unexpected
    error'); the note now stays out of it and the engine names the option."""
    idx = pd.date_range("2010-01-31", periods=40, freq="ME")
    assert frequency_note(idx, ppy) is None
    _prices("ME").to_csv(tmp_path / "m.csv")
    assert main(["backtest", str(tmp_path / "m.csv"), "--no-xlsx", "--periods-per-year",
                 str(ppy), "-o", str(tmp_path / "o")]) == 2
    # under the option typed (before 2026-11-24 the core's name, periods_per_year)
    assert capsys.readouterr().err.startswith(
        "pyxl: --periods-per-year: must be a positive integer")
