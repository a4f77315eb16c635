"""QA regressions for MNVH / Ledger-SPT found by driving the formulas like a user."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range

from pyxl.core.metrics import performance_metrics


def _prices(T=300, N=3, seed=0):
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.015, (T, N)), axis=0))


def test_turnover_of_a_ruined_run_is_not_negative():
    # NAV goes through zero (insolvent): mean(NAV) < 0 made turnover negative.
    nav = np.array([100.0, 80.0, 10.0, -500.0, -500.0, -500.0])
    traded = np.array([0.0, 50.0, 50.0, 50.0, 0.0, 0.0])
    m = performance_metrics(nav, periods_per_year=252, traded_notional=traded)
    alive = nav[nav > 0]
    assert m["turnover"] == 150.0 / alive.mean() / (5 / 252)
    assert m["turnover"] > 0


def test_formula_ruined_backtest_reports_positive_turnover(xl):
    out = xl("MNVH_BACKTEST", excel_range(_prices()), 0.9, 1e9)
    table = {row[0]: row[1] for row in out}
    assert table["Final NAV"] < 0  # beta 1e9 without a gross cap: the book is insolvent
    assert table["CAGR"] == -1.0
    assert table["Turnover (x NAV per year)"] > 0


@pytest.mark.parametrize("fee_rate, half_spread", [(1.5, 0.0001), (5.0, 0.0), (0.5, 0.5)])
def test_backtest_cost_of_100_percent_or_more_is_an_input_error(xl, fee_rate, half_spread):
    # fee_rate 5 (meant as 5 bp) bankrupted the book and showed CAGR -100 % as if valid.
    out = xl("MNVH_BACKTEST", excel_range(_prices()), 0.9, 35, "equal", fee_rate, half_spread)
    assert out == [[out[0][0]]] and out[0][0].startswith("#PyXL! fee_rate:"), out


def test_backtest_large_but_valid_cost_still_runs(xl):
    out = xl("MNVH_BACKTEST", excel_range(_prices()), 0.9, 35, "equal", 0.01, 0.001)
    assert out[0][0] == "Periods"
