"""Audit 15: the MNVH engine and the Ledger-SPT cash account at Tokyo scale, to the last yen.

NAV 1e11-1e12 yen, integer yen prices between 100 and 100,000, fixed fees in yen,
negative cash rates, every limit binding.  Every expected value is recomputed here
in plain Python from the stored positions, trades and prices (or by brute force),
never taken from the engine.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import excel_range

from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest
from pyxl.errors import InputError

C0 = 1e12


def yen_prices(T: int, N: int, seed: int, vol: float = 0.02) -> np.ndarray:
    """Random walks rounded to whole yen, starting between 300 and 30,000 yen."""
    rng = np.random.default_rng(seed)
    p0 = np.exp(rng.uniform(np.log(300), np.log(30000), N))
    P = p0 * np.exp(np.cumsum(rng.normal(0, vol, (T, N)), axis=0))
    return np.clip(np.round(P), 100.0, 100000.0)


def index_of(P: np.ndarray) -> np.ndarray:
    return np.round(np.exp(np.log(P).mean(axis=1)) * 10) / 10


def book(res):
    """Positions and trades with the hedge as the last column, and its prices."""
    if res.hedge_q is None:
        return res.q, res.trades, res.prices
    return (np.column_stack([res.q, res.hedge_q]), np.column_stack([res.trades, res.hedge_trades]),
            np.column_stack([res.prices, res.hedge_prices]))


# --- bug fixed: FeeModel refused numpy scalars ------------------------------------------------


def test_fee_model_takes_numpy_scalars_from_a_yen_table():
    """A fee table read with pandas gives np.int64 (500 yen) and np.float64/np.float32 rates.

    Before: ``FeeModel(fixed_fee=np.int64(500))`` raised "fixed_fee: must be a finite
    number >= 0, got np.int64(500)" (and the same for periods_per_year=np.int64(252) and
    np.float32 rates), while MNVHConfig took numpy scalars.
    """
    fm = FeeModel(fee_rate=np.float32(0.0005), fixed_fee=np.int64(500),
                  half_spread=np.float64(1e-4), borrow_rate=np.int64(0),
                  cash_rate=np.float32(-0.001), periods_per_year=np.int64(252))
    assert fm.fixed_fee == 500.0 and type(fm.fixed_fee) is float
    assert fm.periods_per_year == 252 and type(fm.periods_per_year) is int
    assert FeeModel(periods_per_year=252.0).periods_per_year == 252
    P = yen_prices(60, 4, 1)
    plain = FeeModel(fee_rate=float(np.float32(0.0005)), fixed_fee=500.0, half_spread=1e-4,
                     cash_rate=float(np.float32(-0.001)))
    a = run_backtest(P, np.full(4, 0.25), MNVHConfig(cash0=C0, fees=fm))
    b = run_backtest(P, np.full(4, 0.25), MNVHConfig(cash0=C0, fees=plain))
    assert np.array_equal(a.nav, b.nav)
    # a TRUE typed into a fee cell is not a number
    for kw in ({"fixed_fee": True}, {"periods_per_year": True}, {"periods_per_year": 252.5}):
        with pytest.raises(InputError):
            FeeModel(**kw)


# --- the PnL identity and every term, recomputed by hand on a 2,520-bar yen book ------------


@pytest.mark.parametrize("hedge", [False, True])
def test_every_pnl_term_recomputed_by_hand_to_the_yen(hedge):
    T, N = 2520, 8
    P = yen_prices(T, N, 2)
    fixed, fee, hs, borrow, crate = 500.0, 5e-4, 1e-4, 0.011, -0.001
    fm = FeeModel(fee_rate=fee, half_spread=hs, fixed_fee=fixed, borrow_rate=borrow,
                  cash_rate=crate)
    cfg = MNVHConfig(lam=0.9, beta=35, cash0=C0, fees=fm, max_gross=0.8)
    res = run_backtest(P, np.full(N, 1 / N), cfg, hedge_prices=index_of(P) if hedge else None)
    q, tr, PP = book(res)
    assert np.sum(res.kappa[1:] < 1) > 100  # the cap binds often
    for s in range(1, T):
        x, p, p0, qp = tr[s], PP[s], PP[s - 1], q[s - 1]
        assert np.allclose(q[s], qp + x, rtol=0, atol=1e-9 * np.abs(qp).max(initial=1.0))
        mtm = math.fsum(qp * (p - p0))
        fees = math.fsum(fee * np.abs(x) * p) + fixed * np.count_nonzero(x)
        slip = math.fsum(hs * np.abs(x) * p)
        c = res.cash[s - 1]
        fin = c * crate / 252 - borrow / 252 * math.fsum(np.maximum(-qp, 0) * p0)
        cash = c + fin - math.fsum(x * p) - fees - slip
        nav = cash + math.fsum(q[s] * p)
        scale = max(res.nav[s - 1], 1.0)
        assert abs(res.mtm[s] - mtm) <= 1e-12 * scale
        assert abs(res.fees[s] - fees) <= 1e-12 * scale
        assert abs(res.slippage[s] - slip) <= 1e-12 * scale
        assert abs(res.financing[s] - fin) <= 1e-12 * scale
        assert abs(res.cash[s] - cash) <= 1e-12 * scale
        assert abs(res.nav[s] - nav) <= 1e-12 * scale
        # the identity, relative to NAV
        d = (res.nav[s] - res.nav[s - 1]) - (mtm - fees - slip + fin)
        assert abs(d) <= 1e-9 * scale
    # the summed PnL terms equal final NAV minus C_0 within one yen
    total = (math.fsum(res.mtm) - math.fsum(res.fees) - math.fsum(res.slippage)
             + math.fsum(res.financing))
    assert abs(total - (res.nav[-1] - C0)) < 1.0


# --- lots against an independent list-based FIFO and moving average -------------------------


def fifo_by_hand(trades, prices):
    M = trades.shape[1]
    lots = [[] for _ in range(M)]  # [signed qty, price], oldest first
    real = np.zeros(len(trades))
    for s in range(len(trades)):
        for i in range(M):
            x, p = float(trades[s, i]), float(prices[s, i])
            while x != 0.0 and lots[i] and (lots[i][0][0] > 0) != (x > 0):
                lq, lp = lots[i][0]
                c = min(abs(x), abs(lq))
                sg = math.copysign(1.0, lq)
                real[s] += sg * c * (p - lp)
                if c >= abs(lq):
                    lots[i].pop(0)
                else:
                    lots[i][0][0] = lq - sg * c
                x += sg * c
            if x != 0.0:
                lots[i].append([x, p])
    return real, lots


def average_by_hand(trades, prices):
    M = trades.shape[1]
    pos, avg = np.zeros(M), np.zeros(M)
    real = np.zeros(len(trades))
    for s in range(len(trades)):
        for i in range(M):
            x, p, qi = trades[s, i], prices[s, i], pos[i]
            if x == 0.0:
                continue
            if qi == 0.0 or (qi > 0) == (x > 0):
                avg[i] = (qi * avg[i] + x * p) / (qi + x)
            else:
                c = min(abs(x), abs(qi))
                real[s] += math.copysign(1.0, qi) * c * (p - avg[i])
                if abs(x) > abs(qi):
                    avg[i] = p
            pos[i] = qi + x
    return real, pos, avg


@pytest.mark.parametrize("method", ["fifo", "average"])
def test_lots_to_the_yen_against_hand_books(method):
    T, N = 1500, 10
    P = yen_prices(T, N, 5)
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=500, borrow_rate=0.01)
    cfg = MNVHConfig(lam=0.9, beta=35, cash0=C0, fees=fm, max_gross=1.0, lot_method=method)
    res = run_backtest(P, np.full(N, 1 / N), cfg, hedge_prices=index_of(P))
    q, tr, PP = book(res)
    if method == "fifo":
        real, lots = fifo_by_hand(tr, PP)
        basis = math.fsum(lq * lp for ls in lots for lq, lp in ls)
        table = res.lot_table()
        want = [(lq, lp) for ls in lots for lq, lp in ls]
        assert len(table) == len(want)
        assert np.allclose(table["qty"], [w[0] for w in want], rtol=1e-9, atol=1e-6)
        assert np.array_equal(table["price"], [w[1] for w in want])
    else:
        real, pos, avg = average_by_hand(tr, PP)
        basis = math.fsum(pos * avg)
    assert np.max(np.abs(res.realised - real)) < 0.01  # yen, on a 1e12 yen book
    unreal_T = math.fsum(q[-1] * PP[-1]) - basis
    assert abs(res.unrealised[-1] - unreal_T) < 0.01
    assert abs(math.fsum(res.realised) + res.unrealised[-1] - math.fsum(res.mtm)) < 1.0
    assert abs(res.lot_table()["unrealised"].sum() - unreal_T) < 0.01


# --- kappa and forced deleveraging, one bar at a time, by brute force ------------------------


_GRID = np.linspace(0.0, 1.0, 100_001)


def _edge(ok_grid, ok, last: bool):
    """Largest (last=True) or smallest feasible point of a 0..1 grid, refined by bisection
    towards its infeasible neighbour; None when no grid point is feasible."""
    idx = np.flatnonzero(ok_grid)
    if idx.size == 0:
        return None
    j = idx[-1] if last else idx[0]
    good = _GRID[j]
    if (last and j == _GRID.size - 1) or (not last and j == 0):
        return good
    bad = _GRID[j + 1] if last else _GRID[j - 1]
    for _ in range(100):
        m = 0.5 * (good + bad)
        good, bad = (m, bad) if ok(m) else (good, m)
    return good


def _redo_bar(cash, p, qp, dq, G, floor, lin, fixed):
    """(kappa, None) for the largest feasible kappa in (0, 1], else (None, delta) for the
    smallest pro-rata deleveraging restoring both limits (None if none)."""

    def cash_after(X):  # X: (..., M) trades
        return (cash - X @ p - lin * np.abs(X) @ p
                - fixed * np.count_nonzero(X, axis=-1))

    def ok_k(k):
        x = np.asarray(k)[..., None] * dq
        return (cash_after(x) >= floor) & (np.abs(qp + x) @ p <= G)

    grid = ok_k(_GRID)
    grid[0] = False  # kappa = 0 is "no trade", not a feasible positive scale
    k = _edge(grid, ok_k, last=True)
    if k is not None:
        return k, None
    g0 = np.abs(qp) @ p

    def ok_d(d):
        x = -np.asarray(d)[..., None] * qp
        return (cash_after(x) >= floor) & ((1 - np.asarray(d)) * g0 <= G * (1 + 1e-12))

    return None, _edge(ok_d(_GRID), ok_d, last=False)


@pytest.mark.parametrize("lag", [0, 1])
def test_kappa_and_delever_by_brute_force_each_bar(lag):
    """From the engine's state after bar s-1, redo bar s by hand: eq. 1 target, hedge,
    then kappa as the largest scale with cash >= floor and gross <= cap (grid + bisection
    on the cash and gross after the scaled trade, no closed form), or the smallest
    pro-rata delta when none is feasible."""
    T, N = 300, 5
    P = yen_prices(T, N, 7, vol=0.03)
    h = index_of(P)
    lin, fixed, cr, br = 6e-4, 500.0, -0.002, 0.01
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=fixed, borrow_rate=br,
                  cash_rate=cr)
    cfg = MNVHConfig(lam=0.9, beta=35, cash0=C0, fees=fm, max_gross=0.6,
                     min_cash=-0.2 * C0, exec_lag=lag)
    w = np.full(N, 1 / N)
    res = run_backtest(P, w, cfg, hedge_prices=h)
    q, tr, PP = book(res)
    n_cap = n_del = 0
    for s in range(2, T):
        p, p0, qp, c = PP[s], PP[s - 1], q[s - 1], res.cash[s - 1]
        cash = c + c * cr / 252 - br / 252 * np.sum(np.maximum(-qp, 0) * p0)
        nav = cash + np.sum(qp * p)
        G = 0.6 * nav
        if lag == 0:
            r = P[s] / P[s - 1] - 1
            tgt = 0.9 * qp[:N] + 35 * nav * w / P[s - 1] * (w @ r - r)
        else:  # decided at s-1 from the end-of-bar book and r_{s-2}, traded at s
            r = P[s - 1] / P[s - 2] - 1
            tgt = 0.9 * qp[:N] + 35 * res.nav[s - 1] * w / P[s - 2] * (w @ r - r)
        dq = np.append(tgt, -(tgt @ P[s]) / h[s]) - qp
        k, d = _redo_bar(cash, p, qp, dq, G, cfg.min_cash, lin, fixed)
        if k is not None:
            assert res.delever[s] == 0.0
            assert res.kappa[s] == pytest.approx(k, abs=1e-9)
            n_cap += k < 1
        else:
            assert d is not None
            assert res.kappa[s] == 0.0
            assert res.delever[s] == pytest.approx(d, abs=1e-9)
            n_del += 1
    assert n_cap > 20 and n_del > 5  # both branches were exercised


# --- LEDGER_KAPPA against the engine's kappa on the same bar ---------------------------------


def test_ledger_kappa_formula_equals_engine_kappa_on_a_floor_bar(xl):
    T, N = 400, 6
    P = yen_prices(T, N, 11)
    fixed = 500.0
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=fixed, cash_rate=0.001)
    cfg = MNVHConfig(lam=0.9, beta=35, cash0=1e11, fees=fm, min_cash=0.9999e11)
    res = run_backtest(P, np.full(N, 1 / N), cfg)
    bars = [t for t, kind, _ in res.risk_events if kind == "cash_limit"]
    assert bars
    for s in bars:
        kap = res.kappa[s]
        dq = res.trades[s] / kap
        cash = res.cash[s - 1] * (1 + 0.001 / 252)
        S, A, F = dq @ P[s], 6e-4 * np.abs(dq) @ P[s], fixed * np.count_nonzero(dq)
        by_hand = (cash - cfg.min_cash - F) / (S + A)
        got = xl("LEDGER_KAPPA", excel_range(P[s]), excel_range(dq), cash, 6e-4, fixed,
                 cfg.min_cash)[0][0]
        assert got == pytest.approx(by_hand, rel=1e-9)
        assert kap == pytest.approx(by_hand, rel=1e-9)


# --- stops and the floor: never silently below it -------------------------------------------


@pytest.mark.parametrize("lag", [0, 1])
def test_drawdown_stop_liquidates_once_and_stays_flat(lag):
    T, N = 800, 6
    P = yen_prices(T, N, 13, vol=0.03)
    rate = 0.004
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=500, cash_rate=rate)
    cfg = MNVHConfig(lam=0.9, beta=60, cash0=C0, fees=fm, drawdown_stop=0.02, exec_lag=lag)
    res = run_backtest(P, np.full(N, 1 / N), cfg, hedge_prices=index_of(P))
    stops = [t for t, kind, _ in res.risk_events if kind == "drawdown_stop"]
    assert len(stops) == 1
    s = stops[0]
    # pre-trade NAV of bar j = end-of-bar NAV + that bar's trading costs; the stop fires
    # at the first bar whose pre-trade NAV is more than 2 % below the running peak
    nav_pre = res.nav + res.fees + res.slippage
    fired = [j for j in range(1, T) if nav_pre[j] < 0.98 * max(res.nav[:j])]
    assert fired[0] == s
    assert np.all(res.q[s:] == 0) and np.all(res.hedge_q[s:] == 0)
    assert np.all(res.trades[s + 1:] == 0) and np.all(res.hedge_trades[s + 1:] == 0)
    # flat: NAV = cash, growing by the cash rate only
    assert np.allclose(res.nav[s + 1:], res.nav[s:-1] * (1 + rate / 252), rtol=1e-14, atol=0)


def test_negative_rate_never_leaves_cash_below_its_floor_silently():
    """cash_rate < 0 erodes cash on its floor every bar: after each bar cash is on or
    above the floor, or that bar logged forced_delever / cash_shortfall."""
    T, N = 1000, 6
    P = yen_prices(T, N, 17)
    fm = FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=500, borrow_rate=0.01,
                  cash_rate=-0.001)
    floor = 0.995e11
    cfg = MNVHConfig(lam=0.9, beta=35, cash0=1e11, fees=fm, min_cash=floor, max_gross=2.0)
    res = run_backtest(P, np.full(N, 1 / N), cfg)
    logged = {t for t, kind, _ in res.risk_events if kind in ("forced_delever", "cash_shortfall")}
    # a shortfall that even a full liquidation cannot fix liquidates and stops the book
    stop = next((t for t, kind, _ in res.risk_events
                 if kind == "cash_shortfall" and res.delever[t] == 1.0), T)
    below = [s for s in range(1, stop)
             if res.cash[s] < floor - 1e-12 * (res.gross[s] + 1e11)]
    assert set(below) <= logged
    assert np.all(res.q[stop:] == 0)  # flat (and logged once) from the stop on
    assert len(below) + (T - stop) > 10  # the floor was under pressure
