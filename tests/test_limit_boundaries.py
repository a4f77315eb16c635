"""Books on which binary rounding used to decide a limit: engine and reference now
make the same decisions.

A sweep of 2,090 random tick-rounded books (prices on a tick of 0.1-5, a stretch of
unchanged prices, every combination of lots, hedge, lag, caps, floors, stops and
costs) against the pure-Python reference found these four, each a comparison
decided by the last binary digit:

* 61: cash 1.5e-7 above a floor of 0 on 8.5e8 yen of NAV gave the reference a
  kappa of 2.4e-17 (``cash_limit``) where the engine, its cash on the floor to the
  last digit, logged ``kappa_zero``;
* 480: five assets clipped to a 10 % position cap sum to the 50 % gross cap; the
  reference's sum was an ulp over it, so it scaled the trade by ``1 - 3e-16`` and
  logged ``gross_cap``;
* 1824: a position left on its cap was clipped again (``max_position``) on the bar
  where its recomputed cap came out an ulp lower, in one implementation only;
* 3431: as 61, with the engine the one that traded (kappa 9.7e-10 from 1e-8 yen).

Each now passes with the margins: cash within 1e-12 of its floor is on it, both
caps are met to 1e-12 (``CAP_TOL``), and a kappa whose trade is dust is 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest
from pyxl.core.mnvh.reference import reference_backtest


def sweep_book(seed):
    """The sweep's random book ``seed``: prices, weights, config and keywords."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(20, 80))
    N = int(rng.integers(1, 7))
    tick = rng.choice([1.0, 0.5, 0.1, 5.0])
    vol = rng.choice([0.005, 0.01, 0.03])
    P = rng.uniform(20, 3000, N) * np.cumprod(1 + vol * rng.standard_normal((T, N)), axis=0)
    P = np.maximum(tick, np.round(P / tick) * tick)
    a0 = int(rng.integers(1, T - 1))
    P[a0:a0 + int(rng.integers(1, 8))] = P[a0]
    if rng.random() < 0.5:
        W = np.full(N, 1 / N)
    elif rng.random() < 0.5:
        W = rng.dirichlet(np.ones(N))
    else:
        W = rng.normal(0.3, 0.5, (T, N))
        W /= W.sum(1, keepdims=True)
    lots = None if rng.integers(0, 4) == 0 else list(rng.choice([1.0, 100.0, 0.0], N))
    hedge = rng.random() < 0.4
    if lots is not None and hedge and rng.random() < 0.5:
        lots = lots + [float(rng.choice([0.0, 1.0]))]
    cash = float(rng.choice([1e6, 1e8]))
    lam = float(rng.choice([1.0, 0.9, 0.5, 1.0]))
    beta = float(rng.choice([0.5, 5.0, 35.0]))
    pos = float(rng.choice([0.1, 0.3, 1.0])) if rng.random() < 0.5 else None
    gross = float(rng.choice([0.5, 2.0])) if rng.random() < 0.5 else None
    lag = int(rng.integers(0, 2))
    floor = float(rng.choice([0.0, 0.5 * cash, -cash]))
    dd = float(rng.choice([0.02, 0.2])) if rng.random() < 0.3 else None
    fees = FeeModel(fee_rate=float(rng.choice([0, 1e-3])),
                    fixed_fee=float(rng.choice([0, 2.0, 100.0])),
                    half_spread=float(rng.choice([0, 2e-4])),
                    impact_coef=float(rng.choice([0, 0.1])),
                    borrow_rate=float(rng.choice([0, 0.02])),
                    cash_rate=float(rng.choice([0, 0.01])))
    cfg = MNVHConfig(lam=lam, beta=beta, max_position=pos, max_gross=gross, exec_lag=lag,
                     min_cash=floor, drawdown_stop=dd, fees=fees, lot_size=lots, cash0=cash,
                     lot_method=str(rng.choice(["fifo", "average"])))
    kw = dict(adv=rng.uniform(1e4, 1e5, N))
    if hedge:
        hp = np.round(100 * np.cumprod(1 + 0.01 * rng.standard_normal(T)))
        hp[a0:a0 + 3] = hp[a0]
        kw.update(hedge_prices=hp, asset_betas=rng.choice([0.5, 1.0, 1.5], N))
    return P, W, cfg, kw


@pytest.mark.parametrize("seed", [61, 480, 1824, 3431])
def test_engine_and_reference_agree_where_rounding_decided_a_limit(seed):
    P, W, cfg, kw = sweep_book(seed)
    a = run_backtest(P, W, cfg, **kw)
    b = reference_backtest(P, W, cfg, **kw)
    assert [e[:2] for e in a.risk_events] == [e[:2] for e in b.events]
    scale = max(1.0, float(np.abs(a.nav).max()))
    np.testing.assert_allclose(a.nav, b.nav, rtol=1e-9, atol=1e-9 * scale)
    # no event carries a kappa within rounding of 0 or 1
    for _, kind, detail in a.risk_events:
        if kind in ("cash_limit", "gross_cap"):
            assert 1e-12 < detail < 1.0 - 1e-12
