"""Audit: units, labels and annualisation agree across the adapters of every engine.

The same quantity must carry the same label, the same unit (fraction vs percent, per bar vs
per year, currency vs x NAV) and the same number in the formula (``=MNVH_BACKTEST``,
``=MBB_RECOLOR``, ``=KELLY_TABLE``), the CLI / report files and the docs.  Expected values
are recomputed here with numpy / pandas / scipy from the ledger or the paths, never taken
from the code under test.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

from pyxl.core.metrics import METRICS
from pyxl.core.mnvh.ablation import build_inputs, research_config, run_strategy

DOCS = Path(__file__).resolve().parents[1] / "docs"
TICKERS = ["AAA", "BBB", "CCC", "DDD"]
P = 252


def _prices(T=160, N=4, seed=7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0002, 0.015, size=(T, N))
    p = np.round(30.0 * np.cumprod(1 + r, axis=0), 4)
    idx = pd.bdate_range("2021-01-04", periods=T, name="Date")
    return pd.DataFrame(p, index=idx, columns=TICKERS[:N])


def _bench(index, seed=8) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(np.round(1000 * np.cumprod(1 + rng.normal(0, 0.01, len(index))), 3),
                     index=index, name="IDX")


def _grid(frame: pd.DataFrame) -> tuple:
    rows = [["Date", *map(str, frame.columns)]]
    rows += [[d.to_pydatetime(), *map(float, row)] for d, row in
             zip(frame.index, frame.to_numpy(), strict=True)]
    return tuple(tuple(r) for r in rows)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """`pyxl backtest`'s report (metrics.csv, ledger.csv) for prices with a cash rate."""
    from pyxl.reports.mnvh import write_backtest_report

    prices = _prices()
    bench = _bench(prices.index)
    cfg = research_config(cash_rate=0.03, borrow_rate=0.01, max_gross=2.0)
    out = tmp_path_factory.mktemp("units") / "mnvh"
    rep = write_backtest_report(prices, cfg, out, benchmark=bench, xlsx=False, echo=False)
    metrics = pd.read_csv(out / "metrics.csv", index_col=0, encoding="utf-8-sig")
    ledger = pd.read_csv(out / "ledger.csv", index_col=0, parse_dates=True,
                         encoding="utf-8-sig")
    return prices, bench, metrics, ledger, rep


def _formula_table(xl, prices, bench, metric=None):
    M = xl.MISSING
    args = [_grid(prices), M, M, M, M, M, _grid(bench.to_frame()), M, M, M, M, 2.0, M, M, M,
            M, 0.01, 0.03, M, M]
    return xl("MNVH_BACKTEST", *args, M if metric is None else metric)


# ------------------------------------------------------- MNVH: formula, CLI file, ledger


def test_formula_and_cli_give_the_same_number_under_the_same_label(xl, report):
    """Every row =MNVH_BACKTEST shares with metrics.csv has the formula's label there and the
    same value; before, the engine's ledger residual was 'Ledger identity residual (max rel.)'
    in the cell and '... (engine)' in metrics.csv and the printed table."""
    prices, bench, metrics, _, _ = report
    cli = dict(zip(metrics["label"], metrics["MNVH"], strict=True))
    shared = 0
    for label, value in _formula_table(xl, prices, bench):
        assert label in cli, f"metrics.csv has no row labelled {label!r}"
        c = cli[label]
        if value is None or value == "":
            assert math.isnan(c), label
        else:
            assert c == pytest.approx(value, rel=1e-12, abs=1e-300), label
        shared += 1
    assert shared == len(METRICS) + 3  # residual, risk events, mean rho


def test_cli_metrics_match_an_independent_recomputation_from_the_ledger(report):
    """CAGR, vol, Sharpe, Sortino, drawdown, turnover... recomputed with pandas / scipy from
    ledger.csv, with the definitions docs/mnvh.md states (P = 252; Sharpe and Sortino of the
    excess over the cash rate, 3 % here)."""
    prices, bench, metrics, led, _ = report
    m = metrics["MNVH"]
    nav = led["nav"]
    r = nav.pct_change().dropna()
    ex = r - 0.03 / P
    years = (len(nav) - 1) / P
    assert m["years"] == pytest.approx(years)
    assert m["cagr"] == pytest.approx((nav.iloc[-1] / nav.iloc[0]) ** (P / len(r)) - 1)
    assert m["ann_vol"] == pytest.approx(r.std(ddof=1) * math.sqrt(P))
    assert m["sharpe"] == pytest.approx(ex.mean() / r.std(ddof=1) * math.sqrt(P))
    downside = math.sqrt(float((np.minimum(ex, 0) ** 2).mean()))
    assert m["sortino"] == pytest.approx(ex.mean() / downside * math.sqrt(P))
    assert m["max_drawdown"] == pytest.approx((nav / nav.cummax() - 1).min())
    assert m["max_drawdown"] <= 0  # negative: -0.25 is a 25 % fall
    trades = led[[c for c in led.columns if c.startswith("trade:")]].to_numpy()
    traded = (np.abs(trades) * prices.to_numpy()).sum(axis=1)  # buys + sells, currency
    np.testing.assert_allclose(led["turnover"], traded, rtol=1e-12)  # the ledger column
    assert m["turnover"] == pytest.approx(traded.sum() / nav.mean() / years)  # x NAV a year
    assert m["fee_gross"] == pytest.approx((led["fees"].sum() + led["slippage"].sum())
                                           / led["mtm"].sum())
    assert m["skew"] == pytest.approx(st.skew(r, bias=False))
    assert m["kurtosis"] == pytest.approx(st.kurtosis(r, bias=False))
    rb = bench.pct_change().dropna()
    assert m["beta_bench"] == pytest.approx(np.cov(r, rb)[0, 1] / rb.var())
    assert m["avg_gross"] == pytest.approx((led["gross"] / nav).mean())
    assert m["avg_net"] == pytest.approx((led["net"] / nav).mean())


def test_sharpe_is_of_the_excess_over_the_cash_rate(xl):
    """docs/mnvh.md: Sharpe and Sortino subtract the run's cash_rate.  The book holds about
    its whole NAV in cash, so 3 % on cash lifts every bar's return by about 3 %/252; the
    excess-return Sharpe stays where it was with no cash rate (the total return's would
    rise by about cash_rate / vol), recomputed here from the NAV by hand."""
    prices = _prices()
    M = xl.MISSING

    def sharpe_vol(cash_rate):
        args = [_grid(prices)] + [M] * 16 + [cash_rate, M, M]
        out = dict(xl("MNVH_BACKTEST", *args, M))
        return out["Sharpe"], out["Annualised vol"]

    s0, v0 = sharpe_vol(0.0)
    s3, v3 = sharpe_vol(0.03)
    assert abs(s3 - s0) < 0.1 * 0.03 / v0
    p = prices.to_numpy()
    res = run_strategy(p, research_config(cash_rate=0.03), build_inputs(p, "equal"))
    r = np.diff(res.nav) / res.nav[:-1]
    assert s3 == pytest.approx((r - 0.03 / P).mean() / r.std(ddof=1) * math.sqrt(P), rel=1e-12)
    text = (DOCS / "mnvh.md").read_text(encoding="utf-8")
    assert "the Sharpe of the return in excess of what the cash earns" in text


def test_printed_table_shows_fee_gross_as_a_percent_like_the_workbook():
    """The Backtest sheet formats Fee/Gross as a percent (docs: 'the seed targets 20-40 %');
    the printed table and run_log.txt showed the bare ratio 0.25."""
    from pyxl.reports.mnvh import format_table
    from pyxl.templates.mnvh import backtest_formats

    fmt = dict(zip(METRICS, backtest_formats(), strict=False))
    assert fmt["fee_gross"].endswith("%")
    frame = pd.DataFrame({"MNVH": [0.25, 0.1234]}, index=["fee_gross", "cagr"])
    text = format_table(frame)
    line = next(x for x in text.splitlines() if x.startswith("Fee/Gross"))
    assert line.split()[-2:] == ["25.00", "%"]


# ------------------------------------------------------- docs: labels the metric argument reads


def _doc_metric_rows() -> list[tuple[str, str]]:
    """(label, key) of the docs/mnvh.md metrics table."""
    text = (DOCS / "mnvh.md").read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].startswith("`") and not set(cells[0]) <= set("-"):
            rows.append((cells[0], cells[1].strip("`")))
    return rows


def test_docs_metrics_table_gives_each_exact_label_and_key(xl):
    """docs/mnvh.md's metrics table names what the `metric` argument reads: before, its
    'label' column held shortened names ('Max DD duration', 'Avg gross / net exposure')
    that =MNVH_BACKTEST(..., metric) refuses ('is not a metric name')."""
    rows = _doc_metric_rows()
    assert [k for _, k in rows] == list(METRICS)
    assert [lab for lab, _ in rows] == list(METRICS.values())
    prices = _prices(T=80)
    M = xl.MISSING
    args = [_grid(prices)] + [M] * 19
    table = dict(xl("MNVH_BACKTEST", *args, M))
    for label, key in rows:  # each one is a value of the table, by label and by key
        by_label = xl("MNVH_BACKTEST", *args, label)[0][0]  # one cell
        by_key = xl("MNVH_BACKTEST", *args, key)[0][0]
        assert not str(by_label).startswith("#PyXL"), (label, by_label)
        assert by_label == by_key
        want = table[label]
        if want not in (None, ""):
            assert by_label == pytest.approx(want)


# ------------------------------------------------------- scenarios: chart axis and signs


def test_fan_chart_axis_uses_the_scenarios_periods_per_year(monkeypatch):
    """plot_fan put period k at k / 12 years whatever the scenarios' periods: weekly
    scenarios (52 a year) over 104 weeks were drawn over 8.7 'years', with the target line
    (1 + mu)^(104/12).  The axis must end at horizon / periods years."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyxl.core import scenarios as core
    from pyxl.reports.scenarios import plot_fan

    rng = np.random.default_rng(3)
    hist = rng.normal(0.002, 0.02, size=(150, 3))
    mu = np.array([0.06, 0.05, 0.07])
    cov = np.diag([0.04, 0.03, 0.05])
    W = np.array([[0.5, 0.3, 0.2]])
    spec = core.ScenarioSpec(n_paths=64, block=4, horizon=104, lam=0.94, periods=52, seed=1)
    sset = core.generate(hist, mu, cov, spec, W, keep_paths=True)
    made = []
    real = plt.subplots

    def spy(*a, **k):
        fig, axes = real(*a, **k)
        made.append(axes)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    monkeypatch.setattr(plt, "close", lambda *a, **k: None)
    plot_fan(sset, Path(__import__("tempfile").mkdtemp()) / "fan.png")
    ax = made[0][0][0]
    median = next(line for line in ax.get_lines() if line.get_label() == "median")
    target = next(line for line in ax.get_lines() if "target" in line.get_label())
    x = np.asarray(median.get_xdata())
    assert x[-1] == pytest.approx(104 / 52)
    assert np.asarray(target.get_ydata())[-1] == pytest.approx((1 + W[0] @ mu) ** 2)


def test_max_drawdown_signs_are_stated_where_they_differ(xl):
    """=MBB_RECOLOR's 'max drawdown' rows hold the fall as a positive fraction (0.25 = 25 %),
    =MNVH_BACKTEST's 'Max drawdown' a negative one (-0.25); docs/scenarios.md says so."""
    rng = np.random.default_rng(5)
    hist = rng.normal(0.005, 0.04, size=(60, 2))
    rg = lambda a: tuple(tuple(float(v) for v in row) for row in np.atleast_2d(a))  # noqa: E731
    M = xl.MISSING
    args = [rg(hist), rg([0.06, 0.05]), rg(np.diag([0.04, 0.03])), 3, 50, 0.94, 12, 2,
            rg([[0.5, 0.5]]), 0]
    summary = xl("MBB_RECOLOR", *args, "summary", M, 24, M, M, M)
    paths = np.array([r[2:] for r in xl("MBB_RECOLOR", *args, "all", M, 24, M, M, M)], float)
    wealth = np.cumprod(1 + (paths @ [0.5, 0.5]).reshape(50, 24), axis=1)
    wealth = np.hstack([np.ones((50, 1)), wealth])
    fall = np.max(1 - wealth / np.maximum.accumulate(wealth, axis=1), axis=1)  # >= 0
    k = next(i for i, r in enumerate(summary) if r[0] == "max drawdown")
    assert summary[k + 1][6] == pytest.approx(fall.mean())
    assert summary[k + 1][6] > 0
    text = re.sub(r"\s+", " ", (DOCS / "scenarios.md").read_text(encoding="utf-8"))
    assert "positive fraction" in text and "Max drawdown is negative" in text


# ------------------------------------------------------- Kelly: the drawdown argument is a level


def test_kelly_table_drawdown_is_a_wealth_level_not_a_fall(xl):
    """KELLY_TABLE's `drawdown` is the wealth level x (fall to x times the start), unlike
    MNVH's drawdown_stop (0.2 = a 20 % fall).  Full Kelly with rf = 0 has 2g/s^2 = 1, so
    P(ever falling to x) = x: 0.8 for a 20 % fall, 0.2 for an 80 % fall."""
    for level in (0.8, 0.2):
        rows = xl("KELLY_TABLE", 0.085, 0.182, 0.0, level)
        full = rows[-1]
        assert full[0] == "full Kelly"
        assert full[5] == pytest.approx(level)
    text = re.sub(r"\s+", " ", (DOCS / "kelly.md").read_text(encoding="utf-8"))
    assert "not the size of the fall" in text
