"""Seed 002 conformance: the scenario engine against an independent implementation of the seed.

Every expected value is computed here from the seed's equations with plain numpy/scipy/mpmath
(step 2 conversions, the EWMA recursion with A_t = Sigma*^{1/2} Sigma_t^{-1/2}, the drift delta
(W^T W + rho I)^{-1} W^T (r* - W r_bar) with r*_k = (1 + w_k^T mu_ann)^(1/P) - 1), never from
the engine's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
from conftest import excel_range, excel_row

from pyxl.core import scenarios as sc
from pyxl.errors import InputError
from pyxl.xl.cache import clear_all


# --------------------------------------------------------------------------- independent seed
def _period_targets(mu_ann, S_ann, P, how):
    """Step 2; ``lognormal`` through the lognormal parameters (a different route)."""
    if how == "arithmetic":
        return mu_ann / P, S_ann / P
    if how == "geometric":
        return (1 + mu_ann) ** (1 / P) - 1, S_ann / P
    if how == "log":
        return np.log(1 + mu_ann) / P, S_ann / P
    g = 1 + mu_ann
    B = np.log1p(S_ann / np.outer(g, g)) / P  # per-period log covariance
    m = np.exp(np.log(g) / P)  # E[1 + r] per period
    return m - 1, np.outer(m, m) * np.expm1(B)


def _recolour(X, mu0, S0, mu_s, S_s, lam, floor_rel=1e-10):
    """Step 3 literally, predictive: x'_t = mu* + (x_t - mu_t) A_t^T, then update with x_t."""
    root = np.real(sl.sqrtm(S_s))
    out = np.empty_like(X)
    for p in range(X.shape[0]):
        mu, S = mu0.copy(), S0.copy()
        for t in range(X.shape[1]):
            x = X[p, t]
            w, V = np.linalg.eigh(S)
            w = np.maximum(w, floor_rel * w.max())
            out[p, t] = mu_s + (x - mu) @ (root @ (V / np.sqrt(w)) @ V.T).T
            mu1 = lam * mu + (1 - lam) * x
            S = lam * S + (1 - lam) * np.outer(x - mu, x - mu1)
            mu = mu1
    return out


def _delta_exact(W, r_star, r_bar, rho):
    """Step 4 in 50-digit arithmetic: W^T (W W^T + rho I)^{-1} b (the push-through form of
    (W^T W + rho I)^{-1} W^T b, well defined for K < N)."""
    from mpmath import matrix, mp

    mp.dps = 50
    Wm = matrix(W.tolist())
    b = matrix((r_star - W @ r_bar).tolist())
    d = Wm.T * ((Wm * Wm.T + rho * mp.eye(W.shape[0])) ** -1 * b)
    return np.array([float(x) for x in d])


def _history(T=90, N=4, seed=11):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((T, 2))
    B = rng.standard_normal((2, N))
    return 0.006 + 0.014 * F @ B + 0.03 * rng.standard_normal((T, N))


MU = np.array([0.05, 0.07, 0.03, 0.09])
COV = 0.04 * (0.6 * np.eye(4) + 0.4) * np.outer([1, 1.2, 0.8, 1.5], [1, 1.2, 0.8, 1.5])
W2 = np.array([[0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]])


# --------------------------------------------------------------------------- whole pipeline
@pytest.mark.parametrize("method", sc.METHODS)
@pytest.mark.parametrize("target", sc.TARGET_METHODS)
@pytest.mark.parametrize("ridge", [0.0, 1e-4])
def test_pipeline_equals_independent_seed_implementation(method, target, ridge):
    """Raw bootstrap paths (recolour off, same seed) -> step 2, 3 and 4 by hand == engine."""
    R = _history()
    kw = dict(n_paths=40, block=5, horizon=30, method=method, target=target, seed=3,
              lam=0.9, ridge=ridge)
    raw = sc.generate(R, MU, COV, sc.ScenarioSpec(recolor="none", **kw)).paths
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(**kw), W2)
    ms, cs = _period_targets(MU, COV, 12, target)
    Y = _recolour(raw, R.mean(0), np.cov(R, rowvar=False), ms, cs, 0.9)
    r_bar = Y.reshape(-1, 4).mean(0)
    r_star = (1 + W2 @ MU) ** (1 / 12) - 1
    d = _delta_exact(W2, r_star, r_bar, ridge)
    Z = Y + d
    np.testing.assert_allclose(s.paths, Z, rtol=0, atol=1e-12 * np.abs(Z).max())
    np.testing.assert_allclose(s.delta, d, rtol=0, atol=1e-11 * np.abs(d).max())
    if ridge == 0:  # every RT portfolio's realised per-period mean is its target
        np.testing.assert_allclose((s.paths.reshape(-1, 4) @ W2.T).mean(0), r_star,
                                   rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- drift delta, small rho
@pytest.mark.parametrize("rho", [1e-8, 1e-12, 1e-14, 1e-16, 1e-20])
def test_ridge_delta_accurate_for_small_rho(rho):
    """K < N: W^T W + rho I has condition ~ max(s)^2 / rho.  Solving it directly lost 0.2 % of
    delta at rho 1e-14, 16 % at 1e-16 and raised LinAlgError (singular) at 1e-20."""
    rng = np.random.default_rng(0)
    N, K = 8, 3
    W = rng.dirichlet(np.ones(N), K)
    r_bar = rng.normal(0.005, 0.003, N)
    r_star = rng.normal(0.006, 0.002, K)
    d = sc.drift_delta(W, r_star, r_bar, rho)
    exact = _delta_exact(W, r_star, r_bar, rho)
    np.testing.assert_allclose(d, exact, rtol=0, atol=1e-13 * np.abs(exact).max())


def test_ridge_delta_more_portfolios_than_assets_and_rank_deficient():
    """K > N and repeated RT rows: still the seed's (W^T W + rho I)^{-1} W^T b."""
    rng = np.random.default_rng(4)
    W = rng.dirichlet(np.ones(3), 5)
    W[4] = W[0]  # a repeated portfolio
    r_bar = rng.normal(0.005, 0.003, 3)
    r_star = rng.normal(0.006, 0.002, 5)
    for rho in (1e-3, 1e-9):
        direct = np.linalg.solve(W.T @ W + rho * np.eye(3), W.T @ (r_star - W @ r_bar))
        np.testing.assert_allclose(sc.drift_delta(W, r_star, r_bar, rho), direct, rtol=1e-9)


def test_formula_tiny_ridge_is_not_an_internal_error(xl):
    """=MBB_RECOLOR with ridge 1e-20 answered '#PyXL! internal error: LinAlgError: Singular
    matrix'; the RT portfolios must hit their targets (to rho-sized error)."""
    clear_all()
    R = _history(T=40)
    W = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    out = xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 3, 20,
             0.94, 12, 0, excel_range(W), 1e-20, "summary")
    assert isinstance(out, list) and len(out) > 1, out
    k0 = [r[0] for r in out].index("portfolio") + 1
    for k in range(2):
        target = (1 + W[k] @ MU) ** (1 / 12) - 1
        assert out[k0 + k][0] == f"RT{k + 1}"
        assert out[k0 + k][3] == pytest.approx(target, rel=1e-14)
        assert out[k0 + k][4] == pytest.approx(target, abs=1e-15)


# --------------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("method", sc.METHODS)
def test_path_i_does_not_depend_on_n_paths(method):
    """docs: path i is the same whatever n_paths (> i) is.  The stationary bootstrap drew its
    block breaks for all n paths before the block starts, so a 10-path run's paths differed
    from the first 10 of a 300-path run."""
    R = _history(T=60, N=3)
    mu, C = MU[:3], COV[:3, :3]
    runs = [sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=n, block=4, method=method, seed=1,
                                                  recolor="none", horizon=25)).paths
            for n in (10, 300, 513)]
    np.testing.assert_array_equal(runs[0], runs[1][:10])
    np.testing.assert_array_equal(runs[1], runs[2][:300])


def test_stationary_blocks_are_history_runs_with_geometric_lengths():
    """Independent check of the stationary paths: every row is a history row, rows inside a
    block follow the history (wrapping at T), block lengths are geometric with mean L."""
    T, L = 50, 5
    rng = np.random.default_rng(2)
    R = rng.standard_normal((T, 2)) * 0.03  # distinct rows
    s = sc.generate(R, np.zeros(2), np.eye(2) * 0.04,
                    sc.ScenarioSpec(n_paths=2000, block=L, method="stationary",
                                    recolor="none", horizon=60, seed=5))
    lookup = {tuple(r): i for i, r in enumerate(R)}
    idx = np.array([[lookup[tuple(r)] for r in p] for p in s.paths])
    cont = (np.diff(idx, axis=1) % T) == 1
    # a continuation is a block going on (1 - 1/L) or a restart landing on the next row (1/(LT))
    p_cont = (1 - 1 / L) + 1 / (L * T)
    se = np.sqrt(p_cont * (1 - p_cont) / cont.size)
    assert abs(cont.mean() - p_cont) < 5 * se
    # wrap-around happens (T-1 -> 0 inside blocks) and every row is used about equally
    assert np.any((idx[:, :-1] == T - 1) & (idx[:, 1:] == 0))
    counts = np.bincount(idx.ravel(), minlength=T)
    e = idx.size / T
    assert ((counts - e) ** 2 / e).sum() / T < 3  # blocks cluster counts; no row is favoured


def test_auto_block_length_stationary_column_of_arch():
    from arch.bootstrap import optimal_block_length

    rng = np.random.default_rng(3)
    R = rng.standard_normal((300, 3))
    for t in range(1, 300):
        R[t] += 0.5 * R[t - 1]
    table = optimal_block_length(R)
    assert sc.auto_block_length(R, "stationary") == int(np.ceil(table["stationary"].mean()))
    assert sc.auto_block_length(R, "circular") == int(np.ceil(table["circular"].mean()))


# --------------------------------------------------------------------------- summary numbers
@pytest.mark.parametrize("target", sc.TARGET_METHODS)
def test_summary_recomputed_from_the_paths(target):
    R = _history(T=100, N=3, seed=5)
    mu, C = MU[:3], COV[:3, :3]
    W = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=300, block=4, horizon=36, target=target,
                                              seed=1), W)
    X = s.paths.reshape(-1, 3)
    m, S, P = X.mean(0), np.cov(X, rowvar=False), 12
    if target == "arithmetic":
        ma, Sa = m * P, S * P
    elif target == "geometric":
        ma, Sa = (1 + m) ** P - 1, S * P
    elif target == "log":
        ma, Sa = np.exp(m * P) - 1, S * P
    else:
        g = 1 + m
        ma, Sa = g**P - 1, (np.outer(g, g) + S) ** P - np.outer(g**P, g**P)
    rows = s.summary_rows()
    lab = [r[0] for r in rows]
    a0, k0 = lab.index("asset") + 1, lab.index("portfolio") + 1
    for i in range(3):
        r = rows[a0 + i]
        assert r[2] == pytest.approx(ma[i], rel=1e-10)
        assert r[4] == pytest.approx(np.sqrt(Sa[i, i]), rel=1e-8)
    for k in range(2):
        r, pr = rows[k0 + k], (X @ W[k]).mean()
        assert r[1] == pytest.approx(W[k] @ mu, rel=1e-14)
        assert r[3] == pytest.approx((1 + W[k] @ mu) ** (1 / 12) - 1, rel=1e-14)
        assert r[4] == pytest.approx(pr, abs=1e-15) and r[2] == pytest.approx((1 + pr) ** 12 - 1)
    t0, d0 = lab.index("terminal wealth") + 1, lab.index("max drawdown") + 1
    wealth = np.cumprod(1 + s.paths @ W.T, axis=1)
    for k in range(2):
        np.testing.assert_allclose(rows[t0 + k][1:7], [*np.percentile(
            wealth[:, -1, k], [5, 25, 50, 75, 95]), wealth[:, -1, k].mean()], rtol=1e-12)
        wk = np.concatenate([np.ones((300, 1)), wealth[:, :, k]], axis=1)
        dd = (1 - wk / np.maximum.accumulate(wk, axis=1)).max(axis=1)
        np.testing.assert_allclose(rows[d0 + k][1:7], [*np.percentile(
            dd, [5, 25, 50, 75, 95]), dd.mean()], rtol=1e-12)


# --------------------------------------------------------------------------- documented bias
@pytest.mark.parametrize("lam,ratio", [(0.94, 1.131), (0.99, 1.020)])
def test_variance_inflation_one_over_lambda_times_jensen(lam, ratio):
    """docs: for one i.i.d. Gaussian asset the realised variance is 1/lam (the seed's
    recursion averages lam d d^T) times the inverse-estimate bias: 13 % at 0.94, 2 % at 0.99.
    Expected ratios from a separate 2.4-million-step simulation of the seed's scalar
    recursion (1.1314 and 1.0195)."""
    rng = np.random.default_rng(0)
    R = rng.standard_normal((20000, 1)) * 0.04
    s = sc.generate(R, np.zeros(1), np.array([[0.0192]]),
                    sc.ScenarioSpec(n_paths=3000, block=1, horizon=120, burn_in=300, lam=lam,
                                    seed=2))
    assert s.cov[0, 0] / 0.0016 == pytest.approx(ratio, abs=0.012)


def test_eig_floor_zero_on_singular_history_names_eig_floor():
    """T < N: Sigma_t stays singular; without a floor the old message blamed 'horizon'."""
    rng = np.random.default_rng(5)
    R = 0.006 + 0.04 * rng.standard_normal((4, 5))
    with pytest.raises(InputError, match="eig_floor"):
        sc.generate(R, np.full(5, 0.05), np.eye(5) * 0.04,
                    sc.ScenarioSpec(n_paths=20, block=1, horizon=12, eig_floor=0.0))
    s = sc.generate(R, np.full(5, 0.05), np.eye(5) * 0.04,
                    sc.ScenarioSpec(n_paths=20, block=1, horizon=12))
    assert np.all(np.isfinite(s.paths)) and s.floor_hits == s.steps
