"""MNVH engine: eq. 1 timing, no look-ahead, the PnL identity, limits, and the reference."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.mnvh import FeeModel, MNVHConfig, mnvh_step, run_backtest, run_grid
from pyxl.core.mnvh.engine import EVENT_NAMES
from pyxl.core.mnvh.reference import reference_backtest
from pyxl.errors import InputError

FIELDS = ("nav", "cash", "kappa", "delever", "gross", "net", "mtm", "fees", "slippage",
          "financing", "realised", "unrealised", "turnover")

RICH_FEES = FeeModel(fee_rate=5e-4, fixed_fee=1.0, half_spread=2e-4, impact_coef=0.3,
                     borrow_rate=0.02, cash_rate=0.03, debit_rate=0.06)


def paths(seed, T, N, vol=0.02):
    rng = np.random.default_rng(seed)
    P = 50.0 * np.cumprod(1.0 + vol * rng.standard_normal((T, N)), axis=0)
    return rng, P


def assert_same(a, b, rtol=1e-9):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        scale = max(1.0, float(np.nanmax(np.abs(a.nav))))
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale, err_msg=f)
    # a position can be the small difference of two large ones (q_t + kappa dq), so its
    # error is relative to the book's largest position, not to itself
    np.testing.assert_allclose(a.q, b.q, rtol=rtol,
                               atol=rtol * max(1.0, float(np.abs(b.q).max())))


def assert_same_lots(a, b, table_b=None):
    """Lot columns of two runs that booked the same trades with other queue capacities:
    a queue that fills up is compacted (its cumulative fields rebased), so they agree
    to rounding, not bit for bit."""
    np.testing.assert_allclose(a.realised, b.realised, rtol=1e-10, atol=1e-7)
    np.testing.assert_allclose(a.unrealised, b.unrealised, rtol=1e-10, atol=1e-7)
    ta, tb = a.lot_table(), b.lot_table() if table_b is None else table_b
    assert ta[["asset", "bar"]].equals(tb[["asset", "bar"]])
    for col in ("qty", "price", "fee", "mark", "unrealised"):
        np.testing.assert_allclose(ta[col], tb[col], rtol=1e-10, atol=1e-9, err_msg=col)


# --- eq. 1 and its timing ---------------------------------------------------------------

def test_first_steps_by_hand_absolute():
    P = np.array([[10.0, 20.0], [11.0, 19.0], [10.0, 21.0]])
    w = np.array([0.5, 0.5])
    lam, beta = 0.8, 1000.0
    res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, beta_mode="absolute"))
    # bar 1: r = (0.1, -0.05), R = 0.025 -> q = beta w/p0 (R - r)
    q1 = beta * w / P[0] * (0.025 - np.array([0.1, -0.05]))
    np.testing.assert_allclose(res.q[1], q1, rtol=1e-15)
    r = P[2] / P[1] - 1
    q2 = lam * q1 + beta * w / P[1] * (w @ r - r)
    np.testing.assert_allclose(res.q[2], q2, rtol=1e-14)
    # the rule divides through 1/p: r may be 1 ulp of p_now/p_prev (2.2e-16) off the
    # quotient, which is 2.3e-15 of R - r (0.098 here); a few such ulps are allowed
    np.testing.assert_allclose(mnvh_step(q1, P[1], P[2], w, lam, beta), q2, rtol=2e-14)
    # frictionless cash account: cash = C0 - sum of trade values at the bar's price
    assert res.cash[2] == pytest.approx(1e6 - q1 @ P[1] - (q2 - q1) @ P[2], rel=1e-15)
    assert np.isnan(res.kappa[0]) and res.nav[0] == 1e6 and not res.q[0].any()


def test_nav_mode_scales_beta_by_pre_trade_nav():
    _, P = paths(1, 30, 4)
    w = np.full(4, 0.25)
    nav = run_backtest(P, w, MNVHConfig(beta=2.0, beta_mode="nav", cash0=5e5))
    ab = run_backtest(P, w, MNVHConfig(beta=2.0 * 5e5, beta_mode="absolute", cash0=5e5))
    np.testing.assert_allclose(nav.q[1], ab.q[1], rtol=1e-14)  # NAV_pre at bar 1 = C0
    navpre = nav.nav[1] + nav.mtm[2]
    want = mnvh_step(nav.q[1], P[1], P[2], w, 0.9, 2.0 * navpre)
    np.testing.assert_allclose(nav.q[2], want, rtol=1e-13)


def test_exec_lag_trades_next_bar_at_next_price():
    _, P = paths(2, 40, 5)
    w = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
    res = run_backtest(P, w, MNVHConfig(exec_lag=1, beta_mode="absolute", beta=1e5))
    assert not res.q[1].any()  # bar 1 only decides
    for s in range(2, 40):
        target = mnvh_step(res.q[s - 1], P[s - 2], P[s - 1], w, 0.9, 1e5)
        np.testing.assert_allclose(res.q[s], target, rtol=1e-12, atol=1e-12)
    # it trades at P[s]: cash change = -trade value at P[s]
    s = 7
    assert res.cash[s] - res.cash[s - 1] == pytest.approx(-(res.trades[s] @ P[s]), abs=1e-9)


def test_weights_row_t_is_used_at_bar_t_plus_1():
    rng, P = paths(3, 25, 3)
    W = rng.dirichlet(np.ones(3), size=25)
    res = run_backtest(P, W, MNVHConfig(beta_mode="absolute", beta=1e5, lam=0.5))
    s = 9
    np.testing.assert_allclose(res.q[s], mnvh_step(res.q[s - 1], P[s - 1], P[s], W[s - 1], 0.5,
                                                   1e5), rtol=1e-13)


@pytest.mark.parametrize("lag", [0, 1])
def test_no_look_ahead(lag):
    """Perturbing prices (and inputs) after bar t leaves everything up to bar t unchanged."""
    rng, P = paths(4, 120, 6)
    W = rng.dirichlet(np.ones(6), size=120)
    bs = rng.uniform(0.5, 1.5, 120)
    ab = rng.uniform(0.5, 1.5, (120, 6))
    h = 100 * np.cumprod(1 + 0.01 * rng.standard_normal(120))
    adv = rng.uniform(1e4, 1e5, (120, 6))
    cfg = MNVHConfig(beta=60, exec_lag=lag, max_gross=1.5, max_position=0.2, min_cash=2e5,
                     drawdown_stop=0.5, fees=RICH_FEES)
    base = run_backtest(P, W, cfg, beta_scale=bs, asset_betas=ab, hedge_prices=h, adv=adv)
    for t in (1, 17, 60, 118):
        P2, W2, bs2, ab2, h2, adv2 = (x.copy() for x in (P, W, bs, ab, h, adv))
        P2[t + 1:] *= rng.uniform(0.5, 1.5, P2[t + 1:].shape)
        h2[t + 1:] *= 1.3
        W2[t:] = rng.dirichlet(np.ones(6), size=120 - t)  # row t is used at bar t+1
        bs2[t:] = 0.1
        ab2[t:] = 3.0
        adv2[t + 1:] = 10.0
        alt = run_backtest(P2, W2, cfg, beta_scale=bs2, asset_betas=ab2, hedge_prices=h2,
                           adv=adv2)
        for f in FIELDS + ("q", "trades", "hedge_q"):
            np.testing.assert_array_equal(getattr(alt, f)[: t + 1], getattr(base, f)[: t + 1],
                                          err_msg=f"{f} at t={t}")
        assert [e for e in alt.risk_events if e[0] <= t] == [
            e for e in base.risk_events if e[0] <= t]
        # and the perturbation does change the future (the test can fail)
        assert not np.array_equal(alt.nav[t + 2:], base.nav[t + 2:]) or t + 2 >= 120


# --- the PnL identity --------------------------------------------------------------------

def check_identity(res, cash0):
    pnl = res.mtm - res.fees - res.slippage + res.financing
    d = np.diff(res.nav)
    scale = np.maximum.reduce([np.abs(res.nav[:-1]), res.gross[:-1], res.gross[1:],
                               np.ones(len(d))])
    assert np.max(np.abs(d - pnl[1:]) / scale) < 1e-9
    assert abs(pnl.sum() - (res.nav[-1] - cash0)) <= 1e-9 * max(cash0, res.gross.max())
    assert res.identity_residual() < 1e-9
    tie = np.cumsum(res.realised) + res.unrealised - np.cumsum(res.mtm)
    assert np.max(np.abs(tie)) <= 1e-9 * max(cash0, res.gross.max())


@pytest.mark.parametrize("lots", ["fifo", "average"])
def test_identity_on_the_bundled_data(lots):
    from pyxl.data import load_sp500_index, load_sp500_prices

    prices = load_sp500_prices()
    P = prices.to_numpy()
    h = load_sp500_index().to_numpy()
    cfg = MNVHConfig(lot_method=lots, max_gross=1.5, min_cash=1e5,
                     fees=FeeModel(fee_rate=1e-4, fixed_fee=1.0, half_spread=1e-4,
                                   borrow_rate=0.02, cash_rate=0.02, debit_rate=0.05))
    res = run_backtest(P, np.full(P.shape[1], 1 / P.shape[1]), cfg, hedge_prices=h)
    assert len(res.nav) == len(P) > 8000
    assert np.any(res.q[-1] != 0) and np.any(res.kappa[1:] < 1)
    check_identity(res, cfg.cash0)
    lt = res.lot_table(tickers=list(prices.columns))
    assert lt.groupby("asset")["qty"].sum().reindex(prices.columns, fill_value=0.0).to_numpy() \
        == pytest.approx(res.q[-1], abs=1e-6)
    assert lt["unrealised"].sum() == pytest.approx(res.unrealised[-1], rel=1e-9, abs=1e-6)
    frame = res.to_frame(index=prices.index, tickers=prices.columns)
    assert frame.shape == (len(P), 16 + 2 * P.shape[1])
    assert frame["pnl"].sum() == pytest.approx(res.nav[-1] - 1e6, rel=1e-9)


def test_default_beta_gives_about_unit_gross_on_bundled_data():
    from pyxl.data import load_sp500_prices

    P = load_sp500_prices().to_numpy()
    res = run_backtest(P, np.full(P.shape[1], 1 / P.shape[1]))
    lev = res.gross[1:] / res.nav[1:]
    assert 0.7 < lev.mean() < 1.3


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), lam=st.floats(0.0, 1.0), beta=st.floats(0.0, 400.0),
       lag=st.sampled_from([0, 1]), lots=st.sampled_from(["fifo", "average"]),
       cap=st.sampled_from([None, 0.8, 2.0]), pos=st.sampled_from([None, 0.05, 0.3]),
       floor=st.sampled_from([-2e5, 0.0, 4e5]), dd=st.sampled_from([None, 0.3]),
       hedge=st.booleans(), impact=st.booleans())
def test_engine_matches_reference_and_identity_holds(seed, lam, beta, lag, lots, cap, pos,
                                                     floor, dd, hedge, impact):
    random_book_against_reference(seed, lam, beta, lag, lots, cap, pos, floor, dd, hedge,
                                  impact)


def random_book_against_reference(seed, lam, beta, lag, lots, cap, pos, floor, dd, hedge,
                                  impact, lot_size=None):
    """A random 60 x 5 book with the given settings, run by the engine and the reference:
    same columns and events, the ledger identity and the limits hold.  ``lot_size`` is
    None or a function of the book's generator giving ``MNVHConfig.lot_size``.  Returns
    the engine's result and its config."""
    rng, P = paths(seed, 60, 5, vol=0.04)
    W = rng.normal(0.2, 0.5, (60, 5))
    W /= W.sum(axis=1, keepdims=True)
    lot = None if lot_size is None else lot_size(rng)
    fees = RICH_FEES if impact else FeeModel(fee_rate=1e-3, fixed_fee=2.0, borrow_rate=0.05)
    cfg = MNVHConfig(lam=lam, beta=beta, exec_lag=lag, lot_method=lots, max_gross=cap,
                     max_position=pos, min_cash=floor, drawdown_stop=dd, fees=fees,
                     lot_size=lot)
    kw = dict(adv=rng.uniform(1e3, 1e5, 5))
    if hedge:
        kw.update(hedge_prices=100 * np.cumprod(1 + 0.01 * rng.standard_normal(60)),
                  asset_betas=rng.uniform(0.5, 1.5, 5))
    a = run_backtest(P, W, cfg, **kw)
    b = reference_backtest(P, W, cfg, **kw)
    assert_same(a, b)
    assert [(t, k) for t, k, _ in a.risk_events] == [(t, k) for t, k, _ in b.events]
    check_identity(a, cfg.cash0)
    check_limits(a, cfg)
    return a, cfg


def check_limits(res, cfg):
    """After every executed kappa-trade: cash >= floor and gross <= cap x pre-trade NAV."""
    navpre = res.nav[:-1] + res.mtm[1:] + res.financing[1:]
    cash_pre = res.cash[:-1] + res.financing[1:]
    scale = 1e-9 * max(cfg.cash0, res.gross.max())
    stops = {t for t, k, _ in res.risk_events if k in ("drawdown_stop", "insolvent")}
    shortfall = {t for t, k, _ in res.risk_events if k == "cash_shortfall"}
    for s in range(1, len(res.nav)):
        if s in stops:
            assert res.q[s].any() == 0
            continue
        traded = res.turnover[s] > 0
        if traded and s not in shortfall:
            assert res.cash[s] >= cfg.min_cash - scale, s
        if not traded and cash_pre[s - 1] >= cfg.min_cash:
            assert res.cash[s] >= cfg.min_cash - scale
        if cfg.max_gross is not None and traded:
            assert res.gross[s] <= cfg.max_gross * navpre[s - 1] + scale, s
        if cfg.max_position is not None and res.kappa[s] == 1.0 and traded:
            assert np.all(np.abs(res.q[s] * res.prices[s]) <= cfg.max_position * navpre[s - 1]
                          * (1 + 1e-12) + scale)


@pytest.mark.parametrize("lots", ["fifo", "average"])
def test_lots_are_booked_on_first_read_from_the_stored_trades(lots):
    """FIFO: the kernel trades without lots and reading a lot column books the stored
    trades once; moving average: booked in the bar loop.  Both match the pure-Python
    reference, which books inside its loop."""
    rng, P = paths(5, 80, 6, vol=0.03)
    cfg = MNVHConfig(beta=60.0, lot_method=lots, min_cash=2e5, fees=RICH_FEES)
    kw = dict(adv=rng.uniform(1e3, 1e5, 6))
    res = run_backtest(P, np.full(6, 1 / 6), cfg, **kw)
    assert res._lot_columns is None
    nav_before = res.nav.copy()
    real = res.realised
    assert res._lot_columns is not None and res.realised is real  # booked once
    again = dataclasses.replace(res)  # a copied result books the same lots
    np.testing.assert_array_equal(again.realised, real)
    assert again.lot_table().equals(res.lot_table())
    np.testing.assert_array_equal(res.nav, nav_before)
    assert np.count_nonzero(real) > 20
    ref = reference_backtest(P, np.full(6, 1 / 6), cfg, **kw)
    np.testing.assert_allclose(real, ref.realised, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.unrealised, ref.unrealised, rtol=1e-9, atol=1e-6)
    lots_q = res.lot_table()["qty"].groupby(res.lot_table()["asset"]).sum()
    held = {f"A{i + 1}": q for i, q in enumerate(res.q[-1]) if q != 0.0}
    assert lots_q.to_dict() == pytest.approx(held, rel=1e-9)


def test_lot_columns_do_not_follow_later_edits_of_the_price_array():
    """Lots are booked on first read: changing the caller's prices in place after the
    run must not change them (the engine keeps its own copy)."""
    _, P = paths(9, 50, 4, vol=0.03)
    w = np.full(4, 0.25)
    want = run_backtest(P.copy(), w, MNVHConfig(beta=50.0)).realised
    res = run_backtest(P, w, MNVHConfig(beta=50.0))
    P *= 2.0
    with pytest.raises(ValueError, match="read-only"):
        res.trades[5, 0] = 1.0  # what the lots are booked from cannot change either
    np.testing.assert_array_equal(res.realised, want)


def test_a_price_too_small_to_invert_is_named():
    _, P = paths(3, 20, 3)
    P[7, 1] = 1e-310  # > 0, but 1/p overflows
    with pytest.raises(InputError, match=r"^prices: must be finite and > 0 and above "
                                         r"1e-308 \(row 8, column 2 is 1e-310\)"):
        run_backtest(P, np.full(3, 1 / 3), MNVHConfig())


# --- limits, forced deleveraging, stops -------------------------------------------------

def stressed_run(**over):
    _, P = paths(1, 300, 8)
    w = np.r_[1.5, -0.5, np.zeros(6)]
    kw = dict(beta=300, min_cash=0.0, max_gross=2.0,
              fees=FeeModel(fee_rate=1e-3, fixed_fee=5, impact_coef=0.3, borrow_rate=0.5,
                            debit_rate=0.5))
    kw.update(over)
    cfg = MNVHConfig(**kw)
    return P, cfg, run_backtest(P, w, cfg, adv=np.full(8, 2e4))


def test_forced_deleveraging_scales_every_position():
    P, cfg, res = stressed_run()
    kinds = Counter(k for _, k, _ in res.risk_events)
    assert kinds["forced_delever"] > 0 and kinds["gross_cap"] > 0 and kinds["cash_limit"] > 0
    for t, k, delta in res.risk_events:
        if k != "forced_delever":
            continue
        assert 0.0 < delta <= 1.0 and res.delever[t] == delta and res.kappa[t] == 0.0
        np.testing.assert_allclose(res.q[t], (1 - delta) * res.q[t - 1], rtol=1e-12)
    check_limits(res, cfg)
    check_identity(res, cfg.cash0)


def test_gross_deleveraging_that_breaks_the_floor_logs_a_shortfall():
    """Found by hypothesis: at bar 43 a price move puts gross above its cap while cash
    sits on its floor.  Scaling the book down buys back shorts and pays costs, so
    no delta restores both: the cap is restored and cash_shortfall is logged (it
    used to end below the floor silently).  Engine and reference agree."""
    rng, P = paths(2918, 60, 5, vol=0.04)
    W = rng.normal(0.2, 0.5, (60, 5))
    W /= W.sum(axis=1, keepdims=True)
    cfg = MNVHConfig(lam=0.0, beta=41.0, exec_lag=1, max_gross=2.0, min_cash=4e5,
                     fees=RICH_FEES)
    kw = dict(adv=rng.uniform(1e3, 1e5, 5))
    res = run_backtest(P, W, cfg, **kw)
    ref = reference_backtest(P, W, cfg, **kw)
    at43 = [(k, d) for t, k, d in res.risk_events if t == 43]
    assert [k for k, _ in at43] == ["forced_delever", "cash_shortfall"]
    assert res.cash[43] < cfg.min_cash
    assert at43[1][1] == res.cash[43] - cfg.min_cash  # the detail is the shortfall
    navpre = res.nav[42] + res.mtm[43] + res.financing[43]
    assert res.gross[43] <= cfg.max_gross * navpre * (1 + 1e-12)
    assert [(t, k) for t, k, _ in res.risk_events] == [(t, k) for t, k, _ in ref.events]
    check_limits(res, cfg)


def test_cash_below_floor_with_nothing_held_logs_a_shortfall_not_a_deleveraging():
    """A negative cash rate (as under the BoJ's 2016-2024 policy) takes cash below a floor
    set at the starting cash on the first bar, before anything is held.  There is
    nothing to deleverage, so the run stops with cash_shortfall (detail: the interest
    charged, C0 x 0.5 / 252) and no 'forced_delever 0' event.  Engine and reference
    agree."""
    rng, P = paths(7, 30, 3, vol=0.01)
    W = np.full(3, 1 / 3)
    cfg = MNVHConfig(min_cash=1e6, fees=FeeModel(cash_rate=-0.5))
    res = run_backtest(P, W, cfg)
    ref = reference_backtest(P, W, cfg)
    assert list(res.risk_events) == [(1, "cash_shortfall", pytest.approx(-1e6 * 0.5 / 252))]
    assert [(t, k) for t, k, _ in ref.events] == [(1, "cash_shortfall")]
    assert ref.events[0][2] == pytest.approx(-1e6 * 0.5 / 252)
    assert not np.any(res.q)  # nothing was ever bought


def test_drawdown_stop_liquidates_and_stops():
    T = 60
    P = np.full((T, 3), 100.0)
    P[1] = [110.0, 90.0, 100.0]
    P[2:, 0] = np.linspace(90, 20, T - 2)  # the bought loser keeps losing
    P[2:, 1] = np.linspace(110, 200, T - 2)  # the sold winner keeps winning
    cfg = MNVHConfig(beta=60, drawdown_stop=0.1, fees=FeeModel(fee_rate=1e-3))
    res = run_backtest(P, np.full(3, 1 / 3), cfg)
    stop = [t for t, k, _ in res.risk_events if k == "drawdown_stop"]
    assert len(stop) == 1
    t = stop[0]
    assert not res.q[t:].any() and not res.trades[t + 1:].any()
    assert res.nav[t - 1] > 0.9 * res.nav[: t].max()
    check_identity(res, cfg.cash0)


def test_insolvency_is_logged_and_trading_stops():
    P = np.array([[100.0, 100.0]] * 2 + [[100.0 * 30, 100.0]] * 3)
    P[1] = [110.0, 90.0]
    res = run_backtest(P, np.array([0.5, 0.5]), MNVHConfig(beta=1e3, min_cash=-1e9))
    kinds = [k for _, k, _ in res.risk_events]
    assert "insolvent" in kinds
    t = [t for t, k, _ in res.risk_events if k == "insolvent"][0]
    assert not res.q[t:].any()


def test_hedge_makes_the_book_beta_neutral():
    rng, P = paths(6, 50, 4)
    h = 100 * np.cumprod(1 + 0.01 * rng.standard_normal(50))
    betas = np.array([0.8, 1.2, 1.0, 1.5])
    res = run_backtest(P, np.array([0.4, 0.3, 0.2, 0.1]), MNVHConfig(),
                       hedge_prices=h, asset_betas=betas)
    expo = (res.q * P) @ betas + res.hedge_q * h
    assert np.max(np.abs(expo)) < 1e-9 * res.gross.max()
    assert np.any(res.hedge_q != 0)


def test_kappa_zero_when_status_quo_is_feasible():
    P = np.array([[100.0, 100.0], [101.0, 99.0], [100.0, 100.0]])
    # from q = 0 the eq. 1 trade raises beta*NAV*XS-Var of cash (sum w (R-r)(1+r) = -XS-Var),
    # here 1e-4 of beta*NAV, less than its 5 % fee on 1e-2: with the floor at C0 nothing works
    cfg = MNVHConfig(min_cash=1e6, fees=FeeModel(fee_rate=0.05))
    res = run_backtest(P, np.array([0.5, 0.5]), cfg)
    assert res.kappa[1] == 0.0 and not res.q[1].any()
    assert ("kappa_zero" in [k for _, k, _ in res.risk_events])


# --- grid ------------------------------------------------------------------------------

def test_grid_matches_single_runs_and_is_thread_independent():
    import numba

    rng, P = paths(8, 200, 6)
    w = rng.dirichlet(np.ones(6))
    cfg = MNVHConfig(max_gross=1.2, min_cash=1e5, fees=FeeModel(fee_rate=5e-4, fixed_fee=1.0))
    lams, betas = [0.5, 0.9, 0.98], [5.0, 40.0]
    grid = run_grid(P, w, lams, betas, cfg)
    assert grid.nav.shape == (6, 200)
    for g in range(6):
        single = run_backtest(P, w, MNVHConfig(**{**cfg.__dict__, "lam": grid.lam[g],
                                                  "beta": grid.beta[g]}))
        np.testing.assert_array_equal(grid.nav[g], single.nav)
        np.testing.assert_array_equal(grid.turnover[g], single.turnover)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_grid(P, w, lams, betas, cfg)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.nav, grid.nav)
    assert list(grid.summary().columns[:3]) == ["lam", "beta", "final_nav"]
    paired = run_grid(P, w, [0.5, 0.9], [5.0, 40.0], cfg, pairs=True)
    np.testing.assert_array_equal(paired.nav[1], grid.nav[3])


# --- input validation ------------------------------------------------------------------

def test_bad_inputs_name_the_argument():
    P = np.full((5, 2), 10.0)
    with pytest.raises(InputError, match="prices"):
        run_backtest(P * -1, np.array([0.5, 0.5]))
    with pytest.raises(InputError, match="weights"):
        run_backtest(P, np.array([1.0, 0.0, 0.0]))
    with pytest.raises(InputError, match="lam"):
        MNVHConfig(lam=1.5)
    with pytest.raises(InputError, match="beta_mode"):
        MNVHConfig(beta_mode="relative")
    with pytest.raises(InputError, match="adv"):
        run_backtest(P, np.array([0.5, 0.5]), MNVHConfig(fees=FeeModel(impact_coef=0.1)))
    with pytest.raises(InputError, match="hedge_prices"):
        run_backtest(P, np.array([0.5, 0.5]), hedge_prices=np.ones(4))
    with pytest.raises(InputError, match="betas"):
        run_grid(P, np.array([0.5, 0.5]), [0.5], [-1.0])


def test_risk_events_are_built_on_first_use():
    _, P = paths(4, 80, 4)
    res = run_backtest(P, np.full(4, 0.25), MNVHConfig(beta=60.0, max_gross=0.5))
    ev = res.risk_events
    assert len(ev) > 0 and ev._rows is None  # len() reads the kernel's arrays only
    rows = list(ev)
    assert ev == rows and ev[0] == rows[0] and ev[-1] == rows[-1] and ev != rows[:-1]
    t, kind, detail = rows[0]
    assert isinstance(t, int) and kind in EVENT_NAMES.values() and isinstance(detail, float)
    assert res.events_frame()["kind"].tolist() == [k for _, k, _ in rows]


@pytest.mark.parametrize("bad", [np.nan, 0.0, -1.0, np.inf])
def test_bad_price_inside_the_run_names_row_and_column(bad):
    # the kernel checks prices in its first pass over each bar and stops at the first
    # bad one; the engine and the grid turn that into the prices error
    _, P = paths(3, 12, 3)
    P[7, 2] = bad
    w = np.full(3, 1.0 / 3.0)
    for run in (lambda: run_backtest(P, w), lambda: run_grid(P, w, [0.5, 0.9], [10.0]),
                lambda: run_backtest(P, w, MNVHConfig(lot_method="average", exec_lag=1))):
        with pytest.raises(InputError, match=r"prices: must be finite and > 0 \(row 8, "
                                             r"column 3"):
            run()
    P[7, 2] = 50.0
    P[0, 0] = bad
    with pytest.raises(InputError, match=r"row 1, column 1"):
        run_backtest(P, w)


def test_fifo_ring_overflow_reruns_with_four_times_the_room(monkeypatch):
    from pyxl.core.mnvh import engine

    rng, P = paths(9, 150, 4)
    w = rng.dirichlet(np.ones(4))
    cfg = MNVHConfig(lam=0.98, fees=FeeModel(fee_rate=1e-4))
    full = run_backtest(P, w, cfg)
    assert full.lot_table().groupby("asset").size().max() > 2
    books = []
    fifo_book = engine.FifoBook

    def recording_book(n_assets, capacity):
        books.append(fifo_book(n_assets, capacity))
        return books[-1]

    monkeypatch.setattr(engine, "_FIFO_START_CAPACITY", 2)
    small = run_backtest(P, w, cfg)
    monkeypatch.setattr(engine, "FifoBook", recording_book)
    assert_same_lots(small, full)
    caps = [b.capacity for b in books]
    # 2, 8, 32, ... until one holds every asset's open lots; never more than T
    assert caps == [min(150, 2 * 4**k) for k in range(len(caps))]
    assert [bool(b.overflow[0]) for b in books] == [True] * (len(caps) - 1) + [False]
    assert len(caps) >= 3, caps


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), lots=st.sampled_from(["fifo", "average"]),
       beta=st.floats(5.0, 300.0), lag=st.sampled_from([0, 1]), impact=st.booleans())
def test_identity_on_long_random_runs(seed, lots, beta, lag, impact):
    rng, P = paths(seed, 3000, 30, vol=0.03)
    W = rng.normal(0.1, 0.3, 30)
    W /= W.sum()
    cfg = MNVHConfig(beta=beta, lot_method=lots, exec_lag=lag, max_gross=3.0, min_cash=-5e5,
                     fees=RICH_FEES if impact else FeeModel(fee_rate=2e-4, borrow_rate=0.03,
                                                            cash_rate=0.01, debit_rate=0.05))
    res = run_backtest(P, W, cfg, adv=rng.uniform(1e4, 1e6, 30))
    check_identity(res, cfg.cash0)
    check_limits(res, cfg)


# --- lazy lot columns: edge runs, reruns, copies ----------------------------------------

@pytest.mark.parametrize("lots", ["fifo", "average"])
@pytest.mark.parametrize("lag", [0, 1])
def test_lot_columns_on_two_bars_and_on_runs_without_trades(lots, lag):
    """T = 2 (one trade at most) and beta = 0 (no trade at all): the replay books nothing
    it should not, and the lot table matches the final positions."""
    _, P = paths(21, 2, 3)
    res = run_backtest(P, np.full(3, 1 / 3), MNVHConfig(lot_method=lots, exec_lag=lag))
    ref = reference_backtest(P, np.full(3, 1 / 3), MNVHConfig(lot_method=lots, exec_lag=lag))
    assert res.q[1].any() == (lag == 0)
    assert res.realised.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(res.unrealised, ref.unrealised, atol=1e-9)
    table = res.lot_table()
    assert table["qty"].tolist() == [q for q in res.q[-1] if q != 0.0]
    assert table["unrealised"].sum() == pytest.approx(res.unrealised[-1], abs=1e-9)

    _, P = paths(22, 40, 4)
    flat = run_backtest(P, np.full(4, 0.25), MNVHConfig(lot_method=lots, exec_lag=lag, beta=0.0))
    assert not flat.trades.any()
    assert not flat.realised.any() and not flat.unrealised.any()
    assert flat.lot_table().empty and list(flat.lot_table().columns) == list(table.columns)
    assert flat.to_frame()["realised"].eq(0.0).all()


def test_fifo_rebooking_after_overflow_with_hedge_impact_and_lag(monkeypatch):
    """The overflow reruns book the same lots when a hedge is held, the impact costs
    differ per bar (lot fees) and trades execute one bar late."""
    from pyxl.core.mnvh import engine

    rng, P = paths(31, 150, 4)
    w = rng.dirichlet(np.ones(4))
    cfg = MNVHConfig(lam=0.98, exec_lag=1,
                     fees=FeeModel(fee_rate=1e-4, half_spread=1e-4, impact_coef=0.2))
    kw = dict(adv=rng.uniform(1e4, 1e5, 4),
              hedge_prices=100 * np.cumprod(1 + 0.01 * rng.standard_normal(150)))
    full = run_backtest(P, w, cfg, **kw)
    full_table = full.lot_table()
    assert full_table.groupby("asset").size().max() > 2
    assert "hedge" in set(full_table["asset"])
    monkeypatch.setattr(engine, "_FIFO_START_CAPACITY", 2)
    small = run_backtest(P, w, cfg, **kw)
    assert_same_lots(small, full, full_table)
    ref = reference_backtest(P, w, cfg, **kw)
    np.testing.assert_allclose(small.realised, ref.realised, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(small.unrealised, ref.unrealised, rtol=1e-9, atol=1e-6)


def test_unread_lot_columns_survive_pickle_copies_and_threads():
    """A result whose lots were not booked yet can be pickled (process pools), copied
    and read from several threads; every route books the same columns."""
    import copy
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    rng, P = paths(41, 120, 5, vol=0.03)
    cfg = MNVHConfig(beta=60.0, max_gross=1.5, min_cash=2e5, fees=RICH_FEES)
    kw = dict(adv=rng.uniform(1e3, 1e5, 5), hedge_prices=P[:, 0] * 0.5 + 20.0)
    want = run_backtest(P, np.full(5, 0.2), cfg, **kw)
    want_cols = (want.realised, want.unrealised, want.lot_table())
    for make in (lambda r: pickle.loads(pickle.dumps(r)), copy.copy, copy.deepcopy):
        got = make(run_backtest(P, np.full(5, 0.2), cfg, **kw))
        assert got._lot_columns is None
        np.testing.assert_array_equal(got.realised, want_cols[0])
        np.testing.assert_array_equal(got.unrealised, want_cols[1])
        assert got.lot_table().equals(want_cols[2])
        assert got.risk_events == want.risk_events
    shared = run_backtest(P, np.full(5, 0.2), cfg, **kw)
    with ThreadPoolExecutor(max_workers=4) as pool:
        reads = list(pool.map(lambda _: shared.realised, range(8)))
    for r in reads:
        np.testing.assert_array_equal(r, want_cols[0])


@pytest.mark.parametrize("row", [0, -1])
def test_bad_price_in_the_first_or_last_row_with_hedge_lag_and_impact(row):
    _, P = paths(5, 12, 3)
    P[row, 1] = np.nan
    w = np.full(3, 1.0 / 3.0)
    where = rf"row {1 if row == 0 else 12}, column 2"
    hedge = 100.0 + np.arange(12.0)
    for run in (lambda: run_backtest(P, w, MNVHConfig(exec_lag=1), hedge_prices=hedge),
                lambda: run_grid(P, w, [0.9], [10.0, 20.0], MNVHConfig(exec_lag=1),
                                 hedge_prices=hedge)):
        with pytest.raises(InputError, match=rf"^prices: must be finite and > 0 \({where}"):
            run()
    with pytest.raises(InputError, match=r"^prices: must be finite and > 0"):
        run_backtest(P, w, MNVHConfig(fees=FeeModel(impact_coef=0.1)), adv=np.full(3, 1e4))
