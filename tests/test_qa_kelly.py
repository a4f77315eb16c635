"""QA regressions for the Kelly toolkit found by using the formulas and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyxl.core.kelly as K
from pyxl.cli import main
from pyxl.errors import InputError


@pytest.mark.parametrize("mu, sigma, rf, fraction, arg", [
    (0.085, 0.182, 0.01, -1.0, "fraction"),
    (0.085, 0.182, 0.01, 0.0, "fraction"),
    (math.nan, 0.182, 0.01, 1.0, "mu"),
    (math.inf, 0.182, 0.01, 1.0, "mu"),
    (0.085, 0.182, math.nan, 1.0, "rf"),
    (1e300, 1e-160, 0.0, 1.0, "sigma"),  # overflows to inf
])
def test_kelly_leverage_core_rejects_what_the_formula_rejects(mu, sigma, rf, fraction, arg):
    # The CLI calls the core directly: it printed "Kelly leverage nan" / "-2.2642".
    with pytest.raises(InputError) as exc:
        K.kelly_leverage(mu, sigma, rf, fraction)
    assert exc.value.arg == arg


def test_kelly_leverage_core_value():
    assert K.kelly_leverage(0.085, 0.182, 0.01, 0.5) == pytest.approx(0.5 * 0.075 / 0.182**2,
                                                                       rel=1e-15)


def test_formula_overflow_is_an_error_line(xl):
    out = xl("KELLY_LEVERAGE", 1e300, 1e-160, 0.0)
    assert str(out[0][0]).startswith("#PyXL! sigma:"), out


def test_cli_leverage_negative_fraction(capsys):
    assert main(["kelly", "leverage", "0.085", "0.182", "0.01", "--fraction", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyxl: fraction:"), err


@pytest.mark.parametrize("sub", ["weights", "scenario"])
def test_cli_text_csv_is_one_line(tmp_path, capsys, sub):
    # pandas' string dtype made np.issubdtype raise TypeError (a traceback).
    f = tmp_path / "text.csv"
    f.write_text("a,b,c\nx,y,z\n1,2,3\n")
    argv = (["kelly", "weights", "--mu", "0.08", "0.1", "0.1", "--cov", str(f), "--rf", "0.01"]
            if sub == "weights" else ["kelly", "scenario", str(f)])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pyxl: "), err


def test_cli_weights_with_label_column(tmp_path, capsys):
    f = tmp_path / "cov.csv"
    f.write_text("asset,A,B\nA,0.04,0.01\nB,0.01,0.09\n")
    assert main(["kelly", "weights", "--mu", "0.08", "0.1", "--cov", str(f), "--rf", "0.01"]) == 0
    out = capsys.readouterr().out
    w = np.linalg.solve([[0.04, 0.01], [0.01, 0.09]], [0.07, 0.09])
    assert f"{w[0]:10.4f}" in out and f"{w[1]:10.4f}" in out


@pytest.mark.parametrize("flag", ["--start", "--end"])
def test_cli_drift_bad_date_is_one_line(capsys, flag):
    assert main(["kelly", "drift", flag, "notadate"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"pyxl: {flag}:"), err
