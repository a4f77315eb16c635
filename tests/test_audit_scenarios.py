"""Audit of the scenario engine (issue #3, seed 002) against independent computations.

Every expected value here is computed from the seed's equations with plain numpy/scipy
(``scipy.linalg.sqrtm``, ``np.linalg.solve``, brute-force counting), never from the engine.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg as sl
from conftest import excel_range, excel_row
from conftest import xl_error as _err
from scipy import stats

from pyxl.core import scenarios as sc
from pyxl.core.scenarios.bootstrap import bootstrap_indices
from pyxl.errors import InputError
from pyxl.xl.cache import clear_all


# --------------------------------------------------------------------------- helpers
def _seed_recolour(X, mu0, S0, mu_star, cov_star, lam, floor_rel, burn_in):
    """Seed 002 step 3 written literally: predictive ordering, the seed's (non-symmetrised)
    Sigma recursion, A_t = sqrtm(Sigma*) sqrtm(Sigma_t)^-1 with an eigenvalue floor."""
    P, Htot, N = X.shape
    out = np.empty((P, Htot - burn_in, N))
    root = np.real(sl.sqrtm(cov_star))
    for p in range(P):
        mu, S = mu0.copy(), S0.copy()
        for t in range(Htot):
            x = X[p, t]
            if t >= burn_in:
                w, V = np.linalg.eigh(0.5 * (S + S.T))
                w = np.maximum(w, floor_rel * w.max())
                A = root @ (V / np.sqrt(w)) @ V.T
                out[p, t - burn_in] = mu_star + (x - mu) @ A.T  # the seed's row form
            mu_next = lam * mu + (1 - lam) * x
            S = lam * S + (1 - lam) * np.outer(x - mu, x - mu_next)
            mu = mu_next
    return out


def _history(T=72, N=4, seed=1):
    rng = np.random.default_rng(seed)
    L = np.linalg.cholesky(0.6 * np.eye(N) + 0.4)
    return 0.008 + 0.05 * rng.standard_t(5, (T, N)) @ L.T


MU = np.array([0.04, 0.06, 0.07, 0.09])
COV = 0.04 * (0.5 * np.eye(4) + 0.5) * np.outer([1, 1.2, 0.9, 1.5], [1, 1.2, 0.9, 1.5])


# --------------------------------------------------------------------------- step 1
def test_moving_block_starts_uniform_and_blocks_contiguous():
    T, L, H = 23, 5, 17
    idx = bootstrap_indices(np.random.default_rng(0), 20_000, H, T, L, "moving")
    starts = []
    for b in range(0, H, L):
        seg = idx[:, b:b + L]
        assert np.all(np.diff(seg, axis=1) == 1)  # each block a contiguous history slice
        starts.append(seg[:, 0])
    st = np.concatenate(starts)
    assert st.min() == 0 and st.max() == T - L
    cnt = np.bincount(st, minlength=T - L + 1)
    assert stats.chisquare(cnt).pvalue > 1e-3  # uniform on 0..T-L
    assert abs(np.corrcoef(starts[0], starts[1])[0, 1]) < 0.03  # independent blocks


def test_paths_reproducible_across_chunks_and_prefix_is_seedsequence_group():
    R = _history()
    W = np.array([[0.4, 0.3, 0.2, 0.1]])
    runs = [sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=600, block=4, seed=9,
                                                    chunk_paths=c), W) for c in (1, 300, 5000)]
    for r in runs[1:]:
        np.testing.assert_array_equal(r.paths, runs[0].paths)
    # group 0 == SeedSequence(9).spawn(1)[0]: redo the bootstrap by hand, recolour off
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=10, block=4, seed=9, recolor="none"))
    rng = np.random.default_rng(np.random.SeedSequence(9).spawn(1)[0])
    starts = rng.integers(0, R.shape[0] - 4 + 1, size=(10, -(-R.shape[0] // 4)))
    idx = (starts[:, :, None] + np.arange(4)).reshape(10, -1)[:, :R.shape[0]]
    np.testing.assert_array_equal(s.paths, R[idx])


# --------------------------------------------------------------------------- steps 2-3
@pytest.mark.parametrize("recolor,burn_in", [("symmetric", 0), ("symmetric", 6),
                                             ("symmetric-eigh", 3)])
def test_recolour_equals_literal_seed_recursion(recolor, burn_in):
    R = _history()
    spec = sc.ScenarioSpec(n_paths=12, block=5, seed=4, horizon=40, burn_in=burn_in,
                           recolor=recolor)
    s = sc.generate(R, MU, COV, spec)
    ms, cs = MU / 12, COV / 12  # arithmetic conversion, by hand
    rng = np.random.default_rng(np.random.SeedSequence(4).spawn(1)[0])
    Htot = burn_in + 40
    starts = rng.integers(0, R.shape[0] - 5 + 1, size=(12, -(-Htot // 5)))
    X = R[(starts[:, :, None] + np.arange(5)).reshape(12, -1)[:, :Htot]]
    ref = _seed_recolour(X, R.mean(0), np.cov(R, rowvar=False), ms, cs, 0.94, 1e-10, burn_in)
    np.testing.assert_allclose(s.paths, ref, rtol=0, atol=1e-12)


def test_eigenvalue_floor_on_singular_history_matches_literal_recursion():
    rng = np.random.default_rng(5)
    R = 0.01 + 0.05 * rng.standard_normal((5, 6))  # T < N: Sigma_0 singular
    mu, C = np.full(6, 0.06), 0.04 * (0.5 * np.eye(6) + 0.5)
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=6, block=2, seed=1, horizon=20,
                                              eig_floor=1e-6))
    assert s.floor_hits == s.steps == 120  # rank <= T - 1 < N at every step
    rng = np.random.default_rng(np.random.SeedSequence(1).spawn(1)[0])
    starts = rng.integers(0, 4, size=(6, 10))
    X = R[(starts[:, :, None] + np.arange(2)).reshape(6, -1)]
    ref = _seed_recolour(X, R.mean(0), np.cov(R, rowvar=False), mu / 12, C / 12, 0.94, 1e-6, 0)
    np.testing.assert_allclose(s.paths, ref, rtol=0, atol=1e-11)


def test_period_targets_by_hand():
    mu = np.array([0.07, -0.2, 0.3])
    C = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, -0.02], [0.0, -0.02, 0.16]])
    np.testing.assert_allclose(sc.to_period(mu, C, 12, "arithmetic")[0], mu / 12, rtol=1e-15)
    np.testing.assert_allclose(sc.to_period(mu, C, 52, "geometric")[0],
                               np.array([1.07, 0.8, 1.3]) ** (1 / 52) - 1, rtol=1e-14)
    np.testing.assert_allclose(sc.to_period(mu, C, 252, "log")[0], np.log(1 + mu) / 252,
                               rtol=1e-14)
    for meth in ("arithmetic", "geometric", "log"):
        np.testing.assert_allclose(sc.to_period(mu, C, 12, meth)[1], C / 12, rtol=1e-15)


# --------------------------------------------------------------------------- step 4
@pytest.mark.parametrize("K,ridge", [(2, 1e-4), (4, 0.0), (6, 0.0), (6, 0.02)])
def test_drift_delta_equals_direct_solve(K, ridge):
    R = _history()
    W = np.random.default_rng(K).dirichlet(np.ones(4), K)
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=300, block=3, seed=2, ridge=ridge,
                                                periods=52), W)
    r_bar = (s.paths - s.delta).reshape(-1, 4).mean(axis=0)
    r_star = (1 + W @ MU) ** (1 / 52) - 1
    delta = np.linalg.solve(W.T @ W + ridge * np.eye(4), W.T @ (r_star - W @ r_bar))
    np.testing.assert_allclose(s.delta, delta, rtol=0, atol=1e-15)


# --------------------------------------------------------------------------- diagnostics
def test_corr_error_rms_defined_with_a_zero_variance_cash_asset():
    """A cash asset (zero target variance, allowed: cov_ann is PSD) has no correlation, but the
    other assets' correlation error must still be reported (it was blank/NaN)."""
    rng = np.random.default_rng(0)
    R = np.c_[0.008 + 0.05 * rng.standard_normal((60, 2)), 0.002 + 5e-4 * rng.standard_normal(60)]
    mu = np.array([0.06, 0.08, 0.02])
    C = np.array([[0.04, 0.01, 0.0], [0.01, 0.06, 0.0], [0.0, 0.0, 0.0]])
    s = sc.generate(R, mu, C, sc.ScenarioSpec(n_paths=200, block=4, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rows = s.summary_rows()
    i = [r[0] for r in rows].index("asset")
    # independent: realised vs target correlation of the two risky assets
    Y = s.paths.reshape(-1, 3)[:, :2]
    err = abs(np.corrcoef(Y, rowvar=False)[0, 1] - 0.01 / np.sqrt(0.04 * 0.06))
    for k in (1, 2):
        assert rows[i + k][5] == pytest.approx(err, abs=1e-12)  # max over the defined pair
        assert rows[i + k][6] == pytest.approx(err, abs=1e-12)  # rms over the defined pair
    assert np.isnan(rows[i + 3][5]) and np.isnan(rows[i + 3][6])  # cash: undefined


# --------------------------------------------------------------------------- formula

def test_formula_block_longer_than_history_names_history_length(xl):
    R = _history(T=30)
    msg = _err(xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 31, 10))
    assert msg.startswith("#PyXL! block:")
    assert "history" in msg and "30" in msg, msg


def test_formula_rt_header_in_other_order_is_refused(xl):
    clear_all()
    R = _history(T=30)
    hdr = (("A", "B", "C", "D"),) + excel_range(R)
    rt_same = (("A", "B", "C", "D"), (0.7, 0.1, 0.1, 0.1))
    rt_swapped = (("D", "C", "B", "A"), (0.1, 0.1, 0.1, 0.7))  # the same portfolio
    a = xl("MBB_RECOLOR", hdr, excel_row(MU), excel_range(COV), 3, 20, 0.94, 12, 0, rt_same)
    assert len(a) > 1
    msg = _err(xl("MBB_RECOLOR", hdr, excel_row(MU), excel_range(COV), 3, 20, 0.94, 12, 0,
                  rt_swapped))
    assert msg.startswith("#PyXL! rt_weights:") and "order" in msg, msg


def test_formula_argument_order_and_defaults_match_issue(xl):
    clear_all()
    R = _history(T=30)
    W = np.array([[0.4, 0.3, 0.2, 0.1]])
    short = xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 3, 20)
    full = xl("MBB_RECOLOR", excel_range(R), excel_range(MU[:, None]), excel_range(COV), 3, 20,
              0.94, 12, 0, None, 0, "summary")
    assert short == full
    p = np.array(xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 3, 20,
                    0.97, 52, 7, excel_range(W), 0.001, "path:2"))
    s = sc.generate(R, MU, COV, sc.ScenarioSpec(n_paths=20, block=3, lam=0.97, periods=52,
                                                seed=7, ridge=0.001), W)
    np.testing.assert_array_equal(p, s.paths[1])
    assert s.delta == pytest.approx(np.linalg.solve(
        W.T @ W + 0.001 * np.eye(4),
        W.T @ ((1 + W @ MU) ** (1 / 52) - 1 - W @ (s.paths - s.delta).reshape(-1, 4).mean(0))),
        abs=1e-15)


@pytest.mark.parametrize("which", ["rt", "mu", "cov"])
def test_cli_labelled_file_in_other_asset_order_is_refused(tmp_path, capsys, which):
    """Labelled CSVs are matched by position; the same tickers permuted used to be accepted
    silently, giving each asset another asset's target or weight."""
    import pandas as pd

    from pyxl.cli import main

    R = _history(T=40, N=3)
    names = ["A", "B", "C"]
    order = {k: names for k in ("rt", "mu", "cov")}
    order[which] = ["C", "A", "B"]
    pd.DataFrame(R, columns=names).to_csv(tmp_path / "r.csv", index=False)
    pd.DataFrame({"mu": [0.05, 0.06, 0.07]}, index=order["mu"]).to_csv(tmp_path / "mu.csv")
    pd.DataFrame(np.diag([0.04, 0.05, 0.06]), index=order["cov"],
                 columns=order["cov"]).to_csv(tmp_path / "cov.csv")
    pd.DataFrame([[0.2, 0.3, 0.5]], index=["low"], columns=order["rt"]).to_csv(
        tmp_path / "rt.csv")
    rc = main(["scenarios", "--returns", str(tmp_path / "r.csv"), "--mu",
               str(tmp_path / "mu.csv"), "--cov", str(tmp_path / "cov.csv"), "--rt",
               str(tmp_path / "rt.csv"), "--paths", "10", "--block", "3",
               "--summary", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith(f"pyxl: --{which}:") and "order" in err, err


def test_history_returns_below_minus_100_percent_are_refused():
    """Percent typed as numbers (-5.2 for -5.2 %) is not a simple return: refuse it."""
    R = np.array([[0.01, 0.02], [-5.2, 0.01], [0.03, -0.02]])
    with pytest.raises(InputError, match=r"returns: -5.2 at row 2, column 1 is below -100 %"):
        sc.validate_inputs(R, np.zeros(2), np.eye(2) * 0.04)
    # exactly -100 % (a default) is a possible simple return
    R[1, 0] = -1.0
    sc.validate_inputs(R, np.zeros(2), np.eye(2) * 0.04)


def test_paths_output_beyond_the_kept_limit_names_the_size_and_the_limit(xl, monkeypatch):
    from pyxl.xl import udf_scenarios

    clear_all()
    monkeypatch.setattr(udf_scenarios, "MAX_KEPT_VALUES", 1_000)
    R = _history(T=30)  # 30 x N history: 10 paths x 30 periods x N > 1,000 values
    n = 10 * 30 * R.shape[1]
    msg = _err(xl("MBB_RECOLOR", excel_range(R), excel_row(MU), excel_range(COV), 5, 10,
                  0.94, 12, 0, None, 0, "path:1"))
    assert msg.startswith("#PyXL! output: paths are not kept in memory for a run this large "
                          f"({n:,} values, limit 1,000)"), msg
