"""Metamorphic tests of the MNVH + Ledger-SPT engine and the Kelly toolkit.

Each test runs a public function twice, on inputs related by a transformation whose effect
the mathematics fixes (seed 000 eq. 1-3, seed 003), and checks the relation between the
two outputs.  Nothing is compared with the code's own earlier output.

MNVH (eq. 1: ``q' = lam q + beta_eff (w / p_prev)(R - r)``, ``R = w'r``):

* assets are exchangeable: permuting the columns permutes positions and trades and
  leaves NAV, kappa and every metric unchanged;
* eq. 1 sizes trades in notional: scaling asset ``i``'s prices by ``c_i`` leaves the
  returns, hence every notional, fee, limit and NAV, unchanged and divides ``q_i`` by
  ``c_i`` (in both beta modes, fixed fees included: the trade count is unchanged);
* the book is homogeneous of degree 1 in capital: scaling ``cash0`` (and ``min_cash``,
  and ``beta`` in absolute mode) by ``k`` scales NAV and positions by ``k``
  (proportional costs only);
* splitting an asset into two identical columns with half its weight each leaves
  ``R`` and the summed position unchanged;
* an extra asset with weight 0 never trades;
* lots never feed back (FIFO and moving average give the same book);
* in absolute mode the signal does not depend on NAV, so exec_lag 1 holds at bar
  ``s+1`` what lag 0 holds at ``s``.

Kelly: rf shifts, the joint scaling of excess returns and risk, ``w_f(L) = f w_1(L/f)``,
asset permutation and duplication, scenario order, splitting a scenario in two halves
of its probability, integer probabilities as replicated rows, and
``rf -> (R - rf)/(1 + rf)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from conftest import excel_range
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.kelly import closed_form as CF
from pyxl.core.kelly.portfolio import kelly_scenario, kelly_weights, scenario_growth
from pyxl.core.metrics import backtest_metrics, performance_metrics
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest
from pyxl.core.mnvh.ablation import build_inputs, run_strategy

FEES = FeeModel(fee_rate=5e-4, half_spread=1e-4, borrow_rate=0.02, cash_rate=0.01)


def _walk(seed, T=300, N=5):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 3.0, N) * 50
    return base * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))


def _bench(seed, T=300):
    rng = np.random.default_rng(seed + 1000)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, T)))


def _rel(a, b):
    """Largest relative difference, entries near 0 compared on the array's scale."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(float(np.max(np.abs(a), initial=0.0)), 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def _same_metrics(m1, m2, tol=1e-10):
    for k in m1:
        a, b = m1[k], m2[k]
        if math.isnan(a):
            assert math.isnan(b), k
        else:
            assert b == pytest.approx(a, rel=tol, abs=tol), k


# ----------------------------------------------------------------------------- MNVH
@pytest.mark.parametrize("scheme", ["equal", "invvol", "markowitz", "user"])
@pytest.mark.parametrize("hedge,throttle", [(False, False), (True, False), (True, True)])
def test_permuting_assets_permutes_the_book(scheme, hedge, throttle):
    P, bench = _walk(1), _bench(1)
    N = P.shape[1]
    perm = np.random.default_rng(5).permutation(N)
    w_user = np.array([0.4, 0.3, 0.5, -0.1, -0.1])
    kw = {"min_periods": 20} if scheme in ("invvol", "markowitz") else None
    sch1 = w_user if scheme == "user" else scheme
    sch2 = w_user[perm] if scheme == "user" else scheme
    cfg = MNVHConfig(fees=FEES, max_gross=1.5, max_position=0.3)
    i1 = build_inputs(P, sch1, benchmark=bench, hedge=hedge, throttle=throttle,
                      weight_kwargs=kw)
    i2 = build_inputs(P[:, perm], sch2, benchmark=bench, hedge=hedge, throttle=throttle,
                      weight_kwargs=kw)
    assert _rel(i1.weights[:, perm], i2.weights) < 1e-13
    r1, r2 = run_strategy(P, cfg, i1), run_strategy(P[:, perm], cfg, i2)
    assert _rel(r1.nav, r2.nav) < 1e-13
    np.testing.assert_allclose(r1.kappa[1:], r2.kappa[1:], rtol=0, atol=1e-12)
    assert _rel(r1.q[:, perm], r2.q) < 1e-11
    assert _rel(r1.trades[:, perm], r2.trades) < 1e-11
    assert _rel(r1.realised, r2.realised) < 1e-10
    assert len(r1.risk_events) == len(r2.risk_events)
    _same_metrics(backtest_metrics(r1, P, benchmark=bench),
                  backtest_metrics(r2, P[:, perm], benchmark=bench))


@pytest.mark.parametrize("beta_mode,beta", [("nav", 35.0), ("absolute", 3.5e7)])
@pytest.mark.parametrize("limits", [{}, {"max_gross": 1.0}, {"max_position": 0.1},
                                    {"min_cash": 5e5}, {"drawdown_stop": 0.05}])
def test_price_level_of_each_asset_is_irrelevant(beta_mode, beta, limits):
    P, bench = _walk(2), _bench(2)
    c = np.array([0.01, 3.0, 100.0, 0.7, 42.0])
    fees = dataclasses.replace(FEES, fixed_fee=3.0)
    cfg = MNVHConfig(beta=beta, beta_mode=beta_mode, fees=fees, **limits)
    for scheme in ("equal", "markowitz"):
        kw = {"min_periods": 20} if scheme == "markowitz" else None
        i1 = build_inputs(P, scheme, benchmark=bench, hedge=True, weight_kwargs=kw)
        i2 = build_inputs(P * c, scheme, benchmark=bench * 7, hedge=True, weight_kwargs=kw)
        r1, r2 = run_strategy(P, cfg, i1), run_strategy(P * c, cfg, i2)
        assert _rel(r1.nav, r2.nav) < 1e-12
        assert _rel(r1.q / c, r2.q) < 1e-10
        assert _rel(r1.hedge_q / 7, r2.hedge_q) < 1e-10
        np.testing.assert_allclose(r1.kappa[1:], r2.kappa[1:], rtol=0, atol=1e-10)
        assert [k for _, k, _ in r1.risk_events] == [k for _, k, _ in r2.risk_events]


@pytest.mark.parametrize("beta_mode", ["nav", "absolute"])
@pytest.mark.parametrize("limits", [{}, {"max_gross": 1.0}, {"min_cash": 5e5},
                                    {"min_cash": -2e5}, {"drawdown_stop": 0.05}])
def test_book_is_homogeneous_in_capital(beta_mode, limits):
    P, bench = _walk(3), _bench(3)
    k = 37.3
    beta = 35.0 if beta_mode == "nav" else 3.5e7
    fees = dataclasses.replace(FEES, debit_rate=0.05)
    big = {n: v * k if n == "min_cash" else v for n, v in limits.items()}
    c1 = MNVHConfig(beta=beta, beta_mode=beta_mode, fees=fees, **limits)
    c2 = MNVHConfig(beta=beta * (k if beta_mode == "absolute" else 1.0), beta_mode=beta_mode,
                    cash0=1e6 * k, fees=fees, **big)
    r1 = run_backtest(P, np.full(5, 0.2), c1, hedge_prices=bench)
    r2 = run_backtest(P, np.full(5, 0.2), c2, hedge_prices=bench)
    assert _rel(r1.nav * k, r2.nav) < 1e-12
    assert _rel(r1.q * k, r2.q) < 1e-10
    assert _rel(np.cumsum(r1.realised) * k, np.cumsum(r2.realised)) < 1e-10
    np.testing.assert_allclose(r1.kappa[1:], r2.kappa[1:], rtol=0, atol=1e-10)


@pytest.mark.parametrize("limits", [{}, {"max_gross": 1.0}, {"min_cash": 5e5},
                                    {"exec_lag": 1}, {"beta_mode": "absolute", "beta": 3e7}])
def test_duplicated_asset_with_split_weight_is_the_same_book(limits):
    P, bench = _walk(4), _bench(4)
    w = np.array([0.1, 0.25, 0.3, 0.15, 0.2])
    j = 2
    P2 = np.column_stack([P, P[:, j]])
    w2 = np.append(w, w[j] / 2)
    w2[j] /= 2
    cfg = MNVHConfig(fees=FEES, **limits)
    a = run_backtest(P, w, cfg, hedge_prices=bench)
    b = run_backtest(P2, w2, cfg, hedge_prices=bench)
    assert _rel(a.nav, b.nav) < 1e-13
    merged = b.q[:, :5].copy()
    merged[:, j] += b.q[:, 5]
    assert _rel(a.q, merged) < 1e-11
    assert _rel(a.hedge_q, b.hedge_q) < 1e-11
    np.testing.assert_allclose(a.kappa[1:], b.kappa[1:], rtol=0, atol=1e-10)


def test_zero_weight_asset_never_trades():
    P = _walk(5)
    flat = np.full((P.shape[0], 1), 17.0)           # a constant price
    w = np.full(5, 0.2)
    for extra in (flat, _walk(6, N=1)):
        a = run_backtest(P, w, MNVHConfig(fees=FEES))
        b = run_backtest(np.column_stack([P, extra]), np.append(w, 0.0), MNVHConfig(fees=FEES))
        assert np.all(b.q[:, 5] == 0.0)
        assert _rel(a.nav, b.nav) < 1e-14


@pytest.mark.parametrize("limits", [{}, {"max_gross": 1.0}, {"min_cash": 5e5},
                                    {"drawdown_stop": 0.05}, {"exec_lag": 1}])
def test_lot_method_never_feeds_back(limits):
    P, bench = _walk(7), _bench(7)
    fees = dataclasses.replace(FEES, fixed_fee=2.0)
    w = np.random.default_rng(7).dirichlet(np.ones(5))
    a = run_backtest(P, w, MNVHConfig(fees=fees, **limits), hedge_prices=bench)
    b = run_backtest(P, w, MNVHConfig(fees=fees, lot_method="average", **limits),
                     hedge_prices=bench)
    for col in ("nav", "cash", "q", "trades", "kappa", "fees", "mtm", "hedge_q"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    # realised + unrealised is the gross trading PnL under either method (lots at mid)
    mtm = np.cumsum(a.mtm)
    scale = float(np.max(a.gross))
    for r in (a, b):
        assert np.max(np.abs(np.cumsum(r.realised) + r.unrealised - mtm)) < 1e-11 * scale


def test_exec_lag_one_holds_one_bar_later_in_absolute_mode():
    P = _walk(8)
    w = np.array([0.4, 0.3, 0.5, -0.1, -0.1])
    for fees in (FeeModel(), FEES):
        cfg = MNVHConfig(beta_mode="absolute", beta=3e7, fees=fees, min_cash=-1e12)
        a = run_backtest(P, w, cfg)
        b = run_backtest(P, w, dataclasses.replace(cfg, exec_lag=1))
        np.testing.assert_array_equal(b.q[1], 0.0)
        assert _rel(a.q[:-1], b.q[1:]) < 1e-14


def test_nav_mode_against_a_plain_loop_of_eq1():
    """An independent loop of eq. 1 with eq. 4's ``beta NAV`` and the cash account."""
    P = _walk(9, T=250, N=4)
    w = np.array([0.4, 0.3, 0.5, -0.2])
    lam, beta, fr, hs, br, cr = 0.85, 20.0, 5e-4, 2e-4, 0.03, 0.02
    fees = FeeModel(fee_rate=fr, half_spread=hs, borrow_rate=br, cash_rate=cr, debit_rate=cr)
    res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, min_cash=-1e12, fees=fees))
    q, cash, nav = np.zeros(4), 1e6, [1e6]
    for s in range(1, len(P)):
        cash += cash * cr / 252 - br / 252 * np.sum(np.maximum(-q, 0) * P[s - 1])
        r = P[s] / P[s - 1] - 1
        target = lam * q + beta * (cash + q @ P[s]) * w / P[s - 1] * (w @ r - r)
        dq = target - q
        cash -= dq @ P[s] + (fr + hs) * np.abs(dq) @ P[s]
        q = target
        nav.append(cash + q @ P[s])
    assert _rel(nav, res.nav) < 1e-13
    assert _rel(q, res.q[-1]) < 1e-12


def test_metrics_ignore_the_currency_unit():
    nav = 1e6 * np.exp(np.cumsum(np.random.default_rng(10).normal(0, 0.01, 300)))
    bench = _bench(10)
    gross = np.abs(nav) * 0.9
    m1 = performance_metrics(nav, benchmark=bench, gross_exposure=gross, net_exposure=-gross / 9,
                             traded_notional=gross, costs=5.0, gross_pnl=50.0)
    m2 = performance_metrics(nav * 3.7, benchmark=bench * 0.1, gross_exposure=gross * 3.7,
                             net_exposure=-gross / 9 * 3.7, traded_notional=gross * 3.7,
                             costs=5.0 * 3.7, gross_pnl=50.0 * 3.7)
    assert m2.pop("final_nav") == pytest.approx(3.7 * m1.pop("final_nav"), rel=1e-15)
    _same_metrics(m1, m2, tol=1e-12)


def _table(out):
    return {row[0]: row[1] for row in out}


def test_formula_table_unchanged_by_column_order_and_price_level(xl):
    P = np.round(_walk(11, T=200, N=4), 4)
    perm = [2, 0, 3, 1]
    base = _table(xl("MNVH_BACKTEST", excel_range(P), 0.9, 30, "invvol"))
    swapped = _table(xl("MNVH_BACKTEST", excel_range(P[:, perm]), 0.9, 30, "invvol"))
    scaled = _table(xl("MNVH_BACKTEST", excel_range(P * 1000), 0.9, 30, "invvol"))
    for other in (swapped, scaled):
        assert other.keys() == base.keys()
        for k, v in base.items():
            if k.startswith("Ledger identity"):
                continue
            if v == "":
                assert other[k] == "", k
            else:
                assert other[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert base["Risk events"] == swapped["Risk events"] == scaled["Risk events"]


# ----------------------------------------------------------------------------- Kelly
@settings(max_examples=60, deadline=None)
@given(mu=st.floats(-0.2, 0.4), sigma=st.floats(0.02, 1.0), rf=st.floats(-0.02, 0.1),
       shift=st.floats(-0.05, 0.05), c=st.floats(0.1, 10.0), f=st.floats(0.05, 2.0))
def test_kelly_leverage_invariances(mu, sigma, rf, shift, c, f):
    n = CF.kelly_leverage(mu, sigma, rf)
    # only the excess return matters; leverage is excess over variance
    assert CF.kelly_leverage(mu + shift, sigma, rf + shift) == pytest.approx(n, abs=1e-9)
    assert CF.kelly_leverage(rf + c * c * (mu - rf), c * sigma, rf) == pytest.approx(
        n, rel=1e-12, abs=1e-12)
    assert CF.kelly_leverage(mu, sigma, rf, f) == pytest.approx(f * n, rel=1e-14, abs=1e-15)
    # the approximate growth is maximal there, and the same excess growth after the shift
    g = CF.growth_approx(n, mu, sigma, rf)
    for dn in (-0.1, 0.1):
        assert CF.growth_approx(n + dn, mu, sigma, rf) <= g
    assert CF.growth_approx(n, mu + shift, sigma, rf + shift) - (rf + shift) == pytest.approx(
        g - rf, abs=1e-12)


@pytest.mark.parametrize("f", [0.25, 0.5, 0.75, 1.0])
def test_fractional_table_closed_forms(f):
    mu, sigma = 0.08, 0.2          # rf 0: kept 2f - f^2, P(halve) = 0.5^(2/f - 1)
    row = next(r for r in CF.fractional_table(mu, sigma, 0.0) if r.fraction == f)
    n_star = mu / sigma**2
    assert row.leverage == pytest.approx(f * n_star, rel=1e-14)
    assert row.growth_kept == pytest.approx(2 * f - f * f, rel=1e-13)
    assert row.volatility == pytest.approx(f * n_star * sigma, rel=1e-14)
    assert row.prob_drawdown == pytest.approx(0.5 ** (2 / f - 1), rel=1e-12)
    assert row.years_to_double == pytest.approx(
        math.log(2) / ((2 * f - f * f) * mu**2 / (2 * sigma**2)), rel=1e-12)


_N = 5
_RNG = np.random.default_rng(12)
_A = _RNG.normal(size=(_N, _N))
_COV = (_A @ _A.T / _N + 0.05 * np.eye(_N)) * 0.04
_MU = _RNG.normal(0.06, 0.04, _N)
_LIMITS = [{}, {"long_only": True}, {"max_leverage": 1.5},
           {"max_leverage": 2.0, "long_only": True}, {"max_weight": 0.4}, {"budget": 1.0},
           {"budget": 1.0, "long_only": True}]


@pytest.mark.parametrize("limits", _LIMITS)
def test_kelly_weights_equivariance(limits):
    rf = 0.02
    perm = np.array([3, 0, 4, 1, 2])
    w = kelly_weights(_MU, _COV, rf, **limits)
    tol = 1e-10  # with limits too: the solver's answer is polished on its face
    np.testing.assert_allclose(kelly_weights(_MU[perm], _COV[np.ix_(perm, perm)], rf, **limits),
                               w[perm], atol=tol)
    np.testing.assert_allclose(kelly_weights(_MU + 0.03, _COV, rf + 0.03, **limits), w,
                               atol=tol)
    np.testing.assert_allclose(kelly_weights(rf + 3.7 * (_MU - rf), 3.7 * _COV, rf, **limits),
                               w, atol=tol)
    # fractional Kelly is full Kelly of the limits divided by f, times f
    f = 0.5
    over_f = {k: v / f if k in ("max_leverage", "max_weight", "budget") else v
              for k, v in limits.items()}
    np.testing.assert_allclose(kelly_weights(_MU, _COV, rf, fraction=f, **limits),
                               f * kelly_weights(_MU, _COV, rf, **over_f), atol=tol)
    if limits and "max_weight" not in limits:   # a duplicate is singular without limits
        idx = [0, 1, 2, 3, 4, 0]
        w2 = kelly_weights(_MU[idx], _COV[np.ix_(idx, idx)], rf, **limits)
        merged = w2[:5].copy()
        merged[0] += w2[5]
        np.testing.assert_allclose(merged, w, atol=tol)


_R = np.random.default_rng(11).normal(0.01, 0.08, (60, 3)) + np.array([0.0, 0.005, -0.002])
_SCEN_LIMITS = [{}, {"long_only": True}, {"max_leverage": 1.5},
                {"max_leverage": 2.0, "long_only": True}, {"max_weight": 0.8},
                {"budget": 1.0}, {"budget": 1.0, "long_only": True},
                {"max_leverage": 1.2, "budget": 1.0}]


@pytest.mark.parametrize("limits", _SCEN_LIMITS)
def test_kelly_scenario_invariances(limits):
    R, rf, T = _R, 0.001, _R.shape[0]
    w = kelly_scenario(R, rf, **limits)
    rows = np.random.default_rng(1).permutation(T)
    cols = np.array([2, 0, 1])
    probs_split = np.ones(T + 1)
    probs_split[[5, T]] = 0.5
    others = [
        kelly_scenario(R[rows], rf, **limits),                               # scenario order
        kelly_scenario(np.vstack([R, R[5]]), rf, probs=probs_split, **limits),  # split one
        kelly_scenario(np.vstack([R, R]), rf, **limits),                     # every row twice
        kelly_scenario(R, rf, probs=np.full(T, 7.0), **limits),              # probs' total
        kelly_scenario((R - rf) / (1 + rf), 0.0, **limits),                  # rf as a numeraire
    ]
    for other in others:
        np.testing.assert_allclose(other, w, atol=1e-10)
    np.testing.assert_allclose(kelly_scenario(R[:, cols], rf, **limits), w[cols], atol=1e-10)
    # integer probabilities are replicated rows
    np.testing.assert_allclose(kelly_scenario(R, rf, probs=np.r_[3.0, np.ones(T - 1)], **limits),
                               kelly_scenario(np.vstack([R, R[0], R[0]]), rf, **limits),
                               atol=1e-10)
    if "max_weight" not in limits:     # a duplicated asset: only the sum is determined
        w2 = kelly_scenario(np.column_stack([R, R[:, 0]]), rf, **limits)
        np.testing.assert_allclose(np.r_[w2[0] + w2[3], w2[1:3]], w, atol=1e-9)
    if "budget" not in limits:         # returns / c: weights x c under limits x c
        c = 2.5
        big = {k: v * c if k in ("max_leverage", "max_weight") else v for k, v in limits.items()}
        np.testing.assert_allclose(kelly_scenario(R / c, 0.0, **big),
                                   c * kelly_scenario(R, 0.0, **limits), atol=1e-9)


def test_kelly_scenario_gross_cap_against_one_dimensional_optimum():
    """Long-short gross cap binding on two long assets: on the face ``w1 + w2 = L`` the
    growth is a concave function of ``w1`` alone; its root of the derivative by bisection
    is the optimum to 1e-15.  The polished conic answer stopped 3.7e-7 short of it."""
    R, rf, L = _R, 0.001, 1.5
    w = kelly_scenario(R, rf, max_leverage=L)
    assert w[1] == 0.0
    x = (R - rf) / (1 + rf)

    def slope(a):   # d/da mean ln(1 + x0 a + x2 (L - a))
        return float(np.mean((x[:, 0] - x[:, 2]) / (1 + x[:, 0] * a + x[:, 2] * (L - a))))

    lo, hi = 0.0, L
    assert slope(lo) > 0 > slope(hi)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if slope(mid) > 0 else (lo, mid)
    np.testing.assert_allclose(w, [lo, 0.0, L - lo], atol=1e-12)
    assert scenario_growth(w, R, rf) >= scenario_growth([lo, 0.0, L - lo], R, rf) - 1e-16


def _box_qp_by_enumeration(e, S, lo, hi, fraction):
    """max e'w - w'Sw/(2 fraction) on lo <= w <= hi, by trying every face (3^n): an
    independent exact solution for small n (the objective is strictly concave)."""
    import itertools

    n = e.size
    best, best_q = None, -np.inf
    for face in itertools.product((0, 1, 2), repeat=n):   # 0 free, 1 at lo, 2 at hi
        w = np.where(np.array(face) == 1, lo, np.where(np.array(face) == 2, hi, 0.0))
        F = np.array([i for i in range(n) if face[i] == 0], dtype=int)
        X = np.array([i for i in range(n) if face[i] != 0], dtype=int)
        if F.size:
            w[F] = np.linalg.solve(S[np.ix_(F, F)] / fraction,
                                   e[F] - S[np.ix_(F, X)] @ w[X] / fraction)
        if np.any(w < lo - 1e-13) or np.any(w > hi + 1e-13):
            continue
        q = e @ w - w @ S @ w / (2 * fraction)
        if q > best_q:
            best, best_q = w, q
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fraction", [0.5, 1.0, 2.0])
def test_constrained_kelly_weights_are_the_exact_optimum(seed, fraction):
    """Long-only with per-asset caps is a box QP: the weights equal the optimum found by
    enumerating every face to 1e-12 (the conic solver alone was 4e-7 to 1.3e-6 off, a
    weight that should be 0 at 1e-6)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    n = 5
    A = rng.normal(size=(n, n))
    S = A @ A.T / n * 0.04 + np.eye(n) * 0.01
    mu = rng.normal(0.06, 0.04, n)
    rf = 0.01
    caps = np.full(n, 0.45)
    w = kelly_weights(mu, S, rf, fraction=fraction, long_only=True, max_weight=caps)
    want = _box_qp_by_enumeration(mu - rf, S, np.zeros(n), caps, fraction)
    np.testing.assert_allclose(w, want, atol=1e-12, rtol=0)
