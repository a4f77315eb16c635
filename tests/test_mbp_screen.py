"""Working-set re-solves (pyxl.core.mbp.screen): every screened solution is checked
against a full solve of the same problem (objective, weights, shadow prices), against
dense numpy on the returned weights, and by its own unscaled optimality residuals."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from pyxl.core.mbp import Limits, MBPProblem, make_data, make_universe, optimize, screen
from pyxl.core.mbp.study import table1_study

N = 400


@pytest.fixture(scope="module")
def uni():
    return make_universe(n=N, seed=11, breaks=(40, 150))


def data_of(u):
    return make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)


def dense_te(d, x):
    return float(np.sqrt(x @ d.dense_cov() @ x))


def same_as_full(d, alpha, lim, res):
    full = optimize(d, alpha, lim)
    assert res.objective == pytest.approx(full.objective, rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(res.weights, full.weights, atol=5e-5)
    for a, b in zip(res.limits, full.limits, strict=True):
        assert a.name == b.name and a.binding == b.binding
        # duals of an interior-point solve agree to ~1e-6 (the largest here is ~0.5)
        assert a.shadow_price == pytest.approx(b.shadow_price, rel=1e-3, abs=1e-5)


def frontier_kinds(mw=0.2):
    return {
        "MBP": lambda t: Limits(te_total=t, te_within=(2 * t,) * 3),
        "SBP": lambda t: Limits(te_total=t, segment_neutral=False),
        "perspective": lambda t: Limits(te_total=t, te_within=(2 * t, None, 3 * t),
                                        segment_neutral=False, max_weight=mw),
    }


@pytest.mark.parametrize("kind", ["MBP", "SBP", "perspective"])
def test_frontier_uses_working_set_and_matches_full(uni, kind):
    d = data_of(uni)
    mk = frontier_kinds(float(1.5 * uni.bench_w.max()))[kind]
    tes = [0.01, 0.015, 0.02, 0.03, 0.05]
    pb = MBPProblem(d, uni.alpha, mk(tes[0]))
    methods = []
    for t in tes:
        lim = mk(t)
        res = pb.solve(lim)
        methods.append(pb.last_method)
        a = res.weights - d.bench_w
        assert dense_te(d, a) <= t * (1 + 1e-6)
        assert res.weights.min() >= 0 and res.weights.sum() == pytest.approx(1, abs=1e-8)
        same_as_full(d, uni.alpha, lim, res)
    assert methods[0] == "full"
    assert sum(m.startswith("working set") for m in methods) >= 3, methods


def test_descending_order_adds_names_and_stays_exact(uni):
    """Going from high TE to low TE the held set grows: the certificate must catch the
    names that enter (more rounds, or a fall-back to the full problem), never miss one."""
    d = data_of(uni)
    mk = frontier_kinds()["SBP"]
    pb = MBPProblem(d, uni.alpha, mk(0.05))
    pb.solve(mk(0.05))
    for t in (0.03, 0.02, 0.012, 0.008):
        res = pb.solve(mk(t))
        same_as_full(d, uni.alpha, mk(t), res)
        assert pb.last_method == "full" or pb.last_method.startswith("working set")


def test_too_small_working_set_is_corrected_by_certificate(uni, monkeypatch):
    """Seed the working set with half the names held: the dual check must add the others."""
    d = data_of(uni)
    mk = frontier_kinds()["SBP"]
    pb = MBPProblem(d, uni.alpha, mk(0.01))
    pb.solve(mk(0.01))
    w0 = pb._prev[0]
    top = np.argsort(-w0)[:int((w0 > 1e-7).sum()) // 2]
    tiny = np.zeros_like(w0)
    tiny[top] = w0[top]
    pb._prev = (tiny, None)  # no duals: the working set is exactly these names
    res = pb.solve(mk(0.012))
    assert pb.last_method.startswith("working set")
    assert not pb.last_method.endswith("1 rounds)")  # names were added
    same_as_full(d, uni.alpha, mk(0.012), res)


def test_residuals_of_screened_solution_like_full_solve(uni):
    d = data_of(uni)
    mk = frontier_kinds()["MBP"]
    pb = MBPProblem(d, uni.alpha, mk(0.01))
    pb.solve(mk(0.01))
    pb.solve(mk(0.015))
    assert pb.last_method.startswith("working set")
    st = pb._screen_struct
    pb._set(mk(0.02))
    data, _, _ = pb.problem.get_problem_data(cp.CLARABEL, solver_opts={})
    keep = screen.working_set(*pb._prev, st.forced)
    sol = screen.solve_reduced(data, st, keep)
    assert sol is not None and sol.kept < d.n
    r = screen.residuals(data, sol.x, sol.z)
    assert r["primal"] < 1e-8 and r["dual"] < 1e-8 and r["gap"] < 1e-8
    # the dropped names sit at zero with a non-negative bound dual
    drop = ~keep
    assert np.all(sol.x[st.wcols[drop]] == 0)
    assert np.all(sol.z[st.bound_row[drop]] >= 0)


def test_max_active_forces_large_names_and_no_long_only_skips(uni):
    d = data_of(uni)
    lim = Limits(te_total=0.02, segment_neutral=False, max_active=0.01)
    pb = MBPProblem(d, uni.alpha, lim)
    pb.solve(lim)
    lim2 = Limits(te_total=0.025, segment_neutral=False, max_active=0.01)
    res = pb.solve(lim2)
    big = d.bench_w > 0.01  # must hold at least w^T - 0.01 > 0: never dropped
    assert pb._screen_struct.forced[big].all() and big.any()
    assert np.all(res.weights[big] >= d.bench_w[big] - 0.01 - 1e-8)
    same_as_full(d, uni.alpha, lim2, res)
    ls = Limits(te_total=0.02, segment_neutral=False, long_only=False, max_active=0.01)
    pb2 = MBPProblem(d, uni.alpha, ls)
    pb2.solve(ls)
    pb2.solve(Limits(te_total=0.025, segment_neutral=False, long_only=False, max_active=0.01))
    assert pb2.last_method == "full"


def test_table1_study_screened_equals_full(uni, monkeypatch):
    grid = (0.005, 0.01, 0.03, 0.05)
    got = table1_study(uni, te_grid=grid)
    monkeypatch.setattr(screen, "solve_reduced", lambda *a, **k: None)
    ref = table1_study(uni, te_grid=grid)
    cols = [c for c in got.columns if c.startswith(("within_te", "market_te", "active_alpha"))]
    np.testing.assert_allclose(got[cols].to_numpy(float), ref[cols].to_numpy(float),
                               rtol=1e-4, atol=1e-7)
    held = [c for c in got.columns if c.startswith("names")]
    # names held (weights above 1e-7) depend on how precisely the solver stops: the
    # reduced solves use tighter tolerances so that they do not stop less precisely
    assert np.abs(got[held].to_numpy() - ref[held].to_numpy()).max() <= 1
