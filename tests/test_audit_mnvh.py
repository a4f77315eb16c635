"""Audit of MNVH + Ledger-SPT (seed 000) against independent values.

Everything here is checked against numbers worked out by hand, a plain-Python
re-implementation written for this file (eq. 1, the cash account, kappa, forced
deleveraging, stops, a hedge leg, FIFO and moving-average lots), or
pandas/scipy; never against the engine's own output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from pyxl.core.ledger.kappa import largest_kappa
from pyxl.core.ledger.lots import FifoBook, average_cost_step, fifo_replay
from pyxl.core.metrics import performance_metrics
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest
from pyxl.core.mnvh.ablation import research_config, walk_forward

# ---------------------------------------------------------------------------
# An independent plain-Python MNVH + Ledger-SPT
# ---------------------------------------------------------------------------


def _gross(q, dq, p, k):
    return sum(abs(q[i] + k * dq[i]) * p[i] for i in range(len(q)))


def _largest_gross_k(q, dq, p, cap):
    """Largest k in [0, 1] with sum |q + k dq| p <= cap (piecewise linear: exact
    breakpoints and the crossing on one linear piece); None if none is feasible."""
    pts = sorted({0.0, 1.0} | {-q[i] / dq[i] for i in range(len(q))
                               if dq[i] != 0 and 0 < -q[i] / dq[i] < 1})
    vals = [_gross(q, dq, p, k) for k in pts]
    best = None
    for j, k in enumerate(pts):
        if vals[j] <= cap:
            best = k
        if j + 1 < len(pts) and vals[j] <= cap < vals[j + 1]:
            best = k + (cap - vals[j]) / (vals[j + 1] - vals[j]) * (pts[j + 1] - k)
    return best


def ref_backtest(P, w, *, lam, beta, nav_mode=True, cash0=1e6, fee_rate=0.0, half_spread=0.0,
                 fixed_fee=0.0, min_cash=0.0, cash_rate=0.0, borrow_rate=0.0, ppy=252,
                 exec_lag=0, drawdown_stop=None, max_position=None, max_gross=None, hedge=None):
    """One dict per bar: q, executed dq, kappa, cash, nav, mtm, fees, slip, fin."""
    n_sig = len(P[0])
    if hedge is not None:  # the hedge asset is one more column, outside eq. 1
        P = [list(P[s]) + [hedge[s]] for s in range(len(P))]
        w = list(w) + [0.0]
    T, N = len(P), len(P[0])
    q = [0.0] * N
    cash = peak = cash0
    stopped = False
    pend = None
    lin = fee_rate + half_spread
    rows = [dict(q=list(q), dq=[0.0] * N, kappa=math.nan, cash=cash, nav=cash, mtm=0.0,
                 fees=0.0, slip=0.0, fin=0.0)]
    for s in range(1, T):
        p0, p1 = P[s - 1], P[s]
        fin = (cash * cash_rate / ppy
               + borrow_rate / ppy * sum(min(q[i], 0.0) * p0[i] for i in range(N)))
        cash += fin
        mtm = sum(q[i] * (p1[i] - p0[i]) for i in range(N))
        nav_pre = cash + sum(q[i] * p1[i] for i in range(N))
        liquidate = False
        if not stopped and nav_pre <= 0:
            stopped = liquidate = True
        elif not stopped and drawdown_stop is not None and nav_pre < peak * (1 - drawdown_stop):
            stopped = liquidate = True
        r = [p1[i] / p0[i] - 1 for i in range(N)]
        R = sum(w[i] * r[i] for i in range(n_sig))
        if stopped:
            tgt = [0.0] * N
        elif exec_lag == 0:
            b = beta * nav_pre if nav_mode else beta
            tgt = [lam * q[i] + b * w[i] / p0[i] * (R - r[i]) for i in range(N)]
        else:
            tgt = list(pend) + q[n_sig:] if pend is not None else list(q)
        if not stopped and max_position is not None:
            lim = [max_position * nav_pre / p1[i] for i in range(N)]
            tgt = [max(-lim[i], min(lim[i], tgt[i])) if i < n_sig else tgt[i] for i in range(N)]
        if hedge is not None and not stopped:
            tgt[n_sig] = -sum(tgt[i] * p1[i] for i in range(n_sig)) / p1[n_sig]
        dq = [tgt[i] - q[i] for i in range(N)]
        nnz = sum(1 for x in dq if x != 0)
        k = k_exec = 1.0
        if nnz and not liquidate:
            S = sum(p1[i] * dq[i] for i in range(N))
            A = lin * sum(abs(p1[i] * dq[i]) for i in range(N))
            F = fixed_fee * nnz
            slack = cash - min_cash
            delta = 0.0
            if slack - S - A - F >= 0:
                k = 1.0
            elif S + A > 0:
                k = max(0.0, (slack - F) / (S + A))
            else:
                k = 0.0
            if k == 0.0 and slack < 0:
                # forced deleveraging: sell delta of every position, cash back on its floor
                # after the sale's own costs; if even everything cannot, liquidate and stop
                val = sum(q[i] * p1[i] for i in range(N))
                g0 = sum(abs(q[i]) * p1[i] for i in range(N))
                F2 = fixed_fee * sum(1 for v in q if v != 0)
                D2 = -val + lin * g0
                if D2 < 0 and (slack - F2) / D2 <= 1:
                    delta = (slack - F2) / D2
                else:
                    delta, stopped = 1.0, True
                dq = [-delta * v for v in q]
            if max_gross is not None and not delta:
                cap = max_gross * nav_pre
                kg = _largest_gross_k(q, dq, p1, cap)
                if kg is None or kg <= 0:
                    g0 = _gross(q, dq, p1, 0.0)
                    k = 0.0
                    if g0 > cap:  # cut every position to the cap
                        delta = 1.0 - cap / g0
                        dq = [-delta * v for v in q]
                else:
                    k = min(k, kg)
            k_exec = 1.0 if delta else k
        x = [k_exec * d for d in dq]
        flow = sum(x[i] * p1[i] for i in range(N))
        turn = sum(abs(x[i] * p1[i]) for i in range(N))
        fees = fee_rate * turn + fixed_fee * sum(1 for v in x if v != 0)
        slip = half_spread * turn
        cash -= flow + fees + slip
        q = [q[i] + x[i] for i in range(N)]
        nav = cash + sum(q[i] * p1[i] for i in range(N))
        peak = max(peak, nav)
        rows.append(dict(q=list(q), dq=x, kappa=k if nnz else 1.0, cash=cash, nav=nav, mtm=mtm,
                         fees=fees, slip=slip, fin=fin))
        if exec_lag == 1 and not stopped:
            b = beta * nav if nav_mode else beta
            pend = [lam * q[i] + b * w[i] / p0[i] * (R - r[i]) for i in range(n_sig)]
    return rows


def ref_fifo(P, rows, lin=0.0, fixed_fee=0.0):
    """FIFO lots from the executed trades: lists of [signed qty, price, bar, fee per unit]."""
    N = len(P[0])
    lots = [[] for _ in range(N)]
    realised, unrealised = [], []
    for s, row in enumerate(rows):
        real = 0.0
        for i in range(N):
            x = row["dq"][i]
            if x == 0:
                continue
            p = P[s][i]
            book = lots[i]
            while x != 0 and book and (book[0][0] > 0) != (x > 0):
                lot = book[0]
                c = min(abs(x), abs(lot[0]))
                sg = 1.0 if lot[0] > 0 else -1.0
                real += sg * c * (p - lot[1])
                lot[0] -= sg * c
                x += sg * c
                if abs(lot[0]) <= 1e-12 * max(1.0, c):
                    book.pop(0)
                if abs(x) <= 1e-12 * max(1.0, c):
                    x = 0.0
            if x != 0:
                ax = abs(row["dq"][i])
                book.append([x, p, s, (lin * ax * p + fixed_fee) / ax])
        realised.append(real)
        unrealised.append(sum(lot[0] * (P[s][i] - lot[1]) for i in range(N) for lot in lots[i]))
    table = [(i, lot[2], lot[0], lot[1], abs(lot[0]) * lot[3])
             for i in range(N) for lot in lots[i]]
    return realised, unrealised, table


def ref_average(P, rows):
    """Moving-average cost (移動平均法): realised and unrealised per bar."""
    N = len(P[0])
    pos, avg = [0.0] * N, [0.0] * N
    realised, unrealised = [], []
    for s, row in enumerate(rows):
        real = 0.0
        for i in range(N):
            x, p, q0 = row["dq"][i], P[s][i], pos[i]
            if x == 0:
                continue
            if q0 == 0 or (q0 > 0) == (x > 0):
                avg[i] = (abs(q0) * avg[i] + abs(x) * p) / (abs(q0) + abs(x))
            elif abs(x) < abs(q0):
                real += -x * (p - avg[i])
            else:
                real += q0 * (p - avg[i])
                avg[i] = p if abs(x) > abs(q0) else 0.0
            pos[i] = q0 + x
        realised.append(real)
        unrealised.append(sum(pos[i] * (P[s][i] - avg[i]) for i in range(N)))
    return realised, unrealised


def _col(rows, key):
    return np.array([r[key] for r in rows], dtype=float)


# ---------------------------------------------------------------------------
# Hand-checked case: 2 assets, 3 bars, no costs, absolute beta
# ---------------------------------------------------------------------------

HAND_P = np.array([[10.0, 20.0], [11.0, 19.0], [12.1, 19.0], [11.0, 20.0]])


@pytest.mark.parametrize("lot_method", ["fifo", "average"])
def test_hand_checked_two_assets(lot_method):
    cfg = MNVHConfig(lam=0.5, beta=1000.0, beta_mode="absolute", lot_method=lot_method)
    res = run_backtest(HAND_P, np.array([0.5, 0.5]), cfg)
    # bar 1: r = (0.10, -0.05), R = 0.025: sell 3.75 of the winner, buy 1.875 of the loser
    np.testing.assert_allclose(res.q[1], [-3.75, 1.875], rtol=1e-14)
    # executed at (11, 19): cash in 41.25 - 35.625 = 5.625, NAV unchanged (no costs)
    assert res.cash[1] == pytest.approx(1_000_005.625, abs=1e-9)
    assert res.nav[1] == pytest.approx(1e6, abs=1e-9)
    # bar 2: MTM = -3.75 * 1.1 = -4.125; r = (0.1, 0), R = 0.05
    assert res.mtm[2] == pytest.approx(-4.125, abs=1e-12)
    q2 = [0.5 * -3.75 + 1000 * 0.5 / 11 * (0.05 - 0.1), 0.5 * 1.875 + 1000 * 0.5 / 19 * 0.05]
    np.testing.assert_allclose(res.q[2], q2, rtol=1e-13)
    assert res.nav[2] == pytest.approx(1e6 - 4.125, abs=1e-9)
    # bar 3: both positions go through zero.  Asset 1 buys back its two short lots
    # (3.75 @ 11 and 0.397727... @ 12.1) at 11: realised 0 + 0.397727... * 1.1 = 0.4375;
    # asset 2 sells its long 2.253289... (bought at 19) at 20: realised 2.253289...
    # Moving-average cost gives the same here: every lot is closed.
    assert res.realised[3] == pytest.approx(0.4375 + q2[1] * 1.0, abs=1e-10)
    assert res.realised[1] == res.realised[2] == 0.0
    # unrealised at bar 2: the 3.75 short opened at 11 is marked at 12.1
    assert res.unrealised[2] == pytest.approx(-4.125, abs=1e-10)
    # the rest of eq. 1 at bar 3 (r = (-1/11, 1/19)) opens new positions at (11, 20)
    r = np.array([11 / 12.1 - 1, 20 / 19 - 1])
    R = r.mean()
    q3 = 0.5 * np.array(q2) + 1000 * 0.5 / np.array([12.1, 19.0]) * (R - r)
    np.testing.assert_allclose(res.q[3], q3, rtol=1e-12)
    assert np.sign(res.q[3]).tolist() == [1.0, -1.0]
    # the open lots are the remainders, opened at bar 3 at the bar-3 prices
    lots = res.lot_table()
    assert lots["bar"].tolist() == ([3, 3] if lot_method == "fifo" else [-1, -1])
    np.testing.assert_allclose(lots["qty"], q3, rtol=1e-12)
    np.testing.assert_allclose(lots["price"], [11.0, 20.0], rtol=1e-14)


def test_moving_average_and_fifo_by_hand():
    # buy 10 @ 100, buy 10 @ 110, sell 5 @ 120: FIFO realises 5 x 20 = 100, moving
    # average (avg 105) realises 5 x 15 = 75; unrealised at 120: 200 and 225
    r1, a1 = average_cost_step(10.0, 100.0, 0.0, 0.0)
    r2, a2 = average_cost_step(10.0, 110.0, 10.0, a1)
    r3, a3 = average_cost_step(-5.0, 120.0, 20.0, a2)
    assert (r1, a1, r2, a2) == (0.0, 100.0, 0.0, 105.0)
    assert (r3, a3) == (75.0, 105.0)
    assert 15 * (120 - a3) == 225.0
    # short side: short 4 @ 50, cover 6 @ 40 (through zero): realise 4 x 10 = 40, long 2 @ 40
    assert average_cost_step(-4.0, 50.0, 0.0, 0.0) == (0.0, 50.0)
    assert average_cost_step(6.0, 40.0, -4.0, 50.0) == (40.0, 40.0)

    trades = np.array([[0.0], [10.0], [10.0], [-5.0]])
    prices = np.array([[0.0], [100.0], [110.0], [120.0]])
    rows = np.array([1, 2, 3])
    book = FifoBook(1, 8)
    realised, basis = np.empty(4), np.empty(4)
    fifo_replay(prices[rows], trades, rows, 0.0, 0.0, np.zeros((1, 1)), False,
                *book.arrays(), realised, basis)
    assert realised.tolist() == [0.0, 0.0, 0.0, 100.0]
    lots = book.open_lots(np.array([15.0]))
    assert lots["qty"].tolist() == [5.0, 10.0] and lots["price"].tolist() == [100.0, 110.0]
    assert 15 * 120 - basis[3] == 200.0


# ---------------------------------------------------------------------------
# The engine against the plain-Python reference (3 assets, 20 bars)
# ---------------------------------------------------------------------------

def _case(seed=1, T=20, N=3):
    rng = np.random.default_rng(seed)
    return np.round(20 * np.cumprod(1 + rng.normal(0, 0.03, (T, N)), axis=0), 2)


FEES = dict(fee_rate=0.001, half_spread=0.0005, fixed_fee=1.0, cash_rate=0.03, borrow_rate=0.05)

CASES = {
    "plain": (dict(lam=0.9, beta=20), {}),
    "costs": (dict(lam=0.8, beta=30), FEES),
    "cash_floor": (dict(lam=0.8, beta=30, min_cash=0.999e6), FEES),
    "absolute": (dict(lam=0.8, beta=3e5, beta_mode="absolute"), FEES),
    "exec_lag": (dict(lam=0.8, beta=30, exec_lag=1), FEES),
    "max_position": (dict(lam=0.8, beta=300, max_position=0.5), FEES),
    "max_gross": (dict(lam=0.8, beta=300, max_gross=4.0), FEES),
    "drawdown_stop": (dict(lam=0.8, beta=300, drawdown_stop=0.05), FEES),
}


def _ref_kwargs(cfg_kw, fee_kw):
    kw = {k: v for k, v in cfg_kw.items() if k != "beta_mode"}
    kw["nav_mode"] = cfg_kw.get("beta_mode", "nav") == "nav"
    return {**kw, **fee_kw}


def _compare(res, rows, P, lin, fixed_fee, lot_method, tol=1e-9):
    np.testing.assert_allclose(res.nav, _col(rows, "nav"), rtol=tol)
    np.testing.assert_allclose(res.cash, _col(rows, "cash"), rtol=tol, atol=tol * 1e6)
    q = np.array([r["q"] for r in rows])
    got_q = res.q if res.hedge_q is None else np.column_stack([res.q, res.hedge_q])
    np.testing.assert_allclose(got_q, q, rtol=0, atol=tol * max(1.0, np.abs(q).max()))
    np.testing.assert_allclose(res.kappa[1:], _col(rows, "kappa")[1:], rtol=0, atol=1e-12)
    for mine, theirs in (("mtm", "mtm"), ("fees", "fees"), ("slip", "slippage"),
                         ("fin", "financing")):
        np.testing.assert_allclose(getattr(res, theirs), _col(rows, mine), rtol=0,
                                   atol=tol * 1e6)
    if lot_method == "fifo":
        real, unreal, table = ref_fifo(P, rows, lin, fixed_fee)
        lots = res.lot_table()
        assert len(lots) == len(table)
        assert lots["bar"].tolist() == [t[1] for t in table]
        np.testing.assert_allclose(lots["qty"], [t[2] for t in table], atol=1e-8)
        np.testing.assert_allclose(lots["price"], [t[3] for t in table], rtol=1e-15)
        np.testing.assert_allclose(lots["fee"], [t[4] for t in table], atol=1e-8)
    else:
        real, unreal = ref_average(P, rows)
    np.testing.assert_allclose(res.realised, real, rtol=0, atol=tol * 1e6)
    np.testing.assert_allclose(res.unrealised, unreal, rtol=0, atol=tol * 1e6)


@pytest.mark.parametrize("lot_method", ["fifo", "average"])
@pytest.mark.parametrize("name", list(CASES))
def test_engine_matches_plain_python_reference(name, lot_method):
    cfg_kw, fee_kw = CASES[name]
    P = _case()
    w = [0.5, 0.3, 0.2]
    res = run_backtest(P, np.array(w), MNVHConfig(fees=FeeModel(**fee_kw),
                                                  lot_method=lot_method, **cfg_kw))
    rows = ref_backtest(P.tolist(), w, **_ref_kwargs(cfg_kw, fee_kw))
    _compare(res, rows, P.tolist(), fee_kw.get("fee_rate", 0) + fee_kw.get("half_spread", 0),
             fee_kw.get("fixed_fee", 0.0), lot_method)
    if name in ("cash_floor", "max_gross"):
        assert np.nanmin(res.kappa) < 1  # the limit did bind
    if name == "drawdown_stop":
        assert res.q[-1].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("seed", range(12))
def test_engine_matches_reference_with_deleveraging_stops_and_hedge(seed):
    rng = np.random.default_rng(seed)
    T, N = 40, int(rng.integers(2, 5))
    P = np.round(20 * np.cumprod(1 + rng.normal(0, 0.03, (T, N)), axis=0), 2)
    w = rng.dirichlet(np.ones(N))
    if seed % 2:
        w = 2 * w - 1 / N  # negative weights, still summing to 1
    lam = float(rng.choice([0.0, 0.9, 1.0]))
    beta = float(rng.choice([30.0, 100.0]))
    hedge = None
    extra = [dict(min_cash=0.999e6), dict(exec_lag=1), dict(drawdown_stop=0.1), {}][seed % 4]
    if seed % 3 == 0:
        hedge = np.round(100 * np.cumprod(1 + rng.normal(0, 0.02, T)), 2)
    for lot in ("fifo", "average"):
        res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, fees=FeeModel(**FEES),
                                            lot_method=lot, **extra), hedge_prices=hedge)
        rows = ref_backtest(P.tolist(), list(w), lam=lam, beta=beta, **FEES, **extra,
                            hedge=None if hedge is None else hedge.tolist())
        PP = P if hedge is None else np.column_stack([P, hedge])
        _compare(res, rows, PP.tolist(), 0.0015, 1.0, lot)


def test_forced_deleveraging_and_insolvency_are_exercised():
    # seeds of the test above that reach the rarely used branches, so the comparison
    # really covers them (financing pushes cash below the floor; a book goes insolvent)
    kinds = set()
    for seed in range(12):
        rng = np.random.default_rng(seed)
        T, N = 40, int(rng.integers(2, 5))
        P = np.round(20 * np.cumprod(1 + rng.normal(0, 0.03, (T, N)), axis=0), 2)
        w = rng.dirichlet(np.ones(N))
        if seed % 2:
            w = 2 * w - 1 / N
        lam, beta = float(rng.choice([0.0, 0.9, 1.0])), float(rng.choice([30.0, 100.0]))
        extra = [dict(min_cash=0.999e6), dict(exec_lag=1), dict(drawdown_stop=0.1), {}][seed % 4]
        hedge = (np.round(100 * np.cumprod(1 + rng.normal(0, 0.02, T)), 2)
                 if seed % 3 == 0 else None)
        res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, fees=FeeModel(**FEES), **extra),
                           hedge_prices=hedge)
        kinds |= {e[1] for e in res.risk_events}
    assert {"forced_delever", "cash_limit", "drawdown_stop"} <= kinds


@pytest.mark.parametrize("name", ["costs", "cash_floor", "max_gross"])
def test_ledger_identity_with_recomputed_terms(name):
    cfg_kw, fee_kw = CASES[name]
    P = _case(seed=5, T=200)
    res = run_backtest(P, np.array([0.2, 0.5, 0.3]), MNVHConfig(fees=FeeModel(**fee_kw),
                                                                **cfg_kw))
    q, tr = np.asarray(res.q), np.asarray(res.trades)
    nav = res.cash + (q * P).sum(axis=1)
    np.testing.assert_allclose(res.nav, nav, rtol=1e-12)
    mtm = np.r_[0.0, (q[:-1] * np.diff(P, axis=0)).sum(axis=1)]
    notional = (np.abs(tr) * P).sum(axis=1)
    fees = fee_kw["fee_rate"] * notional + fee_kw["fixed_fee"] * (tr != 0).sum(axis=1)
    slip = fee_kw["half_spread"] * notional
    short = (np.maximum(-q[:-1], 0) * P[:-1]).sum(axis=1)
    fin = np.r_[0.0, (res.cash[:-1] * fee_kw["cash_rate"] - fee_kw["borrow_rate"] * short) / 252]
    pnl = mtm - fees - slip + fin
    scale = np.maximum(np.abs(res.nav[:-1]), 1.0)
    assert np.max(np.abs(np.diff(res.nav) - pnl[1:]) / scale) < 1e-9
    assert abs(pnl.sum() - (res.nav[-1] - 1e6)) < 1e-9 * 1e6
    # FIFO: realised + open-lot unrealised = total MTM (lots at mid)
    assert abs(res.realised.sum() + res.unrealised[-1] - mtm.sum()) < 1e-9 * 1e6


# ---------------------------------------------------------------------------
# Metrics against pandas / scipy
# ---------------------------------------------------------------------------

def test_metrics_against_pandas_and_scipy():
    rng = np.random.default_rng(3)
    nav = 100 * np.cumprod(np.r_[1, 1 + rng.normal(0.0005, 0.01, 300)])
    nav[50:53] = nav[49]  # three flat bars: zero returns, not counted in the hit rate
    b = 50 * np.cumprod(np.r_[1, 1 + rng.normal(0, 0.01, 300)])
    traded = rng.uniform(0, 500, nav.size)
    m = performance_metrics(nav, periods_per_year=252, benchmark=b, rf=0.02,
                            traded_notional=traded, costs=3.0, gross_pnl=12.0)
    s = pd.Series(nav)
    r, rb = s.pct_change().dropna(), pd.Series(b).pct_change().dropna()
    ex = r - 0.02 / 252
    assert m["cagr"] == pytest.approx((nav[-1] / nav[0]) ** (252 / 300) - 1, rel=1e-12)
    assert m["ann_vol"] == pytest.approx(r.std() * np.sqrt(252), rel=1e-12)
    assert m["sharpe"] == pytest.approx(ex.mean() / r.std() * np.sqrt(252), rel=1e-12)
    assert m["sortino"] == pytest.approx(
        ex.mean() / np.sqrt((np.minimum(ex, 0) ** 2).mean()) * np.sqrt(252), rel=1e-12)
    dd = s / s.cummax() - 1
    assert m["max_drawdown"] == pytest.approx(dd.min(), rel=1e-12)
    under = (dd < 0).astype(int)
    assert m["max_dd_duration"] == under.groupby((under != under.shift()).cumsum()).sum().max()
    assert m["hit_rate"] == pytest.approx((r[r != 0] > 0).mean(), rel=1e-12)
    assert m["skew"] == pytest.approx(st.skew(r, bias=False), rel=1e-10)
    assert m["kurtosis"] == pytest.approx(st.kurtosis(r, bias=False), rel=1e-10)
    assert m["beta_bench"] == pytest.approx(st.linregress(rb, r).slope, rel=1e-10)
    assert m["corr_bench"] == pytest.approx(np.corrcoef(r, rb)[0, 1], rel=1e-10)
    assert m["turnover"] == pytest.approx(traded.sum() / nav.mean() / (300 / 252), rel=1e-12)
    assert m["fee_gross"] == 0.25


# ---------------------------------------------------------------------------
# =LEDGER_KAPPA and =MNVH_STEP against the formula text
# ---------------------------------------------------------------------------

def _col_range(v):
    return tuple((x,) for x in v)


def _cash_after(k, p, dq, cash, fee_rate, fixed_fee):
    x = k * np.asarray(dq, float)
    p = np.asarray(p, float)
    return cash - np.sum(p * x) - np.sum(fee_rate * np.abs(x) * p + fixed_fee * (x != 0))


@pytest.mark.parametrize("p, dq, cash, fee_rate, fixed_fee, min_cash, expected", [
    # the docs' example: (500 - 2) / (1200 + 1.2)
    ((10, 20), (100, 10), 500, 0.001, 1, 0, 498 / 1201.2),
    # fixed fee at kappa -> 0+: any positive trade pays 5 and breaches cash 5 -> 0
    ((10, 20), (100, 10), 5, 0, 5, 0, 0.0),
    # ... while a sale of the same size raises cash: 1
    ((10, 20), (-100, -10), 5, 0, 5, 0, 1.0),
    # no trade: 1, even with cash below its floor
    ((10, 20), (0, 0), -5, 0, 5, 0, 1.0),
    # cash below the floor, a sale that restores it: the largest kappa is 1
    ((10, 20), (-10, 0), -50, 0.01, 0, 0, 1.0),
    # ... and one that cannot: 0
    ((10, 20), (-10, 0), -150, 0.01, 0, 0, 0.0),
    # cash already below min_cash, buying: 0
    ((10, 20), (10, 0), 50, 0, 0, 100, 0.0),
    # fixed fee 1 per trade, two trades: (1000 - 100 - 2) / 1000
    ((10, 10), (50, 50), 1000, 0, 1, 100, 0.898),
])
def test_ledger_kappa_formula(xl, p, dq, cash, fee_rate, fixed_fee, min_cash, expected):
    got = xl("LEDGER_KAPPA", _col_range(p), _col_range(dq), cash, fee_rate, fixed_fee,
             min_cash)[0][0]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_ledger_kappa_is_the_largest_feasible_scale_brute_force():
    rng = np.random.default_rng(0)
    grid = np.r_[1e-12, 1e-9, np.linspace(0, 1, 2001)[1:]]
    for _ in range(2000):
        n = int(rng.integers(1, 5))
        p = rng.uniform(1, 100, n)
        dq = rng.normal(0, 10, n) * (rng.random(n) < 0.8)
        cash = rng.normal(0, 500)
        fee_rate = float(rng.choice([0, 0.001, 0.01]))
        fixed_fee = float(rng.choice([0, 1, 10]))
        min_cash = float(rng.choice([0, rng.normal(0, 300)]))
        k = largest_kappa(p, dq, cash, fee_rate, fixed_fee, min_cash)
        if not np.any(dq):
            assert k == 1.0
            continue
        tol = 1e-9 * max(1.0, abs(cash))
        x = grid[:, None] * dq[None, :]  # every grid scale at once
        after = cash - (x * p).sum(1) - (fee_rate * np.abs(x) * p + fixed_fee * (x != 0)).sum(1)
        ok = grid[after >= min_cash]
        if not ok.size:
            assert k == 0.0
        else:
            assert _cash_after(k, p, dq, cash, fee_rate, fixed_fee) >= min_cash - tol
            assert k >= max(ok) - 1e-9


def test_mnvh_step_formula(xl):
    q, pp, pn, w = [1.0, -2.0, 0.5], [10.0, 20.0, 40.0], [11.0, 19.0, 40.0], [0.5, 0.3, 0.2]
    r = np.array(pn) / np.array(pp) - 1
    R = float(np.dot(w, r))
    want = 0.9 * np.array(q) + 1000 * np.array(w) / np.array(pp) * (R - r)
    got = xl("MNVH_STEP", _col_range(q), _col_range(pp), _col_range(pn), _col_range(w),
             0.9, 1000)
    np.testing.assert_allclose([g[0] for g in got], want, rtol=1e-14)
    got = xl("MNVH_STEP", (tuple(q),), (tuple(pp),), (tuple(pn),), (tuple(w),), 0.9, 2,
             "nav", 500)
    np.testing.assert_allclose(got[0], want, rtol=1e-14)  # 2 x NAV 500 = 1000


# ---------------------------------------------------------------------------
# =MNVH_BACKTEST: header rows, dates, blanks, text, the benchmark's row order
# ---------------------------------------------------------------------------

def _related(T=200, seed=0):
    rng = np.random.default_rng(seed)
    b = 1000 * np.cumprod(1 + rng.normal(0, 0.01, T))
    rb = np.r_[0, b[1:] / b[:-1] - 1]
    p = 50 * np.cumprod(1 + rb[:, None] + rng.normal(0, 0.005, (T, 3)), axis=0)
    return p, b


def _table(out):
    return {row[0]: row[1] for row in out}


@pytest.mark.parametrize("hedge", [False, True])
def test_backtest_newest_first_with_a_plain_benchmark_column(xl, hedge):
    # prices with dates newest first (as many downloads are) and the index next to them
    # in a column without dates, as in the docs' example (A1:U2001 and W1:W2001): the
    # prices are put oldest first, and the benchmark must follow them.  Before the fix
    # the benchmark stayed newest first: beta, correlation and the hedge used the
    # index reversed in time.
    p, b = _related()
    days = [dt.datetime(2020, 1, 1) + dt.timedelta(days=i) for i in range(len(b))]
    asc = (("Date", "A", "B", "C"),) + tuple((d, *r) for d, r in zip(days, p.tolist(),
                                                                          strict=True))
    desc = (asc[0],) + asc[1:][::-1]
    b_asc = (("SPX",),) + tuple((v,) for v in b.tolist())
    b_desc = (("SPX",),) + tuple((v,) for v in b[::-1].tolist())
    want = _table(xl("MNVH_BACKTEST", asc, 0.9, 35, "equal", None, None, b_asc, hedge))
    got = _table(xl("MNVH_BACKTEST", desc, 0.9, 35, "equal", None, None, b_desc, hedge))
    # the beta of the run on the oldest-first table, recomputed with numpy
    nav = run_backtest(p, np.full(3, 1 / 3), research_config(), hedge_prices=None).nav
    if not hedge:
        r, rb = np.diff(nav) / nav[:-1], np.diff(b) / b[:-1]
        assert want["Beta to benchmark"] == pytest.approx(
            np.cov(r, rb)[0, 1] / np.var(rb, ddof=1), rel=1e-9)
    for key in ("Beta to benchmark", "Correlation to benchmark", "Sharpe", "Final NAV"):
        assert got[key] == pytest.approx(want[key], rel=1e-12), key


def test_backtest_header_of_ticker_codes_typed_as_text(xl):
    # Tokyo tickers are numbers ('7203' Toyota, '6758' Sony, '9984' SoftBank); typed as
    # text in the header row they were read as a first row of prices (7203, 6758,
    # 9984), a -99 % first return
    p = _case(seed=2, T=60)
    plain = tuple(tuple(r) for r in p.tolist())
    coded = (("7203", "6758", "9984"),) + plain
    want, got = _table(xl("MNVH_BACKTEST", plain)), _table(xl("MNVH_BACKTEST", coded))
    assert got["Periods"] == 59
    assert got == want


def test_backtest_header_blanks_and_text(xl):
    p = _case(seed=2, T=60)
    rows = [tuple(r) for r in p.tolist()]
    base = _table(xl("MNVH_BACKTEST", tuple(rows)))
    head = ("AAA", "BBB", "CCC")
    assert _table(xl("MNVH_BACKTEST", (head, *rows, (None,) * 3, (None,) * 3))) == base
    out = xl("MNVH_BACKTEST", (head, *rows[:10], (None, 1.0, 2.0), *rows[10:]))
    assert out == [["#PyXL! prices: blank cell at row 11, column 1; fill it or shrink the range"]]
    out = xl("MNVH_BACKTEST", (head, *rows[:10], (1.0, "n/a", 2.0), *rows[10:]))
    assert out[0][0].startswith("#PyXL! prices: text 'n/a' at row 11, column 2")
    # prices stored as text everywhere are still numbers (no header is invented)
    as_text = tuple(tuple(str(v) for v in r) for r in rows)
    assert _table(xl("MNVH_BACKTEST", as_text)) == base


def test_cli_newest_first_prices_with_a_benchmark_file_without_dates(tmp_path):
    from pyxl.commands.mnvh import _load

    p, b = _related(T=50)
    days = pd.date_range("2020-01-01", periods=len(b))
    frame = pd.DataFrame(p, index=pd.Index(days, name="Date"), columns=list("ABC"))
    frame.iloc[::-1].to_csv(tmp_path / "prices.csv")
    pd.DataFrame({"SPX": b[::-1]}).to_csv(tmp_path / "bench.csv", index=False)
    args = argparse.Namespace(prices=str(tmp_path / "prices.csv"),
                              benchmark=str(tmp_path / "bench.csv"), start=None, end=None,
                              periods_per_year=252)
    prices, bench = _load(args)
    np.testing.assert_allclose(prices.to_numpy(), p)
    np.testing.assert_allclose(bench.to_numpy(), b)  # before the fix: b reversed


# ---------------------------------------------------------------------------
# Walk-forward reports out-of-sample runs only
# ---------------------------------------------------------------------------

def test_walk_forward_oos_path_is_the_chosen_points_run_afresh():
    P = _case(seed=9, T=130, N=4)
    cfg = research_config()
    wf = walk_forward(P, cfg, lams=[0.5, 0.9], betas=[5.0, 35.0], is_periods=60,
                      oos_periods=25, n_jobs=1)
    # folds start at row 60 and step by 25: OOS blocks 60-85, 85-110, 110-129
    assert wf.folds["oos_first"].tolist() == [60, 85, 110]
    assert wf.folds["oos_last"].tolist() == [85, 110, 129]
    assert wf.oos_rows.tolist() == list(range(60, 130))
    level, path = cfg.cash0, [cfg.cash0]
    for _, f in wf.folds.iterrows():
        s, e = int(f["oos_first"]), int(f["oos_last"])
        c = MNVHConfig(lam=f["lam"], beta=f["beta"], fees=cfg.fees)
        nav = run_backtest(P[s:e + 1], np.full(4, 0.25), c).nav
        path += list(level * nav[1:] / nav[0])
        level = path[-1]
    np.testing.assert_allclose(wf.oos_nav, path, rtol=1e-12)
    r = np.diff(path) / np.array(path[:-1])
    assert wf.metrics["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252),
                                                 rel=1e-10)
