"""Audit 14: derived figures recomputed by hand (metrics, leverage drift, scenario
summary, MBP Table 1 study) with plain numpy / pandas / scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from pyxl.core.kelly.drift import rebalance_mask, simulate_leverage
from pyxl.core.metrics import performance_metrics
from pyxl.errors import InputError
from pyxl.xl.cache import clear_all

# ------------------------------------------------------------------------------ metrics


def _independent(nav, P, rf=0.0, bench=None):
    """The docs' definitions (docs/mnvh.md, Metrics) written out with pandas / scipy."""
    s = pd.Series(nav)
    r = s.pct_change().dropna()
    ex = r - rf / P
    under = (s < s.cummax()).astype(int)
    runs = under.groupby((under == 0).cumsum()).sum()
    out = {
        "cagr": (s.iloc[-1] / s.iloc[0]) ** (P / len(r)) - 1,
        "ann_vol": r.std() * math.sqrt(P),
        "sharpe": ex.mean() / r.std() * math.sqrt(P),
        "sortino": ex.mean() / math.sqrt((ex.clip(upper=0) ** 2).mean()) * math.sqrt(P),
        "max_drawdown": (s / s.cummax() - 1).min(),
        "max_dd_duration": float(runs.max()),
        "hit_rate": (r > 0).sum() / (r != 0).sum(),
        "skew": st.skew(r, bias=False),
        "kurtosis": st.kurtosis(r, bias=False, fisher=True),
    }
    if bench is not None:
        rb = pd.Series(bench).pct_change().dropna()
        lr = st.linregress(rb, r)
        out["beta_bench"], out["corr_bench"] = lr.slope, lr.rvalue
    return out


@pytest.mark.parametrize("P, rf", [(252.0, 0.0), (12.0, 0.03), (52.0, -0.01)])
def test_metrics_match_the_documented_definitions(P, rf):
    rng = np.random.default_rng(int(P))
    T = 300
    bench = 50 * np.cumprod(np.r_[1, 1 + rng.normal(0.0004, 0.01, T - 1)])
    rb = bench[1:] / bench[:-1] - 1
    r = 0.3 * rb + rng.standard_t(4, T - 1) * 0.008
    r[::17] = 0.0  # flat bars: excluded from the hit rate
    nav = 1e6 * np.cumprod(np.r_[1, 1 + r])
    gross = rng.uniform(0.5, 1.5, T) * nav
    net = rng.uniform(-0.2, 0.2, T) * nav
    tn = rng.uniform(0, 0.3, T) * nav
    m = performance_metrics(nav, periods_per_year=P, rf=rf, benchmark=bench,
                            gross_exposure=gross, net_exposure=net, traded_notional=tn,
                            costs=123.0, gross_pnl=456.0)
    ref = _independent(nav, P, rf, bench)
    ref["turnover"] = tn.sum() / nav.mean() / ((T - 1) / P)
    ref["avg_gross"] = np.mean(gross / nav)
    ref["avg_net"] = np.mean(net / nav)
    ref["fee_gross"] = 123.0 / 456.0
    for k, v in ref.items():
        assert m[k] == pytest.approx(v, rel=1e-10, abs=1e-14), k


def test_metrics_on_a_ruined_path_stop_at_the_ruin():
    nav = np.array([100.0, 120.0, 60.0, 90.0, 0.0, 0.0])
    m = performance_metrics(nav, benchmark=np.array([10.0, 11, 12, 11, 13, 14]))
    r = np.array([0.2, -0.5, 0.5, -1.0])
    assert m["cagr"] == -1.0 and m["max_drawdown"] == -1.0
    # mean(r) / std(r) of the returns up to the ruin is -0.18 / 0.69: a ruined book has
    # no risk-adjusted return (the docs), so both ratios are blank
    assert math.isnan(m["sharpe"]) and math.isnan(m["sortino"])
    assert m["max_dd_duration"] == 4.0  # bars 2..5 under the peak of 120
    assert m["ann_vol"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(252))
    assert m["hit_rate"] == 0.5
    rb = np.array([0.1, 1 / 11, -1 / 12, 2 / 11])
    assert m["beta_bench"] == pytest.approx(st.linregress(rb, r).slope)
    assert m["kurtosis"] == pytest.approx(st.kurtosis(r, bias=False))


def test_interest_only_returns_have_zero_vol_not_rounding_noise():
    # a book that only earns 5 % a year on cash, booked bar by bar: returns equal up to
    # the rounding of NAV_t / NAV_{t-1} - 1, so volatility is 0 and Sharpe, skew,
    # kurtosis are undefined (docs: zero volatility -> NaN). Before: Sharpe 2.6e15.
    nav = np.empty(121)
    nav[0] = 1e6
    for t in range(1, nav.size):
        nav[t] = nav[t - 1] + nav[t - 1] * (0.05 / 12) + 0.0
    r = nav[1:] / nav[:-1] - 1
    assert np.std(r) > 0  # rounding noise is there
    rng = np.random.default_rng(0)
    bench = 100 * np.cumprod(np.r_[1, 1 + rng.normal(0, 0.02, 120)])
    m = performance_metrics(nav, periods_per_year=12, benchmark=bench)
    assert m["ann_vol"] == 0.0
    for k in ("sharpe", "sortino", "skew", "kurtosis", "corr_bench"):
        assert math.isnan(m[k]), k
    assert m["beta_bench"] == 0.0  # a constant return has no covariance with anything
    assert m["cagr"] == pytest.approx((1 + 0.05 / 12) ** 12 - 1, rel=1e-12)


def test_cash_index_benchmark_has_no_beta():
    # benchmark growing at a constant 0.4 % a month (a deposit index): zero variance,
    # so beta and correlation are undefined. Before: beta -3.5e12.
    rng = np.random.default_rng(0)
    nav = 100 * np.cumprod(np.r_[1, 1 + rng.normal(0, 0.01, 120)])
    bench = 100 * 1.004 ** np.arange(121)
    m = performance_metrics(nav, periods_per_year=12, benchmark=bench)
    assert math.isnan(m["beta_bench"]) and math.isnan(m["corr_bench"])
    assert m["sharpe"] == pytest.approx(_independent(nav, 12)["sharpe"], rel=1e-12)


def _grid(p):
    return (("AAA", "BBB", "CCC"),) + tuple(tuple(r) for r in p.tolist())


def test_mnvh_backtest_of_a_book_that_never_trades_has_no_sharpe(xl):
    # =MNVH_BACKTEST with beta 0 and 5 % cash interest on monthly bars: NAV grows by
    # exactly 5 %/12 a bar; vol is 0 and Sharpe, skew, kurtosis are blank cells
    clear_all()
    rng = np.random.default_rng(1)
    p = np.round(20 * np.cumprod(1 + rng.normal(0, 0.05, (60, 3)), axis=0), 4)
    args = [_grid(p), 0.9, 0.0] + [xl.MISSING] * 14 + [0.05, xl.MISSING, 12]
    got = {row[0]: row[1] for row in xl("MNVH_BACKTEST", *args)}
    assert got["CAGR"] == pytest.approx((1 + 0.05 / 12) ** 12 - 1, rel=1e-12)
    assert got["Annualised vol"] == 0
    for label in ("Sharpe", "Sortino", "Skew", "Excess kurtosis"):
        assert got[label] == "", label


# ------------------------------------------------------------------------- leverage drift


def _drift_by_hand(r, target, mask, rf, cost, P):
    """Exposure E and cash C step by step; the rebalancing trade e' = target (W - fee),
    fee = cost |e' - E|, found by bisection (not the kernel's closed form)."""
    rfp = math.exp(rf / P) - 1
    E, C = target, 1.0 - target
    wealth, lev, traded, fees = [1.0], [target], 0.0, 0.0
    for t in range(r.size):
        E *= 1 + r[t]
        C *= 1 + rfp
        w = E + C
        if mask[t]:
            lo, hi = -100.0, 100.0
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if mid - target * (w - cost * abs(mid - E)) > 0:
                    hi = mid
                else:
                    lo = mid
            e_new = 0.5 * (lo + hi)
            fee = cost * abs(e_new - E)
            traded += abs(e_new - E) / w
            fees += fee / w
            C -= e_new - E + fee
            E = e_new
        wealth.append(E + C)
        lev.append(E / (E + C))
    return np.array(wealth), np.array(lev), traded, fees


@pytest.mark.parametrize("target", [2.0, 0.5, -1.0])
def test_leverage_drift_matches_a_hand_simulation(target):
    r = np.array([0.10, -0.05, 0.02, -0.20, 0.07, 0.03, 0.0, -0.01])
    mask = np.array([False, True, False, False, True, True, False, True])
    P, rf, cost = 252.0, 0.05, 0.001
    res = simulate_leverage(r, target, mask, rf=rf, cost=cost, periods_per_year=P)
    W, L, traded, fees = _drift_by_hand(r, target, mask, rf, cost, P)
    np.testing.assert_allclose(res.wealth, W, rtol=1e-12)
    np.testing.assert_allclose(res.leverage, L, rtol=1e-12)
    years = r.size / P
    assert res.growth == pytest.approx(math.log(W[-1]) / years, rel=1e-12)
    assert res.turnover == pytest.approx(traded / years, rel=1e-12)
    assert res.fees == pytest.approx(fees / years, rel=1e-12)
    assert np.all(res.leverage[1:][mask] == pytest.approx(target, rel=1e-12))


def test_buy_and_hold_leverage_is_the_closed_form():
    r = np.array([0.03, -0.02, 0.05, 0.01])
    res = simulate_leverage(r, 1.5, np.zeros(4, bool), rf=0.04, periods_per_year=12)
    g = np.cumprod(1 + r)
    c = (1 - 1.5) * np.exp(0.04 / 12) ** np.arange(1, 5)
    np.testing.assert_allclose(res.wealth[1:], 1.5 * g + c, rtol=1e-13)
    np.testing.assert_allclose(res.leverage[1:], 1.5 * g / (1.5 * g + c), rtol=1e-13)


def test_rebalance_mask_counts_periods():
    assert np.flatnonzero(rebalance_mask(12, 5)).tolist() == [4, 9]
    assert rebalance_mask(3, 1).all()


@pytest.mark.parametrize("kw, name", [
    ({"target": math.nan}, "target"),
    ({"target": math.inf}, "target"),
    ({"rf": math.nan}, "rf"),
    ({"periods_per_year": 0.0}, "periods_per_year"),
    ({"returns": np.array([0.01, math.nan])}, "returns"),
    ({"returns": np.array([]), "rebalance": np.array([], bool)}, "returns"),
])
def test_leverage_drift_bad_input_names_the_argument(kw, name):
    # before: a NaN target was blamed on `cost`, a NaN rf or return gave growth -inf
    # silently, and an empty history or periods_per_year 0 raised ZeroDivisionError
    args = {"returns": np.array([0.01, 0.02]), "target": 2.0,
            "rebalance": np.ones(2, bool), "cost": 0.0005}
    args.update(kw)
    with pytest.raises(InputError, match=f"^{name}: "):
        simulate_leverage(**args)


def test_leverage_drift_cost_times_target_names_both():
    with pytest.raises(InputError, match=r"cost: 0.0005 x target leverage 3000 is >= 1"):
        simulate_leverage(np.array([0.01]), 3000.0, np.ones(1, bool), cost=0.0005)


# ---------------------------------------------------------------------- scenario summary


def test_scenario_summary_recomputed_from_the_paths():
    from pyxl.core.scenarios import ScenarioSpec, generate

    rng = np.random.default_rng(3)
    T, N = 150, 4
    R = rng.standard_t(5, size=(T, N)) * 0.03 + 0.005
    A = rng.normal(size=(N, N))
    cov = A @ A.T / N * 0.03 + np.eye(N) * 0.01
    mu = np.array([0.05, 0.07, 0.03, 0.09])
    W = np.array([[0.25, 0.25, 0.25, 0.25], [0.6, 0.2, 0.1, 0.1]])
    spec = ScenarioSpec(n_paths=300, block=6, horizon=24, periods=12, seed=5)
    s = generate(R, mu, cov, spec, W)
    Y = np.asarray(s.paths)
    X = Y.reshape(-1, N)
    rows = s.summary_rows()
    lab = [row[0] for row in rows]
    ma, ca = X.mean(0) * 12, np.cov(X, rowvar=False) * 12

    def corr(S):
        d = np.sqrt(np.diag(S))
        return S / np.outer(d, d)

    ce = np.abs(corr(ca) - corr(cov))
    i0 = lab.index("asset")
    for i in range(N):
        off = np.delete(ce[i], i)
        ref = [mu[i], ma[i], math.sqrt(cov[i, i]), math.sqrt(ca[i, i]), off.max(),
               math.sqrt(np.mean(off**2))]
        np.testing.assert_allclose(rows[i0 + 1 + i][1:7], ref, rtol=1e-10, atol=1e-15)
    ip = lab.index("portfolio")
    wealth = np.cumprod(1 + Y @ W.T, axis=1)
    full = np.concatenate([np.ones((Y.shape[0], 1, 2)), wealth], axis=1)
    dd = np.max(1 - full / np.maximum.accumulate(full, axis=1), axis=1)
    it, idd = lab.index("terminal wealth"), lab.index("max drawdown")
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    for k in range(2):
        pr = X @ W[k]
        ref = [W[k] @ mu, (1 + pr.mean()) ** 12 - 1, (1 + W[k] @ mu) ** (1 / 12) - 1,
               pr.mean(), math.sqrt(W[k] @ cov @ W[k]), pr.std(ddof=1) * math.sqrt(12)]
        np.testing.assert_allclose(rows[ip + 1 + k][1:7], ref, rtol=1e-10)
        # ridge 0, K <= N: the RT portfolio lands on its target exactly (seed step 4)
        assert rows[ip + 1 + k][2] == pytest.approx(W[k] @ mu, rel=1e-10)
        term = wealth[:, -1, k]
        np.testing.assert_allclose(rows[it + 1 + k][1:7],
                                   [*np.quantile(term, q), term.mean()], rtol=1e-12)
        np.testing.assert_allclose(rows[idd + 1 + k][1:7],
                                   [*np.quantile(dd[:, k], q), dd[:, k].mean()], rtol=1e-12)
        fan = np.array(s.fan_rows(k))
        np.testing.assert_allclose(fan[:, 1:], np.quantile(full[:, :, k], q, axis=0).T,
                                   rtol=1e-12)


# ------------------------------------------------------------------------ MBP Table 1


def test_table1_names_and_within_te_recomputed_from_the_weights(monkeypatch):
    from pyxl.core.mbp.optimize import MBPProblem
    from pyxl.core.mbp.study import table1_study
    from pyxl.core.mbp.universe import make_universe

    u = make_universe(n=300, seed=7)
    weights = []
    solve = MBPProblem.solve

    def spy(self, *a, **k):
        res = solve(self, *a, **k)
        weights.append(np.array(res.weights, dtype=float))
        return res

    monkeypatch.setattr(MBPProblem, "solve", spy)
    df = table1_study(u, te_grid=(0.005, 0.02))
    Sig = u.exposures @ u.factor_cov @ u.exposures.T + np.diag(u.spec_var)
    seg = np.asarray(u.segment)
    assert len(weights) == len(df)
    for i, w in enumerate(weights):
        row = df.iloc[i]
        a = w - u.bench_w
        assert row["market_te"] == pytest.approx(math.sqrt(a @ Sig @ a), rel=1e-10)
        assert row["market_te"] <= row["te_limit"] * (1 + 1e-6)
        assert row["names"] == int(np.sum(w > 1e-7))
        alloc = np.zeros_like(w)
        for m in range(1, seg.max() + 1):
            g = seg == m
            wm, bm = w[g].sum(), u.bench_w[g].sum()
            d = np.zeros_like(w)
            d[g] = w[g] / wm - u.bench_w[g] / bm
            alloc[g] = (wm - bm) * u.bench_w[g] / bm
            assert row[f"names_{m}"] == int(np.sum(w[g] > 1e-7))
            assert row[f"weight_{m}"] == pytest.approx(wm, rel=1e-12)
            assert row[f"within_te_{m}"] == pytest.approx(math.sqrt(d @ Sig @ d), rel=1e-9)
            if row["portfolio"] == "MBP":
                assert row[f"within_te_{m}"] <= 2 * row["te_limit"] * (1 + 1e-6)
                assert wm == pytest.approx(bm, abs=1e-9)  # segment neutral, eq. 6
        assert row["segment_te"] == pytest.approx(math.sqrt(max(alloc @ Sig @ alloc, 0.0)),
                                                  rel=1e-6, abs=1e-12)
        assert row["active_alpha"] == pytest.approx(a @ u.alpha, rel=1e-10)
