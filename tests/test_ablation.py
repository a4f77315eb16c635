"""Ablation grid and walk-forward: values against single full backtests, worker-count
independence, and out-of-sample-only reporting."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.metrics import METRICS, backtest_metrics, performance_metrics
from pyxl.core.mnvh import FeeModel, MNVHConfig
from pyxl.core.mnvh.ablation import (
    ablation_grid,
    build_inputs,
    grid_points,
    run_strategy,
    walk_forward,
)
from pyxl.errors import InputError

CFG = MNVHConfig(cash0=1e6, max_gross=3.0, fees=FeeModel(fee_rate=5e-4, half_spread=1e-4,
                                                        cash_rate=0.01, borrow_rate=0.005))


def _data(T=400, N=6, seed=0):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    m = rng.normal(0.0003, 0.01, size=(T, 1))
    d = np.zeros((T, N))
    eps = rng.normal(0, 0.012, size=(T, N))
    for t in range(1, T):  # mild cross-sectional mean reversion so parameters matter
        d[t] = -0.2 * d[t - 1] + eps[t]
    beta = np.linspace(0.6, 1.4, N)
    r = m * beta + d
    p = 40 * np.cumprod(1 + r, axis=0)
    b = 1000 * np.cumprod(1 + m[:, 0])
    return p, b


def test_grid_rows_equal_full_backtests():
    p, b = _data()
    tab = ablation_grid(p, CFG, lams=[0.8, 0.95], betas=[5.0, 30.0],
                        schemes=["equal", "invvol"], hedges=[False, True], benchmark=b,
                        input_kwargs={"weight_kwargs": {"window": 40, "min_periods": 20}})
    assert len(tab) == 16
    assert list(tab.columns[:5]) == ["lam", "beta", "weights", "hedge", "throttle"]
    assert set(METRICS) <= set(tab.columns)
    for k in (0, 5, 11, 15):
        row = tab.iloc[k]
        inp = build_inputs(p, row["weights"], benchmark=b, hedge=bool(row["hedge"]),
                           weight_kwargs={"window": 40, "min_periods": 20})
        cfg = dataclasses.replace(CFG, lam=row["lam"], beta=row["beta"])
        res = run_strategy(p, cfg, inp)
        ref = backtest_metrics(res, p, benchmark=b)
        for key in METRICS:
            if math.isnan(ref[key]):
                assert math.isnan(row[key]), key
            else:
                assert row[key] == pytest.approx(ref[key], rel=1e-7, abs=1e-9), key
        assert row["risk_events"] == len(res.risk_events)


def test_grid_identical_for_any_worker_count():
    p, b = _data(seed=3)
    kw = dict(lams=[0.7, 0.9, 0.97], betas=[2.0, 10.0, 40.0], schemes=["equal", "markowitz"],
              hedges=[False, True], throttles=[False, True], benchmark=b,
              input_kwargs={"rho_window": 60, "rho_min_periods": 20})
    one = ablation_grid(p, CFG, n_jobs=1, **kw)
    two = ablation_grid(p, CFG, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert len(one) == 72


def test_grid_points_order_and_errors():
    pts = grid_points([0.8, 0.9], [1.0, 2.0], ["equal", "invvol"])
    assert [(g.weights, g.lam, g.beta) for g in pts[:4]] == [
        ("equal", 0.8, 1.0), ("equal", 0.8, 2.0), ("equal", 0.9, 1.0), ("equal", 0.9, 2.0)]
    with pytest.raises(InputError, match="betas: is empty"):
        grid_points([0.9], [])
    with pytest.raises(InputError, match="benchmark: is needed"):
        build_inputs(_data()[0], "equal", hedge=True)


WF = dict(lams=[0.8, 0.95], betas=[3.0, 30.0], schemes=["equal"], is_periods=150,
          oos_periods=80)


def test_walk_forward_folds_and_oos_metrics_independent():
    p, b = _data(T=420, seed=5)
    wf = walk_forward(p, CFG, benchmark=b, **WF)
    f = wf.folds
    # OOS blocks: 150..230, 230..310, 310..390, 390..419
    assert list(f["oos_first"]) == [150, 230, 310, 390]
    assert list(f["oos_last"]) == [230, 310, 390, 419]
    assert list(f["is_first"]) == [0, 80, 160, 240]
    inp = build_inputs(p, "equal", benchmark=b)
    chained = []
    for _, row in f.iterrows():
        s, e = int(row["oos_first"]), int(row["oos_last"])
        # the choice is the IS argmax of Sharpe, recomputed with full backtests on IS rows only
        lo = int(row["is_first"])
        scores = {}
        for lam in WF["lams"]:
            for beta in WF["betas"]:
                cfg = dataclasses.replace(CFG, lam=lam, beta=beta)
                res = run_strategy(p[lo : s + 1], cfg, inp.rows(lo, s + 1))
                # Sharpe of the excess return over the run's cash rate
                scores[(lam, beta)] = performance_metrics(
                    res.nav, rf=CFG.fees.cash_rate)["sharpe"]
        best = max(scores, key=lambda k: scores[k])
        assert (row["lam"], row["beta"]) == best
        # OOS metrics = a fresh run on the OOS rows only
        cfg = dataclasses.replace(CFG, lam=row["lam"], beta=row["beta"])
        res = run_strategy(p[s : e + 1], cfg, inp.rows(s, e + 1))
        ref = backtest_metrics(res, p[s : e + 1], benchmark=b[s : e + 1])
        assert row["sharpe"] == pytest.approx(ref["sharpe"], rel=1e-9)
        assert row["periods"] == e - s
        chained.append(res.returns)
    np.testing.assert_allclose(wf.oos_nav[1:] / wf.oos_nav[:-1] - 1, np.concatenate(chained),
                               rtol=1e-9, atol=1e-13)
    np.testing.assert_array_equal(wf.oos_rows, np.arange(150, 420))
    assert wf.metrics["periods"] == 269
    assert wf.oos_nav[0] == CFG.cash0


def test_walk_forward_uses_no_future_data():
    p, b = _data(T=420, seed=8)
    base = walk_forward(p, CFG, benchmark=b, **WF)
    # perturb everything after fold 1's last OOS row: folds 0 and 1 must not change
    q, c = p.copy(), b.copy()
    rng = np.random.default_rng(1)
    q[311:] *= rng.uniform(0.7, 1.4, size=q[311:].shape)
    c[311:] *= rng.uniform(0.7, 1.4, size=c[311:].shape)
    pert = walk_forward(q, CFG, benchmark=c, **WF)
    pd.testing.assert_frame_equal(base.folds.iloc[:2], pert.folds.iloc[:2], check_exact=True)
    # perturb only fold 2's OOS rows (311..390): its selection (made on IS rows <= 310) holds
    q, c = p.copy(), b.copy()
    q[311:391] *= rng.uniform(0.7, 1.4, size=q[311:391].shape)
    pert = walk_forward(q, CFG, benchmark=c, **WF)
    for col in ("lam", "beta", "is_sharpe"):
        assert pert.folds.loc[2, col] == base.folds.loc[2, col]
    assert pert.folds.loc[2, "sharpe"] != base.folds.loc[2, "sharpe"]


def test_walk_forward_errors():
    p, b = _data(T=100)
    with pytest.raises(InputError, match="criterion"):
        walk_forward(p, CFG, lams=[0.9], betas=[1.0], criterion="best")
    with pytest.raises(InputError, match="prices: has 100 rows"):
        walk_forward(p, CFG, lams=[0.9], betas=[1.0], is_periods=120)


@settings(max_examples=15, deadline=None)
@given(t=st.integers(5, 250), seed=st.integers(0, 1000))
def test_pipeline_has_no_look_ahead(t, seed):
    """Weights, throttle, hedge betas and the engine together: the future cannot leak."""
    p, b = _data(T=260, seed=2)
    q, c = p.copy(), b.copy()
    rng = np.random.default_rng(seed)
    q[t + 1 :] *= rng.uniform(0.6, 1.6, size=q[t + 1 :].shape)
    c[t + 1 :] *= rng.uniform(0.6, 1.6, size=c[t + 1 :].shape)
    kw = dict(hedge=True, throttle=True, weight_kwargs={"window": 30, "min_periods": 10},
              rho_window=40, rho_min_periods=10, beta_window=30, beta_min_periods=10)
    a = build_inputs(p, "markowitz", benchmark=b, **kw)
    z = build_inputs(q, "markowitz", benchmark=c, **kw)
    for f in ("weights", "beta_scale", "asset_betas"):
        np.testing.assert_array_equal(getattr(a, f)[: t + 1], getattr(z, f)[: t + 1])
    ra, rz = run_strategy(p, CFG, a), run_strategy(q, CFG, z)
    np.testing.assert_array_equal(ra.q[: t + 1], rz.q[: t + 1])
    np.testing.assert_array_equal(ra.hedge_q[: t + 1], rz.hedge_q[: t + 1])
    np.testing.assert_array_equal(ra.nav[: t + 1], rz.nav[: t + 1])


def test_grid_summary_mean_gross_is_the_backtest_metric():
    """``run_grid(...).summary()["mean_gross_nav"]`` is ``avg_gross`` of a single backtest
    of the same point (it averaged from the second row on, a different number), from a
    mean over rows written out here."""
    from pyxl.core.mnvh import run_backtest
    from pyxl.core.mnvh.grid import run_grid

    p, _ = _data(T=300, N=5)
    W = np.full(p.shape[1], 1 / p.shape[1])
    summary = run_grid(p, W, [0.9], [10.0, 40.0], CFG).summary()
    for k, beta in enumerate((10.0, 40.0)):
        res = run_backtest(p, W, dataclasses.replace(CFG, lam=0.9, beta=beta))
        g = np.abs(res.q * p).sum(axis=1)  # gross exposure by hand, start row = 0
        want = float(np.mean(g / res.nav))
        assert summary["mean_gross_nav"][k] == pytest.approx(want, rel=1e-12)
        assert backtest_metrics(res, p)["avg_gross"] == pytest.approx(want, rel=1e-12)
