"""kappa of Ledger-SPT: the one implementation against brute force and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.ledger import FeeModel, cash_after, kappa_interval, largest_kappa
from pyxl.errors import InputError


def brute_kappa(p, dq, cash, fee_rate, fixed, min_cash, impact=None, n=20001):
    """Largest grid kappa whose cash after trade stays above the floor (plain numpy)."""
    ks = np.linspace(0.0, 1.0, n)[:, None]
    x = ks * np.asarray(dq)[None, :]
    imp = np.zeros(len(p)) if impact is None else np.asarray(impact)
    after = cash - np.sum(p * x, axis=1) - np.sum(
        fee_rate * np.abs(x) * p + fixed * (x != 0) + imp * p * x * x, axis=1)
    ok = ks[after >= min_cash, 0]
    return float(ok.max()) if ok.size else None


def test_linear_closed_form_by_hand():
    p = np.array([10.0, 20.0])
    dq = np.array([100.0, 10.0])
    # S = 1200, A = 1.2, F = 2: kappa = (500 - 2) / 1201.2
    assert largest_kappa(p, dq, 500.0, 0.001, 1.0) == pytest.approx(498.0 / 1201.2, rel=1e-15)
    assert largest_kappa(p, dq, 5000.0, 0.001, 1.0) == 1.0


def test_zero_trade_is_one_and_infeasible_is_zero():
    p = np.array([10.0, 20.0])
    assert largest_kappa(p, np.zeros(2), -100.0, 0.01, 5.0, 0.0) == 1.0
    # cash already below the floor and the trade spends cash: nothing positive works
    assert largest_kappa(p, np.array([1.0, 1.0]), -1.0, 0.0, 0.0, 0.0) == 0.0


def test_fixed_fee_discontinuity_at_zero():
    p = np.array([10.0])
    # slack exactly equal to the fixed fee: any positive buy breaches the floor
    assert largest_kappa(p, np.array([1.0]), 5.0, 0.0, 5.0, 0.0) == 0.0
    # a sale raises cash: even with the fee, kappa = 1 is feasible (cash 5 - 5 + 10 = 10)
    assert largest_kappa(p, np.array([-1.0]), 5.0, 0.0, 5.0, 0.0) == 1.0
    # a sale when cash is below the floor: feasible set is [lo, 1] with lo > 0
    ok, lo, hi = kappa_interval(-3.0, -10.0, 0.0, 0.0, 5.0)
    assert ok and hi == 1.0 and lo == pytest.approx(0.8)
    # a sale too small to pay the fee: nothing positive is feasible
    assert largest_kappa(p, np.array([-0.1]), 0.0, 0.0, 5.0, 0.0) == 0.0


def test_floor_holds_exactly_in_floating_point():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        p = rng.uniform(1, 500, n)
        dq = rng.normal(0, 1000, n)
        cash = rng.uniform(0, 1e6)
        fee, fixed = rng.uniform(0, 0.01), rng.uniform(0, 10)
        k = largest_kappa(p, dq, cash, fee, fixed, 0.0)
        if 0.0 < k < 1.0:
            after = cash_after(k, p, dq, cash, fee, fixed)
            assert after >= -1e-9 * max(cash, 1.0)
            # one ulp-scale step more would breach the floor (largest)
            assert cash_after(k * (1 + 1e-9), p, dq, cash, fee, fixed) < 1e-6


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    cash=st.floats(-2e4, 2e5),
    fee=st.floats(0.0, 0.05),
    fixed=st.floats(0.0, 50.0),
    floor=st.floats(-1e4, 1e4),
    with_impact=st.booleans(),
)
def test_against_brute_force(n, seed, cash, fee, fixed, floor, with_impact):
    rng = np.random.default_rng(seed)
    p = rng.uniform(1.0, 200.0, n)
    dq = rng.normal(0.0, 300.0, n) * (rng.uniform(size=n) > 0.2)
    impact = rng.uniform(0.0, 1e-4, n) if with_impact else None
    k = largest_kappa(p, dq, cash, fee, fixed, floor, impact)
    assert 0.0 <= k <= 1.0
    if not np.any(dq):
        assert k == 1.0
        return
    b = brute_kappa(p, dq, cash, fee, fixed, floor, impact)
    scale = max(abs(cash), abs(floor), float(np.sum(np.abs(p * dq))), 1.0)
    if k > 0.0:
        assert cash_after(k, p, dq, cash, fee, fixed, impact) >= floor - 1e-9 * scale
        # no feasible grid point beyond the answer
        assert b is None or b <= k + 1e-4 + 1e-12
        # and the answer is not far below the brute-force optimum
        if b is not None and b > 0:
            assert k >= b - 1e-12
    else:
        # no positive kappa feasible: grid finds none beyond 0
        assert b is None or b == 0.0


# Subnormal inputs are excluded: the brute-force oracle g(k) below underflows
# (k*k*5e-324 == 0) and would call a mathematically infeasible trade feasible.
@settings(max_examples=100, deadline=None)
@given(slack=st.floats(-1e3, 1e3, allow_subnormal=False),
       S=st.floats(-1e4, 1e4, allow_subnormal=False),
       A=st.floats(0, 100, allow_subnormal=False),
       B=st.floats(0, 1e4, allow_subnormal=False), F=st.floats(0, 50, allow_subnormal=False))
def test_interval_ends_are_tight(slack, S, A, B, F):
    def g(k):
        return slack - F - k * (S + A) - k * k * B

    ok, lo, hi = kappa_interval(slack, S, A, B, F)
    ks = np.linspace(1e-9, 1.0, 4001)
    feas = [k for k in ks if g(k) >= 0]
    if not ok:
        assert not feas or max(feas) < 1e-6
        return
    assert 0.0 <= lo <= hi <= 1.0 and hi > 0
    assert g(hi) >= 0.0
    if lo > 0.0:
        assert g(lo) >= 0.0
    # every feasible grid point lies inside [lo, hi] (up to grid resolution)
    assert all(lo - 1e-9 <= k <= hi + 1e-9 for k in feas)
    if hi < 1.0:
        assert g(min(1.0, hi + 1e-7 * max(1.0, hi))) < 0 or abs(g(hi)) < 1e-6 * max(1, abs(S))


def test_impact_uses_root_finder_and_matches_quadratic_formula():
    # g(k) = c0 - k D - k^2 B: closed form root for comparison
    slack, S, A, B, F = 1000.0, 5000.0, 10.0, 4000.0, 3.0
    ok, lo, hi = kappa_interval(slack, S, A, B, F)
    c0, D = slack - F, S + A
    root = (-D + np.sqrt(D * D + 4 * B * c0)) / (2 * B)
    assert ok and lo == 0.0
    assert hi == pytest.approx(root, rel=1e-13)


def test_fee_model_validation():
    with pytest.raises(InputError, match="fee_rate"):
        FeeModel(fee_rate=-0.1)
    with pytest.raises(InputError, match="periods_per_year"):
        FeeModel(periods_per_year=0)
    fm = FeeModel(cash_rate=0.0252, borrow_rate=0.0504)
    assert fm.per_period() == pytest.approx((1e-4, 1e-4, 2e-4))
    assert FeeModel(cash_rate=0.01, debit_rate=0.03).per_period()[1] == pytest.approx(0.03 / 252)
