"""rho, the eq. 4 edge diagnostic, the regime throttle and hedge betas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.mnvh import estimation as E
from pyxl.errors import InputError


def _prices(T=200, N=5, seed=0):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    r = rng.normal(0.0002, 0.015, size=(T, N))
    return 20.0 * np.cumprod(1 + r, axis=0)


def _ar_prices(rho, T=4000, N=20, sigma=0.01, seed=7):
    """Prices whose equal-weight deviations follow d_t = -rho d_{t-1} + eps exactly."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    eps = rng.normal(0, sigma, size=(T, N))
    eps -= eps.mean(axis=1, keepdims=True)  # centred: equal-weight R is the market factor
    d = np.zeros((T, N))
    for t in range(1, T):
        d[t] = -rho * d[t - 1] + eps[t]
    m = rng.normal(0.0003, 0.01, size=(T, 1))
    x = m + d
    x[0] = 0.0
    return 100.0 * np.cumprod(1 + x, axis=0), x, d


def test_deviations_use_weights_known_at_period_start():
    p = _prices(T=6, N=3)
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(3), size=6)
    d = E.deviations(p, w)
    t = 4
    x = p[t] / p[t - 1] - 1
    np.testing.assert_allclose(d[t], x - w[t - 1] @ x, rtol=1e-12)
    assert np.isnan(d[0]).all()


def test_rolling_rho_equals_pooled_lstsq():
    p = _prices(T=150, N=4, seed=3)
    rng = np.random.default_rng(4)
    w = rng.dirichlet(np.ones(4), size=150)
    rho = E.rolling_rho(p, w, window=40, min_periods=30, clip=False)
    x = p[1:] / p[:-1] - 1
    R = np.einsum("ij,ij->i", w[:-1], x)
    d = np.vstack([np.full(4, np.nan), x - R[:, None]])  # d[t] visible at t
    for t in (31, 32, 60, 149):
        s = np.arange(max(2, t - 39), t + 1)
        if s.size < 30:
            assert np.isnan(rho[t])
            continue
        X = d[s - 1].ravel()[:, None]
        Y = d[s].ravel()
        slope = np.linalg.lstsq(X, Y, rcond=None)[0][0]
        assert rho[t] == pytest.approx(-slope, rel=1e-10)
    assert np.isnan(rho[30]) and np.isfinite(rho[31])  # 30 pairs first available at t=31
    clipped = E.rolling_rho(p, w, window=40, min_periods=30)
    ok = np.isfinite(rho)
    np.testing.assert_array_equal(clipped[ok], np.clip(rho[ok], 0, 1))


@pytest.mark.parametrize("rho_true", [0.0, 0.15, 0.4])
def test_rho_recovers_simulated_mean_reversion(rho_true):
    p, _, _ = _ar_prices(rho_true)
    rho = E.rolling_rho(p, window=3000, min_periods=3000, clip=False)
    # pooled estimate over 3000 x 20 pairs: standard error ~ 0.004
    assert rho[-1] == pytest.approx(rho_true, abs=0.02)


def test_rho_sign_momentum_is_clipped_to_zero():
    p, _, _ = _ar_prices(-0.3)  # d_t = +0.3 d_{t-1}: momentum
    raw = E.rolling_rho(p, window=1000, min_periods=1000, clip=False)
    assert raw[-1] == pytest.approx(-0.3, abs=0.03)
    assert E.rolling_rho(p, window=1000, min_periods=1000)[-1] == 0.0


def test_expected_edge_matches_realised_signal_pnl():
    rho_true, beta = 0.3, 5.0
    p, x, d = _ar_prices(rho_true, T=6000, seed=11)
    N = p.shape[1]
    w = np.full(N, 1.0 / N)
    edge = E.expected_edge(p, w, beta=beta, beta_mode="absolute", window=5000,
                           min_periods=5000, cost_rate=0.001)
    # realised next-step PnL of the signal trade beta * w_i * (R_t - r_i,t)
    R = x @ w
    notional = beta * w * (R[:, None] - x)
    pnl = np.einsum("ij,ij->i", notional[1:-1], x[2:])
    assert edge.gross[-1] == pytest.approx(pnl.mean(), rel=0.1)
    # E[XS-Var] is the mean of sum_i w_i d_i^2 over the window
    xs = (w * d[1:] ** 2).sum(axis=1)
    assert edge.xs_var[-1] == pytest.approx(xs[-5000:].mean(), rel=1e-10)
    cost = 0.001 * beta * (np.abs(w) * np.abs(d[1:])).sum(axis=1)[-5000:].mean()
    assert edge.cost[-1] == pytest.approx(cost, rel=1e-10)
    assert edge.net[-1] == pytest.approx(edge.gross[-1] - cost)
    nav = np.full(p.shape[0], 2.0)
    e2 = E.expected_edge(p, w, beta=beta, nav=nav, window=5000, min_periods=5000)
    assert e2.gross[-1] == pytest.approx(2 * edge.gross[-1], rel=1e-12)


def test_regime_throttle_values():
    rho = np.array([np.nan, -0.1, 0.0, 0.025, 0.05, 0.3])
    s = E.regime_throttle(rho, rho_min=0.0, rho_full=0.05)
    np.testing.assert_allclose(s, [0.0, 0.0, 0.0, 0.5, 1.0, 1.0])
    s = E.regime_throttle(rho, rho_min=0.0, rho_full=0.05, floor=0.2, warmup_scale=1.0)
    np.testing.assert_allclose(s, [1.0, 0.2, 0.2, 0.6, 1.0, 1.0])
    with pytest.raises(InputError, match="rho_full"):
        E.regime_throttle(rho, rho_min=0.1, rho_full=0.1)


def test_rolling_betas_against_pandas():
    rng = np.random.default_rng(9)
    T, N = 300, 4
    rb = rng.normal(0, 0.01, T)
    true_beta = np.array([0.5, 1.0, 1.5, -0.3])
    r = rb[:, None] * true_beta + rng.normal(0, 0.005, (T, N))
    p = 30 * np.cumprod(1 + r, axis=0)
    b = 1000 * np.cumprod(1 + rb)
    got = E.rolling_betas(p, b, window=60, min_periods=40)
    ret = pd.DataFrame(p).pct_change()
    rbs = pd.Series(b).pct_change()
    ref = np.column_stack([ret[i].rolling(60, min_periods=40).cov(rbs)
                           / rbs.rolling(60, min_periods=40).var() for i in range(N)])
    ok = np.isfinite(ref).all(axis=1)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-8)
    np.testing.assert_array_equal(got[~ok], 1.0)
    np.testing.assert_allclose(got[-1], true_beta, atol=0.15)
    self_beta = E.rolling_betas(b[:, None], b, window=60, min_periods=40)
    np.testing.assert_allclose(self_beta[ok], 1.0, rtol=1e-10)


@settings(max_examples=20, deadline=None)
@given(t=st.integers(3, 97), seed=st.integers(0, 1000))
def test_no_look_ahead_in_estimators(t, seed):
    p = _prices(T=100, N=4, seed=5)
    b = _prices(T=100, N=1, seed=6)[:, 0]
    q, c = p.copy(), b.copy()
    rng = np.random.default_rng(seed)
    q[t + 1 :] *= rng.uniform(0.5, 2, size=q[t + 1 :].shape)
    c[t + 1 :] *= rng.uniform(0.5, 2, size=c[t + 1 :].shape)
    kw = {"window": 20, "min_periods": 5}
    for f in (lambda P, B: E.rolling_rho(P, **kw, clip=False),
              lambda P, B: E.xs_variance(P),
              lambda P, B: E.expected_edge(P, beta=2.0, cost_rate=0.001, **kw).net,
              lambda P, B: E.rolling_betas(P, B, **kw)):
        np.testing.assert_array_equal(f(p, b)[: t + 1], f(q, c)[: t + 1])


def test_errors():
    with pytest.raises(InputError, match="beta_mode"):
        E.expected_edge(_prices(), beta=1.0, beta_mode="x")
    with pytest.raises(InputError, match="benchmark: has 3 rows"):
        E.rolling_betas(_prices(T=10), np.ones(3))
