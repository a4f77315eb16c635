"""Performance metrics against hand computations, pandas and scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core import metrics as M
from pyxl.errors import InputError


def test_hand_computed_small_path():
    nav = np.array([100.0, 110.0, 99.0, 108.9, 120.0])
    r = np.array([0.1, -0.1, 0.1, 120.0 / 108.9 - 1])
    m = M.performance_metrics(nav, periods_per_year=4)
    assert m["periods"] == 4 and m["years"] == 1.0
    assert m["cagr"] == pytest.approx(0.2)  # one year, 100 -> 120
    assert m["total_return"] == pytest.approx(0.2)
    sd = math.sqrt(sum((x - r.mean()) ** 2 for x in r) / 3)
    assert m["ann_vol"] == pytest.approx(sd * 2)
    assert m["sharpe"] == pytest.approx(r.mean() / sd * 2)
    down = math.sqrt(0.01 / 4)
    assert m["sortino"] == pytest.approx(r.mean() / down * 2)
    assert m["max_drawdown"] == pytest.approx(-0.1)
    assert m["max_dd_duration"] == 2  # 99 and 108.9 are below the 110 peak
    assert m["hit_rate"] == pytest.approx(0.75)
    assert math.isnan(m["beta_bench"]) and math.isnan(m["fee_gross"])
    assert list(m) == list(M.METRICS)


def test_against_scipy_and_pandas():
    rng = np.random.default_rng(0)
    r = rng.standard_t(4, size=500) * 0.01 + 0.0004
    nav = 1e6 * np.concatenate([[1.0], np.cumprod(1 + r)])
    rb = 0.5 * r + rng.normal(0, 0.01, 500)
    bench = 3000 * np.concatenate([[1.0], np.cumprod(1 + rb)])
    m = M.performance_metrics(nav, benchmark=bench, rf=0.02)
    np.testing.assert_allclose(M.nav_returns(nav), r, rtol=1e-10, atol=1e-14)
    assert m["skew"] == pytest.approx(ss.skew(r, bias=False), rel=1e-9)
    assert m["kurtosis"] == pytest.approx(ss.kurtosis(r, fisher=True, bias=False), rel=1e-9)
    # pandas' skew/kurt are the same (Excel) estimators
    assert m["skew"] == pytest.approx(pd.Series(r).skew(), rel=1e-9)
    assert m["kurtosis"] == pytest.approx(pd.Series(r).kurt(), rel=1e-9)
    lr = ss.linregress(rb, r)
    assert m["beta_bench"] == pytest.approx(lr.slope, rel=1e-9)
    assert m["corr_bench"] == pytest.approx(lr.rvalue, rel=1e-9)
    ex = r - 0.02 / 252
    assert m["sharpe"] == pytest.approx(ex.mean() / r.std(ddof=1) * math.sqrt(252), rel=1e-10)
    assert m["cagr"] == pytest.approx((nav[-1] / nav[0]) ** (252 / 500) - 1, rel=1e-12)
    s = pd.Series(nav)
    assert m["max_drawdown"] == pytest.approx((s / s.cummax() - 1).min(), rel=1e-12)


def _dd_duration_bruteforce(nav):
    best = 0
    for i in range(len(nav)):
        peak = max(nav[: i + 1])
        j = i
        while j < len(nav) and nav[j] < peak:
            j += 1
        best = max(best, j - i)
    return best


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-0.2, 0.2), min_size=1, max_size=60))
def test_drawdown_properties(rets):
    nav = 100 * np.cumprod(np.r_[1.0, 1 + np.array(rets)])
    mdd, dur = M.max_drawdown(nav)
    assert -1 < mdd <= 0
    assert dur == _dd_duration_bruteforce(list(nav))
    # brute-force max drawdown over all (peak, trough) pairs
    ref = min(nav[j] / nav[: j + 1].max() - 1 for j in range(len(nav)))
    assert mdd == pytest.approx(ref, abs=1e-12)


def test_exposure_turnover_and_fee_gross():
    nav = np.array([100.0, 102.0, 101.0, 104.0])
    g = np.array([0.0, 50.0, 60.0, 52.0])
    ne = np.array([0.0, 5.0, -6.0, 2.0])
    tn = np.array([0.0, 50.0, 20.0, 30.0])
    m = M.performance_metrics(nav, periods_per_year=3, gross_exposure=g, net_exposure=ne,
                              traded_notional=tn, costs=1.5, gross_pnl=6.0)
    assert m["avg_gross"] == pytest.approx(np.mean(g / nav))
    assert m["avg_net"] == pytest.approx(np.mean(ne / nav))
    assert m["turnover"] == pytest.approx(100.0 / nav.mean() / 1.0)
    assert m["fee_gross"] == pytest.approx(0.25)
    m = M.performance_metrics(nav, costs=1.5, gross_pnl=-2.0)
    assert math.isnan(m["fee_gross"])


def test_ruin_and_tiny_samples():
    m = M.performance_metrics(np.array([100.0, 50.0, -10.0, 5.0]))
    assert m["cagr"] == -1.0
    np.testing.assert_allclose(M.nav_returns(np.array([100.0, 50.0, -10.0, 5.0])), [-0.5, -1.2])
    m = M.performance_metrics(np.array([100.0]))
    assert m["periods"] == 0 and math.isnan(m["sharpe"]) and math.isnan(m["cagr"])
    m = M.performance_metrics(np.array([100.0, 101.0]))
    assert m["cagr"] == pytest.approx(1.01**252 - 1)
    assert math.isnan(m["ann_vol"]) and math.isnan(m["skew"])
    with pytest.raises(InputError, match="nav: must start > 0"):
        M.performance_metrics(np.array([0.0, 1.0]))
    with pytest.raises(InputError, match="benchmark: has 2 rows"):
        M.performance_metrics(np.array([1.0, 1.1, 1.2]), benchmark=np.array([1.0, 2.0]))


def test_flat_nav_has_no_sharpe():
    m = M.performance_metrics(np.full(10, 5.0))
    assert m["ann_vol"] == 0 and math.isnan(m["sharpe"]) and math.isnan(m["hit_rate"])
    assert m["max_drawdown"] == 0 and m["max_dd_duration"] == 0
