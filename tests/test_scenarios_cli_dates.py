"""``pyxl scenarios`` reads a returns CSV oldest first, as ``pyxl backtest`` reads prices.

A file written newest first (as many downloads come) used to be bootstrapped as it
stood, while ``generate()`` refuses such a DataFrame and ``pyxl backtest`` reverses prices.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.cli import main
from pyxl.commands.scenarios import oldest_first
from pyxl.errors import InputError


def _files(tmp_path, order):
    idx = pd.date_range("2015-01-31", periods=60, freq="ME")
    rng = np.random.default_rng(np.random.SeedSequence(4))
    R = pd.DataFrame(0.01 * rng.standard_normal((60, 2)), index=idx, columns=["A", "B"])
    R.index.name = "Date"
    R = R.iloc[::-1] if order == "newest" else R
    R.to_csv(tmp_path / f"{order}.csv")
    (tmp_path / "mu.csv").write_text("A,B\n0.05,0.04\n")
    (tmp_path / "cov.csv").write_text(",A,B\nA,0.02,0.001\nB,0.001,0.03\n")
    return tmp_path / f"{order}.csv"


def _summary(tmp_path, order) -> str:
    out = tmp_path / f"s_{order}.csv"
    rc = main(["scenarios", "--returns", str(_files(tmp_path, order)), "--mu",
               str(tmp_path / "mu.csv"), "--cov", str(tmp_path / "cov.csv"), "--paths", "16",
               "--block", "3", "--summary", str(out)])
    assert rc == 0
    return out.read_text("utf-8-sig")


def test_newest_first_file_gives_the_oldest_first_result(tmp_path, capsys):
    fwd = _summary(tmp_path, "oldest")
    rev = _summary(tmp_path, "newest")
    assert rev == fwd
    assert "newest.csv: dates are newest first; read oldest first" in capsys.readouterr().err


def test_oldest_first_rules():
    R = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(oldest_first(R, ["20240102", "20240103", "20240104"], "f"), R)
    np.testing.assert_array_equal(oldest_first(R, ["2024年1月4日", "2024年1月3日", "2024年1月2日"],
                                               "f"), R[::-1])
    np.testing.assert_array_equal(oldest_first(R, ["x", "y", "z"], "f"), R)  # not dates
    np.testing.assert_array_equal(oldest_first(R, [], "f"), R)
    with pytest.raises(InputError, match=r"^--returns: f: dates are not in order; sort by date"):
        oldest_first(R, ["2024-01-02", "2024-01-04", "2024-01-03"], "f")


def test_formula_reads_a_dated_range_oldest_first():
    """=MBB_RECOLOR over a returns range with its date column (dates or yyyymmdd numbers)
    gives the same scenarios for the range newest first; unordered dates are refused."""
    import datetime as dt

    from pyxl.xl import winstub

    winstub.load_udf_module()
    rng = np.random.default_rng(np.random.SeedSequence(3))
    dates = [dt.datetime(2015, 1, 31) + dt.timedelta(days=30 * i) for i in range(60)]
    vals = 0.01 * rng.standard_normal((60, 2))
    fwd = (("Date", "A", "B"),) + tuple((d, float(a), float(b))
                                        for d, (a, b) in zip(dates, vals, strict=True))
    args = (((0.05, 0.04),), ((0.02, 0.001), (0.001, 0.03)), 3, 16)
    ref = winstub.call_formula("MBB_RECOLOR", fwd, *args)
    assert winstub.call_formula("MBB_RECOLOR", (fwd[0],) + fwd[1:][::-1], *args) == ref
    num = (fwd[0],) + tuple((float(r[0].strftime("%Y%m%d")),) + r[1:] for r in fwd[1:])
    assert winstub.call_formula("MBB_RECOLOR", (num[0],) + num[1:][::-1], *args) == ref
    shuffled = (fwd[0],) + fwd[1:30] + fwd[40:] + fwd[30:40]
    out = winstub.call_formula("MBB_RECOLOR", shuffled, *args)
    assert out[0][0] == ("#PyXL! returns: dates in the first column are not in order; "
                         "sort the range by date, oldest first")
