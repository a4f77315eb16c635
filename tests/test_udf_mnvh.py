"""MNVH_STEP and LEDGER_KAPPA through the Excel-call harness."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range, excel_row

from pyxl.core.ledger import cash_after


def col(v):
    return excel_range(np.asarray(v, dtype=float))


def one(out):
    """The single cell Excel receives (the harness hands back a list of rows)."""
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    return out[0][0]


def test_mnvh_step_column_matches_eq1_by_hand(xl):
    out = xl("MNVH_STEP", col([0.0, 0.0]), col([10.0, 20.0]), col([11.0, 19.0]), col([0.5, 0.5]),
             0.9, 1000.0)
    # r = (0.1, -0.05), R = 0.025: q = 1000 * w/p_prev * (R - r)
    assert out == [[pytest.approx(-3.75, rel=1e-14)], [pytest.approx(1.875, rel=1e-14)]]


def test_mnvh_step_row_in_row_out_and_mixed_orientation(xl):
    rng = np.random.default_rng(0)
    q = rng.normal(0, 10, 5)
    pp, pn = rng.uniform(10, 50, 5), rng.uniform(10, 50, 5)
    w = rng.dirichlet(np.ones(5))
    r = pn / pp - 1
    want = 0.95 * q + 2e4 * w / pp * (w @ r - r)
    out = xl("MNVH_STEP", excel_row(q), col(pp), excel_row(pn), col(w), 0.95, 2e4)
    assert len(out) == 1 and np.allclose(out[0], want, rtol=1e-13)
    out = xl("MNVH_STEP", col(q), excel_row(pp), col(pn), excel_row(w), 0.95, 2e4)
    assert np.allclose([r[0] for r in out], want, rtol=1e-13)


def test_mnvh_step_nav_mode(xl):
    args = (col([1.0, -1.0]), col([10.0, 20.0]), col([11.0, 19.0]), col([0.5, 0.5]), 0.9)
    absolute = xl("MNVH_STEP", *args, 2000.0)
    nav = xl("MNVH_STEP", *args, 2.0, "nav", 1000.0)
    assert nav == absolute
    err = one(xl("MNVH_STEP", *args, 2.0, "nav"))
    assert err == "#PyXL! nav: is blank but beta_mode is \"nav\"; enter the NAV"


def test_mnvh_step_errors_name_the_argument(xl):
    good = (col([0.0, 0.0]), col([10.0, 20.0]), col([11.0, 19.0]), col([0.5, 0.5]), 0.9, 1.0)
    bad_blank = list(good)
    bad_blank[1] = ((10.0,), (None,))
    assert one(xl("MNVH_STEP", *bad_blank)).startswith("#PyXL! p_prev: blank cell")
    bad_text = list(good)
    bad_text[3] = ((0.5,), ("abc",))
    assert one(xl("MNVH_STEP", *bad_text)).startswith("#PyXL! w: text 'abc'")
    bad_len = list(good)
    bad_len[2] = col([11.0, 19.0, 5.0])
    assert one(xl("MNVH_STEP", *bad_len)) == (
        "#PyXL! p_now: has 3 values, q has 2; select one cell per asset")
    bad_price = list(good)
    bad_price[2] = col([11.0, 0.0])
    assert one(xl("MNVH_STEP", *bad_price)) == (
        "#PyXL! p_now: value 0 at item 2 is not > 0; enter strictly positive values")
    assert one(xl("MNVH_STEP", *good[:4], 1.5, 1.0)).startswith("#PyXL! lam: must be <= 1")
    assert one(xl("MNVH_STEP", *good[:5], "x")).startswith("#PyXL! beta: text 'x'")
    assert one(xl("MNVH_STEP", *good, "relative")).startswith("#PyXL! beta_mode:")


def bisect_kappa(p, dq, cash, fee, fixed, floor):
    """Independent check: bisection on the exact cash function (positive kappas only)."""
    if not np.any(dq):
        return 1.0
    def ok(k):
        return cash_after(k, p, dq, cash, fee, fixed) >= floor
    if ok(1.0):
        return 1.0
    ks = np.linspace(1e-9, 1.0, 2001)
    feas = [k for k in ks if ok(k)]
    if not feas:
        return 0.0
    a = max(feas)
    b = min(1.0, a + 1.0 / 2000)
    for _ in range(200):
        m = 0.5 * (a + b)
        if ok(m):
            a = m
        else:
            b = m
    return a


@pytest.mark.parametrize("seed", range(12))
def test_ledger_kappa_against_bisection(xl, seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    p = rng.uniform(5, 200, n)
    dq = rng.normal(0, 200, n)
    cash = float(rng.uniform(-1e3, 3e4))
    fee, fixed, floor = float(rng.uniform(0, 0.01)), float(rng.uniform(0, 20)), float(
        rng.uniform(-1e3, 5e3))
    got = one(xl("LEDGER_KAPPA", col(p), excel_row(dq), cash, fee, fixed, floor))
    assert got == pytest.approx(bisect_kappa(p, dq, cash, fee, fixed, floor), abs=1e-9)


def test_ledger_kappa_defaults_and_edge_cases(xl):
    p, dq = col([10.0, 20.0]), col([100.0, 10.0])
    assert one(xl("LEDGER_KAPPA", p, dq, 600.0)) == pytest.approx(0.5)  # S = 1200, no fees
    assert one(xl("LEDGER_KAPPA", p, dq, 600.0, None, None, None)) == pytest.approx(0.5)  # blanks
    assert one(xl("LEDGER_KAPPA", p, dq, 600.0, xl.MISSING, 0.0, 300.0)) == pytest.approx(0.25)
    assert one(xl("LEDGER_KAPPA", p, col([0.0, 0.0]), -5.0, 0.01, 3.0)) == 1.0
    assert one(xl("LEDGER_KAPPA", p, dq, -1.0)) == 0.0
    assert one(xl("LEDGER_KAPPA", p, dq, 1e9)) == 1.0
    # the fixed fee alone exhausts the slack: 0, not a tiny positive kappa
    assert one(xl("LEDGER_KAPPA", col([10.0]), col([1.0]), 5.0, 0.0, 5.0)) == 0.0


def test_ledger_kappa_errors(xl):
    p, dq = col([10.0, 20.0]), col([100.0, 10.0])
    assert one(xl("LEDGER_KAPPA", p, col([1.0]), 5.0)) == (
        "#PyXL! dq: has 1 values, p has 2; select one trade per price")
    assert one(xl("LEDGER_KAPPA", ((10.0,), ("x",)), dq, 5.0)).startswith("#PyXL! p: text 'x'")
    assert one(xl("LEDGER_KAPPA", p, dq, None)).startswith("#PyXL! cash: is blank")
    assert one(xl("LEDGER_KAPPA", p, dq, 5.0, -0.1)).startswith("#PyXL! fee_rate: must be >= 0")
    assert one(xl("LEDGER_KAPPA", p, ((1.0, 2.0), (3.0, 4.0)), 5.0)).startswith("#PyXL! dq: is 2x2")


def test_engine_kappa_equals_ledger_kappa_formula(xl):
    """The engine's kappa on a cash-limited bar, recomputed with the two formulas."""
    from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest

    rng = np.random.default_rng(11)
    P = 40.0 * np.cumprod(1 + 0.02 * rng.standard_normal((80, 6)), axis=0)
    w = rng.dirichlet(np.ones(6))
    cfg = MNVHConfig(beta=40, min_cash=9.95e5, fees=FeeModel(fee_rate=5e-3, fixed_fee=2.0))
    res = run_backtest(P, w, cfg)
    bars = [s for s in range(2, 80) if 0 < res.kappa[s] < 1 and res.delever[s] == 0]
    assert len(bars) > 5
    for s in bars[:5]:
        cash_pre = res.cash[s - 1] + res.financing[s]
        nav_pre = cash_pre + res.q[s - 1] @ P[s]
        target = xl("MNVH_STEP", col(res.q[s - 1]), col(P[s - 1]), col(P[s]), col(w), cfg.lam,
                    cfg.beta, "nav", nav_pre)
        dq = np.array([r[0] for r in target]) - res.q[s - 1]
        k = one(xl("LEDGER_KAPPA", col(P[s]), col(dq), cash_pre, 5e-3, 2.0, cfg.min_cash))
        assert k == pytest.approx(res.kappa[s], rel=1e-9)
        np.testing.assert_allclose(res.trades[s], k * dq, rtol=1e-8, atol=1e-9)
