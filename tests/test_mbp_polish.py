"""MBP weights polished on the solver's active face (pyxl/core/mbp/polish.py).

Independent checks: a brute-force enumeration of every face of a small SBP (each face's
KKT system solved in closed form with dense numpy), a KKT certificate computed with the
dense N x N covariance for MBPs, exact zeros at the bounds, refusals that keep the
solver's answer, and asset permutations that permute the weights to 1e-12.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from pyxl.core.mbp import Limits, MBPProblem, make_data, make_universe, optimize


def _small(seed: int, n: int = 8, k: int = 2):
    rng = np.random.default_rng(seed)
    bw = rng.uniform(0.5, 2.0, n)
    bw /= bw.sum()
    seg = np.array([1] * (n // 2) + [2] * (n - n // 2))
    B = rng.normal(0, 1, (n, k))
    L = rng.normal(0, 0.1, (k, k))
    F = L @ L.T + 0.01 * np.eye(k)
    s = rng.uniform(0.01, 0.09, n)
    alpha = rng.normal(0, 0.02, n)
    return make_data(bw, seg, B, F, s), alpha


def _face_optimum(Sig, b, alpha, te, state):
    """max alpha'w on the face: w_i = 0 (state 0), w_i = cap (state 2), free (state 1),
    sum w = 1, (w-b)' Sig (w-b) = te^2.  Closed form: on the free set F,
    Sig_FF x_F = t (alpha_F - lam 1) - Sig_FX x_X with t = 1/(2 mu); lam and t from the
    budget and the TE equality (a quadratic in t).  Returns the feasible candidates."""
    state, cap = state
    n = b.size
    F = np.flatnonzero(state == 1)
    X = np.flatnonzero(state != 1)
    if F.size < 2:  # one free weight is fixed by the budget: TE = te only by chance
        return []
    wX = np.where(state[X] == 2, cap, 0.0)
    xX = wX - b[X]
    SFF = Sig[np.ix_(F, F)]
    SFX = Sig[np.ix_(F, X)]
    u = np.linalg.solve(SFF, alpha[F])        # x_F = t (u - lam v) + c
    v = np.linalg.solve(SFF, np.ones(F.size))
    c = -np.linalg.solve(SFF, SFX @ xX)
    need = -xX.sum()                          # sum x_F = -sum x_X
    out = []
    # sum x_F = t (1'u - lam 1'v) + 1'c = need  ->  t*lam = (t 1'u + 1'c - need) / 1'v
    # x_F = t (u - (1'u/1'v) v) + c + ((need - 1'c)/1'v) v = t p + q
    p = u - (u.sum() / v.sum()) * v
    q = c + ((need - c.sum()) / v.sum()) * v
    x = np.zeros(n)
    x[X] = xX

    def te2(t):
        x[F] = t * p + q
        return x @ Sig @ x

    # te2(t) = A t^2 + 2 Bq t + C
    x0 = np.zeros(n)
    x0[X] = xX
    x0[F] = q
    xp = np.zeros(n)
    xp[F] = p
    A, Bq, C = xp @ Sig @ xp, xp @ Sig @ x0, x0 @ Sig @ x0
    disc = Bq * Bq - A * (C - te * te)
    if A <= 0 or disc < 0:
        return out
    for t in ((-Bq + np.sqrt(disc)) / A, (-Bq - np.sqrt(disc)) / A):
        if t <= 0:
            continue
        w = b.copy()
        w[F] = b[F] + t * p + q
        w[X] = wX
        if np.all(w >= -1e-15) and np.all(w <= cap + 1e-15):
            out.append(w)
    return out


def _brute_force_sbp(d, alpha, te, cap=np.inf, states=(0, 1)):
    Sig = d.dense_cov()
    best, best_w = -np.inf, None
    for st in itertools.product(states, repeat=d.n):
        st = np.array(st)
        if cap == np.inf and np.any(st == 2):
            continue
        for w in _face_optimum(Sig, d.bench_w, alpha, te, (st, cap)):
            if alpha @ w > best:
                best, best_w = alpha @ w, w
    return best_w


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sbp_weights_equal_brute_force_face_enumeration(seed):
    """Long-only SBP (market TE, budget): the polished weights are the best of the
    closed-form optima of all 2^8 faces to 1e-10 (before: about 1e-7 off)."""
    d, alpha = _small(seed)
    te = 0.03
    ref = _brute_force_sbp(d, alpha, te)
    w = optimize(d, alpha, Limits(te_total=te, segment_neutral=False)).weights
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("seed", [5, 6])
def test_sbp_with_cap_equals_brute_force(seed):
    """With max_weight, weights at the cap come out exactly at the cap."""
    d, alpha = _small(seed, n=7)
    te, cap = 0.05, 0.2
    ref = _brute_force_sbp(d, alpha, te, cap, states=(0, 1, 2))
    w = optimize(d, alpha, Limits(te_total=te, segment_neutral=False, max_weight=cap)).weights
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-10)
    assert np.all((w == cap) == (np.abs(ref - cap) < 1e-12))


def _dense_kkt(d, alpha, w, lim: Limits):
    """Largest KKT residual of w for lim, from the dense covariance (independent of the
    factor form and of the polish), with every multiplier's sign checked."""
    Sig = d.dense_cov()
    n, M = d.n, d.n_segments
    cols, kinds = [], []
    # budget / neutrality rows (free sign)
    if lim.segment_neutral:
        for m in range(M):
            cols.append((d.segment == m).astype(float))
            kinds.append("eq")
    else:
        cols.append(np.ones(n))
        kinds.append("eq")
    x = w - d.bench_w
    viol = [abs(w.sum() - 1.0)]
    if lim.te_total is not None:
        te = np.sqrt(x @ Sig @ x)
        viol.append(max(te - lim.te_total, 0.0))
        if te > lim.te_total * (1 - 1e-9):
            cols.append(-Sig @ x / te)  # gradient of -TE: the price of the limit
            kinds.append("ineq")
    for m in range(M):
        t = lim.within(m)
        if t is None:
            continue
        idx = d.members[m]
        v = np.zeros(n)
        Wm = w[idx].sum()
        v[idx] = w[idx] - Wm * d.y_bench[idx]
        tv = np.sqrt(v @ Sig @ v)
        viol.append(max(tv - t * Wm, 0.0))
        if tv > t * Wm * (1 - 1e-9):
            P = np.zeros((n, n))
            P[np.ix_(idx, idx)] = np.eye(idx.size) - np.outer(d.y_bench[idx], np.ones(idx.size))
            g = P.T @ Sig @ v / tv
            g[idx] -= t
            cols.append(-g)
            kinds.append("ineq")
    zero = w == 0.0
    for i in np.flatnonzero(zero):
        e = np.zeros(n)
        e[i] = 1.0   # w_i >= 0: alpha + sum prices * cols + nu e_i = 0 with nu >= 0
        cols.append(e)
        kinds.append("ineq")
    A = np.array(cols).T
    y, *_ = np.linalg.lstsq(A, -alpha / np.abs(alpha).max(), rcond=None)
    res = np.max(np.abs(A @ y + alpha / np.abs(alpha).max()))
    sign = min([y[j] for j, k in enumerate(kinds) if k == "ineq"], default=0.0)
    viol.append(max(-w.min(), 0.0))
    return res, sign, max(viol)


@pytest.fixture(scope="module")
def uni():
    u = make_universe(n=600, seed=11)
    return u, make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


@pytest.mark.parametrize("lim", [
    Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02)),
    Limits(te_total=0.005, te_within=(0.01, 0.01, 0.01)),
    Limits(te_total=0.03, te_within=(0.06, None, 0.04)),
    Limits(te_total=0.01, segment_neutral=False),
])
def test_mbp_weights_are_a_kkt_point_to_1e12_by_dense_numpy(uni, lim):
    """The returned weights satisfy the KKT conditions of the MBP checked with the dense
    N x N covariance: stationarity to 1e-11 (alpha scaled to 1), limits met to 1e-14,
    every price >= 0 (so, the problem being convex, they are the optimum).  Before the
    polish the stationarity residual was about 1e-4 (zeros at 1e-7 with no price)."""
    u, d = uni
    w = np.asarray(optimize(d, u.alpha, lim).weights)
    res, sign, viol = _dense_kkt(d, u.alpha, w, lim)
    assert res < 1e-11
    assert sign > -1e-9
    assert viol < 1e-14


def test_zero_weights_are_exactly_zero(uni):
    """Names not held are 0.0, not 1e-9..1e-6: no weight lies strictly between 0 and
    1e-9 (before: hundreds did)."""
    u, d = uni
    w = np.asarray(optimize(d, u.alpha, Limits(te_total=0.01, te_within=(0.02,) * 3)).weights)
    assert (w == 0.0).sum() > 100
    assert not np.any((w > 0.0) & (w < 1e-9))


def test_refused_polish_keeps_the_solver_answer(uni):
    """A turnover penalty (|w - h| is not smooth) and a non-neutral within limit on a
    segment the optimum leaves (the cone's apex) are not polished: the weights are the
    solver's, bit for bit."""
    u, d = uni
    lims = [Limits(te_total=0.01, holdings=d.bench_w, turnover_penalty=0.001),
            Limits(te_total=0.01, te_within=(0.02, None, 0.015), segment_neutral=False)]
    for lim in lims:
        raw = np.asarray(MBPProblem(d, u.alpha, lim).solve(lim, polished=False).weights)
        pb = MBPProblem(d, u.alpha, lim)
        pol = np.asarray(pb.solve(lim).weights)
        assert pb.last_polish is None
        np.testing.assert_array_equal(pol, raw)


def test_wrong_face_is_refused_not_accepted(uni):
    """Polishing from a point that is not the optimum of the given alpha (the optimum
    for -alpha) never returns a non-optimal point: either None, or a KKT point of the
    problem (dense check)."""
    from pyxl.core.mbp import polish

    u, d = uni
    lim = Limits(te_total=0.01, te_within=(0.02,) * 3)
    w_other = np.asarray(optimize(d, -u.alpha, lim).weights)
    lo, hi = polish.bounds(d, True, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = polish.polish(d, u.alpha, w_other, te_total=0.01, te_segment=None,
                            te_within=[0.02] * 3, neutral=True, budget=True, lo=lo, hi=hi)
    if out is not None:
        res, sign, viol = _dense_kkt(d, u.alpha, out.weights, lim)
        assert res < 1e-11 and sign > -1e-9 and viol < 1e-14


@pytest.mark.parametrize("lim", [
    Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02)),
    Limits(te_total=0.02),
])
def test_permuting_assets_permutes_weights_to_1e14(uni, lim):
    """Metamorphic: the same universe in another asset order gives the same weights to
    1e-14 (measured 3e-16; before the polish 1.2e-13 to 2e-13 here, up to 7e-12 at
    N = 1,700: Clarabel is nearly, not exactly, order-independent)."""
    u, d = uni
    w = np.asarray(optimize(d, u.alpha, lim).weights)
    p = np.random.default_rng(3).permutation(d.n)
    d2 = make_data(u.bench_w[p], u.segment[p], u.exposures[p], u.factor_cov, u.spec_var[p])
    w2 = np.asarray(optimize(d2, u.alpha[p], lim).weights)
    np.testing.assert_allclose(w2, w[p], rtol=0, atol=1e-14)


@pytest.mark.parametrize("c", [1e-6, 0.3, 1e3])
@pytest.mark.parametrize("lim", [
    Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02)),
    Limits(te_total=0.02),
])
def test_scaling_alpha_leaves_weights_unchanged_to_1e12(uni, lim, c):
    """Metamorphic: only the direction of alpha matters, so alpha * c gives the same
    weights to 1e-12 (measured 2e-16; before the polish 1e-7 to 2e-6: the solver sees
    another scale and stops elsewhere on the flat top of the TE ellipsoid)."""
    u, d = uni
    w = np.asarray(optimize(d, u.alpha, lim).weights)
    wc = np.asarray(optimize(d, u.alpha * c, lim).weights)
    np.testing.assert_allclose(wc, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", ["ls_by_kkt_system", "factorise_every_step"])
def test_fallback_paths_reach_a_kkt_point(uni, monkeypatch, path):
    """The paths the fast ones fall back on give a KKT point too (dense numpy check):
    least-squares multipliers from the whole KKT system instead of the normal
    equations, and a fresh factorisation at every Newton step instead of refining
    against the previous step's."""
    from pyxl.core.mbp import polish

    if path == "ls_by_kkt_system":
        monkeypatch.setattr(polish._Face, "ls_multipliers", lambda self, ev: None)
    else:
        monkeypatch.setattr(polish, "REUSE_TOL", -1.0)
    u, d = uni
    lim = Limits(te_total=0.01, te_within=(0.02, 0.02, 0.02))
    pb = MBPProblem(d, u.alpha, lim)
    w = np.asarray(pb.solve(lim).weights)
    assert pb.last_polish is not None
    res, sign, viol = _dense_kkt(d, u.alpha, w, lim)
    assert res < 1e-11 and sign > -1e-9 and viol < 1e-14


def test_polish_runs_blas_on_one_thread():
    """one_blas_thread limits every BLAS library threadpoolctl finds to one thread (with
    a threadpoolctl too old to find numpy's OpenBLAS it would find none)."""
    from threadpoolctl import threadpool_info

    from pyxl.core.mbp import polish

    with polish.one_blas_thread():
        blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas and all(i["num_threads"] == 1 for i in blas)


def test_problem_data_is_read_only_and_the_callers_arrays_are_not():
    """The polish keeps per-problem rows derived from MBPData (weakly keyed on the object);
    an in-place change of its arrays would leave them stale, so they are read-only copies,
    and the arrays a caller passed stay writeable."""
    u = make_universe(n=120, seed=5)
    B = np.array(u.exposures, dtype=float, copy=True)
    d = make_data(u.bench_w, u.segment, B, u.factor_cov, u.spec_var)
    with pytest.raises(ValueError, match="read-only"):
        d.exposures[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        d.members[0][0] = 3
    B[0, 0] += 1.0  # the caller's array is untouched by make_data and still writeable
    assert d.exposures[0, 0] == B[0, 0] - 1.0
