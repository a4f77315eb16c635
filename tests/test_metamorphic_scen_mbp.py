"""Metamorphic / invariance relations of the scenario engine and the MBP optimiser.

Every test runs the public functions twice (or more) on inputs related by a map whose
effect on the output follows from the maths of seed 002 (scenarios) or seed 004 (MBP),
not from the code: relabelling assets or segments, rescaling alpha, rotating the factor
model, affine maps of the history or of the targets, and so on.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import excel_range, excel_row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyxl.core import scenarios as sc
from pyxl.core.mbp import Limits, decompose, make_data, make_universe, optimize
from pyxl.xl.cache import clear_all

# =====================================================================================
# Scenarios (seed 002)
# =====================================================================================

T, N = 60, 4
_rng = np.random.default_rng(7)
_L = np.linalg.cholesky(np.array([[1, .3, .2, .1], [.3, 1, .4, .2],
                                  [.2, .4, 1, .3], [.1, .2, .3, 1]]))
R = 0.006 + 0.04 * _rng.standard_normal((T, N)) @ _L.T
MU = np.array([0.05, 0.07, 0.06, 0.08])
_A = _rng.standard_normal((N, N))
COV = (_A @ _A.T / N + np.eye(N)) * 0.02
W_RT = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])


def gen(R=R, mu=MU, C=COV, W=W_RT, **kw):
    kw.setdefault("n_paths", 300)
    kw.setdefault("block", 6)
    return sc.generate(R, mu, C, sc.ScenarioSpec(**kw), W)


@pytest.mark.parametrize("recolor", ["symmetric", "symmetric-eigh", "none"])
@pytest.mark.parametrize("method", ["moving", "circular", "stationary"])
def test_permuting_assets_permutes_every_output(recolor, method):
    """Relabelling the assets (history columns, mu, cov rows and columns, RT columns)
    permutes paths and delta alike with the same seed: the bootstrap draws rows, not
    columns, and Sigma*^{1/2} Sigma_t^{-1/2} is equivariant under P (.) P'."""
    p = np.array([2, 0, 3, 1])
    a = gen(recolor=recolor, method=method)
    b = gen(R[:, p], MU[p], COV[np.ix_(p, p)], W_RT[:, p], recolor=recolor, method=method)
    np.testing.assert_allclose(b.paths, a.paths[:, :, p], rtol=0, atol=1e-13)
    np.testing.assert_allclose(b.delta, a.delta[p], rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.cov, a.cov[np.ix_(p, p)], rtol=1e-10, atol=0)
    # portfolio measures do not depend on the order of the assets at all
    np.testing.assert_allclose(b.terminal, a.terminal, rtol=1e-12)
    np.testing.assert_allclose(b.drawdown, a.drawdown, rtol=1e-10, atol=1e-14)
    assert b.block_length == a.block_length


def test_auto_block_length_ignores_column_order():
    p = np.array([3, 1, 0, 2])
    for method in ("moving", "stationary"):
        assert sc.auto_block_length(R[:, p], method) == sc.auto_block_length(R, method)


def test_cholesky_recolour_depends_on_column_order_as_documented():
    """L* L_t^{-1} is not equivariant under a permutation (a Cholesky factor of P S P'
    is not P L P'); docs/scenarios.md says so.  The realised moments still match in
    distribution, so only the paths themselves differ."""
    p = np.array([2, 0, 3, 1])
    a = gen(recolor="cholesky")
    b = gen(R[:, p], MU[p], COV[np.ix_(p, p)], W_RT[:, p], recolor="cholesky")
    assert np.abs(b.paths - a.paths[:, :, p]).max() > 1e-3
    import pathlib

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"
    assert "order of the assets" in doc.read_text()


@pytest.mark.parametrize("recolor", ["symmetric", "symmetric-eigh", "cholesky"])
@given(loc=st.floats(-0.02, 0.02), scale=st.floats(0.05, 5.0))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_recolour_ignores_location_and_scale_of_history(recolor, loc, scale):
    """x -> loc + c x moves mu_t by the same map and Sigma_t by c^2, so
    Sigma_t^{-1/2}(x_t - mu_t) and hence every recoloured path are unchanged."""
    a = gen(recolor=recolor, n_paths=40)
    b = gen(loc + scale * (R - R.mean(axis=0)) + R.mean(axis=0), recolor=recolor, n_paths=40)
    c = gen(loc + scale * R, recolor=recolor, n_paths=40)
    np.testing.assert_allclose(b.paths, a.paths, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.paths, a.paths, rtol=0, atol=1e-12)


def test_cholesky_recolour_ignores_per_asset_scale_symmetric_does_not():
    """A diagonal scaling D of the history is lower triangular, so L_t -> D L_t and the
    Cholesky map is invariant; the symmetric root is only invariant to a common scale."""
    D = np.array([0.5, 2.0, 1.0, 3.0]) * 0.3
    a = gen(recolor="cholesky")
    b = gen(R * D, recolor="cholesky")
    np.testing.assert_allclose(b.paths, a.paths, rtol=0, atol=1e-12)
    assert np.abs(gen(R * D).paths - gen().paths).max() > 1e-3


def test_orthogonal_rotation_of_everything_rotates_symmetric_paths():
    """x -> Q x with mu* -> Q mu*, Sigma* -> Q Sigma* Q': the symmetric map commutes with
    Q (sqrt(Q S Q') = Q sqrt(S) Q'), so paths rotate (no RT weights: no delta)."""
    rng = np.random.default_rng(11)
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    a = gen(W=None)
    b = gen(R @ Q.T, Q @ MU, Q @ COV @ Q.T, None)
    np.testing.assert_allclose(b.paths, a.paths @ Q.T, rtol=0, atol=1e-12)


def test_target_mean_shift_and_scale_move_paths_affinely():
    """x'_t = mu* + Sigma*^{1/2} z_t with z_t independent of the targets: shifting mu_ann
    shifts every return by the shift / P, and scaling cov_ann by c^2 scales x' - mu* by c."""
    a = gen(W=None)
    b = gen(mu=MU + 0.03, W=None)
    np.testing.assert_allclose(b.paths - a.paths, 0.03 / 12, rtol=0, atol=1e-15)
    c = gen(C=4.0 * COV, W=None)
    np.testing.assert_allclose(c.paths - c.mu_star, 2.0 * (a.paths - a.mu_star),
                               rtol=0, atol=1e-14)


def _rt_means(s, W):
    return np.einsum("phn,kn->k", s.paths, W) / (s.paths.shape[0] * s.paths.shape[1])


@pytest.mark.parametrize("recolor", ["symmetric", "none", "cholesky"])
def test_drift_delta_lands_every_rt_portfolio_exactly(recolor):
    """ridge 0, K <= N, full rank: every RT portfolio's per-period mean over all paths
    equals (1 + w'mu_ann)^(1/P) - 1 (seed step 4), recomputed from the paths."""
    # K = 2 and K = N
    for W in (W_RT, np.vstack([W_RT, [0.1, 0.6, 0.2, 0.1], [0.7, 0.1, 0.1, 0.1]])):
        s = gen(W=W, recolor=recolor)
        r_star = (1.0 + W @ MU) ** (1.0 / 12) - 1.0
        np.testing.assert_allclose(_rt_means(s, W), r_star, rtol=0, atol=1e-12)


def test_drift_delta_equals_seed_formula_with_ridge():
    """delta = (W'W + rho I)^{-1} W'(r* - W r_bar), solved here directly (well
    conditioned at rho = 1e-3); delta is added to every return."""
    rho = 1e-3
    a = gen(W=None)
    s = gen(ridge=rho)
    r_star = (1.0 + W_RT @ MU) ** (1.0 / 12) - 1.0
    r_bar = a.paths.mean(axis=(0, 1))
    exp = np.linalg.solve(W_RT.T @ W_RT + rho * np.eye(N), W_RT.T @ (r_star - W_RT @ r_bar))
    np.testing.assert_allclose(s.delta, exp, rtol=1e-9, atol=1e-16)
    np.testing.assert_allclose(s.paths - a.paths, np.broadcast_to(exp, s.paths.shape),
                               rtol=0, atol=1e-15)


def test_duplicate_rt_portfolio_changes_nothing():
    """Adding a copy of an RT portfolio adds an identical equation: the minimum-norm
    least-squares delta is the same (the system stays consistent)."""
    a = gen()
    b = gen(W=np.vstack([W_RT, W_RT[0]]))
    np.testing.assert_allclose(b.delta, a.delta, rtol=0, atol=1e-16)
    np.testing.assert_allclose(b.terminal[:, :2], a.terminal, rtol=1e-14)


def test_rt_portfolio_that_is_a_combination_of_others():
    """w3 = (w1 + w2)/2 makes W rank 2; its geometric target is not the average of the
    others' targets, so the system is inconsistent and ridge 0 gives the least-squares
    compromise: the residuals r*_k - realised_k are orthogonal to the range of W."""
    W = np.vstack([W_RT, W_RT.mean(axis=0)])
    s = gen(W=W)
    r_star = (1.0 + W @ MU) ** (1.0 / 12) - 1.0
    res = r_star - _rt_means(s, W)
    # projection of the residual onto range(W) is zero
    U, sv, _ = np.linalg.svd(W, full_matrices=False)
    U = U[:, sv > 1e-12 * sv[0]]
    np.testing.assert_allclose(U.T @ res, 0.0, atol=1e-13)
    assert abs(res[2]) > 0  # the combination's target is only met in least squares


def test_paths_do_not_depend_on_chunks_or_n_paths():
    a = gen(n_paths=700, chunk_paths=256, W=None)
    b = gen(n_paths=700, chunk_paths=100_000, W=None)
    c = gen(n_paths=300, W=None, method="moving")
    np.testing.assert_array_equal(a.paths, b.paths)
    np.testing.assert_array_equal(a.paths[:300], c.paths)
    np.testing.assert_array_equal(a.cov, b.cov)


def test_plain_bootstrap_paths_are_history_blocks_plus_delta():
    s = gen(recolor="none", block=5, method="moving")
    X = s.paths - s.delta  # history rows again
    for p in range(0, 300, 37):
        rows = [int(np.flatnonzero(np.all(np.abs(R - X[p, t]) < 1e-15, axis=1))[0])
                for t in range(T)]
        for b0 in range(0, T, 5):  # every block is consecutive history rows
            blk = rows[b0:b0 + 5]
            assert blk == list(range(blk[0], blk[0] + len(blk)))


def test_formula_permuting_columns_permutes_paths(xl):
    """The same relation through =MBB_RECOLOR: path k with the columns reordered."""
    clear_all()
    p = np.array([1, 3, 0, 2])
    a = np.array(xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 4, 20,
                    0.94, 12, 3, excel_range(W_RT), 0, "path:7"))
    b = np.array(xl("MBB_RECOLOR", excel_range(R[:, p]), excel_row(MU[p]),
                    excel_range(COV[np.ix_(p, p)]), 4, 20, 0.94, 12, 3,
                    excel_range(W_RT[:, p]), 0, "path:7"))
    np.testing.assert_allclose(b, a[:, p], rtol=0, atol=1e-13)


# =====================================================================================
# MBP (seed 004)
# =====================================================================================

@pytest.fixture(scope="module")
def uni():
    return make_universe(n=60, seed=3, breaks=(10, 30))


LIM = Limits(te_total=0.02, te_within=(0.03, 0.04, 0.05))


def _solve(u, lim=LIM, bw=None, seg=None, B=None, F=None, s=None, alpha=None):
    d = make_data(u.bench_w if bw is None else bw, u.segment if seg is None else seg,
                  u.exposures if B is None else B, u.factor_cov if F is None else F,
                  u.spec_var if s is None else s)
    return d, optimize(d, u.alpha if alpha is None else alpha, lim)


@pytest.fixture(scope="module")
def base(uni):
    return _solve(uni)


def _w(r):
    return np.asarray(r.weights, dtype=float)


def test_mbp_permuting_names_permutes_weights(uni, base):
    _, r0 = base
    p = np.random.default_rng(1).permutation(uni.n)
    d1, r1 = _solve(uni, bw=uni.bench_w[p], seg=uni.segment[p], B=uni.exposures[p],
                    s=uni.spec_var[p], alpha=uni.alpha[p])
    np.testing.assert_allclose(_w(r1), _w(r0)[p], atol=1e-8)
    assert r1.objective == pytest.approx(r0.objective, rel=1e-8)
    np.testing.assert_allclose(r1.decomposition.within_te, r0.decomposition.within_te,
                               rtol=1e-6)


def test_mbp_swapping_segment_labels_swaps_segment_outputs(uni, base):
    _, r0 = base
    seg = uni.segment.copy()
    seg[uni.segment == 1], seg[uni.segment == 2] = 2, 1
    lim = Limits(te_total=0.02, te_within=(0.04, 0.03, 0.05))
    _, r1 = _solve(uni, lim=lim, seg=seg)
    np.testing.assert_allclose(_w(r1), _w(r0), atol=1e-8)
    sw = [1, 0, 2]
    d0, d1 = r0.decomposition, r1.decomposition
    np.testing.assert_allclose(d1.within_te, d0.within_te[sw], rtol=1e-6)
    np.testing.assert_allclose(d1.seg_weight, d0.seg_weight[sw], atol=1e-12)
    np.testing.assert_array_equal(d1.names_held, d0.names_held[sw])
    for a, b in ((d1.delta1, d0.delta1), (d1.delta2, d0.delta2)):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-12)
    sp0 = {x.label: x.shadow_price for x in r0.limits}
    sp1 = {x.label: x.shadow_price for x in r1.limits}
    assert sp1["Within-segment TE 1"] == pytest.approx(sp0["Within-segment TE 2"], rel=1e-4)


@pytest.mark.parametrize("c", [1e-6, 1e-3, 1e3, 1e6])
def test_mbp_scaling_alpha_leaves_the_optimum(uni, base, c):
    """The optimum of max alpha'w is unchanged by alpha -> c alpha (c > 0), as
    docs/mbp.md says; objective and shadow prices scale by c.  Tolerances are those of
    the solver (~1e-8 on the objective; on the TE ellipsoid the objective is flat to
    second order, so weights agree to ~1e-6).  Before the fix an alpha of ~4e-8 moved
    weights by 5.7e-2 and one of ~4e-5 by 6.7e-5."""
    _, ref = base
    _, r = _solve(uni, alpha=uni.alpha * c)
    np.testing.assert_allclose(_w(r), _w(ref), atol=1e-5)
    assert r.objective == pytest.approx(ref.objective * c, rel=2e-6)
    for a, b in zip(r.limits, ref.limits, strict=True):
        if b.binding:
            assert a.shadow_price == pytest.approx(b.shadow_price * c, rel=1e-3)
        else:
            assert abs(a.shadow_price) < 1e-6 * c


def test_mbp_small_alpha_through_the_formula(xl, uni):
    """=MBP_OPTIMIZE with alpha in the units of a score times 1e-6 gives the same weights."""
    clear_all()

    def col(v):
        return excel_range(np.asarray(v, dtype=float)[:, None])

    args = [col(uni.bench_w), col(uni.segment), excel_range(uni.exposures),
            excel_range(uni.factor_cov), col(uni.spec_var), 0.02, excel_row([0.03, 0.04, 0.05])]
    a = np.array(xl("MBP_OPTIMIZE", col(uni.alpha), *args), dtype=float).ravel()
    b = np.array(xl("MBP_OPTIMIZE", col(uni.alpha * 1e-6), *args), dtype=float).ravel()
    np.testing.assert_allclose(b, a, atol=1e-5)


def _rotations(K, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((K, K)))
    A = rng.standard_normal((K, K)) + 3.0 * np.eye(K)
    return [(Q, Q.T), (A, np.linalg.inv(A))]


def test_mbp_factor_rotation_leaves_weights_and_every_te(uni, base):
    """B -> B A, F -> A^{-1} F A^{-T} leaves B F B' (and so every TE, weight and term)."""
    d0, r0 = base
    for A, Ai in _rotations(uni.exposures.shape[1], np.random.default_rng(2)):
        F = Ai @ uni.factor_cov @ Ai.T
        d1, r1 = _solve(uni, B=uni.exposures @ A, F=0.5 * (F + F.T))
        np.testing.assert_allclose(d1.dense_cov(), d0.dense_cov(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(_w(r1), _w(r0), atol=W_TOL)
        assert r1.objective == pytest.approx(r0.objective, abs=OBJ_TOL)
        # the decomposition of one fixed portfolio is the same under both models
        x0, x1 = decompose(d0, _w(r0)), decompose(d1, _w(r0))
        for f in ("market_te", "segment_te", "segment_var", "delta1", "delta2"):
            assert getattr(x1, f) == pytest.approx(getattr(x0, f), rel=1e-9, abs=1e-15)
        np.testing.assert_allclose(x1.within_te, x0.within_te, rtol=1e-9)


def test_mbp_zero_and_split_factors(uni, base):
    d0, r0 = base
    K = uni.exposures.shape[1]
    B = np.hstack([uni.exposures, np.zeros((uni.n, 1))])  # exposure-free factor
    F = np.zeros((K + 1, K + 1))
    F[:K, :K] = uni.factor_cov
    F[K, K] = 0.04
    _, r1 = _solve(uni, B=B, F=F)
    np.testing.assert_allclose(_w(r1), _w(r0), atol=W_TOL)
    # factor 0 split into two perfectly correlated halves (singular but PSD F)
    B2 = np.hstack([uni.exposures, 0.5 * uni.exposures[:, :1]])
    B2[:, 0] *= 0.5
    F2 = np.zeros((K + 1, K + 1))
    F2[:K, :K] = uni.factor_cov
    F2[K, :K] = F2[:K, K] = uni.factor_cov[0]
    F2[K, K] = uni.factor_cov[0, 0]
    d2, r2 = _solve(uni, B=B2, F=F2)
    np.testing.assert_allclose(d2.dense_cov(), d0.dense_cov(), rtol=0, atol=1e-14)
    np.testing.assert_allclose(_w(r2), _w(r0), atol=W_TOL)


#: Clarabel's default tolerances (1e-8) leave the objective accurate to about 1e-9 at an
#: objective of 0.007 (alphas of a few %), and the weights, on the flat top of the TE
#: ellipsoid, to about 1e-6: the relations below hold to that accuracy.
OBJ_TOL = 5e-9
W_TOL = 1e-5


def test_mbp_tightening_a_limit_never_raises_the_objective(uni):
    d = make_data(uni.bench_w, uni.segment, uni.exposures, uni.factor_cov, uni.spec_var)
    prev = np.inf
    for te in (0.05, 0.03, 0.02, 0.015, 0.012):
        r = optimize(d, uni.alpha, Limits(te_total=te, te_within=(0.03, 0.04, 0.05)))
        assert r.objective <= prev + OBJ_TOL
        prev = r.objective
    prev = np.inf
    for tw in (0.08, 0.05, 0.03, 0.02):
        r = optimize(d, uni.alpha, Limits(te_total=0.02, te_within=(0.03, tw, 0.05)))
        assert r.objective <= prev + OBJ_TOL
        prev = r.objective
    prev = np.inf
    for mw in (1.0, 0.8, 0.72, 0.70):
        r = optimize(d, uni.alpha, Limits(te_total=0.02, max_weight=mw))
        assert r.objective <= prev + OBJ_TOL
        prev = r.objective
    # SBP is a relaxation of MBP: dropping the within limits can only raise alpha
    sbp = optimize(d, uni.alpha, Limits(te_total=0.02, segment_neutral=False))
    mbp = optimize(d, uni.alpha, LIM)
    assert sbp.objective >= mbp.objective - OBJ_TOL


@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_decomposition_terms_under_relabelling(seed):
    """For any (long-short, not fully invested) weights, the terms of eq. (2) are
    invariant under a permutation of names, map along a relabelling of segments, and
    add up to the market TE^2."""
    u = make_universe(n=30, seed=9, breaks=(6, 15))
    rng = np.random.default_rng(seed)
    w = u.bench_w + 0.05 * rng.standard_normal(u.n)
    d0 = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    x0 = decompose(d0, w)
    p = rng.permutation(u.n)
    relab = np.array([3, 1, 2])  # label m -> relab[m - 1]
    seg = relab[u.segment - 1]
    d1 = make_data(u.bench_w[p], seg[p], u.exposures[p], u.factor_cov, u.spec_var[p])
    x1 = decompose(d1, w[p])
    inv = np.argsort(relab - 1)  # segment index in d1 -> segment index in d0
    for f in ("market_te", "segment_te", "segment_var", "delta1", "delta2", "total_var"):
        assert getattr(x1, f) == pytest.approx(getattr(x0, f), rel=1e-10, abs=1e-16)
    np.testing.assert_allclose(x1.within_var, x0.within_var[inv], rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(x1.seg_weight, x0.seg_weight[inv], atol=1e-15)
    assert x1.residual == pytest.approx(0.0, abs=1e-14)
    # independent dense check of the identity
    S = d0.dense_cov()
    a = w - u.bench_w
    assert a @ S @ a == pytest.approx(x0.sum_of_terms, rel=1e-10)


def test_mbp_turnover_penalty_scales_with_alpha(uni):
    """max c alpha'w - c k turnover has the optimum of max alpha'w - k turnover."""
    d = make_data(uni.bench_w, uni.segment, uni.exposures, uni.factor_cov, uni.spec_var)
    h = uni.bench_w.copy()
    h[:10] *= 1.5
    h /= h.sum()
    out = []
    for c in (1e-6, 1.0, 1e6):
        lim = Limits(te_total=0.02, holdings=h, turnover_penalty=0.002 * c,
                     segment_neutral=False, te_within=(0.03, 0.04, 0.05), te_segment=0.01)
        r = optimize(d, uni.alpha * c, lim)
        out.append((_w(r), r.objective / c))
    for w, obj in out[1:]:
        np.testing.assert_allclose(w, out[0][0], atol=W_TOL)
        assert obj == pytest.approx(out[0][1], abs=OBJ_TOL)


def test_mbp_perspective_form_relabelling(uni):
    seg = uni.segment.copy()
    seg[uni.segment == 1], seg[uni.segment == 2] = 2, 1
    kw = {"te_total": 0.02, "segment_neutral": False, "te_segment": 0.01}
    _, r0 = _solve(uni, lim=Limits(te_within=(0.03, 0.04, 0.05), **kw))
    _, r1 = _solve(uni, lim=Limits(te_within=(0.04, 0.03, 0.05), **kw), seg=seg)
    np.testing.assert_allclose(_w(r1), _w(r0), atol=1e-8)


def test_mbp_one_segment_within_limit_is_the_sbp(uni):
    """With M = 1 under neutrality W_1 = 1 and v_1 = w - w^T: the within-segment limit is
    the market TE limit, so both give the SBP."""
    d = make_data(uni.bench_w, np.ones(uni.n, dtype=int), uni.exposures, uni.factor_cov,
                  uni.spec_var)
    a = optimize(d, uni.alpha, Limits(te_within=(0.02,)))
    b = optimize(d, uni.alpha, Limits(te_total=0.02, segment_neutral=False))
    # on the TE ellipsoid the objective is flat to second order: weights agree to about
    # sqrt(solver tolerance), the objective to the tolerance itself
    np.testing.assert_allclose(_w(a), _w(b), atol=W_TOL)
    assert a.objective == pytest.approx(b.objective, abs=OBJ_TOL)
    assert a.limits[0].shadow_price == pytest.approx(b.limits[0].shadow_price, rel=1e-5)


def test_mbp_unheld_name_changes_nothing(uni, base):
    """A name with zero benchmark weight and negative alpha is never bought (long-only):
    adding it leaves the other weights and the objective."""
    _, r0 = base
    _, r1 = _solve(uni, bw=np.append(uni.bench_w, 0.0), seg=np.append(uni.segment, 2),
                   B=np.vstack([uni.exposures, uni.exposures[5]]),
                   s=np.append(uni.spec_var, 0.1), alpha=np.append(uni.alpha, -0.01))
    np.testing.assert_allclose(_w(r1)[:-1], _w(r0), atol=W_TOL)
    assert _w(r1)[-1] < 1e-8
    assert r1.objective == pytest.approx(r0.objective, abs=OBJ_TOL)
