"""QA regressions for MNVH / Ledger-SPT found by driving the formulas like a user."""

from __future__ import annotations

import numpy as np
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
