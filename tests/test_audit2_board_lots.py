"""Second audit of whole board lots (``lot_size``) in combination with the other engine
features: the hedge (its lot as the N+1-th value), exec_lag, the position and gross
caps, forced deleveraging, impact, financing, the grid, the ablation, the walk-forward
and the adapters.  Expected values are hand calculations or recomputations from the
trades and prices, never the engine's own columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest, run_grid
from pyxl.core.mnvh.ablation import (
    ablation_grid,
    build_inputs,
    research_config,
    run_strategy,
    walk_forward,
)
from pyxl.core.mnvh.engine import rolling_vol
from pyxl.core.mnvh.reference import reference_backtest

W2 = np.array([0.5, 0.5])


def _lots_of(cfg, M):
    ls = cfg.lot_size
    if ls is None:
        return np.zeros(M)
    if np.ndim(ls) == 0:
        return np.full(M, float(ls))
    out = np.zeros(M)
    out[:len(ls)] = ls
    return out


def _book(res, P, hp):
    Q = res.q if hp is None else np.c_[res.q, res.hedge_q]
    X = res.trades if hp is None else np.c_[res.trades, res.hedge_trades]
    PP = P if hp is None else np.c_[P, hp]
    return Q, X, PP


def check_invariants(res, P, cfg, hp=None, kimp=None):
    """Every bar recomputed from the positions and prices alone: financing, MTM, costs,
    cash and NAV (and the PnL identity on them), whole lots, the cash floor and the gross
    cap after a trade (unless a cash shortfall or a stop is logged), the position cap on
    bars traded at full scale."""
    Q, X, PP = _book(res, P, hp)
    T, M = Q.shape
    N = P.shape[1]
    fm = cfg.fees
    cr, dr, br = fm.per_period()
    lin = fm.fee_rate + fm.half_spread
    L = _lots_of(cfg, M)
    ev = list(res.risk_events)
    short = {t for t, k, _ in ev if k == "cash_shortfall"}
    stops = {t for t, k, _ in ev if k in ("drawdown_stop", "insolvent")}
    forced = {t for t, k, _ in ev if k == "forced_delever"}
    on = L > 0
    r = Q[:, on] / L[on]
    assert np.all(np.abs(r - np.rint(r)) <= 1e-9 * np.maximum(1.0, np.abs(r)))
    cash = cfg.cash0
    for s in range(1, T):
        q0, x = Q[s - 1], Q[s] - Q[s - 1]
        big = max(cfg.cash0, np.abs(Q[s] * PP[s]).sum(), np.abs(q0 * PP[s - 1]).sum())
        np.testing.assert_allclose(x, X[s], rtol=1e-12, atol=1e-12 * max(1.0, np.abs(Q).max()))
        fin = cash * (cr if cash >= 0 else dr) + br * (np.minimum(q0, 0.0) @ PP[s - 1])
        mtm = q0 @ (PP[s] - PP[s - 1])
        v = x * PP[s]
        cost = lin * np.abs(v).sum() + fm.fixed_fee * np.count_nonzero(x)
        if kimp is not None:
            cost += float((kimp[s] * PP[s] * x * x).sum())
        nav_prev = cash + q0 @ PP[s - 1]
        navpre = cash + fin + q0 @ PP[s]
        cash = cash + fin - v.sum() - cost
        nav = cash + Q[s] @ PP[s]
        assert abs(nav - res.nav[s]) <= 1e-9 * big, s
        assert abs((nav - nav_prev) - (mtm - cost + fin)) <= 1e-9 * big, s
        if s in stops or not x.any():
            continue
        if s not in short:
            assert cash >= cfg.min_cash - 1e-9 * big, s
            if cfg.max_gross is not None:
                assert np.abs(Q[s] * PP[s]).sum() <= cfg.max_gross * navpre * (1 + 1e-9), s
        if cfg.max_position is not None and res.kappa[s] == 1.0 and s not in forced:
            lim = max(cfg.max_position * navpre, 0.0)
            assert np.all(np.abs(Q[s, :N] * PP[s, :N]) <= lim * (1 + 1e-12) + 1e-9), s


# --- 1. bugs the audit found (fixed) --------------------------------------------------------

@pytest.mark.parametrize(("lot", "expect"), [(100.0, 2900.0), (1.0, 2900.0)])
def test_position_cap_keeps_the_whole_lot_that_fits_it_exactly(lot, expect):
    """max_position 0.29 of NAV 3,000,000 is 870,000; at a price of 300 that is 2,900
    shares, exactly 29 lots of 100 (or 2,900 lots of 1): the cap rounded down to whole
    lots is 2,900.  Bar 1 (no costs, no financing, so NAV_pre = cash0 exactly): both eq. 1
    targets are far beyond the cap (beta 1e9), so both are clipped to it.  In floating
    point 0.29 * 3e6 = 869999.9999999999, and floor(2899.9999999999995 / L) drops a whole
    lot: 2,800 shares (2,899 with lots of 1) before the audit; fractional shares give
    2,900.  The cap now has the forced deleveraging's 1e-9-lot tolerance (``lot_cap``)."""
    P = np.array([[250.0, 350.0], [300.0, 300.0], [300.0, 300.0]])
    cfg = MNVHConfig(beta=1e9, beta_mode="absolute", cash0=3e6, max_position=0.29,
                     lot_size=lot)
    res = run_backtest(P, W2, cfg)
    assert res.kappa[1] == 1.0
    np.testing.assert_array_equal(res.q[1], [-expect, expect])


def test_gross_cap_accepts_a_whole_lot_book_exactly_at_the_cap():
    """max_gross 0.58 of NAV 3,000,000 is 1,740,000.  Bar 1 (no costs): eq. 1 asks for
    -3383.3 and +2416.7 shares at 300 (beta 3e8, absolute), far over the cap, so the
    continuous kappa stops where gross meets it, at positions (-3383.3, 2416.7); rounded
    to lots of 100 that is (-3400, 2400), gross 3400 x 300 + 2400 x 300 = 1,740,000, the
    cap itself.  Both legs move away from zero, so gross rises with the scale and this is
    the largest feasible whole-lot book.  In floating point 0.58 * 3e6 = 1739999.9999999998
    < 1.74e6, so before the audit the search rejected it and went one lot lower:
    (-3300, 2400), gross 1,710,000 (30,000 under the cap).  The check now allows a
    relative 1e-12 (``LOT_GROSS_TOL``)."""
    P = np.array([[250.0, 350.0], [300.0, 300.0], [300.0, 300.0]])
    cfg = MNVHConfig(beta=3e8, beta_mode="absolute", cash0=3e6, max_gross=0.58, lot_size=100)
    res = run_backtest(P, W2, cfg)
    frac = run_backtest(P, W2, dataclasses.replace(cfg, lot_size=None))
    np.testing.assert_allclose(frac.q[1], [-3383.333333, 2416.666667], rtol=1e-9)
    np.testing.assert_array_equal(res.q[1], [-3400.0, 2400.0])


def test_small_forced_deleveraging_closes_at_least_one_lot():
    """docs/ledger.md: "even a small delta closes at least one lot of every position (all
    of a one-lot position)".  Bar 1 (absolute beta 2048, equal weights, 100 -> 110/90)
    opens -1 and +1 share (lots of 1).  Bar 2 lifts both prices 1 %: no signal (R = r),
    eq. 1 asks for 0.9 of each position, which rounds back to one share, so no whole-lot
    trade lowers gross; gross 202 is 5e-10 above the cap (set so), so the book is
    force-deleveraged with delta = 1 - G / g0 = 5e-10.  Before the audit
    floor((1 - 5e-10) * 1 + 1e-9) = 1 closed nothing, logged no shortfall, and gross
    stayed above the cap on every later bar while forced_delever reported delta 5e-10
    (fractional shares close 5e-10 of each position and meet the cap).  A delta > 0 now
    keeps at most one lot fewer than held, as the exact floor does."""
    e = 0.01
    P = np.array([[100.0, 100.0], [110.0, 90.0], [110 * (1 + e), 90 * (1 + e)],
                  [110 * (1 + e), 90 * (1 + e)]])
    g0, navpre = 200 * (1 + e), 1000 + 20 - 20 * (1 + e)
    cap = g0 * (1 - 5e-10) / navpre
    cfg = MNVHConfig(lam=0.9, beta=2048.0, beta_mode="absolute", cash0=1000.0,
                     max_gross=cap, lot_size=1.0)
    res = run_backtest(P, W2, cfg)
    np.testing.assert_array_equal(res.q[1], [-1.0, 1.0])
    kinds = [(t, k) for t, k, _ in res.risk_events]
    assert (2, "forced_delever") in kinds and (2, "cash_shortfall") not in kinds
    assert res.delever[2] > 0.0
    # at least one lot of every position closed, so the cap is met after the bar
    np.testing.assert_array_equal(res.q[2], [0.0, 0.0])
    assert res.gross[2] <= cap * navpre


# --- 2. invariants on random books --------------------------------------------------------

def _random_book(seed, unit, hedge, lot_kind, impact):
    rng = np.random.default_rng(seed)
    N, T = int(rng.integers(2, 6)), int(rng.integers(25, 70))
    lo, hi = {"yen": (300.0, 40_000.0), "cents": (0.02, 2.0), "usd": (5.0, 500.0)}[unit]
    p0 = np.exp(rng.uniform(np.log(lo), np.log(hi), N))
    P = p0 * np.cumprod(1 + rng.choice([0.02, 0.05]) * rng.standard_normal((T, N)), axis=0)
    P = np.maximum(P, lo / 10)
    if unit == "yen":
        P = np.round(P, 1)
    W = rng.normal(0.2, 0.5, N)
    W /= W.sum()
    kw = {}
    M = N + int(hedge)
    if hedge:
        kw = dict(hedge_prices=rng.uniform(lo, hi) * np.cumprod(1 + 0.01 * rng.standard_normal(T)),
                  asset_betas=rng.uniform(0.5, 1.5, N))
    if impact:
        kw["adv"] = rng.uniform(1e3, 1e5, N)
    big = {"yen": 1000.0, "cents": 1e5, "usd": 100.0}[unit]
    if lot_kind == "one":
        lot = float(rng.choice([1.0, big]))
    elif lot_kind == "tiny":
        lot = 1e-6
    elif lot_kind == "huge":
        lot = big * 1000
    else:  # per asset, zeros mixed in; N + 1 values (the hedge's last) for "vector_h"
        k = M if lot_kind == "vector_h" else N
        lot = tuple(float(v) for v in rng.choice([0.0, 1.0, big / 10, big], k))
    cash0 = float(rng.choice([1e6, 1e8])) * (100.0 if unit == "yen" else 1.0)
    fm = FeeModel(fee_rate=float(rng.choice([0.0, 5e-4])), half_spread=1e-4,
                  fixed_fee=float(rng.choice([0.0, 1.0, 100.0])),
                  borrow_rate=float(rng.choice([0.0, 0.05, 1.0])), cash_rate=0.01,
                  debit_rate=float(rng.choice([0.05, 2.0])), impact_coef=0.3 if impact else 0.0)
    mode = str(rng.choice(["nav", "absolute"]))
    beta = float(rng.choice([20.0, 100.0, 400.0])) * (cash0 if mode == "absolute" else 1.0)
    cfg = MNVHConfig(lam=float(rng.uniform(0.3, 1.0)), beta=beta, beta_mode=mode, cash0=cash0,
                     min_cash=float(rng.choice([-0.5, 0.0, 0.6, 0.9])) * cash0,
                     max_gross=rng.choice([None, 0.7, 2.0]),
                     max_position=rng.choice([None, 0.1, 0.3]),
                     drawdown_stop=rng.choice([None, 0.25]), exec_lag=int(rng.integers(0, 2)),
                     fees=fm, lot_size=lot)
    return P, W, cfg, kw


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), unit=st.sampled_from(["yen", "cents", "usd"]),
       hedge=st.booleans(), impact=st.booleans(),
       lot_kind=st.sampled_from(["one", "tiny", "huge", "vector", "vector_h"]))
def test_whole_lot_invariants_on_random_books(seed, unit, hedge, impact, lot_kind):
    """Yen, cent and dollar prices; one lot, a tiny (1e-6) or huge one, or per-asset lots
    with zeros mixed in (N + 1 with the hedge's last); hedge, exec_lag, both caps, cash
    floor (negative: a credit line with debit interest), borrow, drawdown stop, fixed
    fees and impact, NAV or absolute beta: the invariants of :func:`check_invariants`
    hold on every bar."""
    if lot_kind == "vector_h" and not hedge:
        lot_kind = "vector"
    P, W, cfg, kw = _random_book(seed, unit, hedge, lot_kind, impact)
    res = run_backtest(P, W, cfg, **kw)
    kimp = None
    if impact:
        kimp = np.zeros((len(P), P.shape[1] + int(hedge)))
        kimp[:, :P.shape[1]] = cfg.fees.impact_coef * rolling_vol(P) / kw["adv"]
    check_invariants(res, P, cfg, kw.get("hedge_prices"), kimp)


@pytest.mark.parametrize("seed", range(6))
def test_yen_book_with_hedge_lot_matches_reference_and_keeps_invariants(seed):
    """Japanese books (100-share lots, yen), a TOPIX-like hedge in lots of 10 (the N+1-th
    value) and one fractional stock, exec_lag 1, both caps and a high floor: the engine
    agrees with the reference (NAV to 1e-9, the same events) and every invariant holds."""
    rng = np.random.default_rng(900 + seed)
    T, N = 90, 5
    P = np.round(np.exp(rng.uniform(np.log(500), np.log(30_000), N))
                 * np.cumprod(1 + 0.03 * rng.standard_normal((T, N)), axis=0), 1)
    hp = np.round(2500 * np.cumprod(1 + 0.012 * rng.standard_normal(T)), 2)
    ab = rng.uniform(0.6, 1.4, N)
    W = rng.normal(0.2, 0.5, N)
    W /= W.sum()
    cfg = MNVHConfig(beta=60.0, cash0=1e8, min_cash=7e7, max_gross=1.2, max_position=0.25,
                     exec_lag=1, lot_size=(100.0, 100.0, 0.0, 1000.0, 100.0, 10.0),
                     fees=FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=100.0,
                                   borrow_rate=0.02, cash_rate=0.001, debit_rate=0.03))
    res = run_backtest(P, W, cfg, hedge_prices=hp, asset_betas=ab)
    ref = reference_backtest(P, W, cfg, hedge_prices=hp, asset_betas=ab)
    np.testing.assert_allclose(res.nav, ref.nav, rtol=1e-9)
    np.testing.assert_allclose(res.hedge_q, ref.hedge_q, rtol=1e-9, atol=1e-6)
    assert [(t, k) for t, k, _ in res.risk_events] == [(t, k) for t, k, _ in ref.events]
    check_invariants(res, P, cfg, hp)
    assert np.count_nonzero(res.hedge_trades) > 5
    assert np.abs(res.q[:, 2] - np.rint(res.q[:, 2])).max() > 1e-3  # the 0 stays fractional


# --- 3. hand calculations ----------------------------------------------------------------------

def test_exec_lag_rounds_the_lagged_target_at_the_next_bar():
    """Two assets at 128 move to 144 and 112 (r = +-12.5 %, R = 0): eq. 1 in absolute mode
    asks for -/+ beta / 2048 shares, 650 with beta = 2048 x 650.  With exec_lag = 1 the
    target decided at bar 1 trades at bar 2, at bar 2's prices (160, 96), rounded to
    whole lots of 100: -6.5 -> -7 and 6.5 -> 7 lots (a tie away from zero).  No costs:
    cash moves by 700 x 160 - 700 x 96 = 44,800."""
    P = np.array([[128.0, 128.0], [144.0, 112.0], [160.0, 96.0], [160.0, 96.0]])
    cfg = MNVHConfig(lam=0.9, beta=2048.0 * 650, beta_mode="absolute", exec_lag=1,
                     lot_size=100)
    res = run_backtest(P, W2, cfg)
    np.testing.assert_array_equal(res.q[1], [0.0, 0.0])
    np.testing.assert_array_equal(res.trades[2], [-700.0, 700.0])
    assert res.cash[2] == 1e6 + 700 * 160 - 700 * 96
    assert res.nav[2] == 1e6 + 700 * 160 - 700 * 96 - 700 * 160 + 700 * 96


def test_hedge_leg_rounds_a_tie_away_from_zero_to_its_own_lot():
    """Bar 1 as above with lag 0: targets -650 / +650 shares at 144 / 112 (lots of 100 ->
    -700 / +700).  Asset betas 1: the hedge targets -(-650 x 144 + 650 x 112) / h =
    20,800 / h units of the hedge; h = 832 gives 25 units, exactly 2.5 lots of 10, which
    rounds away from zero to 30 (the N+1-th lot size is the hedge's).  No costs."""
    P = np.array([[128.0, 128.0], [144.0, 112.0], [144.0, 112.0]])
    hp = np.array([800.0, 832.0, 832.0])
    cfg = MNVHConfig(lam=0.9, beta=2048.0 * 650, beta_mode="absolute",
                     lot_size=(100.0, 100.0, 10.0))
    res = run_backtest(P, W2, cfg, hedge_prices=hp)
    np.testing.assert_array_equal(res.q[1], [-700.0, 700.0])
    assert res.hedge_q[1] == 30.0
    assert res.cash[1] == 1e6 + 700 * 144 - 700 * 112 - 30 * 832


def test_a_lot_worth_more_than_the_book_never_trades_and_cash_compounds():
    """Lots of 1e6 shares at ~100 (1e8 a lot) against 1e6 of cash: no whole-lot trade
    fits, so the book stays flat and NAV is cash compounding at 2 % / 252 per bar."""
    rng = np.random.default_rng(0)
    P = 100 * np.cumprod(1 + 0.02 * rng.standard_normal((60, 4)), axis=0)
    cfg = MNVHConfig(lot_size=1e6, fees=FeeModel(cash_rate=0.02))
    res = run_backtest(P, np.full(4, 0.25), cfg)
    assert not np.any(res.q) and not np.any(res.trades)
    np.testing.assert_allclose(res.nav, 1e6 * (1 + 0.02 / 252) ** np.arange(60), rtol=1e-13)


def test_drawdown_stop_liquidates_whole_lot_book_and_hedge_to_zero():
    """A loss-making book (beta 400, 100-share lots, hedge in lots of 10) hits a 10 %
    drawdown stop: from that bar on every position, hedge included, is exactly 0 and no
    trade follows; before it every position is a whole number of its lots."""
    rng = np.random.default_rng(7)
    T, N = 200, 4
    P = np.round(3000 * np.cumprod(1 + 0.04 * rng.standard_normal((T, N)), axis=0), 1)
    hp = 2000 * np.cumprod(1 + 0.01 * rng.standard_normal(T))
    cfg = MNVHConfig(beta=400.0, cash0=1e8, drawdown_stop=0.1, lot_size=(100.0,) * N + (10.0,),
                     fees=FeeModel(fee_rate=1e-3))
    res = run_backtest(P, np.full(N, 0.25), cfg, hedge_prices=hp)
    stop = [t for t, k, _ in res.risk_events if k == "drawdown_stop"]
    assert stop
    t = stop[0]
    assert np.all(res.q[t:] == 0.0) and np.all(res.hedge_q[t:] == 0.0)
    assert not np.any(res.trades[t + 1:]) and not np.any(res.hedge_trades[t + 1:])
    assert np.all(res.q[:t] % 100 == 0) and np.all(res.hedge_q[:t] % 10 == 0)
    assert np.any(res.hedge_q[:t] != 0)


# --- 4. grid, ablation, walk-forward ----------------------------------------------------------

def _jp_prices(seed, T, N):
    rng = np.random.default_rng(seed)
    P = np.round(np.exp(rng.uniform(6, 10, N)) * np.cumprod(1 + 0.02 * rng.standard_normal((T, N)),
                                                            axis=0), 1)
    bench = 2000 * np.cumprod(1 + 0.01 * rng.standard_normal(T))
    return P, bench


@pytest.mark.parametrize("netted", [False, True])
def test_grid_equals_single_runs_with_hedge_lot_impact_and_lag(netted):
    """run_grid with a hedge, impact, exec_lag 1, both caps and a floor: each point's NAV
    equals run_backtest's bit for bit, with the same number of events.  The hedge has a
    lot of its own (10), or (``netted``) is fractional and takes up the legs' rounding,
    with betas from -0.5 to 2.5 varying over time."""
    P, hp = _jp_prices(3, 120, 4)
    rng = np.random.default_rng(1)
    ab = rng.uniform(-0.5, 2.5, (120, 4)) if netted else rng.uniform(0.5, 1.5, 4)
    adv = np.full(4, 5e4)
    lots = (100.0, 0.0, 1000.0, 100.0) + (() if netted else (10.0,))
    cfg = MNVHConfig(cash0=1e8, min_cash=5e7, max_gross=1.2, max_position=0.3, exec_lag=1,
                     lot_size=lots,
                     fees=FeeModel(fee_rate=5e-4, fixed_fee=100.0, borrow_rate=0.03,
                                   impact_coef=0.2))
    W = np.full(4, 0.25)
    g = run_grid(P, W, [0.8, 0.95], [30.0, 120.0], cfg, hedge_prices=hp, asset_betas=ab,
                 adv=adv, threads=2)
    for k, (lam, beta) in enumerate(zip(g.lam, g.beta, strict=True)):
        one = run_backtest(P, W, dataclasses.replace(cfg, lam=lam, beta=beta),
                           hedge_prices=hp, asset_betas=ab, adv=adv)
        np.testing.assert_array_equal(g.nav[k], one.nav)
        assert g.n_events[k] == len(one.risk_events)
        if netted:
            assert np.count_nonzero(one.hedge_trades) > 20
        else:
            assert np.all(one.hedge_q % 10 == 0)


def test_ablation_points_with_n_plus_one_lots_equal_single_runs():
    """An ablation over schemes x hedge on/off x throttle with N + 1 lot sizes, caps, a floor,
    fixed fees and exec_lag 1: every row's final NAV and event count equal a single
    run_strategy with the same settings (the first N lot sizes for unhedged rows)."""
    P, bench = _jp_prices(5, 260, 4)
    lots = (100.0, 0.0, 1000.0, 100.0, 1.0)
    cfg = research_config(lot_size=lots, cash0=1e7, max_gross=1.5, min_cash=1e6, exec_lag=1,
                          fixed_fee=100.0, max_position=0.3)
    tab = ablation_grid(P, cfg, benchmark=bench, lams=[0.9], betas=[20.0, 60.0],
                        schemes=["equal", "invvol", "markowitz"], hedges=[False, True],
                        throttles=[False, True])
    assert len(tab) == 24
    for _, row in tab.iterrows():
        inp = build_inputs(P, row["weights"], benchmark=bench, hedge=row["hedge"],
                           throttle=row["throttle"])
        c = dataclasses.replace(cfg, lam=row["lam"], beta=row["beta"],
                                lot_size=lots if row["hedge"] else lots[:4])
        one = run_strategy(P, c, inp)
        assert row["final_nav"] == one.nav[-1]
        assert row["risk_events"] == len(one.risk_events)


def test_walk_forward_oos_path_is_the_chained_single_runs_in_whole_lots():
    """Each OOS fold of a walk-forward with N + 1 lot sizes is a single whole-lot run on its
    rows with the chosen parameters, rescaled to start where the previous fold ended."""
    P, bench = _jp_prices(5, 300, 4)
    lots = (100.0, 0.0, 1000.0, 100.0, 1.0)
    cfg = research_config(lot_size=lots, cash0=1e7, max_gross=1.5, min_cash=1e6, exec_lag=1,
                          fixed_fee=100.0)
    wf = walk_forward(P, cfg, benchmark=bench, is_periods=120, oos_periods=60,
                      lams=[0.8, 0.95], betas=[20.0, 60.0], schemes=["equal", "invvol"],
                      hedges=[False, True])
    level, parts = cfg.cash0, [np.array([cfg.cash0])]
    for _, f in wf.folds.iterrows():
        s, e = int(f["oos_first"]), int(f["oos_last"])
        inp = build_inputs(P, f["weights"], benchmark=bench, hedge=f["hedge"]).rows(s, e + 1)
        c = dataclasses.replace(cfg, lam=f["lam"], beta=f["beta"],
                                lot_size=lots if f["hedge"] else lots[:4])
        one = run_strategy(P[s:e + 1], c, inp)
        parts.append(one.nav[1:] * (level / one.nav[0]))
        level = parts[-1][-1]
    np.testing.assert_allclose(np.concatenate(parts), wf.oos_nav, rtol=1e-13)


# --- 5. formula == API == CLI with the hedge's lot --------------------------------------------

def test_hedge_lot_through_formula_cli_and_api(xl, tmp_path):
    """=MNVH_BACKTEST with hedge TRUE and N + 1 lot sizes (zeros mixed in), exec_lag 1, both
    caps, a floor and a fixed fee; `pyxl backtest --hedge --lot-size ...` with the same
    settings; and the API: the same Final NAV to the last digit."""
    from pyxl.cli import main
    from pyxl.data import load_sp500_index, load_sp500_prices
    from pyxl.numparse import EXACT_CSV
    from pyxl.xl.cache import clear_all

    px = load_sp500_prices("2015-01-02", "2015-12-31").iloc[:, :6]
    b = load_sp500_index("2015-01-02", "2015-12-31").reindex(px.index).to_numpy(float)
    p = px.to_numpy(float)
    lots = (1.0, 10.0, 0.0, 5.0, 1.0, 3.0, 2.0)
    api = run_strategy(p, research_config(exec_lag=1, max_gross=1.5, min_cash=2e5,
                                          max_position=0.2, fixed_fee=1.0, lot_size=lots),
                       build_inputs(p, "equal", benchmark=b, hedge=True))
    assert np.any(api.hedge_q) and np.all(api.hedge_q % 2 == 0)
    grid = tuple([("Date", *px.columns)] + [(d.to_pydatetime(), *r) for d, r in
                                            zip(px.index, p.tolist(), strict=True)])
    bgrid = tuple([("Date", "IDX")] + [(d.to_pydatetime(), v) for d, v in
                                       zip(px.index, b.tolist(), strict=True)])
    args = [grid, None, None, None, None, None, bgrid, True, None, None, 1e6, 1.5, 0.2, None,
            1, 1.0, None, None, 2e5, None, None, None, (lots,)]
    clear_all()
    formula = {r[0]: r[1] for r in xl("MNVH_BACKTEST", *args)}["Final NAV"]
    px.rename_axis("Date").to_csv(tmp_path / "p.csv")
    pd.DataFrame({"Date": px.index, "IDX": b}).to_csv(tmp_path / "b.csv", index=False)
    assert main(["backtest", str(tmp_path / "p.csv"), "--benchmark", str(tmp_path / "b.csv"),
                 "--hedge", "--exec-lag", "1", "--max-gross", "1.5", "--min-cash", "2e5",
                 "--max-position", "0.2", "--fixed-fee", "1",
                 "--lot-size", ",".join(str(v) for v in lots), "--no-xlsx",
                 "-o", str(tmp_path / "o")]) == 0
    c = pd.read_csv(tmp_path / "o" / "mnvh" / "metrics.csv", **EXACT_CSV)
    cli = c.set_index("label").loc["Final NAV", "MNVH"]
    assert formula == api.nav[-1] == cli
