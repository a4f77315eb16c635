"""A price that did not move gives r = 0 exactly, and a trade that exact arithmetic
makes 0 is not executed (no fixed fee for rounding residue).

Checked against exact rational arithmetic (``fractions.Fraction``) and against the
pure-Python reference on tick-rounded prices, where unchanged prices and exact
cancellations (``R = r_i``) are common: forward-filled holidays, low-priced stocks.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from pyxl.core.mnvh import FeeModel, MNVHConfig, mnvh_step, run_backtest
from pyxl.core.mnvh.kernel import TRADE_DUST
from pyxl.core.mnvh.reference import reference_backtest
from pyxl.core.mnvh.rule import mnvh_return

FEES = FeeModel(fee_rate=1e-3, fixed_fee=2.0)


def tick_book(seed, T=60, N=4, flat=(20, 30)):
    """Prices rounded to 1 (30-120 yen, 1 % daily vol), unchanged over ``flat`` bars."""
    rng = np.random.default_rng(seed)
    P = np.round(rng.uniform(30, 120, N)
                 * np.cumprod(1 + 0.01 * rng.standard_normal((T, N)), axis=0))
    P[flat[0]:flat[1]] = P[flat[0]]
    return rng, P


def test_an_unchanged_price_has_a_return_of_exactly_zero():
    """``49 * (1/49)`` is ``1 - 2^-53`` in binary, so the former ``p u - 1`` gave
    r = -1.1e-16 for a price of 49 that did not move; ``(p - p) u`` is 0."""
    assert 49.0 * (1.0 / 49.0) - 1.0 != 0.0  # the premise
    for p in (49.0, 98.0, 103.0, 1e-3 * 49, 12345.678):
        assert mnvh_return(p, p, 1.0 / p) == 0.0
    q = np.array([37.0, -12.5, 3.25])
    p = np.array([49.0, 98.0, 103.0])
    # lam = 1 and no price moved: eq. 1 keeps every position, bit for bit
    np.testing.assert_array_equal(mnvh_step(q, p, p, np.full(3, 1 / 3), 1.0, 1e6), q)


def test_returns_are_accurate_to_the_last_place_of_r_not_of_one():
    """The price change is exact (Sterbenz), so r is within 2 ulp of the exact
    rational return; ``p u - 1`` is off by up to an ulp of 1 (2.2e-16 absolute)."""
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(2000):
        a = float(rng.uniform(1, 1000))
        b = a * float(1 + rng.uniform(-1e-4, 1e-4))
        exact = Fraction(b) / Fraction(a) - 1
        got = mnvh_return(b, a, 1.0 / a)
        if exact != 0:
            worst = max(worst, abs(float((Fraction(got) - exact) / exact)))
    assert worst <= 2 * 2.0**-52


@pytest.mark.parametrize("lag", [0, 1])
def test_a_book_with_lam_1_does_not_trade_or_pay_fees_while_prices_stand_still(lag):
    """lam = 1: eq. 1's trade is ``beta w / p (R - r)``, exactly 0 on the 10 bars
    where no price moves (bars 21-30 with lag 0; 22-31 with lag 1)."""
    hits = 0
    for seed in range(12):
        _, P = tick_book(seed)
        cfg = MNVHConfig(lam=1.0, beta=0.5, exec_lag=lag, fees=FEES)
        res = run_backtest(P, np.full(4, 0.25), cfg)
        still = range(21 + lag, 30 + lag)
        assert not res.trades[list(still)].any()
        assert not res.fees[list(still)].any()
        np.testing.assert_array_equal(res.q[29 + lag], res.q[20 + lag])
        hits += len(still)
    assert hits == 12 * 9


def exact_zero_trades(P, w, s):
    """Assets whose eq. 1 trade at bar ``s`` is 0 in exact arithmetic with lam = 1
    (``R = r_i``), from the rational returns of the binary prices."""
    r = [Fraction(P[s, i]) / Fraction(P[s - 1, i]) - 1 for i in range(P.shape[1])]
    R = sum(Fraction(w[i]) * r[i] for i in range(len(r)))
    return np.array([R == ri for ri in r])


def test_trades_that_exact_arithmetic_makes_zero_are_not_executed():
    """On tick-rounded prices ``R = r_i`` holds exactly more often than one might
    think (returns 1/56 and -2/112, or 0 and 0); in binary the two sides can differ
    by an ulp and eq. 1 then proposes about 1e-13 shares, which used to pay the fixed
    fee.  Every exactly-zero trade must be 0 and every other one executed."""
    zero_not_flat = 0
    for seed in range(120):
        _, P = tick_book(seed, flat=(20, 22))
        w = np.full(4, 0.25)
        res = run_backtest(P, w, MNVHConfig(lam=1.0, beta=0.5, fees=FEES))
        for s in range(1, P.shape[0]):
            z = exact_zero_trades(P, w, s)
            np.testing.assert_array_equal(res.trades[s] == 0.0, z, err_msg=f"{seed} {s}")
            assert res.fees[s] == pytest.approx(
                FEES.fixed_fee * (~z).sum() + FEES.fee_rate * res.turnover[s], rel=1e-12)
            zero_not_flat += int((z & (P[s] != P[s - 1])).any())
    assert zero_not_flat >= 4  # the cancellations, not only unchanged prices, are exercised


@pytest.mark.parametrize("seed", range(48))
def test_engine_equals_reference_on_tick_rounded_books(seed):
    """Unchanged prices and exact cancellations in every combination of lots, hedge,
    lag, caps and impact: the engine and the reference make the same decisions."""
    rng, P = tick_book(seed, T=50, flat=(15, 22))
    N = 4
    W = np.full(N, 0.25) if seed % 4 else rng.dirichlet(np.ones(N))
    lots = [None, [1] * N, [100] * N, [100, 0, 100, 1]][seed % 4]
    hedge = seed % 3 == 0
    if lots is not None and hedge and seed % 2:
        lots = lots + [0]
    cfg = MNVHConfig(lam=[1.0, 0.9, 1.0][seed % 3], beta=0.5,
                     max_position=0.3 if seed % 5 else None,
                     max_gross=2.0 if seed % 7 else None, exec_lag=seed % 2,
                     fees=FeeModel(fee_rate=1e-3, fixed_fee=2.0,
                                   impact_coef=0.1 if seed % 6 == 1 else 0.0),
                     lot_size=lots, cash0=1e8 if lots and max(lots) > 1 else 1e6)
    kw = dict(adv=rng.uniform(1e4, 1e5, N))
    if hedge:
        hp = np.round(100 * np.cumprod(1 + 0.01 * rng.standard_normal(50)))
        hp[15:22] = hp[15]
        kw.update(hedge_prices=hp, asset_betas=rng.choice([0.5, 1.0, 1.5], N))
    a = run_backtest(P, W, cfg, **kw)
    b = reference_backtest(P, W, cfg, **kw)
    assert [(t, k) for t, k, _ in a.risk_events] == [(t, k) for t, k, _ in b.events]
    np.testing.assert_allclose(a.nav, b.nav, rtol=1e-10)
    np.testing.assert_allclose(a.fees, b.fees, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(a.trades == 0.0, np.asarray(b.trades)[:, :N] == 0.0)


def test_a_position_below_the_dust_level_is_still_closed_by_a_liquidation():
    """Asset 3 gets a position worth about 4e-5 yen on bar 1 (weight 1e-9), then
    weight 0: lam = 0.5 halves it while each halving trade is above 1e-12 of NAV
    (1e-6 yen), so it stops at about 1.2e-6 yen; its price then falls from 100 to 1
    (bar 8), leaving a position below the dust level.  A drawdown stop (asset 1,
    held long, halves on bar 9) must still close it."""
    T = 12
    P = np.full((T, 3), 100.0)
    P[1] = [101.0, 99.0, 102.0]
    P[8:, 2] = 1.0
    P[9:, 0] = 50.0
    W = np.tile([0.5, 0.5 - 1e-9, 1e-9], (T, 1))
    W[1:] = [0.5, 0.5, 0.0]
    cfg = MNVHConfig(lam=0.5, beta=2.0, drawdown_stop=1e-5, fees=FeeModel())
    res = run_backtest(P, W, cfg)
    ref = reference_backtest(P, W, cfg)
    held = np.abs(res.q[:, 2] * P[:, 2])
    assert 1e-5 < held[1] < 1e-4
    # the halvings stop once a trade would be at most 1e-12 of NAV
    assert res.trades[2, 2] != 0.0 and res.trades[7, 2] == 0.0 and res.trades[8, 2] == 0.0
    assert 0.5 * held[7] <= TRADE_DUST * res.nav[6] < held[7]
    assert 0.0 < held[8] <= TRADE_DUST * res.nav[7]
    assert [k for t, k, _ in res.risk_events if t == 9] == ["drawdown_stop"]
    assert not res.q[9].any() and res.trades[9, 2] == -res.q[8, 2]
    np.testing.assert_allclose(res.nav, ref.nav, rtol=1e-12)


@pytest.mark.parametrize("above_floor, trades", [(np.nextafter(1e6, 0.0), False),
                                                 (1e6 - 1e-3, True)])
def test_a_scale_whose_trade_is_dust_is_kappa_zero(above_floor, trades):
    """Cash 1 ulp (1.2e-10) above its floor and a trade that needs cash (5 % fees):
    the cash floor allows kappa of about 1e-14, a trade worth 3e-9 yen in all, below
    1e-12 of NAV: that is no trade, logged ``kappa_zero`` (it was ``cash_limit`` with
    kappa 1e-14).  With 1e-3 yen of room, kappa = 8.7e-8 trades 0.027 yen: a trade."""
    rng = np.random.default_rng(1)
    P = 100 * np.cumprod(1 + 0.02 * rng.standard_normal((6, 4)), axis=0)
    cfg = MNVHConfig(lam=0.9, beta=35.0, cash0=1e6, min_cash=float(above_floor),
                     fees=FeeModel(fee_rate=0.05))
    res = run_backtest(P, np.full(4, 0.25), cfg)
    ref = reference_backtest(P, np.full(4, 0.25), cfg)
    first = res.risk_events[0]
    assert [e[:2] for e in res.risk_events] == [e[:2] for e in ref.events]
    if trades:
        assert first[:2] == (1, "cash_limit") and 1e-8 < first[2] < 1e-7
        assert res.turnover[1] > 1e-2 and res.cash[1] >= cfg.min_cash
    else:
        assert first == (1, "kappa_zero", 0.0)
        assert res.turnover[1] == 0.0 and res.fees[1] == 0.0
        # the scale the floor allows, and what it would have traded
        full = run_backtest(P, np.full(4, 0.25), dataclasses.replace(cfg, min_cash=-1e9))
        need = full.cash[0] - full.cash[1]  # cash the full trade takes, fees included
        assert full.kappa[1] == 1.0 and need > 0.0
        k = (1e6 - cfg.min_cash) / need
        assert 0.0 < k * full.turnover[1] <= TRADE_DUST * 1e6
