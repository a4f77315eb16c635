"""Seed 000 conformance (MNVH + Ledger-SPT): the engine, estimators and metrics against
independent re-implementations written from the seed text, in plain numpy.

Each reference below is written from the seed (eq. 1, appendix A, eq. 4, sec. 8-10) and
the documented readings of its ambiguities (docs/mnvh.md, docs/ledger.md), never from
the code under test: the cash-account kappa is found by a grid and bisection, rho by an
explicit loop over pairs, the metrics from their textbook definitions and scipy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats as sst

from pyxl.core.metrics import performance_metrics
from pyxl.core.mnvh import FeeModel, MNVHConfig, run_backtest
from pyxl.core.mnvh.ablation import walk_forward
from pyxl.core.mnvh.estimation import expected_edge, rolling_rho, xs_variance
from pyxl.core.mnvh.rule import mnvh_step


def _walk(T, N, seed, vol=0.02):
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(vol * rng.standard_normal((T, N)), axis=0)), rng


def _largest_feasible(feasible) -> float:
    """Largest k in (0, 1] with feasible(k): a 1/4000 grid, then bisection (0: none)."""
    ks = np.linspace(0.0, 1.0, 4001)[1:]
    ok = [k for k in ks if feasible(k)]
    if not ok:
        return 0.0
    lo = max(ok)
    hi = min(1.0, lo + 1.0 / 4000)
    if feasible(hi):
        return hi
    for _ in range(200):
        m = 0.5 * (lo + hi)
        if feasible(m):
            lo = m
        else:
            hi = m
    return lo


def _largest_on_linear(feasible) -> float:
    """Largest k in (0, 1) with feasible(k) when cash after the trade is linear in k on
    (0, 1] and infeasible at 1: feasible at 0+ then bisection, else 0."""
    lo, hi = 1e-300, 1.0
    if not feasible(lo):
        return 0.0
    for _ in range(2000):
        m = 0.5 * (lo + hi)
        if m in (lo, hi):
            break
        if feasible(m):
            lo = m
        else:
            hi = m
    return lo


def _appendix_a(P, W, lam, beta, *, nav_mode, fee=0.0, slip=0.0, fixed=0.0, min_cash=0.0,
                bscale=None, hedge=None, betas=None, cash0=1e6):
    """Appendix A step by step: returns, R, q*, fees, kappa on the cash account, execute.

    Bar s (t = s - 1): r_t = p_s / p_{s-1} - 1 with the weights known at t, the target
    lam q + beta_eff (w / p_{s-1}) (R - r), hedge h p_h = -sum b q* p, then the largest
    kappa keeping cash after trade and costs >= min_cash; trade at p_s.
    """
    T, N = P.shape
    W = np.broadcast_to(W, (T, N)) if W.ndim == 1 else W
    Pm = P if hedge is None else np.column_stack([P, hedge])
    M = Pm.shape[1]
    q = np.zeros(M)
    cash = cash0
    nav, kap, qs = [cash0], [np.nan], [q.copy()]
    for s in range(1, T):
        p1 = Pm[s]
        nav_pre = cash + q @ p1
        r = P[s] / P[s - 1] - 1.0
        w = W[s - 1]
        R = w @ r
        b = beta * (1.0 if bscale is None else bscale[s - 1]) * (nav_pre if nav_mode else 1.0)
        tgt = np.zeros(M)
        tgt[:N] = lam * q[:N] + b * (w / P[s - 1]) * (R - r)
        if hedge is not None:
            tgt[N] = -np.sum(betas[s - 1] * tgt[:N] * P[s]) / hedge[s]
        dq = tgt - q

        def cash_after(k, dq=dq, p1=p1, cash=cash):
            x = k * dq
            return cash - x @ p1 - (fee + slip) * np.abs(x) @ p1 - fixed * np.count_nonzero(x)

        k = 1.0 if cash_after(1.0) >= min_cash else _largest_on_linear(
            lambda k: cash_after(k) >= min_cash)
        x = k * dq
        cash = cash_after(k)
        q = q + x
        nav.append(cash + q @ p1)
        kap.append(k)
        qs.append(q.copy())
    return np.array(nav), np.array(kap), np.array(qs)


@pytest.mark.parametrize("mode", ["nav", "absolute"])
@pytest.mark.parametrize("min_cash", [0.0, 0.99e6, 0.999e6])
@pytest.mark.parametrize("hedged", [False, True])
def test_engine_is_appendix_a(mode, min_cash, hedged):
    """Eq. 1 + appendix A (negative weights per bar, a throttle, fixed fees, a binding cash
    floor, the hedge leg): the engine's NAV, positions and kappa equal the step-by-step
    reference; the floor binds on many bars."""
    T, N = 250, 6
    P, rng = _walk(T, N, 1)
    H = 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(T)))
    W = rng.dirichlet(np.ones(N), size=T)
    W[:, 0] -= 0.3
    W[:, 1] += 0.3
    betas = 0.5 + rng.random((T, N))
    bs = rng.random(T)
    beta = 20.0 if mode == "nav" else 20.0e6
    ref_nav, ref_k, ref_q = _appendix_a(
        P, W, 0.85, beta, nav_mode=mode == "nav", fee=5e-4, slip=1e-4, fixed=1.0,
        min_cash=min_cash, bscale=bs, hedge=H if hedged else None, betas=betas)
    cfg = MNVHConfig(lam=0.85, beta=beta, beta_mode=mode, min_cash=min_cash,
                     fees=FeeModel(fee_rate=5e-4, half_spread=1e-4, fixed_fee=1.0))
    res = run_backtest(P, W, cfg, beta_scale=bs, hedge_prices=H if hedged else None,
                       asset_betas=betas if hedged else None)
    q = np.column_stack([res.q, res.hedge_q]) if hedged else res.q
    assert np.max(np.abs(res.nav - ref_nav) / ref_nav) < 1e-12
    assert np.max(np.abs(q - ref_q) / (1.0 + np.abs(ref_q))) < 1e-9
    assert np.nanmax(np.abs(res.kappa - ref_k)) < 1e-9
    if min_cash > 0:
        assert np.sum(ref_k[1:] < 1) > 100


def test_exec_lag_one_trades_the_previous_bar_decision():
    """exec_lag=1: the target decided at bar s (end-of-bar q and NAV, r_{s-1}) fills at s+1."""
    T, N = 200, 5
    P, _ = _walk(T, N, 2)
    w = np.full(N, 1.0 / N)
    lam, beta, fee = 0.9, 25.0, 5e-4
    q, cash, pend, navs = np.zeros(N), 1e6, None, [1e6]
    for s in range(1, T):
        if pend is not None:
            x = pend - q
            cash -= x @ P[s] + fee * np.abs(x) @ P[s]
            q = pend
        nav = cash + q @ P[s]
        navs.append(nav)
        r = P[s] / P[s - 1] - 1.0
        pend = lam * q + beta * nav * (w / P[s - 1]) * (w @ r - r)
    res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, exec_lag=1,
                                        fees=FeeModel(fee_rate=fee)))
    assert np.max(np.abs(res.nav - np.array(navs)) / res.nav) < 1e-12


def test_gross_cap_kappa_and_forced_deleveraging():
    """max_gross (sec. 10 leverage pre-check): kappa is the largest scale meeting both the
    cash floor and sum |q + k dq| p <= cap x pre-trade NAV; with none, the book is scaled
    by 1 - delta, delta = 1 - cap NAV / gross."""
    T, N = 300, 8
    P, _ = _walk(T, N, 8)
    w = np.full(N, 1.0 / N)
    lam, beta, fee, G = 0.95, 60.0, 5e-4, 1.0
    q, cash, navs, ndel = np.zeros(N), 1e6, [1e6], 0
    for s in range(1, T):
        p1 = P[s]
        nav_pre = cash + q @ p1
        r = P[s] / P[s - 1] - 1.0
        dq = lam * q + beta * nav_pre * (w / P[s - 1]) * (w @ r - r) - q

        def ok(k, dq=dq, p1=p1, cash=cash, nav_pre=nav_pre, q=q):
            x = k * dq
            return (cash - x @ p1 - fee * np.abs(x) @ p1 >= 0
                    and np.abs(q + x) @ p1 <= G * nav_pre * (1 + 1e-15))

        k = 1.0 if ok(1.0) else _largest_feasible(ok)
        if k == 0.0 and np.abs(q) @ p1 > G * nav_pre:
            k, dq = 1.0 - G * nav_pre / (np.abs(q) @ p1), -q
            ndel += 1
        x = k * dq
        cash -= x @ p1 + fee * np.abs(x) @ p1
        q = q + x
        navs.append(cash + q @ p1)
    res = run_backtest(P, w, MNVHConfig(lam=lam, beta=beta, max_gross=G,
                                        fees=FeeModel(fee_rate=fee)))
    assert ndel > 10 and int(np.sum(res.delever > 0)) == ndel
    assert np.max(np.abs(res.nav - np.array(navs)) / res.nav) < 1e-9


def test_eq1_net_short_drift_is_minus_beta_xs_var():
    """docs/mnvh.md: the executed notional of eq. 1's signal trade, at p_{t+1}, sums to
    -beta XS-Var_t exactly (sum_i w_i (R - r_i)(1 + r_i) = R^2 - sum w r^2)."""
    rng = np.random.default_rng(3)
    N = 7
    p0 = 10 + 90 * rng.random(N)
    p1 = p0 * (1 + 0.03 * rng.standard_normal(N))
    w = rng.standard_normal(N)
    w /= w.sum()
    beta = 1e5
    q1 = mnvh_step(np.zeros(N), p0, p1, w, 0.9, beta)
    r = p1 / p0 - 1
    R = w @ r
    xs = np.sum(w * (r - R) ** 2)
    assert q1 @ p1 == pytest.approx(-beta * xs, rel=1e-10)


def _ar_prices(rho, T, N, seed, sigma=0.01):
    rng = np.random.default_rng(seed)
    d = np.zeros((T, N))
    for t in range(1, T):
        e = sigma * rng.standard_normal(N)
        d[t] = -rho * d[t - 1] + (e - e.mean())
    x = 0.01 * rng.standard_normal((T, 1)) + d
    x[0] = 0.0
    return 100.0 * np.cumprod(1 + x, axis=0)


def test_rho_is_the_negated_pooled_slope_of_the_seed_regression():
    """Sec. 8: regress (r_{t+1} - R_{t+1}) on (r_t - R_t), pooled, rolling; rho = -slope
    (eq. 4's model has -rho), clipped to [0, 1]; an explicit loop over visible pairs."""
    T, N, win, mp = 160, 6, 50, 20
    P = _ar_prices(0.3, T, N, 4)
    rng = np.random.default_rng(5)
    W = rng.dirichlet(np.ones(N), size=T)
    r = P[1:] / P[:-1] - 1  # r[t] = seed r_t, first known at row t + 1
    dev = r - np.sum(W[:-1] * r, axis=1)[:, None]
    want = np.full(T, np.nan)
    for row in range(T):
        pairs = [(dev[t], dev[t + 1]) for t in range(row - 1)][-win:]
        if len(pairs) >= mp:
            X = np.concatenate([a for a, _ in pairs])
            Y = np.concatenate([b for _, b in pairs])
            want[row] = -(X @ Y) / (X @ X)
    got = rolling_rho(P, W, window=win, min_periods=mp, clip=False)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rolling_rho(P, W, window=win, min_periods=mp),
                               np.clip(want, 0, 1), rtol=1e-12, atol=1e-15)
    xs = np.full(T, np.nan)
    xs[1:] = np.sum(W[:-1] * dev**2, axis=1)
    np.testing.assert_allclose(xs_variance(P, W), xs, rtol=1e-12)


def test_eq4_edge_equals_realised_signal_pnl_under_the_model():
    """Eq. 4 with lam = 0 (every position is one signal trade): the mean MTM per bar of the
    engine is beta rho E[XS-Var] within 4 standard errors, on prices whose deviations
    follow the seed's model d_{t+1} = -rho d_t + eps with rho = 0.2."""
    T, N = 8000, 20
    P = _ar_prices(0.2, T, N, 5)
    w = np.full(N, 1.0 / N)
    res = run_backtest(P, w, MNVHConfig(lam=0.0, beta=5.0, beta_mode="absolute"))
    e = expected_edge(P, w, beta=5.0, beta_mode="absolute", window=2000, min_periods=500)
    mtm = res.mtm[1000:]
    se = mtm.std(ddof=1) / np.sqrt(mtm.size)
    assert abs(mtm.mean() - np.nanmean(e.gross[1000:])) < 4 * se
    assert np.nanmean(e.rho[1000:]) == pytest.approx(0.2, abs=0.02)


def test_metrics_have_their_standard_definitions():
    """Sec. 9 metrics from their textbook definitions (scipy for skew and kurtosis, an
    explicit loop for the drawdown duration, linregress for beta)."""
    rng = np.random.default_rng(6)
    T, P_ = 800, 252
    r = 0.0003 + 0.01 * rng.standard_t(4, T - 1)
    nav = 1e6 * np.concatenate([[1.0], np.cumprod(1 + r)])
    b = 100 * np.concatenate([[1.0], np.cumprod(1 + 0.5 * r + 0.008 * rng.standard_normal(T - 1))])
    g = np.abs(rng.standard_normal(T)) * nav
    ne = 0.1 * rng.standard_normal(T) * nav
    tn = np.abs(rng.standard_normal(T)) * 1e5
    m = performance_metrics(nav, periods_per_year=P_, rf=0.02, benchmark=b, gross_exposure=g,
                            net_exposure=ne, traded_notional=tn, costs=123.0, gross_pnl=4567.0)
    n = T - 1
    ex = r - 0.02 / P_
    peak = np.maximum.accumulate(nav)
    run = best = 0
    for v, pk in zip(nav, peak, strict=True):
        run = run + 1 if v < pk else 0
        best = max(best, run)
    rb = b[1:] / b[:-1] - 1
    want = {
        "cagr": (nav[-1] / nav[0]) ** (P_ / n) - 1,
        "ann_vol": np.std(r, ddof=1) * np.sqrt(P_),
        "sharpe": ex.mean() / np.std(r, ddof=1) * np.sqrt(P_),
        "sortino": ex.mean() / np.sqrt(np.mean(np.minimum(ex, 0) ** 2)) * np.sqrt(P_),
        "max_drawdown": np.min(nav / peak - 1),
        "max_dd_duration": best,
        "turnover": tn.sum() / nav.mean() / (n / P_),
        "fee_gross": 123.0 / 4567.0,
        "hit_rate": np.mean(r > 0),
        "skew": sst.skew(r, bias=False),
        "kurtosis": sst.kurtosis(r, bias=False),
        "beta_bench": sst.linregress(rb, r).slope,
        "corr_bench": np.corrcoef(r, rb)[0, 1],
        "avg_gross": np.mean(g / nav),
        "avg_net": np.mean(ne / nav),
    }
    for k, v in want.items():
        assert m[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k


def test_walk_forward_is_in_sample_choice_then_flat_oos_run():
    """Sec. 9 OOS rolling: a by-hand walk-forward (IS Sharpe over the grid, the chosen point
    re-run from a flat book and C_0 on the OOS rows, folds chained) equals walk_forward."""
    T, N = 700, 6
    P = _ar_prices(0.05, T, N, 9)
    cfg = MNVHConfig(fees=FeeModel(fee_rate=5e-4, half_spread=1e-4))
    lams, betas = [0.8, 0.95], [5.0, 35.0]
    w = np.full(N, 1.0 / N)
    pts = [(lam, b) for lam in lams for b in betas]

    def sharpe(nav):
        x = nav[1:] / nav[:-1] - 1
        return -np.inf if np.any(nav <= 0) else x.mean() / x.std(ddof=1)

    s, level, chain = 250, 1e6, [1e6]
    while s < T - 1:
        e = min(s + 100, T - 1)
        sc = [sharpe(run_backtest(P[s - 250:s + 1], w, dataclasses.replace(cfg, lam=lam, beta=b)
                                  ).nav) for lam, b in pts]
        lam, b = pts[int(np.argmax(sc))]
        nav = run_backtest(P[s:e + 1], w, dataclasses.replace(cfg, lam=lam, beta=b)).nav
        chain += list(nav[1:] * level / nav[0])
        level, s = chain[-1], e
    wf = walk_forward(P, cfg, lams=lams, betas=betas, is_periods=250, oos_periods=100)
    np.testing.assert_allclose(wf.oos_nav, chain, rtol=1e-12)
