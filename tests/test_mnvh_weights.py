"""MNVH weight schemes: values against independent computations, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core.mnvh import weights as W
from pyxl.errors import InputError


def _prices(T=300, N=6, seed=0):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    r = rng.normal(0.0003, 0.01 * (1 + np.arange(N)) / N, size=(T, N))
    return 50.0 * np.cumprod(1 + r, axis=0)


def _lw_bruteforce(x):
    """Ledoit-Wolf 2004 written term by term from the paper (lemma 3.1 / 3.2)."""
    n, p = x.shape
    xc = x - x.mean(axis=0)
    S = xc.T @ xc / n
    m = np.trace(S) / p
    d2 = np.linalg.norm(S - m * np.eye(p), "fro") ** 2 / p
    b2bar = sum(np.linalg.norm(np.outer(xk, xk) - S, "fro") ** 2 / p for xk in xc) / n**2
    b2 = min(b2bar, d2)
    return b2 / d2 * m * np.eye(p) + (d2 - b2) / d2 * S


def test_ledoit_wolf_matches_paper_and_sklearn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 7)) @ rng.normal(size=(7, 7))
    cov, s = W.ledoit_wolf(x)
    np.testing.assert_allclose(cov, _lw_bruteforce(x), rtol=1e-12, atol=1e-14)
    assert 0.0 <= s <= 1.0
    sk = pytest.importorskip("sklearn.covariance")
    sk_cov, sk_s = sk.ledoit_wolf(x)
    np.testing.assert_allclose(cov, sk_cov, rtol=1e-10)
    assert s == pytest.approx(sk_s, rel=1e-10)


def test_equal_and_rows_sum_to_one():
    p = _prices()
    for scheme in ("equal", "invvol", "markowitz"):
        w = W.make_weights(scheme, p)
        assert w.shape == p.shape
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(W.equal_weights(3, 4), np.full((3, 4), 0.25))


def test_inverse_vol_against_pandas_rolling():
    p = _prices(T=200, N=5)
    w = W.inverse_vol_weights(p, window=30, min_periods=20)
    ret = pd.DataFrame(p).pct_change()
    sig = ret.rolling(30, min_periods=20).std(ddof=1).to_numpy()
    inv = 1 / sig
    ref = inv / inv.sum(axis=1, keepdims=True)
    ok = np.isfinite(ref).all(axis=1)
    np.testing.assert_allclose(w[ok], ref[ok], rtol=1e-10)
    # warm-up rows (fewer than 20 visible returns: t < 20) are equal weights
    np.testing.assert_allclose(w[:20], 0.2)
    assert ok[20] and not ok[19]


def test_rebalance_every_holds_weights():
    p = _prices(T=120, N=4)
    daily = W.inverse_vol_weights(p, window=20, min_periods=10)
    monthly = W.inverse_vol_weights(p, window=20, min_periods=10, rebalance_every=21)
    for t in range(120):
        np.testing.assert_array_equal(monthly[t], daily[(t // 21) * 21])


def test_markowitz_minvar_against_kkt_and_scipy():
    from scipy.optimize import minimize

    p = _prices(T=260, N=5)
    w = W.markowitz_weights(p, window=100, min_periods=50)
    t = 259
    x = p[t - 99 : t + 1] / p[t - 100 : t] - 1
    cov, _ = W.ledoit_wolf(x)
    res = minimize(lambda v: v @ cov @ v, np.full(5, 0.2), jac=lambda v: 2 * cov @ v,
                   constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
                   method="SLSQP", options={"ftol": 1e-16, "maxiter": 500})
    np.testing.assert_allclose(w[t], res.x, atol=1e-6)


def test_markowitz_meanvar_solves_kkt_system():
    p = _prices(T=260, N=4, seed=3)
    gamma = 7.0
    w = W.markowitz_weights(p, window=80, min_periods=80, objective="meanvar", gamma=gamma)
    t = 200
    x = p[t - 79 : t + 1] / p[t - 80 : t] - 1
    cov, _ = W.ledoit_wolf(x)
    m = x.mean(axis=0)
    # KKT: gamma*S w - m + eta*1 = 0, 1'w = 1
    K = np.block([[gamma * cov, np.ones((4, 1))], [np.ones((1, 4)), np.zeros((1, 1))]])
    sol = np.linalg.solve(K, np.r_[m, 1.0])
    np.testing.assert_allclose(w[t], sol[:4], rtol=1e-9, atol=1e-12)
    assert np.any(w[t] != W.markowitz_weights(p, window=80, min_periods=80)[t])


def test_markowitz_allows_negative_weights():
    rng = np.random.default_rng(5)
    f = rng.normal(0, 0.01, size=(300, 1))
    # b = 1.5 f: cov(a, b) > var(a), so the minimum-variance portfolio shorts b
    r = np.hstack([f + rng.normal(0, 0.001, (300, 1)), 1.5 * f + rng.normal(0, 0.002, (300, 1)),
                   rng.normal(0, 0.012, (300, 1))])
    p = 10 * np.cumprod(1 + r, axis=0)
    w = W.markowitz_weights(p, window=250, min_periods=250)
    assert w[-1].min() < 0
    np.testing.assert_allclose(w[-1].sum(), 1.0)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(5, 118), scheme=st.sampled_from(["invvol", "markowitz"]),
       seed=st.integers(0, 10_000))
def test_no_look_ahead(t, scheme, seed):
    p = _prices(T=120, N=4, seed=1)
    kw = {"window": 30, "min_periods": 10}
    base = W.make_weights(scheme, p, **kw)
    q = p.copy()
    rng = np.random.default_rng(seed)
    q[t + 1 :] *= rng.uniform(0.5, 2.0, size=q[t + 1 :].shape)
    pert = W.make_weights(scheme, q, **kw)
    np.testing.assert_array_equal(base[: t + 1], pert[: t + 1])


def test_user_weights_validation():
    w = W.user_weights([0.5, 0.7, -0.2], 4, 3)
    assert w.shape == (4, 3)
    with pytest.raises(InputError, match="weights: sum to 2"):
        W.user_weights([1.0, 1.0], 3, 2)
    np.testing.assert_allclose(W.user_weights([1.0, 3.0], 2, 2, normalize=True)[0], [0.25, 0.75])
    with pytest.raises(InputError, match="expected 3"):
        W.user_weights([0.5, 0.5], 2, 3)
    with pytest.raises(InputError, match="weights: 'foo' is not one of"):
        W.make_weights("foo", _prices(T=5, N=2))
    with pytest.raises(InputError, match="prices: contains a price <= 0"):
        W.make_weights("equal", np.array([[1.0, 0.0]]))


def test_markowitz_survives_flat_prices():
    p = np.full((80, 3), 10.0)
    w = W.markowitz_weights(p, window=40, min_periods=20)
    np.testing.assert_allclose(w, 1 / 3)
    p[:, 0] *= np.cumprod(np.r_[1.0, 1 + 0.01 * np.sin(np.arange(79))])
    w = W.markowitz_weights(p, window=40, min_periods=20)
    assert np.all(np.isfinite(w))
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
