"""Scenario engine core: kernels vs independent references, statistical claims, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyxl.core import scenarios as sc
from pyxl.core.scenarios import recolor as rc
from pyxl.core.scenarios.diagnostics import max_drawdown
from pyxl.errors import InputError


def _history(T=120, N=5, seed=1):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((T, 2))
    B = rng.standard_normal((2, N))
    return 0.005 + 0.02 * (F @ B) / np.sqrt(2) + 0.03 * rng.standard_normal((T, N))


def _targets(N, seed=2):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((N, N))
    C = 0.02 * (A @ A.T) / N + 0.02 * np.eye(N)
    return np.linspace(0.03, 0.09, N), C


def _kernel_inputs(N=6, P=7, H=40, seed=3, burn_in=0):
    R = _history(100, N, seed)
    rng = np.random.default_rng(seed)
    X = R[rng.integers(0, 100, (P, H + burn_in))]
    mu_ann, C = _targets(N)
    ms, cs = sc.to_period(mu_ann, C, 12)
    return X, R.mean(0), np.cov(R, rowvar=False), ms, cs


# --------------------------------------------------------------------------- recolour kernels
def _numpy_ewma_reference(X, mu0, S0, ms, cs, lam, floor_rel, burn_in, chol=False):
    """Independent per-path reference written from the seed's equations (scipy roots)."""
    import scipy.linalg as sl

    P, Ht, N = X.shape
    out = np.empty((P, Ht - burn_in, N))
    for p in range(P):
        mu, S = mu0.copy(), S0.copy()
        for t in range(Ht):
            x = X[p, t]
            if t >= burn_in:
                if chol:
                    A = np.linalg.cholesky(cs) @ np.linalg.inv(np.linalg.cholesky(S))
                else:
                    w, V = np.linalg.eigh(S)
                    w = np.maximum(w, floor_rel * w.max())
                    A = sl.sqrtm(cs).real @ (V / np.sqrt(w)) @ V.T
                out[p, t - burn_in] = ms + (x - mu) @ A.T  # the seed's row form
            mu_new = lam * mu + (1 - lam) * x
            S = lam * S + (1 - lam) * np.outer(x - mu, x - mu_new)
            mu = mu_new
    return out


@pytest.mark.parametrize("burn_in", [0, 5])
def test_symmetric_kernels_match_seed_reference(burn_in):
    X, mu0, S0, ms, cs = _kernel_inputs(burn_in=burn_in)
    ref = _numpy_ewma_reference(X, mu0, S0, ms, cs, 0.94, 1e-10, burn_in)
    root = rc.sym_sqrt(cs)
    scale = np.abs(ref).max()
    for kern in (rc.recolor_rank1, rc.recolor_eigh):
        out, hits = kern(X, mu0, S0, ms, root, 0.94, 1e-10, burn_in)
        assert np.abs(out - ref).max() <= 1e-10 * scale
        assert hits.sum() == 0
    out, _ = rc.recolor_reference(X, mu0, S0, ms, root, 0.94, 1e-10, burn_in)
    assert np.abs(out - ref).max() <= 1e-10 * scale


def test_rank1_kernel_matches_reference_at_n50():
    X, mu0, S0, ms, cs = _kernel_inputs(N=50, P=3, H=120, seed=5)
    root = rc.sym_sqrt(cs)
    ref, _ = rc.recolor_reference(X, mu0, S0, ms, root, 0.94, 1e-10, 0)
    out, _ = rc.recolor_rank1(X, mu0, S0, ms, root, 0.94, 1e-10, 0)
    assert np.abs(out - ref).max() <= 1e-10 * np.abs(ref).max()


def test_cholesky_kernel_matches_reference():
    X, mu0, S0, ms, cs = _kernel_inputs()
    ref = _numpy_ewma_reference(X, mu0, S0, ms, cs, 0.9, 0.0, 0, chol=True)
    out, _ = rc.recolor_cholesky(X, mu0, S0, ms, np.linalg.cholesky(cs), 0.9, 1e-14, 0)
    assert np.abs(out - ref).max() <= 1e-10 * np.abs(ref).max()


def test_eigenvalue_floor_binds_and_is_counted():
    # history with a near-duplicate asset: Sigma_0 nearly singular
    R = _history(60, 3)
    R = np.column_stack([R, R[:, 0] + 1e-9 * np.arange(60)])
    X = R[None, :30]
    mu_ann, C = _targets(4)
    ms, cs = sc.to_period(mu_ann, C, 12)
    root = rc.sym_sqrt(cs)
    args = (X, R.mean(0), np.cov(R, rowvar=False), ms, root, 0.94, 1e-6, 0)
    o1, h1 = rc.recolor_rank1(*args)
    o2, h2 = rc.recolor_reference(*args)
    assert h1[0] > 0 and h1[0] == h2[0]
    assert np.all(np.isfinite(o1))
    np.testing.assert_allclose(o1, o2, rtol=0, atol=1e-7 * np.abs(o2).max())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 12),
    seed=st.integers(0, 10_000),
    repeat=st.booleans(),
    zero_frac=st.floats(0.0, 0.8),
)
def test_rank1_update_reconstructs_matrix(n, seed, repeat, zero_frac):
    """Invariant: Q diag(D) Q^T == scale (Q0 D0 Q0^T + rho z z^T), Q orthogonal, D sorted.

    Repeated eigenvalues and zero components of z exercise both deflation rules.
    """
    rng = np.random.default_rng(seed)
    D = np.sort(rng.uniform(0.1, 2.0, n))
    if repeat and n > 2:
        D[1] = D[0]
        D[-1] = D[-2]
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    z = rng.standard_normal(n)
    z[rng.random(n) < zero_frac] = 0.0
    S = (Q * D) @ Q.T
    target = 0.94 * (S + 0.06 * np.outer(Q @ z, Q @ z))
    D1, Q1 = D.copy(), np.ascontiguousarray(Q.copy())
    w = [np.empty(n) for _ in range(2)]
    rc._rank1_update(D1, Q1, z.copy(), 0.06, 0.94, np.empty(n, np.int64), w[0], w[1],
                     np.empty((n, n)), np.empty((9, n)), np.empty((n, n)), np.empty(n),
                     np.empty(n, np.int64), np.empty(n))
    assert np.all(np.diff(D1) >= 0)
    np.testing.assert_allclose((Q1 * D1) @ Q1.T, target, atol=1e-13 * np.abs(target).max())
    np.testing.assert_allclose(Q1.T @ Q1, np.eye(n), atol=1e-13)
    np.testing.assert_allclose(D1, np.linalg.eigvalsh(target), atol=1e-13 * D1.max())


# --------------------------------------------------------------------------- bootstrap
@pytest.mark.parametrize("seed", range(6))
def test_rank1_update_at_n50_with_spread_eigenvalues(seed):
    """The EWMA case at N = 50: eigenvalues over six decades (roots hugging their poles),
    some tiny z components, a cluster; checked against LAPACK (numpy eigvalsh) and by
    reconstruction, for the secular solver's cubic steps and their fallback alike."""
    n = 50
    rng = np.random.default_rng(100 + seed)
    D = np.sort(10.0 ** rng.uniform(-8, -2, n))
    D[10:13] = D[10] * (1 + 1e-9 * np.arange(3))  # near-repeated eigenvalues
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    z = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, -1, n)
    S = (Q * D) @ Q.T
    target = 0.94 * (S + 0.06 * np.outer(Q @ z, Q @ z))
    D1, Q1 = D.copy(), np.ascontiguousarray(Q.copy())
    rc._rank1_update(D1, Q1, z.copy(), 0.06, 0.94, np.empty(n, np.int64), np.empty(n),
                     np.empty(n), np.empty((n, n)), np.empty((9, n)), np.empty((n, n)),
                     np.empty(n), np.empty(n, np.int64), np.empty(n))
    scale = np.abs(target).max()
    np.testing.assert_allclose((Q1 * D1) @ Q1.T, target, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(Q1.T @ Q1, np.eye(n), rtol=0, atol=1e-13)
    np.testing.assert_allclose(D1, np.linalg.eigvalsh(target), rtol=0, atol=1e-14 * D1.max())


def test_moving_paths_are_contiguous_history_blocks_when_recolour_off():
    R = _history(50, 3)
    spec = sc.ScenarioSpec(n_paths=300, block=7, horizon=40, recolor="none", seed=4)
    s = sc.generate(R, np.full(3, 0.05), np.eye(3) * 0.04, spec)
    assert np.all(s.delta == 0)
    for p in range(s.paths.shape[0]):
        # map every row back to its history row (rows are distinct)
        idx = np.array([np.flatnonzero((R == row).all(axis=1))[0] for row in s.paths[p]])
        for b in range(0, 40, 7):
            seg = idx[b:b + 7]
            assert np.all(np.diff(seg) == 1), (p, b, seg)
            assert seg[0] <= 50 - 7


def test_circular_and_stationary_indices():
    rng = np.random.default_rng(0)
    idx = sc.bootstrap_indices(rng, 2000, 30, 20, 6, "circular")
    assert idx.min() >= 0 and idx.max() < 20
    d = np.diff(idx, axis=1) % 20
    assert np.all(d[:, [5, 11, 17, 23]] >= 0)
    assert np.all(np.delete(d, [5, 11, 17, 23], axis=1) == 1)
    # every history row equally likely for the circular scheme (chi-square, df 19)
    counts = np.bincount(idx.ravel(), minlength=20)
    e = idx.size / 20
    assert ((counts - e) ** 2 / e).sum() < 50.0  # p ~ 1e-4 under uniformity
    st_idx = sc.bootstrap_indices(np.random.default_rng(1), 4000, 200, 50, 5, "stationary")
    breaks = (np.diff(st_idx, axis=1) % 50) != 1
    # new block w.p. 1/L (a restart can land on prev+1, probability 1/(L*T))
    p_hat = breaks.mean()
    p_true = (1 / 5) * (1 - 1 / 50)
    se = np.sqrt(p_true * (1 - p_true) / breaks.size)
    assert abs(p_hat - p_true) < 5 * se


@settings(max_examples=60, deadline=None)
@given(T=st.integers(2, 40), data=st.data(), method=st.sampled_from(sc.METHODS),
       seed=st.integers(0, 2**32 - 1))
def test_bootstrap_indices_invariants(T, data, method, seed):
    """Indices in range; moving/circular paths advance by one inside every block."""
    L = data.draw(st.integers(1, T))
    H = data.draw(st.integers(1, 60))
    idx = sc.bootstrap_indices(np.random.default_rng(seed), 3, H, T, L, method)
    assert idx.shape == (3, H) and idx.min() >= 0 and idx.max() < T
    if method != "stationary":
        step = np.diff(idx, axis=1) % T
        inside = np.ones(H - 1, bool)
        inside[L - 1::L] = False  # first step of every new block
        assert np.all(step[:, inside] == 1)
    if method == "moving":
        starts = idx[:, ::L]
        assert starts.max() <= T - L


def test_auto_block_length_uses_arch():
    from arch.bootstrap import optimal_block_length

    R = _history(120, 4)
    R[1:] += 0.6 * R[:-1]  # autocorrelation -> longer blocks
    L = sc.auto_block_length(R, "moving")
    expect = int(np.ceil(optimal_block_length(R)["circular"].mean()))
    assert L == min(max(expect, 1), 120) and L >= 2
    s = sc.generate(R, np.full(4, 0.05), np.eye(4) * 0.04, sc.ScenarioSpec(n_paths=10))
    assert s.block_length == L


def test_circular_bootstrap_mean_and_cov_match_history_within_sampling_error():
    R = _history(60, 3, seed=9)
    spec = sc.ScenarioSpec(n_paths=4000, block=4, method="circular", recolor="none", seed=2)
    s = sc.generate(R, np.full(3, 0.05), np.eye(3) * 0.04, spec)
    per_path = s.paths.mean(axis=1)  # i.i.d. across paths
    se = per_path.std(axis=0, ddof=1) / np.sqrt(per_path.shape[0])
    assert np.all(np.abs(s.mean - R.mean(0)) < 4 * se)
    # circular rows are uniform over history rows: E[pooled cov] ~ population cov
    np.testing.assert_allclose(s.cov, np.cov(R, rowvar=False, ddof=0), rtol=0.08)


# --------------------------------------------------------------------------- targets
@pytest.mark.parametrize("P", [12, 52, 252])
def test_lognormal_targets_compound_exactly(P):
    mu, C = _targets(4)
    m, S = sc.to_period(mu, C, P, "lognormal")
    # independent: i.i.d. periods with mean m, cov S compound to these annual moments
    g = 1 + m
    ann_mean = g**P - 1
    ann_cov = (np.outer(g, g) + S) ** P - np.outer(g**P, g**P)
    np.testing.assert_allclose(ann_mean, mu, rtol=1e-12)
    np.testing.assert_allclose(ann_cov, C, rtol=1e-9, atol=1e-14)
    m2, S2 = sc.to_annual(m, S, P, "lognormal")
    np.testing.assert_allclose(S2, C, rtol=1e-9, atol=1e-14)


def test_lognormal_targets_monte_carlo():
    mu, C = _targets(3)
    P = 12
    m, S = sc.to_period(mu, C, P, "lognormal")
    # lognormal per-period returns with those moments, compounded over P periods
    B = np.log1p(S / np.outer(1 + m, 1 + m))
    a = np.log1p(m) - 0.5 * np.diag(B)
    rng = np.random.default_rng(0)
    L = rng.multivariate_normal(a * P, B * P, size=400_000)
    G = np.exp(L) - 1
    np.testing.assert_allclose(G.mean(0), mu, atol=4 * G.std(0).max() / np.sqrt(4e5))
    np.testing.assert_allclose(np.cov(G, rowvar=False), C, atol=0.004)


def test_arithmetic_geometric_log_targets():
    mu, C = np.array([0.08, -0.02]), np.eye(2) * 0.04
    m, S = sc.to_period(mu, C, 12, "arithmetic")
    np.testing.assert_allclose(m, mu / 12) and np.testing.assert_allclose(S, C / 12)
    m, _ = sc.to_period(mu, C, 12, "geometric")
    np.testing.assert_allclose((1 + m) ** 12 - 1, mu)
    m, _ = sc.to_period(mu, C, 52, "log")
    np.testing.assert_allclose(m, np.log(1 + mu) / 52)
    with pytest.raises(InputError, match="mu_ann"):
        sc.to_period(np.array([-1.5, 0.0]), C, 12, "geometric")


# --------------------------------------------------------------------------- drift delta
def test_drift_delta_identity_exact_and_ridge_formula():
    R = _history(120, 5)
    mu, C = _targets(5)
    W = np.array([[0.6, 0.4, 0, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.2], [0, 0, 0.3, 0.3, 0.4]])
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=700, block=6, seed=3), W)
    realised = (s.paths.reshape(-1, 5) @ W.T).mean(axis=0)  # recomputed from the paths
    r_star = (1 + W @ mu) ** (1 / 12) - 1
    np.testing.assert_allclose(realised, r_star, rtol=0, atol=1e-10)
    np.testing.assert_allclose(s.rt_targets, r_star, rtol=1e-14)
    # ridge: the seed's normal equations solved directly
    rb = s.r_bar
    d = sc.drift_delta(W, r_star, rb, ridge=1e-3)
    direct = np.linalg.inv(W.T @ W + 1e-3 * np.eye(5)) @ W.T @ (r_star - W @ rb)
    np.testing.assert_allclose(d, direct, rtol=1e-10)
    # ridge 0 is the limit rho -> 0+
    np.testing.assert_allclose(sc.drift_delta(W, r_star, rb, 1e-9), s.delta,
                               atol=1e-5 * np.abs(s.delta).max())


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 4), seed=st.integers(0, 1000))
def test_drift_delta_hits_targets_for_full_row_rank(K, seed):
    rng = np.random.default_rng(seed)
    N = 4
    W = rng.dirichlet(np.ones(N), size=K)
    r_bar = rng.normal(0.005, 0.003, N)
    r_star = rng.normal(0.006, 0.002, K)
    d = sc.drift_delta(W, r_star, r_bar, 0.0)
    np.testing.assert_allclose(W @ (r_bar + d), r_star, atol=1e-14)


# --------------------------------------------------------------------------- engine
def test_reproducible_across_chunks_threads_and_streaming():
    import numba

    R = _history(80, 4)
    mu, C = _targets(4)
    W = np.array([[0.25] * 4, [0.7, 0.3, 0, 0]])
    base = sc.ScenarioSpec(n_paths=700, block=5, seed=11, chunk_paths=256)
    a = sc.generate(R, mu, C, base, W)
    b = sc.generate(R, mu, C, sc.ScenarioSpec(**{**base.__dict__, "chunk_paths": 10_000}), W)
    chunks = []
    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        c = sc.generate(R, mu, C, sc.ScenarioSpec(**{**base.__dict__, "chunk_paths": 512}), W,
                        keep_paths=False, sink=lambda p0, Y: chunks.append((p0, Y.copy())))
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.paths, b.paths)
    assert np.array_equal(a.paths, np.concatenate([y for _, y in chunks]))
    for other in (b, c):
        for f in ("mean", "cov", "delta", "terminal", "drawdown", "fan"):
            assert np.array_equal(getattr(a, f), getattr(other, f)), f
    d = sc.generate(R, mu, C, sc.ScenarioSpec(**{**base.__dict__, "seed": 12}), W)
    assert not np.allclose(a.paths, d.paths)
    # memory layout of the inputs does not matter (F-ordered history, e.g. from pandas)
    f = sc.generate(np.asfortranarray(R), mu, np.asfortranarray(C), base, np.asfortranarray(W))
    assert np.array_equal(a.paths, f.paths)
    # the first group of a bigger run is the same paths
    e = sc.generate(R, mu, C, sc.ScenarioSpec(**{**base.__dict__, "n_paths": 256}), W)
    np.testing.assert_allclose(e.paths, a.paths[:256] - a.delta + e.delta, rtol=0, atol=1e-15)


def test_group_seeding_is_seedsequence_spawn():
    kids = np.random.SeedSequence(5).spawn(4)
    for g in range(4):
        assert np.array_equal(np.random.default_rng(kids[g]).random(3),
                              sc.group_rng(5, g).random(3))


def test_pooled_stats_and_portfolio_measures_recomputed_from_paths():
    R = _history(60, 3)
    mu, C = _targets(3)
    W = np.array([[0.5, 0.3, 0.2]])
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=300, block=3, horizon=24), W)
    X = s.paths.reshape(-1, 3)
    np.testing.assert_allclose(s.mean, X.mean(0), atol=1e-15)
    np.testing.assert_allclose(s.cov, np.cov(X, rowvar=False), rtol=1e-12)
    r = s.paths @ W[0]
    wealth = np.cumprod(1 + r, axis=1)
    np.testing.assert_allclose(s.terminal[:, 0], wealth[:, -1], rtol=1e-14)
    dd = np.array([max(0.0, max(1 - w / max(1.0, wealth[p, : t + 1].max())
                                for t, w in enumerate(wealth[p]))) for p in range(300)])
    np.testing.assert_allclose(s.drawdown[:, 0], dd, atol=1e-14)
    np.testing.assert_allclose(s.fan[12, :, 0], np.percentile(wealth[:, 11], [5, 25, 50, 75, 95]))
    rows = s.summary_rows()
    labels = [r[0] for r in rows]
    assert "asset1" in labels and "RT1" in labels and "max drawdown" in labels


def test_max_drawdown_simple_case():
    w = np.array([[1.1, 0.88, 0.99, 1.2]])[:, :, None]
    np.testing.assert_allclose(max_drawdown(w)[0, 0], 0.2)


def test_recolour_hits_targets_with_long_memory():
    """With lam -> 1 the EWMA is near the true covariance: realised ~ target (stated tolerance).

    Gaussian i.i.d. history, Sigma_0 its sample covariance, lam = 0.995 (effective
    window ~400 periods, bias factor ~ n/(n-N-1) ~ 1.01): realised annual vols within
    4 %, correlations within 0.05 of the targets, RT mean exact.
    """
    rng = np.random.default_rng(7)
    N = 4
    R = rng.multivariate_normal(np.full(N, 0.004), np.eye(N) * 0.002 + 0.001, size=600)
    mu, C = _targets(N)
    W = np.full((1, N), 1 / N)
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=800, block=12, lam=0.995, seed=1,
                                              horizon=120), W)
    m_ann, c_ann = s.annual()
    vol_r, vol_t = np.sqrt(np.diag(c_ann)), np.sqrt(np.diag(C))
    assert np.all(np.abs(vol_r / vol_t - 1) < 0.04)
    corr = lambda S: S / np.sqrt(np.outer(np.diag(S), np.diag(S)))  # noqa: E731
    assert np.abs(corr(c_ann) - corr(C)).max() < 0.05
    assert abs((1 + W[0] @ s.mean) ** 12 - 1 - W[0] @ mu) < 1e-10


def test_short_memory_inflates_variance_as_documented():
    """lam = 0.94 (window ~ 32) whitening by a noisy estimate inflates realised variance."""
    rng = np.random.default_rng(8)
    N = 5
    R = rng.standard_normal((600, N)) * 0.04
    mu, C = _targets(N)
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=400, block=1, seed=1), None)
    ratio = np.diag(s.annual()[1]) / np.diag(C)
    assert np.all(ratio > 1.05) and np.all(ratio < 1.6)


@pytest.mark.parametrize("kw,arg", [
    (dict(cov_ann=np.array([[0.04, 0.01], [0.0, 0.04]])), "cov_ann"),
    (dict(cov_ann=np.array([[0.04, 0.09], [0.09, 0.04]])), "cov_ann"),
    (dict(mu_ann=np.array([0.1, 0.1, 0.1])), "mu_ann"),
    (dict(rt_weights=np.ones((1, 3))), "rt_weights"),
])
def test_bad_inputs_name_the_argument(kw, arg):
    R = _history(30, 2)
    base = dict(returns=R, mu_ann=np.array([0.05, 0.06]), cov_ann=np.eye(2) * 0.04,
                rt_weights=None)
    base.update(kw)
    with pytest.raises(InputError, match=f"^{arg}:"):
        sc.generate(base["returns"], base["mu_ann"], base["cov_ann"],
                    sc.ScenarioSpec(n_paths=5, block=2), base["rt_weights"])


@pytest.mark.parametrize("field,val", [("lam", 1.0), ("block", 99), ("n_paths", 0),
                                       ("method", "iid"), ("recolor", "x"), ("ridge", -1.0)])
def test_bad_spec_names_the_field(field, val):
    R = _history(30, 2)
    spec = sc.ScenarioSpec(**{**sc.ScenarioSpec(n_paths=5, block=2).__dict__, field: val})
    with pytest.raises(InputError, match=f"^{field}:"):
        sc.generate(R, np.array([0.05, 0.06]), np.eye(2) * 0.04, spec)


def test_warmup_runs():
    sc.warmup()
