"""Audit 16: the OUTPUTS of the Python API as a quant reads them in a notebook.

Scenarios, Kelly and MBP results checked against independent values (numpy closed forms,
first-order conditions, a dense covariance built from the factor model, finite
differences).  The tests marked "failed before" failed on the code before this audit:

* ``repr(ScenarioSet)`` printed every array: 701 lines (25,018 characters) for 300 paths;
* the row labels of an ``rt_weights`` DataFrame (and the name of an ``rt_weights`` Series)
  were dropped: the summary said RT1, RT2 although ``=MBB_RECOLOR`` uses the names column;
* ``tickers`` / ``rt_labels`` of the wrong length were accepted and the summary silently
  left out the assets or portfolios beyond them;
* ``kelly_weights`` / ``kelly_scenario`` / ``optimize`` returned a bare array for labelled
  inputs, although label alignment may put the weights in another order than the
  covariance's or the other inputs' (a caller labelling them with ``cov.index`` got them
  wrong);
* the MBP infeasibility diagnosis (perspective form) printed cvxpy's "Solution may be
  inaccurate" warning from its bisection before raising its one-line error.
"""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from pyxl.errors import InfeasibleError, InputError


# ---------------------------------------------------------------- scenarios
@pytest.fixture(scope="module")
def history():
    rng = np.random.default_rng(np.random.SeedSequence(16))
    tick = ["AAA", "BBB", "CCC", "DDD"]
    dates = pd.date_range("2010-01-31", periods=120, freq="ME")
    R = pd.DataFrame(0.005 + 0.04 * rng.standard_normal((120, 4)), index=dates, columns=tick)
    mu = pd.Series([0.05, 0.06, 0.07, 0.08], index=tick)
    cov = pd.DataFrame(np.cov(R.to_numpy(), rowvar=False) * 12, index=tick, columns=tick)
    W = pd.DataFrame([[0.25] * 4, [0.1, 0.2, 0.3, 0.4]], index=["balanced", "growth"],
                     columns=tick)
    return R, mu, cov, W


def test_scenario_set_repr_is_one_line_without_arrays(history):  # failed before
    import pyxl.core.scenarios as sc

    R, mu, cov, W = history
    s = sc.generate(R, mu, cov, sc.ScenarioSpec(n_paths=300, block=6, seed=3), W)
    text = repr(s)
    assert "\n" not in text and len(text) < 400, text[:200]
    for part in ("300 paths", "120 periods", "4 assets", "AAA", "balanced", "block 6",
                 "paths kept 300x120x4"):
        assert part in text
    back = pickle.loads(pickle.dumps(s))  # a result can be saved from the notebook
    np.testing.assert_array_equal(back.paths, s.paths)
    assert back.portfolio_labels == ["balanced", "growth"]


def test_rt_weights_row_labels_name_the_portfolios(history):  # failed before
    import pyxl.core.scenarios as sc

    R, mu, cov, W = history
    spec = sc.ScenarioSpec(n_paths=64, block=6, seed=1)
    s = sc.generate(R, mu, cov, spec, W[["DDD", "AAA", "CCC", "BBB"]])
    assert s.portfolio_labels == ["balanced", "growth"]
    labels = [row[0] for row in s.summary_rows()]
    assert labels.count("balanced") == 3 and labels.count("growth") == 3  # 3 sections
    # the realised per-period mean of each named portfolio is its geometric target
    # (1 + w'mu)^(1/12) - 1, recomputed from the paths
    per = np.einsum("phn,kn->k", s.paths, W.to_numpy()) / (64 * 120)
    want = (1.0 + W.to_numpy() @ mu.to_numpy()) ** (1 / 12) - 1.0
    np.testing.assert_allclose(per, want, rtol=0, atol=1e-12)
    one = sc.generate(R, mu, cov, spec, W.loc["growth"])
    assert one.portfolio_labels == ["growth"]
    assert sc.generate(R, mu, cov, spec, W.reset_index(drop=True)).portfolio_labels == \
        ["RT1", "RT2"]
    assert sc.generate(R, mu, cov, spec, W, rt_labels=["a", "b"]).portfolio_labels == ["a", "b"]


@pytest.mark.parametrize("kw, arg", [({"rt_labels": ["only one"]}, "rt_labels"),
                                     ({"tickers": ["A", "B"]}, "tickers")])
def test_label_lists_of_the_wrong_length_are_refused(history, kw, arg):  # failed before
    import pyxl.core.scenarios as sc

    R, mu, cov, W = history
    with pytest.raises(InputError, match=rf"^{arg}: has \d labels, expected \d; give one"):
        sc.generate(R.to_numpy(), mu.to_numpy(), cov.to_numpy(),
                    sc.ScenarioSpec(n_paths=16, block=6), W.to_numpy(), **kw)


# ---------------------------------------------------------------- Kelly
def _kelly_inputs():
    rng = np.random.default_rng(np.random.SeedSequence(5))
    L = rng.standard_normal((4, 4)) * 0.1
    cov = L @ L.T + np.diag([0.02, 0.03, 0.01, 0.04])
    return np.array([0.08, 0.06, 0.10, 0.03]), cov


def test_kelly_weights_are_labelled_by_mu():  # failed before
    from pyxl.core.kelly import kelly_weights

    mu, cov = _kelly_inputs()
    tick = ["A", "B", "C", "D"]
    order = ["C", "A", "D", "B"]
    mu_s = pd.Series(mu, index=tick)[order]
    cov_f = pd.DataFrame(cov, index=tick, columns=tick)  # in another order than mu
    w = kelly_weights(mu_s, cov_f, 0.01)
    assert isinstance(w, pd.Series) and list(w.index) == order
    want = np.linalg.solve(cov, mu - 0.01)  # inv(Sigma)(mu - rf) in A, B, C, D order
    np.testing.assert_allclose(w.reindex(tick).to_numpy(), want, rtol=1e-12)
    capped = kelly_weights(mu_s, cov_f, 0.01, long_only=True, max_leverage=1.5)
    assert list(capped.index) == order
    # plain arrays in, plain arrays out (the formulas and the CLI)
    assert isinstance(kelly_weights(mu, cov, 0.01), np.ndarray)


@pytest.mark.parametrize("kw", [
    {"long_only": True}, {"max_leverage": 1.5}, {"max_weight": 0.4},
    {"budget": 1.0, "long_only": True},
    {"budget": 1.0, "max_weight": np.array([0.5, np.inf, 0.3, np.inf])},
    {"fraction": 0.3, "max_leverage": 2.0}, {"fraction": 0.5, "max_weight": 0.3},
])
def test_kelly_weights_first_order_conditions(kw):
    """KKT of max w'(mu - rf) - w'Sigma w / (2f): gradient g = mu - rf - Sigma w / f is
    zero on free assets, >= 0 at an upper cap, <= 0 at a long-only zero, equal to the
    budget multiplier on every free asset, and |g_i| <= nu (= nu sign w_i when held)
    under a binding gross cap."""
    from pyxl.core.kelly import kelly_weights

    mu, cov = _kelly_inputs()
    kw = dict(kw)
    f = kw.pop("fraction", 1.0)
    w = kelly_weights(mu, cov, 0.01, f, **kw)
    g = mu - 0.01 - cov @ w / f
    tol = 1e-7
    caps = np.broadcast_to(np.asarray(kw.get("max_weight", np.inf), float), (4,))
    at_cap = np.abs(w) >= caps - 1e-7
    at_zero = kw.get("long_only", False) & (w <= 1e-7)
    free = ~at_cap & ~at_zero
    assert free.any()
    if "budget" in kw:  # g_i = kappa on free assets; subtract the budget multiplier
        assert abs(w.sum() - kw["budget"]) < 1e-9
        g = g - np.median(g[free])
    if "max_leverage" in kw and abs(np.abs(w).sum() - kw["max_leverage"]) < 1e-9:
        nu = np.max(np.abs(g))  # gross cap binds: g_i = nu sign(w_i) where held
        assert nu > tol
        held = free & (np.abs(w) > 1e-7)
        np.testing.assert_allclose(g[held], nu * np.sign(w[held]), atol=tol)
        assert np.all(np.abs(g[np.abs(w) <= 1e-7]) <= nu + tol)  # |w| has a kink at 0
    else:
        np.testing.assert_allclose(g[free], 0.0, atol=tol)
        assert np.all(g[at_zero] <= tol)  # would gain by going below 0
        assert np.all(g[at_cap] * np.sign(w[at_cap]) >= -tol)  # would gain beyond the cap


def test_kelly_scenario_is_labelled_by_the_return_columns():  # failed before
    from pyxl.core.kelly import kelly_scenario, scenario_growth

    rng = np.random.default_rng(np.random.SeedSequence(7))
    R = pd.DataFrame(0.008 + 0.05 * rng.standard_normal((300, 3)), columns=["X", "Y", "Z"])
    w = kelly_scenario(R, 0.001)
    assert isinstance(w, pd.Series) and list(w.index) == ["X", "Y", "Z"]
    x = (R.to_numpy() - 0.001) / 1.001
    grad = (x / (1.0 + x @ w.to_numpy())[:, None]).mean(axis=0)  # first-order condition
    np.testing.assert_allclose(grad, 0.0, atol=1e-10)
    # growth of the labelled weights, recomputed by hand
    g = np.mean(np.log(1.001 + (R.to_numpy() - 0.001) @ w.to_numpy()))
    assert scenario_growth(w, R, 0.001) == pytest.approx(g, rel=1e-14)
    assert isinstance(kelly_scenario(R.to_numpy(), 0.001), np.ndarray)


# ---------------------------------------------------------------- MBP
def _mbp(seed: int, n: int = 40, k: int = 4):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    seg = np.sort(np.r_[1, 2, 3, rng.integers(1, 4, n - 3)])
    bw = rng.random(n) ** 2
    bw /= bw.sum()
    B = rng.standard_normal((n, k)) * 0.5
    B[:, 0] = 1 + 0.2 * rng.standard_normal(n)
    A = rng.standard_normal((k, k)) * 0.05
    F = A @ A.T + np.diag([0.03] + [0.002] * (k - 1))
    s = (0.2 + 0.3 * rng.random(n)) ** 2
    alpha = rng.standard_normal(n) * 0.02
    return seg, bw, B, F, s, alpha


def test_mbp_weights_are_labelled_and_limits_hold_on_a_dense_covariance():  # failed before
    from pyxl.core.mbp import Limits, decompose, make_data, optimize

    seg, bw, B, F, s, alpha = _mbp(4)
    names = [f"N{i:02d}" for i in range(bw.size)]
    data = make_data(pd.Series(bw, index=names), pd.Series(seg, index=names),
                     pd.DataFrame(B, index=names), F, pd.Series(s, index=names))
    lim = Limits(te_total=0.02, te_within=(0.03, 0.04, 0.05))
    res = optimize(data, pd.Series(alpha, index=names).iloc[::-1], lim)
    w = res.weights
    assert isinstance(w, pd.Series) and list(w.index) == names
    Sigma = B @ F @ B.T + np.diag(s)  # dense, built here from the factor model
    a = w.to_numpy() - bw
    assert np.sqrt(a @ Sigma @ a) <= 0.02 * (1 + 1e-7)
    for m, cap in enumerate((0.03, 0.04, 0.05)):
        idx = seg == m + 1
        Wm = w.to_numpy()[idx].sum()
        assert Wm == pytest.approx(bw[idx].sum(), abs=1e-12)  # segment neutral
        v = w.to_numpy()[idx] / Wm - bw[idx] / bw[idx].sum()
        assert np.sqrt(v @ Sigma[np.ix_(idx, idx)] @ v) <= cap * (1 + 1e-7)
    assert res.active_alpha == pytest.approx(alpha @ a, rel=1e-12)
    dec = decompose(data, w.iloc[::-1])  # the labelled result goes back in by label
    assert dec.market_te == pytest.approx(np.sqrt(a @ Sigma @ a), rel=1e-12)


def test_mbp_perspective_shadow_prices_match_finite_differences():
    """Without segment neutrality (the perspective cones) the reported shadow prices are
    d(alpha'w)/d(limit): compare with central differences of full re-solves."""
    from pyxl.core.mbp import Limits, MBPProblem, make_data

    seg, bw, B, F, s, alpha = _mbp(1)
    data = make_data(bw, seg, B, F, s)
    base = {"te_total": 0.03, "te_segment": 0.01, "te_within": [0.025, 0.03, 0.04]}

    def lim(key=None, step=0.0):
        kw = {"te_total": base["te_total"], "te_segment": base["te_segment"],
              "te_within": list(base["te_within"])}
        if key in ("te_total", "te_segment"):
            kw[key] += step
        elif key is not None:
            kw["te_within"][int(key.split()[-1]) - 1] += step
        kw["te_within"] = tuple(kw["te_within"])
        return Limits(segment_neutral=False, **kw)

    pb = MBPProblem(data, alpha, lim())
    res = pb.solve(lim(), screened=False)
    h = 1e-5
    checked = 0
    for info in res.limits:
        if not info.binding:
            assert abs(info.shadow_price) < 1e-6
            continue
        up = pb.solve(lim(info.name, h), screened=False).objective
        dn = pb.solve(lim(info.name, -h), screened=False).objective
        assert info.shadow_price == pytest.approx((up - dn) / (2 * h), rel=1e-4)
        checked += 1
    assert checked >= 3


def test_mbp_conflict_of_several_limits_names_one_limit_and_its_smallest_value():
    """failed before: three within-segment limits, the market TE and max_weight that
    conflict only together gave 'limits: cannot be met together; loosen max_weight,
    max_active or the turnover limit' (max_active and turnover were not set; no TE limit
    named), and the bisection printed cvxpy's 'Solution may be inaccurate' warning.
    Now each refusal names one limit and its smallest feasible value; loosening the named
    limit to it, one at a time, reaches a feasible problem whose limits hold."""
    from pyxl.core.mbp import Limits, make_data, optimize

    seg, bw, B, F, s, alpha = _mbp(1)
    data = make_data(bw, seg, B, F, s)
    Sigma = B @ F @ B.T + np.diag(s)
    te_total, tw = 0.02, [0.01, 0.01, 0.01]
    for _ in range(4):
        lim = Limits(te_total=te_total, segment_neutral=False, te_within=tuple(tw),
                     max_weight=0.04)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                res = optimize(data, alpha, lim)
            break
        except InfeasibleError as err:
            assert re.match(r"^(te_total|te_segments item \d): .* limit [\d.]+% cannot be met; "
                            r"smallest feasible [\d.]+% (with|given) .*; loosen this limit",
                            str(err)), str(err)
            if err.arg == "te_total":
                te_total = err.smallest * 1.001
            else:
                tw[int(err.arg.split()[-1]) - 1] = err.smallest * 1.001
    else:
        pytest.fail("still infeasible after loosening each named limit")
    w = res.weights
    a = w - bw
    assert np.sqrt(a @ Sigma @ a) <= te_total * (1 + 1e-7)
    assert w.max() <= 0.04 + 1e-9
    for m in range(3):
        idx = seg == m + 1
        v = w[idx] / w[idx].sum() - bw[idx] / bw[idx].sum()
        assert np.sqrt(v @ Sigma[np.ix_(idx, idx)] @ v) <= tw[m] * (1 + 1e-6)
