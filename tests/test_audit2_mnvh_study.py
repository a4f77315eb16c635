"""Audit 2 of the MNVH estimation and study layer (issue #2 parts B and C, seed 000 sec. 8-10).

Every estimator is checked against an independent computation written here (numpy lstsq,
the Ledoit-Wolf (2004) formulas by hand, pandas rolling moments), the study layer against
single full backtests, and the causality claims by perturbing the future.  The first tests
are regressions for the bugs this audit fixed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from pyxl.core.metrics import METRICS, backtest_metrics, performance_metrics
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_grid
from pyxl.core.mnvh import estimation as E
from pyxl.core.mnvh import weights as W
from pyxl.core.mnvh.ablation import (
    ablation_grid,
    build_inputs,
    grid_points,
    run_strategy,
    walk_forward,
)
from pyxl.errors import InputError

CFG = MNVHConfig(cash0=1e6, max_gross=2.0, max_position=0.4, drawdown_stop=0.6, exec_lag=1,
                 fees=FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=1.0, cash_rate=0.01,
                               borrow_rate=0.005))


def _data(T=300, N=6, seed=0, phi=-0.2):
    """Prices with AR(1) cross-sectional deviations (phi < 0: mean reversion) and a market."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    m = rng.normal(0.0003, 0.01, size=(T, 1))
    d = np.zeros((T, N))
    eps = rng.normal(0, 0.012, size=(T, N))
    for t in range(1, T):
        d[t] = phi * d[t - 1] + eps[t]
    r = m * np.linspace(0.6, 1.4, N) + d
    return 40 * np.cumprod(1 + r, axis=0), 1000 * np.cumprod(1 + m[:, 0])


def _returns(p):
    x = np.full_like(p, np.nan)
    x[1:] = p[1:] / p[:-1] - 1
    return x


# ---------------------------------------------------------------- regressions (fixed bugs)


def test_walk_forward_prefers_a_riskless_gain_to_losing_points():
    """A point that never trades (beta 0) and earns 2 % interest has zero volatility, downside
    and drawdown: its Sharpe/Sortino/Calmar are blank in the metric table, but for choosing
    it is the best point on momentum data where every trading point loses.  Before the fix
    it counted as worst, so the walk-forward chose a losing point (IS Sharpe about -7)."""
    p, _ = _data(T=500, seed=0, phi=0.3)  # momentum: MNVH loses
    cfg = MNVHConfig(cash0=1e6, fees=FeeModel(fee_rate=5e-4, half_spread=1e-4, cash_rate=0.02))
    for crit in ("sharpe", "sortino", "calmar", "cagr"):
        wf = walk_forward(p, cfg, lams=[0.9], betas=[5.0, 0.0, 20.0], is_periods=150,
                          oos_periods=100, criterion=crit)
        for tab in wf.is_tables:  # independent fact: the riskless point has the best CAGR
            assert tab["cagr"].idxmax() == 1 and tab.loc[1, "cagr"] > 0
            assert (tab.loc[[0, 2], "cagr"] < 0).all()
        assert list(wf.folds["beta"]) == [0.0] * len(wf.folds), crit
    # doing nothing at all (flat NAV, no interest) beats a loss: score 0 > negative ratios
    cfg0 = dataclasses.replace(cfg, fees=FeeModel(fee_rate=5e-4, half_spread=1e-4))
    wf = walk_forward(p, cfg0, lams=[0.9], betas=[5.0, 0.0], is_periods=150, oos_periods=100)
    assert list(wf.folds["beta"]) == [0.0] * len(wf.folds)
    assert list(wf.folds["is_sharpe"]) == [0.0] * len(wf.folds)
    np.testing.assert_array_equal(wf.oos_nav, 1e6)


def test_grid_points_refuse_empty_hedges_and_throttles():
    """Before the fix an empty ``hedges``/``throttles`` gave a 0 x 0 table and a numpy
    ValueError in the walk-forward."""
    p, b = _data(T=200)
    with pytest.raises(InputError, match="hedges: is empty"):
        ablation_grid(p, CFG, lams=[0.9], betas=[5.0], hedges=[], benchmark=b)
    with pytest.raises(InputError, match="throttles: is empty"):
        walk_forward(p, CFG, lams=[0.9], betas=[5.0], throttles=[], is_periods=100,
                     oos_periods=50)


def test_rolling_betas_names_the_benchmark_in_its_errors():
    p, b = _data(T=30)
    for bad in (0.0, -5.0, np.nan):
        c = b.copy()
        c[7] = bad
        with pytest.raises(InputError, match="^benchmark: "):
            E.rolling_betas(p, c, window=10, min_periods=5)
        with pytest.raises(InputError, match="^benchmark: "):
            build_inputs(p, "equal", benchmark=c, hedge=True)


def test_markowitz_with_two_returns_has_no_minimum_variance_solution():
    """Two returns give a rank-1 sample covariance and Ledoit-Wolf shrinkage 0, so
    ``S^-1 1`` does not exist.  The least-squares fallback returned the one direction that
    has variance (weights 4.2 and -4.1 for N = 20), the opposite of minimum variance.  Now
    the row is equal weights, like a warm-up row, and shrinkage stays in [0, 1]."""
    rng = np.random.default_rng(3)
    for N in (2, 3, 5, 20):
        p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (10, N)), axis=0)
        w = W.markowitz_weights(p, window=60, min_periods=2)
        x = p[1:3] / p[:2] - 1
        xc = x - x.mean(axis=0)
        S = xc.T @ xc / 2
        assert np.linalg.matrix_rank(S) == 1  # independent: the window's covariance is singular
        np.testing.assert_allclose(w[2], 1.0 / N, rtol=1e-15)
        _, s = W.ledoit_wolf(x)
        assert 0.0 <= s <= 1.0
        # from three returns on (N = 2, 3: full rank) or with shrinkage > 0, a real solution
        assert np.isfinite(w[3:]).all() and not np.allclose(w[3], 1.0 / N)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)


# ---------------------------------------------------------------- estimators, independently


@pytest.mark.parametrize("window,mp", [(10, 1), (10, 10), (30, 5), (2, 2), (200, 50)])
def test_rolling_rho_is_the_negated_pooled_lstsq_slope_at_every_row(window, mp):
    rng = np.random.default_rng(0)
    T, N = 120, 5
    p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (T, N)), axis=0)
    w = rng.normal(0.2, 0.3, (T, N))  # time-varying, some negative, rows sum to 1
    w /= w.sum(axis=1, keepdims=True)
    x = _returns(p)
    d = np.full((T, N), np.nan)
    for t in range(1, T):
        d[t] = x[t] - w[t - 1] @ x[t]  # R_t uses the weights known when the period starts
    raw = E.rolling_rho(p, w, window=window, min_periods=mp, clip=False)
    clipped = E.rolling_rho(p, w, window=window, min_periods=mp)
    for t in range(T):
        s = np.arange(max(2, t - window + 1), t + 1)
        if s.size < mp:
            assert np.isnan(raw[t]) and np.isnan(clipped[t])
            continue
        slope = np.linalg.lstsq(d[s - 1].ravel()[:, None], d[s].ravel(), rcond=None)[0][0]
        assert raw[t] == pytest.approx(-slope, abs=1e-10)
        assert clipped[t] == pytest.approx(min(max(-slope, 0.0), 1.0), abs=1e-10)


@pytest.mark.parametrize("mode", ["nav", "absolute"])
def test_expected_edge_by_hand(mode):
    rng = np.random.default_rng(1)
    T, N = 90, 4
    p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (T, N)), axis=0)
    w = rng.normal(0.25, 0.3, (T, N))
    w /= w.sum(axis=1, keepdims=True)
    nav = 1e6 * np.cumprod(1 + rng.normal(0, 0.01, T))
    ed = E.expected_edge(p, w, beta=3.0, nav=nav, beta_mode=mode, cost_rate=7e-4, window=20,
                         min_periods=10)
    x = _returns(p)
    rho = E.rolling_rho(p, w, window=20, min_periods=10)
    for t in range(T):
        us = range(max(1, t - 19), t + 1)
        dev = [x[u] - w[u - 1] @ x[u] for u in us]
        xs = [w[u - 1] @ dv**2 for u, dv in zip(us, dev, strict=True)]
        ad = [np.abs(w[u - 1]) @ np.abs(dv) for u, dv in zip(us, dev, strict=True)]
        if len(xs) < 10:
            assert np.isnan(ed.xs_var[t])
            continue
        beff = 3.0 * nav[t] if mode == "nav" else 3.0
        assert ed.xs_var[t] == pytest.approx(np.mean(xs), rel=1e-12)
        assert ed.cost[t] == pytest.approx(7e-4 * beff * np.mean(ad), rel=1e-12)
        if np.isfinite(rho[t]):
            assert ed.gross[t] == pytest.approx(beff * rho[t] * np.mean(xs), rel=1e-12, abs=0)
            assert ed.net[t] == pytest.approx(ed.gross[t] - ed.cost[t], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("window,mp,k", [(20, 20, 1), (20, 5, 1), (20, 5, 7), (60, None, 3)])
def test_inverse_vol_against_pandas_with_rebalancing(window, mp, k):
    rng = np.random.default_rng(2)
    T, N = 120, 5
    p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (T, N)) * np.linspace(0.5, 2, N), axis=0)
    got = W.inverse_vol_weights(p, window=window, min_periods=mp, rebalance_every=k)
    sd = pd.DataFrame(_returns(p)).rolling(window, min_periods=mp or window).std()
    inv = 1 / sd.to_numpy()
    ref = inv / inv.sum(axis=1, keepdims=True)
    ref[np.isnan(ref).any(axis=1)] = 1 / N
    ref = ref[np.arange(T) // k * k]  # recomputed on rows 0, k, 2k, ... and held
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-14)


def _ledoit_wolf_paper(x):
    """Ledoit and Wolf (2004), lemma 3.1 and sec. 3.3, written from the paper."""
    n, N = x.shape
    xc = x - x.mean(axis=0)
    S = xc.T @ xc / n
    m = np.trace(S) / N
    d2 = np.sum((S - m * np.eye(N)) ** 2) / N
    b2bar = sum(np.sum((np.outer(r, r) - S) ** 2) / N for r in xc) / n**2
    b2 = min(b2bar, d2)
    return b2 / d2 * m * np.eye(N) + (d2 - b2) / d2 * S


@pytest.mark.parametrize("window,mp,k", [(30, 10, 1), (252, 60, 5), (8, 3, 1)])
def test_markowitz_minvar_against_the_paper_and_a_direct_solve(window, mp, k):
    rng = np.random.default_rng(4)
    T, N = 120, 5
    p = 50 * np.cumprod(1 + rng.normal(0, 0.02, (T, N)), axis=0)
    got = W.markowitz_weights(p, window=window, min_periods=mp, rebalance_every=k)
    x = _returns(p)
    for t in range(T):
        r = t // k * k
        lo = max(1, r - window + 1)
        if r - lo + 1 < mp:
            np.testing.assert_allclose(got[t], 1 / N)
            continue
        a = np.linalg.solve(_ledoit_wolf_paper(x[lo : r + 1]), np.ones(N))
        np.testing.assert_allclose(got[t], a / a.sum(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


def test_rolling_betas_against_pandas_at_window_edges():
    rng = np.random.default_rng(5)
    T, N = 80, 3
    rb = rng.normal(0, 0.01, T)
    p = 30 * np.cumprod(1 + rb[:, None] * [0.5, 1.0, -0.4] + rng.normal(0, 0.005, (T, N)),
                        axis=0)
    b = 1000 * np.cumprod(1 + rb)
    got = E.rolling_betas(p, b, window=15, min_periods=6, warmup_value=0.7)
    x, xb = pd.DataFrame(_returns(p)), pd.Series(_returns(b[:, None])[:, 0])
    ref = np.column_stack([x[i].rolling(15, min_periods=6).cov(xb)
                           / xb.rolling(15, min_periods=6).var() for i in range(N)])
    assert np.isnan(ref[:6]).all() and np.isfinite(ref[6:]).all()
    np.testing.assert_array_equal(got[:6], 0.7)
    np.testing.assert_allclose(got[6:], ref[6:], rtol=1e-9)


# ---------------------------------------------------------------- no look-ahead


@pytest.mark.parametrize("t", [3, 10, 11, 29, 30, 31, 40, 41, 120, 297])
def test_pipeline_with_execution_lag_has_no_look_ahead(t):
    """Perturb prices and benchmark after row t (window edges: 10/30/40 rows): weights,
    throttle, hedge betas and every ledger column up to t are unchanged with exec_lag = 1."""
    p, b = _data(T=300, seed=4)
    kw = dict(hedge=True, throttle=True, weight_kwargs={"window": 30, "min_periods": 10},
              rho_window=40, rho_min_periods=10, beta_window=30, beta_min_periods=10)
    rng = np.random.default_rng(t)
    q, c = p.copy(), b.copy()
    q[t + 1 :] *= rng.uniform(0.6, 1.6, q[t + 1 :].shape)
    c[t + 1 :] *= rng.uniform(0.6, 1.6, c[t + 1 :].shape)
    for scheme in ("invvol", "markowitz"):
        a, z = build_inputs(p, scheme, benchmark=b, **kw), build_inputs(q, scheme, benchmark=c,
                                                                         **kw)
        for f in ("weights", "beta_scale", "asset_betas"):
            np.testing.assert_array_equal(getattr(a, f)[: t + 1], getattr(z, f)[: t + 1])
        ra, rz = run_strategy(p, CFG, a), run_strategy(q, CFG, z)
        for f in ("q", "hedge_q", "trades", "nav", "cash", "kappa", "fees"):
            np.testing.assert_array_equal(getattr(ra, f)[: t + 1], getattr(rz, f)[: t + 1])
    e1 = E.expected_edge(p, beta=2.0, cost_rate=1e-3, window=20, min_periods=5)
    e2 = E.expected_edge(q, beta=2.0, cost_rate=1e-3, window=20, min_periods=5)
    for f in ("rho", "xs_var", "gross", "cost", "net"):
        np.testing.assert_array_equal(getattr(e1, f)[: t + 1], getattr(e2, f)[: t + 1])


# ---------------------------------------------------------------- grid and walk-forward


def test_grid_table_equals_single_backtests_with_every_option():
    """Hedge, throttle, three schemes, exec_lag 1, caps, a drawdown stop and fixed fees:
    every row of the tidy table equals run_backtest on that point alone."""
    p, b = _data(T=300, seed=1)
    ik = {"rho_window": 60, "rho_min_periods": 20,
          "weight_kwargs": {"window": 60, "min_periods": 20}}
    tab = ablation_grid(p, CFG, lams=[0.8, 0.95], betas=[5.0, 80.0],
                        schemes=["equal", "invvol", "markowitz"], hedges=[False, True],
                        throttles=[False, True], benchmark=b, input_kwargs=ik, n_jobs=2)
    assert len(tab) == 48 and tab["risk_events"].max() > 0
    for k in range(len(tab)):
        row = tab.iloc[k]
        inp = build_inputs(p, row["weights"], benchmark=b, hedge=bool(row["hedge"]),
                           throttle=bool(row["throttle"]), rho_window=60, rho_min_periods=20,
                           weight_kwargs={"window": 60, "min_periods": 20})
        res = run_strategy(p, dataclasses.replace(CFG, lam=row["lam"], beta=row["beta"]), inp)
        ref = backtest_metrics(res, p, benchmark=b, hedge_prices=inp.hedge_prices)
        for key in METRICS:
            if math.isnan(ref[key]):
                assert math.isnan(row[key]), (k, key)
            else:
                assert row[key] == pytest.approx(ref[key], rel=1e-9, abs=1e-12), (k, key)
        assert row["risk_events"] == len(res.risk_events)


def test_results_identical_with_one_and_two_threads():
    p, b = _data(T=300, seed=6)
    kw = dict(lams=[0.8, 0.95], betas=[3.0, 30.0], schemes=["equal", "markowitz"],
              hedges=[False, True], throttles=[False, True], benchmark=b, is_periods=120,
              oos_periods=60, input_kwargs={"rho_window": 40, "rho_min_periods": 10})
    one, two = walk_forward(p, CFG, n_jobs=1, **kw), walk_forward(p, CFG, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one.folds, two.folds, check_exact=True)
    np.testing.assert_array_equal(one.oos_nav, two.oos_nav)
    for a, z in zip(one.is_tables, two.is_tables, strict=True):
        pd.testing.assert_frame_equal(a, z, check_exact=True)
    w = np.full(p.shape[1], 1 / p.shape[1])
    g1 = run_grid(p, w, [0.8, 0.9, 0.95], [1.0, 10.0, 50.0], CFG, threads=1)
    g2 = run_grid(p, w, [0.8, 0.9, 0.95], [1.0, 10.0, 50.0], CFG, threads=2)
    for f in ("nav", "gross", "net", "fees", "slippage", "financing", "turnover", "n_events"):
        np.testing.assert_array_equal(getattr(g1, f), getattr(g2, f))


@pytest.mark.parametrize("anchored", [False, True])
@pytest.mark.parametrize("criterion", ["sharpe", "calmar"])
def test_walk_forward_choice_ignores_its_out_of_sample_prices(anchored, criterion):
    """Perturb prices and benchmark after each fold's OOS start s_k: that fold's choice and IS
    score and every earlier fold are unchanged (hedge, throttle, Markowitz, exec_lag 1)."""
    p, b = _data(T=300, seed=4)
    kw = dict(lams=[0.8, 0.95], betas=[3.0, 30.0], schemes=["equal", "markowitz"],
              hedges=[False, True], throttles=[False, True], benchmark=b, is_periods=120,
              oos_periods=60, anchored=anchored, criterion=criterion,
              input_kwargs={"rho_window": 40, "rho_min_periods": 10,
                            "weight_kwargs": {"window": 30, "min_periods": 10}})
    base = walk_forward(p, CFG, **kw)
    f = base.folds
    assert len(f) == 3
    cols = ["lam", "beta", "weights", "hedge", "throttle", f"is_{criterion}"]
    for k in range(len(f)):
        s = int(f.loc[k, "oos_first"])
        rng = np.random.default_rng(k)
        q, c = p.copy(), b.copy()
        q[s + 1 :] *= rng.uniform(0.6, 1.6, q[s + 1 :].shape)
        c[s + 1 :] *= rng.uniform(0.6, 1.6, c[s + 1 :].shape)
        pert = walk_forward(q, CFG, **{**kw, "benchmark": c})
        pd.testing.assert_series_equal(pert.folds.loc[k, cols], f.loc[k, cols])
        pd.testing.assert_frame_equal(pert.folds.iloc[:k], f.iloc[:k], check_exact=True)


def test_walk_forward_chained_metrics_from_fresh_oos_runs():
    """The headline OOS metrics equal those of the OOS runs re-done here and chained."""
    p, b = _data(T=420, seed=2)
    cfg = dataclasses.replace(CFG, drawdown_stop=None)
    wf = walk_forward(p, cfg, lams=[0.8, 0.95], betas=[3.0, 30.0], hedges=[True], benchmark=b,
                      is_periods=150, oos_periods=80)
    inp = build_inputs(p, "equal", benchmark=b, hedge=True)
    parts = {k: [np.zeros(1)] for k in ("gross", "net", "turnover")}
    navs, bench, level, costs, gp = [np.array([cfg.cash0])], [b[150:151]], cfg.cash0, 0.0, 0.0
    for _, row in wf.folds.iterrows():
        s, e = int(row["oos_first"]), int(row["oos_last"])
        res = run_strategy(p[s : e + 1], dataclasses.replace(cfg, lam=row["lam"],
                                                             beta=row["beta"]),
                           inp.rows(s, e + 1))
        sc = level / res.nav[0]
        navs.append(res.nav[1:] * sc)
        for k in parts:
            parts[k].append(getattr(res, k)[1:] * sc)
        costs += (res.fees.sum() + res.slippage.sum()) * sc
        gp += res.mtm.sum() * sc
        bench.append(b[s + 1 : e + 1])
        level = res.nav[-1] * sc
    ref = performance_metrics(np.concatenate(navs), rf=cfg.fees.cash_rate,
                              benchmark=np.concatenate(bench),
                              gross_exposure=np.concatenate(parts["gross"]),
                              net_exposure=np.concatenate(parts["net"]),
                              traded_notional=np.concatenate(parts["turnover"]),
                              costs=costs, gross_pnl=gp)
    for key in METRICS:
        assert wf.metrics[key] == pytest.approx(ref[key], rel=1e-9, nan_ok=True), key


def test_grid_points_order_covers_every_combination():
    pts = grid_points([0.8, 0.9], [1.0, 2.0], ["equal", "invvol"], [False, True],
                      [False, True])
    assert len(pts) == 32 and len(set(pts)) == 32
    assert pts[1].beta == 2.0 and pts[2].lam == 0.9 and pts[4].throttle
