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
