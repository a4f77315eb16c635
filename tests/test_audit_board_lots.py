"""Audit of whole board lots (``lot_size``): the scale search when neither end of the
continuous range is feasible once rounded, and forced deleveraging whose rounding
breaks the cash floor.  Every expected value is a hand calculation or a brute force
over scales, not the engine's own output."""

from __future__ import annotations

import numpy as np
import pytest

from pyxl.core.ledger.board_lots import lot_scale
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest

NO_IMPACT = np.zeros((1, 2))


def _excel_round(v):
    """Excel's ROUND(v, 0): a tie away from zero."""
    v = np.asarray(v, float)
    t = np.trunc(v)
    return np.where(np.abs(v - t) >= 0.5, t + np.sign(v), t)


def test_scale_search_scans_when_both_ends_round_infeasible():
    """q = (2, -5) shares at p = (2, 4), trade dq = (-1.5, 6), lots of 1, gross cap 23.5,
    cash slack 5.5, no costs.  Gross is 24 > 23.5 before the trade, so the continuous
    scales run from lo = 1/54 (gross 23.5) to hi = 11/42 (cash 5.5).  Rounded, lo keeps
    (2, -5) (gross 24, over the cap) and hi buys 2 of asset 2 (8 of cash, over 5.5), but
    every k in [1/12, 1/4] buys exactly one (gross 20, cash 4): the last feasible scale is
    1/4 (-3.5 rounds away from zero to -4).  Before the audit the search gave up (-1)
    and the engine deleveraged the book instead of trading."""
    q, dq, p, L = (np.array(v, float) for v in ([2, -5], [-1.5, 6], [2, 4], [1, 1]))
    lo, hi = 1.0 / 54.0, 11.0 / 42.0
    x = np.zeros(2)
    k, why = lot_scale(q, dq, p, L, lo, hi, 5.5, 23.5, True, NO_IMPACT, 0, False, 0.0, 0.0, x,
                       np.zeros(1), -1)
    assert why == 1  # hi breaks the cash floor once rounded
    assert k == pytest.approx(0.25, abs=1e-12)
    np.testing.assert_array_equal(x, [0.0, 1.0])
    # brute force over every scale of a fine grid: 1/4 is the largest feasible one
    ks = np.linspace(lo, hi, 200_001)
    pos = _excel_round(q + ks[:, None] * dq)
    ok = (5.5 - (pos - q) @ p >= 0) & (np.abs(pos) @ p <= 23.5)
    assert ks[ok].max() <= 0.25 + 1e-12 and ks[ok].max() > 0.25 - 1e-5


def test_whole_lot_deleveraging_raises_delta_to_keep_the_floor():
    """Long 400 at 5, short 100 at 20, lots of 100, cash slack 500, no costs.  A small
    delta (0.01, from the gross cap) closes one lot of each: sell 100 x 5, buy back
    100 x 20, 1,500 of cash: the floor breaks.  Keeping 1 lot of the long (sell 300,
    buy 100) needs 500 of cash and meets the floor; that takes delta just above 1/2
    (floor((1 - delta) 4) = 1).  Before the audit the engine closed delta = 0.01 in
    whole lots and logged a cash shortfall."""
    from pyxl.core.ledger.board_lots import lot_delever_scale  # added by the audit

    q, p, L = np.array([400.0, -100.0]), np.array([5.0, 20.0]), np.array([100.0, 100.0])
    x = np.zeros(2)
    d = lot_delever_scale(q, L, 0.01, p, NO_IMPACT, 0, False, 0.0, 0.0, 500.0, x, np.inf,
                          False, np.zeros(1), -1)
    assert 0.5 < d < 0.5 + 1e-8
    np.testing.assert_array_equal(x, [-300.0, 100.0])
    # no feasible whole-lot deleveraging: -1 and x closes delta
    d = lot_delever_scale(q, L, 0.01, p, NO_IMPACT, 0, False, 0.0, 0.0, -1.0, x, np.inf,
                          False, np.zeros(1), -1)
    assert d == -1.0
    np.testing.assert_array_equal(x, [-100.0, 100.0])


# --- engine: Japanese-equity books (100-share lots, yen prices 500-30,000) ----------------

def _jp_book(seed, lot=100.0, hedge=False, T=120, N=6):
    rng = np.random.default_rng(seed)
    p0 = np.exp(rng.uniform(np.log(500), np.log(30000), N))
    P = np.round(p0 * np.cumprod(1.0 + 0.03 * rng.standard_normal((T, N)), axis=0), 1)
    W = rng.normal(0.2, 0.5, N)
    W /= W.sum()
    kw = {}
    if hedge:
        kw = dict(hedge_prices=np.round(2000 * np.cumprod(1 + 0.01 * rng.standard_normal(T)),
                                        2), asset_betas=rng.uniform(0.5, 1.5, N))
    return P, W, kw


def _keep(q, L, d):
    return np.sign(q) * L * np.floor((1.0 - d) * np.abs(q) / L + 1e-9)


def _need(x, p, fm):
    v = x * p
    return v.sum() + (fm.fee_rate + fm.half_spread) * np.abs(v).sum() + \
        fm.fixed_fee * np.count_nonzero(x)


CASES = [(s, h, lot, fl) for s in (1, 4, 7) for h in (False, True) for lot in (100.0, 1000.0)
         for fl in (0.5, 0.9)]


@pytest.mark.parametrize(("seed", "hedge", "lot", "floor"), CASES)
def test_whole_lots_keep_floor_and_cap_unless_no_whole_lot_book_can(seed, hedge, lot, floor):
    """A small book near its floor (90 % or 50 % of 1e7 yen in cash) under a gross cap of
    0.8: after every bar cash is on or above the floor and gross within the cap, except
    on a logged cash shortfall, and a shortfall is logged only when no whole-lot
    deleveraging (any delta on a grid of 4,001) could keep the floor.  Before the audit
    the continuous delta was rounded as it was, and buying back whole lots of shorts
    broke floors a larger delta keeps (e.g. 197,080 yen below a 9e6 floor)."""
    P, W, kw = _jp_book(seed, hedge=hedge)
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, borrow_rate=0.02, cash_rate=0.001,
                  debit_rate=0.03)
    cfg = MNVHConfig(beta=35.0, cash0=1e7, min_cash=floor * 1e7, max_gross=0.8, fees=fm,
                     lot_size=lot)
    r = run_backtest(P, W, cfg, **kw)
    Q = r.q if not hedge else np.c_[r.q, r.hedge_q]
    PP = P if not hedge else np.c_[P, kw["hedge_prices"]]
    Lv = np.full(PP.shape[1], lot)
    assert np.all(np.abs(Q / lot - np.rint(Q / lot)) == 0.0)
    short = {t for t, k, _ in r.risk_events if k == "cash_shortfall"}
    navpre = r.nav[:-1] + r.mtm[1:] + r.financing[1:]
    for s in range(1, len(P)):
        # cash recomputed from the trades, independently of the engine's cash column
        x = Q[s] - Q[s - 1]
        cash = r.cash[s - 1] + r.financing[s] - _need(x, PP[s], fm)
        assert cash == pytest.approx(r.cash[s], rel=1e-12, abs=1e-6)
        if not x.any():
            continue
        if s in short:
            q, slack = Q[s - 1], r.cash[s - 1] + r.financing[s] - cfg.min_cash
            for d in np.linspace(0.0, 1.0, 4001):
                y = _keep(q, Lv, d) - q
                gross = np.abs((q + y) * PP[s]).sum()
                assert not (slack - _need(y, PP[s], fm) >= 0 and gross <= 0.8 * navpre[s - 1]
                            ), (s, d)
        else:
            assert r.cash[s] >= cfg.min_cash - 1e-6, s
            assert r.gross[s] <= 0.8 * navpre[s - 1] * (1 + 1e-12), s


@pytest.mark.parametrize("seed", range(6))
def test_no_forced_deleveraging_while_a_whole_lot_trade_fits(seed):
    """A book trading hard against a gross cap of 0.8 (beta 200, 100-share lots, yen
    prices): a bar is force-deleveraged (one lot or more off every position) only when
    no whole-lot trade at a scale the continuous rule allows meets the cash floor and
    the cap.  Brute force: eq. 1's trade dq from the previous positions, continuous
    scales on a grid of 2,000 (the allowed range is where k dq fits), and every
    rounding breakpoint of the whole-lot trade inside it.  Before the audit a bar
    whose smallest allowed scale rounded over the cap (the cap met exactly there) gave
    up and deleveraged, e.g. on a gross 1e-7 over its cap."""
    P, W, _ = _jp_book(100 + seed)
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=100.0)
    cfg = MNVHConfig(beta=200.0, cash0=1e8, min_cash=3e7, max_gross=0.8, fees=fm,
                     lot_size=100.0)
    r = run_backtest(P, W, cfg)
    lin = fm.fee_rate + fm.half_spread
    for t, kind, _ in r.risk_events:
        if kind != "forced_delever":
            continue
        q, p, pp = r.q[t - 1], P[t], P[t - 1]
        navpre = r.nav[t - 1] + r.mtm[t] + r.financing[t]
        slack = r.cash[t - 1] + r.financing[t] - cfg.min_cash
        ret = p / pp - 1
        dq = cfg.beta * navpre * (W / pp) * (W @ ret - ret) + cfg.lam * q - q
        G = 0.8 * navpre

        def fits(x, q=q, p=p, slack=slack, G=G):
            v = x * p
            need = v.sum() + lin * np.abs(v).sum() + fm.fixed_fee * np.count_nonzero(x)
            return slack - need >= 0 and np.abs((q + x) * p).sum() <= G

        ks = np.linspace(0.0, 1.0, 2001)[1:]
        cont = [k for k in ks if fits(k * dq)]
        if not cont:
            continue
        lo, hi = min(cont), max(cont)
        u = np.arange(-2000, 2001) + 0.5
        cuts = ((u[:, None] * 100.0 - q) / np.where(dq == 0, np.nan, dq)).ravel()
        cuts = np.sort(cuts[(cuts > lo) & (cuts < hi)])
        mids = np.r_[lo, 0.5 * (cuts[1:] + cuts[:-1]), hi] if cuts.size else np.r_[lo, hi]
        for k in mids:
            x = _excel_round((q + k * dq) / 100.0) * 100.0 - q
            assert not (x.any() and fits(x)), (t, k, x)
    assert any(k == "gross_cap" for _, k, _ in r.risk_events)
