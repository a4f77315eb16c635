"""pandas inputs meet by label in the Python API (MNVH engine, multi-asset Kelly).

Before, a weight Series or a covariance DataFrame in another ticker order than the prices
(or than ``mu``) was used by position: every weight met another asset's prices, every
expected return another asset's risk, without a word (final NAV 901,456 instead of
848,022 on 500 bundled days with unequal weights in reverse order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyxl.core.kelly.portfolio import kelly_weights
from pyxl.core.mnvh import MNVHConfig, run_backtest
from pyxl.data import load_sp500_index, load_sp500_prices
from pyxl.errors import InputError


@pytest.fixture(scope="module")
def book():
    P = load_sp500_prices().iloc[-300:]
    w = np.linspace(1.0, 2.0, P.shape[1])
    return P, w / w.sum(), load_sp500_index().reindex(P.index)


def _nav(P, w, **kw) -> float:
    return float(run_backtest(P, w, MNVHConfig(), **kw).nav[-1])


def test_weights_series_and_frame_meet_their_tickers(book):
    P, w, _ = book
    ref = _nav(P.to_numpy(), w)  # plain arrays, in column order
    assert _nav(P, pd.Series(w, index=P.columns)[::-1]) == ref
    W = pd.DataFrame(np.tile(w, (len(P), 1)), index=P.index, columns=P.columns)
    assert _nav(P, W[P.columns[::-1]].iloc[::-1]) == ref
    assert _nav(P, pd.Series(w)) == ref  # a 0..n-1 index is by position
    assert _nav(P, w[::-1]) != ref  # the case the labels guard against


def test_hedge_series_meets_its_dates(book):
    P, w, h = book
    ref = _nav(P.to_numpy(), w, hedge_prices=h.to_numpy())
    assert _nav(P, w, hedge_prices=h.iloc[::-1]) == ref


@pytest.mark.parametrize("arg", ["weights", "hedge_prices"])
def test_labels_that_are_not_the_prices_are_refused(book, arg):
    P, w, h = book
    if arg == "weights":
        kw = {"weights": pd.Series(w, index=[f"X{i}" for i in range(len(w))])}
    else:
        kw = {"weights": w, "hedge_prices": pd.Series(h.to_numpy(),
                                                      index=h.index + pd.Timedelta(days=1))}
    with pytest.raises(InputError) as e:
        run_backtest(P, config=MNVHConfig(), **kw)
    assert str(e.value).startswith(f"{arg}: is labelled ")
    assert "pass plain numbers, in their order" in str(e.value)


def test_kelly_covariance_and_caps_meet_the_labels_of_mu():
    mu = pd.Series([0.08, 0.05, 0.12], index=["A", "B", "C"])
    cov = pd.DataFrame([[0.04, 0.01, 0.0], [0.01, 0.02, 0.005], [0.0, 0.005, 0.09]],
                       index=list("ABC"), columns=list("ABC"))
    # closed form, independent of the code: inv(cov) (mu - rf)
    want = np.linalg.solve(cov.to_numpy(), mu.to_numpy() - 0.01)
    got = kelly_weights(mu, cov.loc[list("CAB"), list("BCA")], 0.01)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    caps = pd.Series([0.5, 1.0, 0.25], index=list("ABC"))
    a = kelly_weights(mu, cov, 0.01, max_weight=caps.iloc[::-1])
    b = kelly_weights(mu.to_numpy(), cov.to_numpy(), 0.01, max_weight=caps.to_numpy())
    np.testing.assert_allclose(a, b, atol=1e-9)
    with pytest.raises(InputError, match=r"^cov: is labelled A, B, D, not by the labels of mu"):
        kelly_weights(mu, cov.rename(index={"C": "D"}), 0.01)


def test_scenario_targets_meet_the_return_columns():
    """Recolouring to targets given in another ticker order equals recolouring to the same
    targets in column order (bit for bit: the same seed, the same arithmetic)."""
    import pyxl.core.scenarios as sc

    rng = np.random.default_rng(np.random.SeedSequence(7))
    R = pd.DataFrame(0.01 + 0.05 * rng.standard_normal((120, 3)), columns=["AAPL", "KO", "XOM"])
    mu = pd.Series([0.09, 0.05, 0.07], index=R.columns)
    cov = pd.DataFrame(np.diag([0.06, 0.02, 0.04]) + 0.005, index=R.columns, columns=R.columns)
    rt = pd.DataFrame([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], columns=R.columns)
    spec = sc.ScenarioSpec(n_paths=64, block=6, seed=3)
    ref = sc.generate(R.to_numpy(), mu.to_numpy(), cov.to_numpy(), spec, rt.to_numpy())
    got = sc.generate(R, mu[::-1], cov.loc[["XOM", "AAPL", "KO"], ["KO", "XOM", "AAPL"]], spec,
                      rt[["XOM", "KO", "AAPL"]])
    np.testing.assert_array_equal(got.paths, ref.paths)
    with pytest.raises(InputError, match=r"^mu_ann: is labelled AAPL, KO, MSFT"):
        sc.generate(R, mu.rename(index={"XOM": "MSFT"}), cov, spec)


def mbp_universe():
    """A small labelled MBP universe: (bench_w, segment, exposures, factor_cov, spec_var,
    alpha) as pandas objects (12 names N00..N11, factors mkt, size, value)."""
    rng = np.random.default_rng(np.random.SeedSequence(11))
    n, k = 12, 3
    names = [f"N{i:02d}" for i in range(n)]
    factors = ["mkt", "size", "value"]
    bench = pd.Series(np.linspace(2.0, 1.0, n) / np.linspace(2.0, 1.0, n).sum(), index=names)
    seg = pd.Series([1] * 4 + [2] * 8, index=names)
    B = pd.DataFrame(rng.normal(size=(n, k)), index=names, columns=factors)
    F = pd.DataFrame(np.diag([0.03, 0.01, 0.005]), index=factors, columns=factors)
    s = pd.Series(rng.uniform(0.01, 0.05, n), index=names)
    alpha = pd.Series(rng.normal(0.0, 0.02, n), index=names)
    return bench, seg, B, F, s, alpha


def test_mbp_inputs_meet_the_labels_of_bench_w():
    """make_data and optimize with pandas inputs in shuffled orders give the weights of the
    same problem in array form (the array form is the reference)."""
    from pyxl.core.mbp import Limits, make_data, optimize

    bench, seg, B, F, s, alpha = mbp_universe()
    n, factors = len(bench), list(B.columns)
    rng = np.random.default_rng(np.random.SeedSequence(12))
    lim = Limits(te_total=0.02, te_within=(0.01, 0.03))
    ref = optimize(make_data(bench.to_numpy(), seg.to_numpy(), B.to_numpy(), F.to_numpy(),
                             s.to_numpy()), alpha.to_numpy(), lim)
    perm = rng.permutation(n)
    data = make_data(bench, seg.iloc[perm], B.iloc[perm][factors[::-1]],
                     F.loc[factors[::-1], ["value", "mkt", "size"]], s.iloc[perm[::-1]])
    got = optimize(data, alpha.iloc[perm], lim)
    np.testing.assert_allclose(got.weights, ref.weights, atol=1e-9)
    with pytest.raises(InputError, match=r"^alpha: is labelled N00, N01, X, "):
        optimize(data, alpha.rename(index={"N02": "X"}), lim)


def test_kelly_scenario_caps_meet_the_return_columns():
    from pyxl.core.kelly.portfolio import kelly_scenario

    rng = np.random.default_rng(np.random.SeedSequence(5))
    R = pd.DataFrame(0.01 + 0.04 * rng.standard_normal((200, 3)), columns=["A", "B", "C"])
    caps = pd.Series([0.3, 2.0, 0.1], index=["A", "B", "C"])
    ref = kelly_scenario(R.to_numpy(), max_weight=caps.to_numpy())
    got = kelly_scenario(R, max_weight=caps.iloc[::-1])
    np.testing.assert_allclose(got, ref, atol=1e-9)
    # taken by position, the reversed caps would bind other assets
    assert not np.allclose(kelly_scenario(R.to_numpy(), max_weight=caps.to_numpy()[::-1]), ref,
                           atol=1e-6)


def test_results_of_a_price_frame_carry_its_dates_and_tickers(book):
    P, w, _ = book
    res = run_backtest(P, w, MNVHConfig())
    frame = res.to_frame()
    assert frame.index.equals(P.index)
    assert [c[2:] for c in frame.columns if c.startswith("q:")] == list(P.columns)
    assert set(res.lot_table()["asset"]) <= set(P.columns)
    plain = run_backtest(P.to_numpy(), w, MNVHConfig()).to_frame()
    assert list(plain.index) == list(range(len(P))) and "q:A1" in plain.columns
    np.testing.assert_array_equal(plain["nav"].to_numpy(), frame["nav"].to_numpy())


def test_ledger_page_example_runs_with_labels():
    """docs/ledger.md's first example (price DataFrame, index Series) runs as written."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "ledger.md").read_text("utf-8")
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "docs/ledger.md", "exec"), ns)  # noqa: S102 - our own docs
    assert ns["ledger"].index.equals(ns["prices"].index)
    assert set(ns["lots"]["asset"]) <= set(ns["prices"].columns) | {"hedge"}


def test_lot_table_marks_do_not_follow_later_edits_of_the_price_array(book):
    """The lot table is marked at the run's last prices, even if the caller's array
    (which the result views) is edited afterwards."""
    P, w, _ = book
    A = P.to_numpy().copy()
    res = run_backtest(A, w, MNVHConfig())
    want = A[-1].copy()
    A[-1] *= 2.0
    lots = res.lot_table()
    names = [f"A{i + 1}" for i in range(A.shape[1])]
    np.testing.assert_array_equal(lots["mark"].to_numpy(),
                                  want[[names.index(a) for a in lots["asset"]]])


def test_scenario_returns_newest_first_are_refused():
    import pyxl.core.scenarios as sc

    idx = pd.date_range("2015-01-31", periods=60, freq="ME")
    rng = np.random.default_rng(np.random.SeedSequence(2))
    R = pd.DataFrame(0.01 * rng.standard_normal((60, 2)), index=idx, columns=["A", "B"])
    spec = sc.ScenarioSpec(n_paths=8, block=3)
    sc.generate(R, np.full(2, 0.05), np.eye(2) * 0.02, spec)  # oldest first: runs
    with pytest.raises(InputError, match=r"^returns: has its dates newest first"):
        sc.generate(R.iloc[::-1], np.full(2, 0.05), np.eye(2) * 0.02, spec)


def test_repeated_tickers_are_refused_with_the_reason():
    P = load_sp500_prices().iloc[-60:, :3].copy()
    P.columns = ["A", "A", "B"]
    with pytest.raises(InputError) as e:
        run_backtest(P, pd.Series([0.2, 0.3, 0.5], index=["B", "A", "A"]), MNVHConfig())
    assert str(e.value) == ("weights: cannot be matched to the price columns by label: A is "
                            "repeated; pass plain numbers, in the price columns' order")
    same = run_backtest(P, pd.Series([0.2, 0.3, 0.5], index=["A", "A", "B"]), MNVHConfig())
    ref = run_backtest(P.to_numpy(), np.array([0.2, 0.3, 0.5]), MNVHConfig())
    assert same.nav[-1] == ref.nav[-1]  # the same labels in the same order: by position
