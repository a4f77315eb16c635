"""Audit 11: the Python API with pandas inputs, as a quant uses it in a notebook.

Each test failed before its fix.  References are independent: numpy closed forms, or the
same call with plain arrays in the right order.

* a single RT portfolio as a Series, and ``mu_ann`` / Kelly ``mu`` / MBP ``alpha`` as a
  one-column DataFrame (``df[["mu"]]``), were flattened by position, ignoring their tickers;
* ``mbp.decompose`` took a weight Series by position (market TE 5.08 % instead of the
  2.00 % of the optimal weights, listed in reverse order); a one-factor ``exposures``
  Series too;
* ``kelly_scenario`` / ``growth_scenarios`` accepted negative scenario probabilities and
  blamed ``returns`` for a ``probs`` of the wrong length or with a NaN;
* a price DataFrame with its dates newest first was backtested backwards in time;
* ``build_inputs`` / ``ablation_grid`` / ``walk_forward`` / ``backtest_metrics`` took weight
  and benchmark Series by position;
* a text segment label raised a raw ``ValueError`` from numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_labels import mbp_universe

from pyxl.errors import InputError


# ---------------------------------------------------------------- scenarios
@pytest.fixture(scope="module")
def history():
    rng = np.random.default_rng(np.random.SeedSequence(7))
    R = pd.DataFrame(0.01 + 0.05 * rng.standard_normal((120, 3)), columns=["AAPL", "KO", "XOM"])
    mu = pd.Series([0.09, 0.05, 0.07], index=R.columns)
    cov = pd.DataFrame(np.diag([0.06, 0.02, 0.04]) + 0.005, index=R.columns, columns=R.columns)
    return R, mu, cov


def test_one_rt_portfolio_series_meets_the_return_columns(history):
    import pyxl.core.scenarios as sc

    R, mu, cov = history
    rt = pd.Series([0.5, 0.3, 0.2], index=R.columns)
    spec = sc.ScenarioSpec(n_paths=64, block=6, seed=3)
    ref = sc.generate(R.to_numpy(), mu.to_numpy(), cov.to_numpy(), spec, rt.to_numpy()[None, :])
    got = sc.generate(R, mu, cov, spec, rt[["XOM", "AAPL", "KO"]])
    np.testing.assert_array_equal(got.weights, [[0.5, 0.3, 0.2]])
    np.testing.assert_array_equal(got.paths, ref.paths)
    with pytest.raises(InputError, match=r"^rt_weights: is labelled AAPL, MSFT, XOM"):
        sc.generate(R, mu, cov, spec, rt.rename(index={"KO": "MSFT"}))


@pytest.mark.parametrize("shape", ["column", "row"])
def test_mu_ann_one_column_or_row_frame_meets_the_return_columns(history, shape):
    import pyxl.core.scenarios as sc

    R, mu, cov = history
    spec = sc.ScenarioSpec(n_paths=32, block=6, seed=1)
    frame = mu[::-1].to_frame("mu")
    got = sc.generate(R, frame if shape == "column" else frame.T, cov, spec)
    np.testing.assert_array_equal(got.mu_ann, [0.09, 0.05, 0.07])


# ---------------------------------------------------------------- Kelly
def test_kelly_mu_one_column_frame_meets_cov_labels():
    from pyxl.core.kelly import kelly_weights

    mu = pd.Series([0.08, 0.05, 0.12], index=["A", "B", "C"])
    cov = pd.DataFrame([[0.04, 0.01, 0.0], [0.01, 0.02, 0.005], [0.0, 0.005, 0.09]],
                       index=list("ABC"), columns=list("ABC"))
    table = mu.to_frame("mu").loc[["C", "A", "B"]]  # e.g. a column of an assumptions table
    want = np.linalg.solve(cov.loc[["C", "A", "B"], ["C", "A", "B"]].to_numpy(),
                           table["mu"].to_numpy() - 0.01)  # inv(cov) (mu - rf), C, A, B
    np.testing.assert_allclose(kelly_weights(table, cov, 0.01), want, rtol=1e-12)


def _scenarios() -> pd.DataFrame:
    rng = np.random.default_rng(np.random.SeedSequence(5))
    return pd.DataFrame(0.01 + 0.04 * rng.standard_normal((200, 2)), columns=["A", "B"])


@pytest.mark.parametrize("probs", [np.r_[-1.0, np.ones(199)], np.ones(10),
                                   np.r_[np.nan, np.ones(199)], np.zeros(200)],
                         ids=["negative", "length", "nan", "zero"])
def test_kelly_scenario_refuses_bad_probs_naming_probs(probs):
    from pyxl.core.kelly import growth_scenarios, kelly_scenario

    R = _scenarios()
    with pytest.raises(InputError, match=r"^probs: "):
        kelly_scenario(R.to_numpy(), probs=probs)
    with pytest.raises(InputError, match=r"^probs: "):
        growth_scenarios(1.0, R["A"].to_numpy(), probs=probs)


def test_kelly_scenario_probs_series_meets_the_return_rows():
    from pyxl.core.kelly import kelly_scenario

    R = _scenarios()
    p = pd.Series(np.linspace(1.0, 3.0, len(R)), index=R.index)
    ref = kelly_scenario(R.to_numpy(), probs=p.to_numpy())
    # first-order condition of max sum p ln(1 + R w): sum p R / (1 + R w) = 0
    x = R.to_numpy()
    grad = (p.to_numpy() / (1.0 + x @ ref)) @ x
    assert np.max(np.abs(grad)) < 1e-9 * p.sum()
    np.testing.assert_allclose(kelly_scenario(R, probs=p.iloc[::-1]), ref, atol=1e-12)


# ---------------------------------------------------------------- MBP
@pytest.fixture(scope="module")
def universe():
    return mbp_universe()


def test_decompose_weight_series_meets_bench_labels(universe):
    from pyxl.core.mbp import Limits, decompose, make_data, optimize

    bench, seg, B, F, s, alpha = universe
    data = make_data(bench, seg, B, F, s)
    w = pd.Series(optimize(data, alpha, Limits(te_total=0.02)).weights, index=bench.index)
    a = (w - bench).to_numpy()
    cov = B.to_numpy() @ F.to_numpy() @ B.to_numpy().T + np.diag(s.to_numpy())
    want = float(np.sqrt(a @ cov @ a))  # market TE, numpy by hand
    assert decompose(data, w.iloc[::-1]).market_te == pytest.approx(want, rel=1e-12)
    with pytest.raises(InputError, match=r"^w: is labelled "):
        decompose(data, w.rename(index={"N03": "ZZZ"}))
    with pytest.raises(InputError, match=r"^w: must be 12 finite weights"):
        decompose(data, np.ones(5))


def test_alpha_one_column_frame_and_one_factor_series_meet_labels(universe):
    from pyxl.core.mbp import Limits, make_data, optimize

    bench, seg, B, F, s, alpha = universe
    lim = Limits(te_total=0.02)
    d1 = make_data(bench.to_numpy(), seg.to_numpy(), B[["mkt"]].to_numpy(),
                   F.loc[["mkt"], ["mkt"]].to_numpy(), s.to_numpy())
    d2 = make_data(bench, seg, B["mkt"].iloc[::-1], F.loc[["mkt"], ["mkt"]], s)
    np.testing.assert_array_equal(d2.exposures, d1.exposures)
    ref = optimize(d1, alpha.to_numpy(), lim).weights
    got = optimize(d2, alpha.iloc[::-1].to_frame("alpha"), lim).weights
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_text_segment_label_is_an_input_error(universe):
    from pyxl.core.mbp import make_data

    bench, seg, B, F, s, _ = universe
    with pytest.raises(InputError, match=r"^segment: holds values that are not numbers"):
        make_data(bench, seg.map({1: "tech", 2: "other"}), B, F, s)


# ---------------------------------------------------------------- MNVH
@pytest.fixture(scope="module")
def book():
    from pyxl.data import load_sp500_index, load_sp500_prices

    P = load_sp500_prices().iloc[-300:]
    w = np.linspace(1.0, 2.0, P.shape[1])
    return P, w / w.sum(), load_sp500_index().reindex(P.index)


def test_prices_newest_first_are_refused(book):
    from pyxl.core.mnvh import MNVHConfig, run_backtest, run_grid
    from pyxl.core.mnvh.ablation import ablation_grid, build_inputs, walk_forward

    P, w, _ = book
    old = P.iloc[::-1]
    fix = r"^prices: has its dates newest first .*sort them: prices.sort_index\(\)$"
    for call in (lambda: run_backtest(old, w, MNVHConfig()),
                 lambda: run_grid(old, w, [0.9], [35.0]),
                 lambda: build_inputs(old),
                 lambda: ablation_grid(old, MNVHConfig(), lams=[0.9], betas=[35.0]),
                 lambda: walk_forward(old, MNVHConfig(), lams=[0.9], betas=[35.0],
                                      is_periods=100, oos_periods=50)):
        with pytest.raises(InputError, match=fix):
            call()


def test_build_inputs_weight_series_meets_the_price_columns(book):
    from pyxl.core.mnvh.ablation import build_inputs

    P, w, _ = book
    got = build_inputs(P, pd.Series(w, index=P.columns).iloc[::-1]).weights
    np.testing.assert_array_equal(got, np.tile(w, (len(P), 1)))


def test_benchmark_series_meets_the_price_dates(book):
    from pyxl.core.metrics import backtest_metrics
    from pyxl.core.mnvh import MNVHConfig, run_backtest
    from pyxl.core.mnvh.ablation import ablation_grid

    P, w, h = book
    res = run_backtest(P, w, MNVHConfig())
    r = np.diff(res.nav) / res.nav[:-1]
    rb = np.diff(h.to_numpy()) / h.to_numpy()[:-1]
    beta = np.cov(r, rb, ddof=1)[0, 1] / np.var(rb, ddof=1)  # OLS slope by hand
    m = backtest_metrics(res, P, benchmark=h.iloc[::-1])
    assert m["beta_bench"] == pytest.approx(beta, rel=1e-10)
    table = ablation_grid(P, MNVHConfig(), lams=[0.9], betas=[35.0], schemes=["equal"],
                          hedges=[True], benchmark=h.iloc[::-1])
    plain = ablation_grid(P.to_numpy(), MNVHConfig(), lams=[0.9], betas=[35.0],
                          schemes=["equal"], hedges=[True], benchmark=h.to_numpy())
    assert table["beta_bench"].iloc[0] == plain["beta_bench"].iloc[0]
    assert table["final_nav"].iloc[0] == plain["final_nav"].iloc[0]


def test_rolling_betas_benchmark_series_meets_the_price_dates(book):
    from pyxl.core.mnvh.estimation import rolling_betas

    P, _, h = book
    got = rolling_betas(P, h.iloc[::-1], window=60, min_periods=60)
    x = P.to_numpy()[-61:]
    b = h.to_numpy()[-61:]
    r, rb = x[1:] / x[:-1] - 1.0, b[1:] / b[:-1] - 1.0
    want = [np.cov(r[:, i], rb, ddof=1)[0, 1] / np.var(rb, ddof=1) for i in range(r.shape[1])]
    np.testing.assert_allclose(got[-1], want, rtol=1e-9)  # OLS slopes by hand, last row
