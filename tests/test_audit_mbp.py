"""Audit of the MBP optimiser (issue #5, seed 004): independent checks and regressions.

Every expected value here comes from an independent computation: a dense N x N
covariance, a dense cvxpy formulation written below (Cholesky norms, no factor
form, no Parameters, no working set), or the seed's own formulas evaluated term
by term.
"""

from __future__ import annotations

import re
from dataclasses import replace

import cvxpy as cp
import numpy as np
import pandas as pd
import pytest
from conftest import excel_range
from conftest import xl_error as _err

from pyxl.cli import main
from pyxl.core.mbp import Limits, MBPProblem, decompose, make_data, make_universe, optimize
from pyxl.core.mbp.study import table1_study
from pyxl.errors import InfeasibleError, InputError
from pyxl.xl.cache import clear_all


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_all()


def col(v):
    return excel_range(np.asarray(v, dtype=object))


def random_problem(rng, n, k, m, specific=(0.01, 0.11)):
    """Segments (each of 1..m used), benchmark weights, factor model (n x k loadings,
    k x k covariance) with specific vols drawn from ``specific``, and alphas."""
    seg = np.concatenate([np.arange(1, m + 1), rng.integers(1, m + 1, n - m)])
    wT = rng.lognormal(size=n)
    wT /= wT.sum()
    B = rng.normal(size=(n, k))
    A = rng.normal(size=(k, k))
    F = A @ A.T * 0.01
    s = rng.uniform(*specific, n)
    alpha = rng.normal(0, 0.02, n)
    return seg, wT, B, F, s, alpha


def seed_terms(w, wT, seg, S):
    """Seed eq. (2) term by term, dense: segment TE^2, W_m^2 within TE^2, Delta_1, Delta_2."""
    M = int(seg.max())
    n = w.size
    Wm = np.array([w[seg == m].sum() for m in range(1, M + 1)])
    WT = np.array([wT[seg == m].sum() for m in range(1, M + 1)])
    ybb = np.zeros((M, n))
    for m in range(M):
        ybb[m, seg == m + 1] = wT[seg == m + 1] / WT[m]
    rm_rT = [ybb[m] - wT for m in range(M)]  # weights of r_m - r_T
    sel = []
    for m in range(M):
        ys = np.zeros(n)
        ys[seg == m + 1] = w[seg == m + 1] / Wm[m]
        sel.append(ys - ybb[m])  # weights of sum_i y*_mi (r_i - r_m)
    alloc = sum(Wm[m] * rm_rT[m] for m in range(M))
    seg_var = alloc @ S @ alloc
    within = np.array([sel[m] @ S @ sel[m] for m in range(M)])
    d1 = sum(Wm[a] * Wm[b] * sel[a] @ S @ sel[b] for a in range(M) for b in range(M) if a != b)
    d2 = sum(Wm[a] * Wm[b] * rm_rT[a] @ S @ sel[b] for a in range(M) for b in range(M))
    return seg_var, Wm, within, d1, d2


def test_decomposition_equals_direct_te_and_seed_terms_on_random_factor_models():
    rng = np.random.default_rng(20261123)
    for _ in range(40):
        n, k, m = int(rng.integers(4, 25)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        seg, wT, B, F, s, _ = random_problem(rng, n, k, m)
        d = make_data(wT, seg, B, F, s)
        S = B @ F @ B.T + np.diag(s)
        w = rng.uniform(0.001, 1.0, n)
        w /= w.sum()
        dc = decompose(d, w)
        total = (w - wT) @ S @ (w - wT)
        assert dc.total_var == pytest.approx(total, rel=1e-12)
        assert dc.sum_of_terms == pytest.approx(total, rel=1e-11)
        seg_var, Wm, within, d1, d2 = seed_terms(w, wT, seg, S)
        assert seg_var + (Wm**2 * within).sum() + d1 + 2 * d2 == pytest.approx(total, rel=1e-11)
        assert dc.segment_var == pytest.approx(seg_var, rel=1e-9, abs=1e-16)
        np.testing.assert_allclose(dc.within_te, np.sqrt(within), rtol=1e-9)
        assert dc.delta1 == pytest.approx(d1, rel=1e-9, abs=1e-16)
        assert dc.delta2 == pytest.approx(d2, rel=1e-9, abs=1e-16)


def dense_solve(wT, seg, S, alpha, lim):
    """Independent dense cvxpy formulation (Cholesky of the N x N covariance)."""
    n = wT.size
    M = int(seg.max())
    L = np.linalg.cholesky(S)
    w = cp.Variable(n)
    cons = [cp.sum(w) == 1, w >= 0]
    if lim.max_weight is not None:
        cons.append(w <= lim.max_weight)
    cons.append(cp.norm(L.T @ (w - wT)) <= lim.te_total)
    for m in range(M):
        idx = seg == m + 1
        Wm = cp.sum(w[idx])
        ybb = np.where(idx, wT, 0.0) / wT[idx].sum()
        if lim.segment_neutral:
            cons.append(Wm == wT[idx].sum())
        t = lim.within(m)
        if t is not None:
            cons.append(cp.norm(L.T @ (cp.multiply(idx.astype(float), w) - ybb * Wm)) <= t * Wm)
    prob = cp.Problem(cp.Maximize(alpha @ w), cons)
    prob.solve(solver="CLARABEL")
    return prob.status, prob.value


def test_optimum_matches_independent_dense_formulation():
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(25):
        n, k, m = int(rng.integers(6, 30)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
        seg, wT, B, F, s, alpha = random_problem(rng, n, k, m)
        d = make_data(wT, seg, B, F, s)
        within = tuple(None if rng.random() < 0.3 else float(rng.choice([0.01, 0.03, 0.1]))
                       for _ in range(m))
        lim = Limits(te_total=float(rng.choice([0.005, 0.01, 0.04])), te_within=within,
                     segment_neutral=bool(rng.random() < 0.5),
                     max_weight=0.3 if rng.random() < 0.3 else None)
        status, val = dense_solve(wT, seg, B @ F @ B.T + np.diag(s), alpha, lim)
        try:
            res = optimize(d, alpha, lim)
        except InfeasibleError:
            assert status == "infeasible"
            continue
        assert status == "optimal"
        assert alpha @ res.weights == pytest.approx(val, abs=1e-7)
        checked += 1
    assert checked >= 15


def test_working_set_frontier_matches_fresh_full_solves():
    u = make_universe(n=300, seed=11, breaks=(30, 110))
    d = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    tmpl = Limits(te_total=0.0025, te_within=(0.02, None, 0.03), segment_neutral=False)
    pb = MBPProblem(d, u.alpha, tmpl)
    methods = []
    for te in (0.0025, 0.005, 0.01, 0.02, 0.04, 0.01, 0.003):
        lim = replace(tmpl, te_total=te)
        r = pb.solve(lim)
        methods.append(pb.last_method)
        fresh = optimize(d, u.alpha, lim)
        assert r.objective == pytest.approx(fresh.objective, abs=5e-9)
        assert np.abs(r.weights - fresh.weights).max() < 1e-4
        for a, b in zip(r.limits, fresh.limits, strict=True):
            assert a.binding == b.binding
    assert any(m.startswith("working set") for m in methods)


def test_infeasible_message_names_limit_and_loosening_to_smallest_makes_it_feasible():
    u = make_universe(n=80, seed=3, breaks=(10, 40))
    d = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    h = np.full(u.n, 1.0 / u.n)  # far from the benchmark
    lim = Limits(te_total=0.01, holdings=h, max_turnover=0.02, segment_neutral=False)
    with pytest.raises(InfeasibleError) as exc:
        optimize(d, u.alpha, lim)
    msg = str(exc.value)
    assert re.match(r"(te_total|max_turnover): .* cannot be met; smallest feasible", msg)
    assert "\n" not in msg
    name = msg.split(":")[0]
    looser = replace(lim, **{name: exc.value.smallest * 1.001})
    optimize(d, u.alpha, looser)  # feasible now


# -- regressions ---------------------------------------------------------------------------

def _abandoned_segment_case():
    u = make_universe(n=300, seed=0, breaks=(30, 120))
    alpha = u.alpha.copy()
    alpha[u.segment == 3] -= 0.05  # every small cap is a sell: an SBP drops the segment
    d = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    return u, d, alpha


def test_within_te_blank_for_a_segment_the_optimum_does_not_hold(xl):
    """Before the fix: 0 names held in segment 3, yet within-segment TE 2.9 % (0/0 noise).

    W_3 is 0 up to the ~1e-10 an interior-point optimum leaves on each dropped name;
    TE(v_3) / W_3 was then noise / noise (Clarabel gave 2.88 %, a different run 3.2 %).
    Seed eq. (5) is undefined when W_m = 0, and the docs promise a blank cell.
    """
    u, d, alpha = _abandoned_segment_case()
    res = optimize(d, alpha, Limits(te_total=0.03, segment_neutral=False))
    dc = res.decomposition
    assert dc.names_held[2] == 0 and abs(dc.seg_weight[2]) < 1e-7
    assert np.isnan(dc.within_te[2])
    assert np.isfinite(dc.within_te[:2]).all()
    assert abs(dc.residual) < 1e-12  # the W^2 TE^2 term itself stays exact
    out = xl("MBP_REPORT", col(res.weights), col(u.bench_w), col(u.segment),
             excel_range(u.exposures), excel_range(u.factor_cov), col(u.spec_var))
    vals = {r[0]: r[1] for r in out}
    assert vals["Within-segment TE 3"] == "" and vals["Names held 3"] == 0
    # the perspective-form limit on that segment: no number made of noise either
    r2 = optimize(d, alpha, Limits(te_total=0.03, te_within=(None, None, 0.03),
                                   segment_neutral=False))
    info = r2.limits[-1]
    assert r2.decomposition.names_held[2] == 0
    assert np.isnan(info.value) and not info.binding


def test_within_te_defined_for_a_net_short_segment():
    """Before the fix: blank for W_m < 0, though y*_m = w_{G_m} / W_m is defined."""
    rng = np.random.default_rng(0)
    n = 8
    seg = np.array([1, 1, 1, 2, 2, 2, 3, 3])
    wT = rng.random(n)
    wT /= wT.sum()
    B = rng.normal(size=(n, 2))
    F = np.diag([0.04, 0.01])
    s = np.full(n, 0.05)
    d = make_data(wT, seg, B, F, s)
    w = wT.copy()
    w[:3] = [-0.1, -0.05, 0.02]
    w[3:6] += 0.2
    S = B @ F @ B.T + np.diag(s)
    idx = seg == 1
    x = w[idx] / w[idx].sum() - wT[idx] / wT[idx].sum()  # y*_1 - y**_1 (W_1 = -0.13)
    expected = np.sqrt(x @ S[np.ix_(idx, idx)] @ x)
    dc = decompose(d, w)
    assert dc.within_te[0] == pytest.approx(expected, rel=1e-12)
    assert d.within_te(w, 0) == pytest.approx(expected, rel=1e-12)
    assert dc.within_var[0] == pytest.approx(w[idx].sum() ** 2 * expected**2, rel=1e-12)


@pytest.fixture(scope="module")
def uni():
    return make_universe(n=40, seed=5, breaks=(8, 20))


def _args(u):
    return [col(u.alpha), col(u.bench_w), col(u.segment), excel_range(u.exposures),
            excel_range(u.factor_cov), col(u.spec_var)]



def test_percent_typed_limits_are_refused_not_silently_lifted(xl, uni):
    """Before the fix: te_segments {2,2,2} (meant 2 %) and max_weight 5 (meant 5 %) were
    accepted as limits of 200 % and no cap; te_total 1 was already refused."""
    a = _args(uni)
    out = _err(xl("MBP_OPTIMIZE", *a, 0.01, ((0.02, 2, 0.02),)))
    assert out == ("#PyXL! te_segments: item 2 is 2, 100 % or more; enter an annual decimal "
                   "such as 0.02 for 2 %")
    out = _err(xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, True, 5))
    assert out.startswith("#PyXL! max_weight: 5 is more than 1;")
    # the boundary still works: 1 means no cap (the default)
    w1 = np.array([r[0] for r in xl("MBP_OPTIMIZE", *a, 0.01, xl.MISSING, True, 1)])
    w0 = np.array([r[0] for r in xl("MBP_OPTIMIZE", *a, 0.01)])
    np.testing.assert_allclose(w1, w0, atol=1e-12)


def test_table1_within_multiple_count_mismatch_is_one_line(capsys):
    """Before the fix: a numpy broadcast traceback (2 multiples, 3 segments)."""
    u = make_universe(n=200, seed=1, breaks=(20, 80))
    with pytest.raises(InputError, match="within_multiple: has 2 values, expected 1 or 3"):
        table1_study(u, (0.01,), within_multiple=(1.0, 2.0))
    rc = main(["mbp", "table1", "--n", "600", "--te", "0.01", "--within-multiple", "1,2"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == ("pyxl: --within-multiple: has 2 values, the universe has 3 segments; "
                   "give one multiple or 3")


def test_cli_optimize_refuses_percent_limits_and_names_blank_csv_cells(tmp_path, capsys):
    assert main(["mbp", "universe", "--n", "120", "--seed", "3", "-o", str(tmp_path)]) == 0
    assets, cov = str(tmp_path / "assets.csv"), str(tmp_path / "factor_cov.csv")
    capsys.readouterr()
    assert main(["mbp", "optimize", assets, cov, "--te-total", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pyxl: --te-total: 2 is 100 % or more; enter an annual decimal such as 0.01 for 1 %")
    assert main(["mbp", "optimize", assets, cov, "--te-total", "0.01", "--te-segments",
                 "0.02,3"]) == 2
    assert "--te-segments: 3 is 100 % or more" in capsys.readouterr().err
    assert main(["mbp", "optimize", assets, cov, "--te-total", "0.01", "--max-weight",
                 "5"]) == 2
    assert "--max-weight: 5 is more than 1" in capsys.readouterr().err
    df = pd.read_csv(assets)
    df.loc[5, "segment"] = None
    bad = tmp_path / "blank.csv"
    df.to_csv(bad, index=False)
    assert main(["mbp", "optimize", str(bad), cov, "--te-total", "0.01"]) == 2
    assert capsys.readouterr().err.strip() == (
        "pyxl: assets: column 'segment', data row 6 is blank; fill it in")


def test_cli_optimize_prints_decomposition_in_the_limits_units(tmp_path, capsys):
    """Before the fix the limits lines said "2.0000%" and the decomposition just below said
    0.02 for the same market TE; weights printed as 0.606 beside percents."""
    assert main(["mbp", "universe", "--n", "150", "--seed", "4", "-o", str(tmp_path)]) == 0
    assets, cov = str(tmp_path / "assets.csv"), str(tmp_path / "factor_cov.csv")
    out_csv = tmp_path / "w.csv"
    capsys.readouterr()
    assert main(["mbp", "optimize", assets, cov, "--te-total", "0.02", "-o", str(out_csv)]) == 0
    text = capsys.readouterr().out
    lines = {ln[:30].strip(): ln[30:].strip() for ln in text.splitlines()
             if ln.startswith("  ") and "limit" not in ln}
    # independent: segment weights and names held recomputed from the written weights
    a = pd.read_csv(assets)
    w = pd.read_csv(out_csv)["weight"].to_numpy()
    for m, seg in enumerate(sorted(a["segment"].unique()), start=1):
        inseg = (a["segment"] == seg).to_numpy()
        assert lines[f"Portfolio weight {m}"] == f"{w[inseg].sum():.4%}"
        assert lines[f"Benchmark weight {m}"] == f"{a['bench_w'][inseg].sum():.4%}"
        held = int(np.sum(np.abs(w[inseg]) > 1e-7))  # the docs: held means |w| > 1e-7
        assert lines[f"Names held {m}"] == str(held)
    assert lines["Market TE"] == "2.0000%"  # the binding limit, in the limits' units
    assert "Market TE                    limit   2.0000%  value   2.0000%" in text
    assert float(lines["Market TE^2"]) == pytest.approx(0.02**2, rel=1e-6)


def test_incremental_diagnosis_ties_below_solver_accuracy_keep_the_limits_order():
    """Three within limits each met alone (minima 9e-15, 9e-15, 7e-11: solver noise) tie;
    before, the noise ordered them, and cvxpy 1.5 named segment 3 where 1.9 named 1."""
    from pyxl.core.mbp.optimize import _incremental_diagnosis

    alone = {"te_total": 0.0162, "w0": 9e-15, "w1": 9e-15, "w2": 7e-11}

    class Stub:
        def min_te(self, key, lim, solver, with_others=False, others=None):
            if others is None:
                return alone[key]
            return 0.0162 if others else alone[key]  # any within limit given the market's

    keys = [("te_total", "te_total", "Market TE", 0.02)] + [
        (f"w{m}", f"te_segments item {m + 1}", f"segment {m + 1} within-segment TE", 0.01)
        for m in range(3)]
    err = _incremental_diagnosis(Stub(), keys, Limits(te_total=0.02), None)
    assert str(err).startswith("te_segments item 1: segment 1 within-segment TE limit "
                               "1.0000% cannot be met; smallest feasible 1.6200% given the "
                               "Market TE limit")
