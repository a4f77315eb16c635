"""MBP core: constraints checked with numpy on the returned weights, optimality against
independent dense formulations (cvxpy QCQP and scipy SLSQP), the exact TE decomposition,
duals by finite differences, DPP re-solves, infeasibility diagnosis and bad inputs."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from pyxl.core.mbp import (
    Limits,
    MBPProblem,
    decompose,
    frontier,
    make_data,
    make_universe,
    optimize,
)
from pyxl.core.mbp.study import table1_study
from pyxl.errors import InfeasibleError, InputError

TOL = 1e-6  # relative slack allowed on a TE limit (Clarabel's accuracy is ~1e-8)


def small_universe(n=60, seed=7, breaks=(10, 30)):
    return make_universe(n=n, seed=seed, breaks=breaks)


def data_of(u):
    return make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


def random_model(rng, n=12, k=3, m=3):
    """A tiny random benchmark + factor model with every segment non-empty."""
    wT = rng.uniform(0.2, 1.0, n)
    wT /= wT.sum()
    seg = np.concatenate([np.arange(1, m + 1), rng.integers(1, m + 1, n - m)]).astype(float)
    B = rng.normal(0, 1, (n, k))
    A = rng.normal(0, 0.1, (k, k))
    F = A @ A.T + 0.01 * np.eye(k)
    s = rng.uniform(0.01, 0.09, n)
    alpha = rng.normal(0, 0.02, n)
    return make_data(wT, seg, B, F, s), alpha


def dense_te(Sigma, x):
    return float(np.sqrt(x @ Sigma @ x))


def check_constraints(d, w, lim):
    """Every limit verified with dense numpy on the returned weights."""
    Sigma = d.dense_cov()
    a = w - d.bench_w
    assert abs(w.sum() - 1) < 1e-7
    assert w.min() >= -1e-9
    if lim.te_total is not None:
        assert dense_te(Sigma, a) <= lim.te_total * (1 + TOL)
    for m in range(d.n_segments):
        idx = d.members[m]
        Wm = w[idx].sum()
        if lim.segment_neutral:
            assert abs(Wm - d.seg_bench[m]) < 1e-7
        v = lim.within(m)
        if v is not None:
            ystar = w[idx] / Wm
            z = ystar - d.bench_w[idx] / d.bench_w[idx].sum()
            assert dense_te(Sigma[np.ix_(idx, idx)], z) <= v * (1 + TOL) + 1e-9
    if lim.max_weight is not None:
        assert w.max() <= lim.max_weight + 1e-8
    if lim.te_segment is not None:
        Y = np.zeros((d.n, d.n_segments))
        Y[np.arange(d.n), d.segment] = d.bench_w / d.seg_bench[d.segment]
        u = Y @ (np.bincount(d.segment, weights=w) - d.seg_bench)
        assert dense_te(Sigma, u) <= lim.te_segment * (1 + TOL) + 1e-10


# -- decomposition ---------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 25), m=st.integers(1, 4),
       budget=st.booleans())
def test_decomposition_identity_and_seed_reading(seed, n, m, budget):
    rng = np.random.default_rng(seed)
    m = min(m, n)
    d, _ = random_model(rng, n=n, k=3, m=m)
    w = rng.uniform(0.0, 1.0, n)
    w = w / w.sum() if budget else w / w.sum() * 1.3
    dc = decompose(d, w)
    Sigma = d.dense_cov()
    a = w - d.bench_w
    total = float(a @ Sigma @ a)
    assert dc.total_var == pytest.approx(total, rel=1e-10, abs=1e-14)
    assert abs(dc.residual) <= 1e-12 * max(1.0, total)
    # within-segment TE of seed eq. (5): normalised y* against y**, dense
    for j in range(m):
        idx = d.members[j]
        Wm = w[idx].sum()
        z = w[idx] / Wm - d.bench_w[idx] / d.bench_w[idx].sum()
        assert dc.within_te[j] == pytest.approx(dense_te(Sigma[np.ix_(idx, idx)], z), rel=1e-9)
        assert dc.within_var[j] == pytest.approx(Wm**2 * z @ Sigma[np.ix_(idx, idx)] @ z,
                                                 rel=1e-9, abs=1e-15)
    if budget:
        # the seed's own terms (eq. 1-2) with r_m - r_T, fully invested portfolio
        Wseg = np.array([w[d.members[j]].sum() for j in range(m)])
        ybb = [np.where(d.segment == j, d.y_bench, 0.0) for j in range(m)]
        ystar = [np.where(d.segment == j, w / Wseg[j], 0.0) for j in range(m)]
        alloc = sum(Wseg[j] * (ybb[j] - d.bench_w) for j in range(m))
        assert dc.segment_var == pytest.approx(alloc @ Sigma @ alloc, rel=1e-9, abs=1e-15)
        d1 = sum(Wseg[i] * Wseg[j] * (ystar[i] - ybb[i]) @ Sigma @ (ystar[j] - ybb[j])
                 for i in range(m) for j in range(m) if i != j)
        d2 = sum(Wseg[i] * Wseg[j] * (ybb[i] - d.bench_w) @ Sigma @ (ystar[j] - ybb[j])
                 for i in range(m) for j in range(m))
        assert dc.delta1 == pytest.approx(d1, rel=1e-9, abs=1e-15)
        assert dc.delta2 == pytest.approx(d2, rel=1e-9, abs=1e-15)


def test_decomposition_of_benchmark_is_zero():
    d = data_of(small_universe())
    dc = decompose(d, d.bench_w)
    assert dc.total_var == pytest.approx(0.0, abs=1e-20)
    np.testing.assert_allclose(dc.within_te, 0.0, atol=1e-10)
    assert dc.names_held.sum() == d.n


# -- SBP / MBP constraints and optimality ------------------------------------------------------

def dense_problem(d, alpha, lim):
    """Independent formulation: dense covariance, quad_form / Cholesky norms, no factors."""
    Sigma = d.dense_cov()
    w = cp.Variable(d.n)
    a = w - d.bench_w
    cons = [cp.sum(w) == 1, w >= 0]
    if lim.te_total is not None:
        cons.append(cp.quad_form(a, cp.psd_wrap(Sigma)) <= lim.te_total**2)
    for m in range(d.n_segments):
        idx = d.members[m]
        Wm = cp.sum(w[idx])
        if lim.segment_neutral:
            cons.append(Wm == d.seg_bench[m])
        v = lim.within(m)
        if v is None:
            continue
        L = np.linalg.cholesky(Sigma[np.ix_(idx, idx)])
        ybb = d.bench_w[idx] / d.bench_w[idx].sum()
        if lim.segment_neutral:
            z = w[idx] - d.seg_bench[m] * ybb
            cons.append(cp.quad_form(z, cp.psd_wrap(Sigma[np.ix_(idx, idx)]))
                        <= (v * d.seg_bench[m]) ** 2)
        else:
            cons.append(cp.norm(L.T @ (w[idx] - Wm * ybb)) <= v * Wm)
    if lim.max_weight is not None:
        cons.append(w <= lim.max_weight)
    if lim.te_segment is not None and not lim.segment_neutral:
        # allocation bet u = sum_m (W_m - W^T_m) y**_m as an N-vector, dense covariance
        Y = np.zeros((d.n, d.n_segments))
        Y[np.arange(d.n), d.segment] = d.bench_w / d.seg_bench[d.segment]
        Wv = cp.hstack([cp.sum(w[d.members[m]]) for m in range(d.n_segments)])
        u = Y @ (Wv - d.seg_bench)
        cons.append(cp.quad_form(u, cp.psd_wrap(Sigma)) <= lim.te_segment**2)
    prob = cp.Problem(cp.Maximize(alpha @ w), cons)
    # tight tolerances: with Clarabel's defaults (cvxpy 1.6, clarabel 0.11) the reference
    # overshot a TE limit by 2.4e-6 relative and its alpha was 1.4e-6 too high
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return prob.value, w.value


@pytest.mark.parametrize("lim", [
    Limits(te_total=0.01, segment_neutral=False),
    Limits(te_total=0.02, te_within=(0.02, 0.03, None), segment_neutral=True),
    Limits(te_total=0.02, te_within=(None, 0.02, 0.04), segment_neutral=False),
    Limits(te_total=0.015, te_within=(0.03, 0.03, 0.03), max_weight=0.25),
    Limits(te_total=0.03, te_segment=0.004, te_within=(None, 0.05, None),
           segment_neutral=False),
])
def test_constraints_and_optimality_vs_dense(lim):
    u = small_universe()
    d = data_of(u)
    res = optimize(d, u.alpha, lim)
    check_constraints(d, res.weights, lim)
    val, _ = dense_problem(d, u.alpha, lim)
    assert u.alpha @ res.weights == pytest.approx(val, rel=1e-6, abs=1e-9)
    # at least one risk limit binds for a linear objective
    assert any(li.binding for li in res.limits)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), te=st.floats(0.002, 0.08),
       within=st.lists(st.one_of(st.none(), st.floats(0.005, 0.2)), min_size=3, max_size=3),
       neutral=st.booleans())
def test_property_limits_hold_and_beat_benchmark(seed, te, within, neutral):
    """Random small models and limits: every limit holds (numpy) and, since the
    benchmark itself is feasible, alpha'w >= alpha'w^T."""
    rng = np.random.default_rng(seed)
    d, alpha = random_model(rng, n=15, k=3, m=3)
    lim = Limits(te_total=te, te_within=tuple(within), segment_neutral=neutral)
    res = optimize(d, alpha, lim)
    check_constraints(d, res.weights, lim)
    assert alpha @ res.weights >= alpha @ d.bench_w - 1e-9
    dc = res.decomposition
    assert abs(dc.residual) <= 1e-12


def test_optimality_vs_slsqp():
    rng = np.random.default_rng(3)
    d, alpha = random_model(rng, n=10, k=2, m=2)
    Sigma = d.dense_cov()
    lim = Limits(te_total=0.03, te_within=(0.05, 0.06), segment_neutral=True)
    res = optimize(d, alpha, lim)
    check_constraints(d, res.weights, lim)
    cons = []  # the budget is implied by the two segment sums (and would make C singular)
    # constraints in (% a year)^2 so SLSQP sees well-scaled numbers
    cons.append({"type": "ineq", "fun": lambda w: 1e4 * (0.03**2 - (w - d.bench_w) @ Sigma
                                                         @ (w - d.bench_w))})
    for m, lm in enumerate((0.05, 0.06)):
        idx = d.members[m]
        S = Sigma[np.ix_(idx, idx)]
        cons.append({"type": "eq", "fun": lambda w, idx=idx, m=m: w[idx].sum() - d.seg_bench[m]})
        cons.append({"type": "ineq", "fun": lambda w, idx=idx, S=S, lm=lm, m=m:
                     1e4 * ((lm * d.seg_bench[m]) ** 2 - (w[idx] - d.bench_w[idx]) @ S
                            @ (w[idx] - d.bench_w[idx]))})
    best = -np.inf
    for start in (d.bench_w, res.weights * 0.5 + d.bench_w * 0.5):
        sol = minimize(lambda w: -100 * alpha @ w, start, jac=lambda w: -100 * alpha,
                       method="SLSQP",
                       bounds=[(0, 1)] * d.n, constraints=cons,
                       options={"ftol": 1e-14, "maxiter": 500})
        # status 8 ("positive directional derivative") is SLSQP at its precision limit:
        # accept it when the point is feasible
        feasible = all(c["fun"](sol.x) >= -1e-8 if c["type"] == "ineq"
                       else abs(c["fun"](sol.x)) < 1e-8 for c in cons)
        if sol.status in (0, 8) and feasible and sol.x.min() >= -1e-10:
            best = max(best, -sol.fun / 100)
    assert np.isfinite(best)
    assert alpha @ res.weights == pytest.approx(best, rel=1e-5, abs=1e-9)


def test_shadow_prices_match_finite_differences():
    u = small_universe()
    d = data_of(u)
    lim = Limits(te_total=0.02, te_within=(0.015, None, 0.03), segment_neutral=True)
    pb = MBPProblem(d, u.alpha, lim)
    res = pb.solve(lim)
    h = 1e-5
    for info in res.limits:
        if not info.binding:
            assert abs(info.shadow_price) < 1e-5
            continue
        if info.name == "te_total":
            up, dn = [pb.solve(Limits(te_total=0.02 + s, te_within=lim.te_within)).objective
                      for s in (h, -h)]
        else:
            m = int(info.name.split()[-1]) - 1
            tw = list(lim.te_within)
            vals = []
            for s in (h, -h):
                tw2 = tw.copy()
                tw2[m] = tw[m] + s
                vals.append(pb.solve(Limits(te_total=0.02, te_within=tuple(tw2))).objective)
            up, dn = vals
        assert info.shadow_price == pytest.approx((up - dn) / (2 * h), rel=2e-3)


def test_frontier_reuses_compiled_problem_and_matches_fresh():
    u = small_universe()
    d = data_of(u)
    tes = [0.005, 0.01, 0.02]
    tmpl = Limits(te_total=0.005, te_within=(0.02, 0.03, 0.05))
    pb = MBPProblem(d, u.alpha, tmpl)
    assert pb.problem.is_dpp()
    pb.solve(tmpl)
    prog = pb.problem._cache.param_prog
    fr = [pb.solve(Limits(te_total=t, te_within=tmpl.te_within)) for t in tes]
    assert pb.problem._cache.param_prog is prog  # no recompilation
    for t, r in zip(tes, fr, strict=True):
        fresh = optimize(d, u.alpha, Limits(te_total=t, te_within=tmpl.te_within))
        assert r.objective == pytest.approx(fresh.objective, rel=1e-7, abs=1e-10)
    assert [r.objective for r in frontier(d, u.alpha, tmpl, tes)] == pytest.approx(
        [r.objective for r in fr], rel=1e-7)
    # more TE, more alpha
    assert fr[0].objective < fr[1].objective < fr[2].objective


def test_max_active_and_turnover():
    u = small_universe()
    d = data_of(u)
    h = d.bench_w.copy()
    free = optimize(d, u.alpha, Limits(te_total=0.03, segment_neutral=False))
    lim = Limits(te_total=0.03, segment_neutral=False, max_active=0.01, holdings=h,
                 max_turnover=0.05)
    res = optimize(d, u.alpha, lim)
    assert np.abs(res.weights - d.bench_w).max() <= 0.01 + 1e-8
    turn = 0.5 * np.abs(res.weights - h).sum()
    assert turn <= 0.05 + 1e-7
    info = {li.name: li for li in res.limits}
    assert info["max_turnover"].value == pytest.approx(turn, abs=1e-12)
    assert info["max_turnover"].binding
    pen = optimize(d, u.alpha, Limits(te_total=0.03, segment_neutral=False, holdings=h,
                                      turnover_penalty=0.05))
    assert 0.5 * np.abs(pen.weights - h).sum() < 0.5 * np.abs(free.weights - h).sum()


def test_solver_by_name_and_unknown_solver():
    u = small_universe()
    d = data_of(u)
    lim = Limits(te_total=0.01, segment_neutral=False)
    ref = optimize(d, u.alpha, lim)
    scs = optimize(d, u.alpha, lim, solver="scs")
    assert scs.solver == "SCS"
    assert scs.active_alpha == pytest.approx(ref.active_alpha, rel=2e-2)
    with pytest.raises(InputError, match="solver: NOSUCH is not installed"):
        optimize(d, u.alpha, lim, solver="nosuch")


# -- infeasibility diagnosis ------------------------------------------------------------------

def test_infeasible_market_te_reports_smallest_feasible_value():
    u = small_universe()
    d = data_of(u)
    mw = 0.5 * d.bench_w.max()  # benchmark itself is not allowed: TE cannot be 0
    with pytest.raises(InfeasibleError) as exc:
        optimize(d, u.alpha, Limits(te_total=1e-5, segment_neutral=False, max_weight=mw))
    err = exc.value
    assert err.arg == "te_total"
    assert "smallest feasible" in str(err) and "\n" not in str(err)
    smallest = err.smallest
    ok = optimize(d, u.alpha, Limits(te_total=smallest * 1.001, segment_neutral=False,
                                     max_weight=mw))
    check_constraints(d, ok.weights, Limits(te_total=smallest * 1.001, max_weight=mw,
                                            segment_neutral=False))
    with pytest.raises(InfeasibleError):
        optimize(d, u.alpha, Limits(te_total=smallest * 0.99, segment_neutral=False,
                                    max_weight=mw), )


def test_infeasible_within_limit_named():
    u = small_universe()
    d = data_of(u)
    idx = d.members[0]
    mw = 0.6 * d.bench_w[idx].max()  # segment 1 cannot match its own benchmark
    lim = Limits(te_total=0.05, te_within=(1e-5, None, None), max_weight=mw)
    with pytest.raises(InfeasibleError, match=r"^te_segments item 1: segment 1 within-segment"):
        optimize(d, u.alpha, lim)


def test_infeasible_linear_constraints():
    u = small_universe()
    d = data_of(u)
    with pytest.raises(InfeasibleError, match="max_weight"):
        optimize(d, u.alpha, Limits(te_total=0.01, max_weight=0.5 / d.n,
                                    segment_neutral=False))


# -- bad inputs -------------------------------------------------------------------------------

def test_bad_inputs_one_line_messages():
    u = small_universe()
    args = [u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var]

    def bad(i, value, pattern):
        a = list(args)
        a[i] = value
        with pytest.raises(InputError, match=pattern) as exc:
            make_data(*a)
        assert "\n" not in str(exc.value)

    F = u.factor_cov.copy()
    F[0, 0] = -0.01
    bad(3, F, r"^factor_cov: is not positive semidefinite")
    bad(3, u.factor_cov[:3, :3], r"^factor_cov: is 3x3, expected 37x37")
    bad(4, -u.spec_var, r"^spec_var: has a negative variance")
    bad(4, u.spec_var[:-1], r"^spec_var: has 59 values, expected 60")
    seg = u.segment.astype(float).copy()
    seg[0] = 0
    bad(1, seg, r"^segment: label 0 is not a whole number >= 1")
    seg[0] = 1.5
    bad(1, seg, r"^segment: label 1.5")
    seg = np.where(u.segment == 2, 4, u.segment)
    bad(1, seg, r"^segment: labels skip segment 2")
    bad(0, u.bench_w * 1.1, r"^bench_w: sums to 1.1")
    bad(2, u.exposures[:-1], r"^exposures: has 59 rows, expected 60")
    d = data_of(u)
    with pytest.raises(InputError, match=r"^alpha: has 3 values"):
        optimize(d, u.alpha[:3], Limits(te_total=0.01))
    with pytest.raises(InputError, match=r"^te_total: must be > 0"):
        optimize(d, u.alpha, Limits(te_total=-0.01))
    with pytest.raises(InputError, match=r"^te_segments: has 2 limits, expected 3"):
        optimize(d, u.alpha, Limits(te_total=0.01, te_within=(0.01, 0.02)))


# -- universe and study ------------------------------------------------------------------------

def test_universe_is_seeded_and_tse_like():
    a, b = make_universe(seed=11), make_universe(seed=11)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    np.testing.assert_array_equal(a.exposures, b.exposures)
    assert not np.array_equal(make_universe(seed=12).alpha, a.alpha)
    assert a.n == 1700 and a.exposures.shape == (1700, 37)
    assert np.bincount(a.segment)[1:].tolist() == [100, 400, 1200]
    assert np.all(np.diff(a.bench_w) <= 0)
    np.testing.assert_allclose(a.exposures[:, 4:].sum(axis=1), 1.0)  # one industry each
    sv = np.sqrt(a.spec_var)
    assert sv[a.segment == 3].mean() > 1.5 * sv[a.segment == 1].mean()
    assert np.linalg.eigvalsh(a.factor_cov).min() > 0


def test_table1_shape_small_universe():
    u = make_universe(n=800, seed=2024)
    df = table1_study(u, (0.0025, 0.01, 0.04), within_multiple=2.0)
    sbp = df[df.portfolio == "SBP"].reset_index(drop=True)
    mbp = df[df.portfolio == "MBP"].reset_index(drop=True)
    # SBP: names held fall and the small-cap within-segment TE grows, and it is the largest
    assert np.all(np.diff(sbp["names"]) < 0)
    assert np.all(np.diff(sbp["within_te_3"]) > 0)
    assert np.all(sbp["within_te_3"] > sbp["within_te_1"])
    assert sbp["within_te_3"].iloc[-1] > 2.5 * 0.04
    # MBP: every within-segment TE under its limit, segment TE ~ 0
    for m in (1, 2, 3):
        assert np.all(mbp[f"within_te_{m}"] <= mbp[f"within_limit_{m}"] * (1 + TOL))
    assert np.all(mbp["segment_te"] < 1e-6)
    np.testing.assert_allclose(df["market_te"], df["te_limit"], rtol=1e-5)
