"""=MNVH_BACKTEST through the Excel-call harness."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pytest

from pyxl.core.metrics import METRICS, backtest_metrics
from pyxl.core.mnvh import DEFAULT_BETA, DEFAULT_LAM, FeeModel, MNVHConfig, run_backtest
from pyxl.core.mnvh.estimation import rolling_betas
from pyxl.core.mnvh.weights import inverse_vol_weights
from pyxl.xl.cache import clear_all

TICKERS = ["AAA", "BBB", "CCC", "DDD"]


def _prices(T=120, N=4, seed=0):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    r = rng.normal(0.0003, 0.015, size=(T, N))
    return np.round(25.0 * np.cumprod(1 + r, axis=0), 4)


def _bench(T=120, seed=1):
    rng = np.random.default_rng(seed)
    return np.round(1000 * np.cumprod(1 + rng.normal(0, 0.01, T)), 3)


def _grid(p, header=True, dates=False, descending=False):
    rows = [list(r) for r in p.tolist()]
    if dates:
        days = [dt.datetime(2020, 1, 1) + dt.timedelta(days=i) for i in range(len(rows))]
        if descending:
            days, rows = days[::-1], rows[::-1]
        rows = [[d, *r] for d, r in zip(days, rows, strict=True)]
    if header:
        rows = [(["Date"] if dates else []) + TICKERS[: p.shape[1]]] + rows
    return tuple(tuple(r) for r in rows)


def _values(out):
    return {row[0]: row[1] for row in out}


LABELS = {**METRICS, "identity_residual": "Ledger identity residual (max rel.)",
          "risk_events": "Risk events"}


def _expected(p, config, weights, bench=None, **kw):
    res = run_backtest(p, weights, config, **kw)
    m = backtest_metrics(res, p, benchmark=bench)
    m["identity_residual"] = res.identity_residual()
    m["risk_events"] = len(res.risk_events)
    return m


def _check(out, ref):
    got = _values(out)
    for key, label in LABELS.items():
        v = got[label]
        if isinstance(ref[key], float) and math.isnan(ref[key]):
            assert v == "", (label, v)  # NaN is written as a blank cell
        elif key == "identity_residual":
            assert v < 1e-9
        else:
            assert v == pytest.approx(ref[key], rel=1e-9, abs=1e-12), label


DEFAULT = MNVHConfig(lam=DEFAULT_LAM, beta=DEFAULT_BETA,
                     fees=FeeModel(fee_rate=0.0005, half_spread=0.0001))


def test_defaults_match_core(xl):
    p = _prices()
    out = xl("MNVH_BACKTEST", _grid(p))
    assert [r[0] for r in out][: len(METRICS)] == list(METRICS.values())
    assert all(len(r) == 2 for r in out)
    _check(out, _expected(p, DEFAULT, np.full(4, 0.25)))
    assert _values(out)["Mean rho (rolling, clipped)"] >= 0


def test_header_and_date_column_give_same_result(xl):
    p = _prices(seed=2)
    base = xl("MNVH_BACKTEST", _grid(p, header=False), 0.8, 10)
    assert xl("MNVH_BACKTEST", _grid(p, header=True), 0.8, 10) == base
    assert xl("MNVH_BACKTEST", _grid(p, dates=True), 0.8, 10) == base
    assert xl("MNVH_BACKTEST", _grid(p, dates=True, descending=True), 0.8, 10) == base
    # dates without a header row, and trailing blank rows drawn too long
    g = _grid(p, header=False, dates=True) + ((None,) * 5, (None,) * 5)
    assert xl("MNVH_BACKTEST", g, 0.8, 10) == base


def test_parameters_reach_the_engine(xl):
    p, b = _prices(seed=3), _bench()
    cfg = dataclasses.replace(
        DEFAULT, lam=0.85, beta=30.0, beta_mode="nav", cash0=5e5, max_gross=1.5,
        exec_lag=1, fees=FeeModel(fee_rate=0.001, half_spread=0.0002, fixed_fee=1.0,
                                  borrow_rate=0.01, cash_rate=0.02))
    out = xl("MNVH_BACKTEST", _grid(p), 0.85, 30, "invvol", 0.001, 0.0002, xl.range(b[:, None]),
             True, False, "nav", 5e5, 1.5, None, None, 1, 1.0, 0.01, 0.02)
    w = inverse_vol_weights(p)
    ab = rolling_betas(p, b)
    _check(out, _expected(p, cfg, w, b, hedge_prices=b, asset_betas=ab))


def test_user_weights_row_or_column_and_metric_pick(xl):
    p = _prices(seed=4)
    w = [0.4, 0.3, 0.2, 0.1]
    out_row = xl("MNVH_BACKTEST", _grid(p), 0.9, 20, xl.row(w))
    out_col = xl("MNVH_BACKTEST", _grid(p), 0.9, 20, xl.range(np.array(w)[:, None]))
    assert out_row == out_col
    _check(out_row, _expected(p, dataclasses.replace(DEFAULT, lam=0.9, beta=20.0), np.array(w)))
    sharpe = _values(out_row)["Sharpe"]
    args = [_grid(p), 0.9, 20, xl.row(w)] + [xl.MISSING] * 16
    assert xl("MNVH_BACKTEST", *args, "Sharpe") == [[sharpe]]
    assert xl("MNVH_BACKTEST", *args, "sharpe") == [[sharpe]]


def test_mean_rho_and_label_stems(xl):
    """Mean rho against a brute-force pooled regression, row by row: over the last
    min(252, T-2) pairs (at least min(60, T-2) in) of d_s = r_s - R_s, minus the slope of d_s
    on d_{s-1} through the origin, clipped to [0, 1], averaged; and a label read without
    its bracketed unit ("Mean rho", "Max DD duration") picks its row."""
    p = _prices(seed=6)
    T = p.shape[0]
    r = p[1:] / p[:-1] - 1
    d = np.vstack([np.full(p.shape[1], np.nan), r - r.mean(axis=1, keepdims=True)])
    window, least = min(252, T - 2), min(60, T - 2)
    est = []
    for t in range(T):
        pairs = [s for s in range(max(2, t - window + 1), t + 1)]
        if len(pairs) < least:
            continue
        num = sum(float(d[s - 1] @ d[s]) for s in pairs)
        den = sum(float(d[s - 1] @ d[s - 1]) for s in pairs)
        est.append(min(1.0, max(0.0, -num / den)))
    out = _values(xl("MNVH_BACKTEST", _grid(p), 0.9, 20))
    assert out["Mean rho (rolling, clipped)"] == pytest.approx(np.mean(est), rel=1e-12)
    args = [_grid(p), 0.9, 20] + [xl.MISSING] * 17
    assert xl("MNVH_BACKTEST", *args, "Mean rho") == [[out["Mean rho (rolling, clipped)"]]]
    assert xl("MNVH_BACKTEST", *args, " max dd  duration ") == [
        [out["Max DD duration (periods)"]]]


def test_what_if_lam_changes_result(xl):
    clear_all()
    p = _prices(seed=5)
    a = _values(xl("MNVH_BACKTEST", _grid(p), 0.5, 20))
    b = _values(xl("MNVH_BACKTEST", _grid(p), 0.95, 20))
    assert a["Avg gross exposure (x NAV)"] != b["Avg gross exposure (x NAV)"]
    # blanks for lam and beta take the defaults
    assert xl("MNVH_BACKTEST", _grid(p), None, None) == xl("MNVH_BACKTEST", _grid(p))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda g: g[:2] + ((g[2][0], None, *g[2][2:]),) + g[3:], "prices: blank cell at row 2"),
        (lambda g: g[:3] + ((g[3][0], "n/a", *g[3][2:]),) + g[4:], "prices: text 'n/a' at row 3"),
        (lambda g: g[:2] + ((0.0, *g[2][1:]),) + g[3:],
         "prices: value 0 at row 2, column 1 is not > 0; enter strictly positive values"),
        (lambda g: g[:2] + ((-3.0, *g[2][1:]),) + g[3:],
         "prices: value -3 at row 2, column 1 is not > 0; enter strictly positive values"),
        (lambda g: g[:3], "prices: has 2 rows, needs at least 3"),
        (lambda g: g[:1], "prices: has a header but no prices"),
    ],
)
def test_bad_prices_give_one_line(xl, mutate, message):
    out = xl("MNVH_BACKTEST", mutate(_grid(_prices())))
    assert len(out) == 1 and len(out[0]) == 1
    assert out[0][0].startswith(f"#PyXL! {message}")
    assert "\n" not in out[0][0]


def test_bad_arguments(xl):
    g = _grid(_prices())
    cases = [
        ((1.5,), "#PyXL! lam: must be <= 1"),
        ((0.9, -1), "#PyXL! beta: must be >= 0"),
        ((0.9, 20, "magic"), "#PyXL! weights: 'magic' is not one of"),
        ((0.9, 20, xl.row([0.5, 0.5])), "#PyXL! weights: has 2 values, expected 4"),
        ((0.9, 20, xl.row([0.5, 0.5, 0.5, 0.5])), "#PyXL! weights: sum to 2"),
        ((0.9, 20, None, None, None, None, True), "#PyXL! benchmark: is blank but hedge is TRUE"),
        ((0.9, 20, None, None, None, xl.range(np.ones((5, 1)))),
         "#PyXL! benchmark: has 5 rows, prices have 120"),
        ((0.9, 20, None, None, None, None, None, None, "relative"),
         "#PyXL! beta_mode: 'relative' is not one of"),
        ((0.9, 20, None, -0.1), "#PyXL! fee_rate: must be >= 0"),
        ((0.9, 20) + (xl.MISSING,) * 17 + ("Alpha",), "#PyXL! metric: 'Alpha' is not a metric"),
    ]
    for args, prefix in cases:
        out = xl("MNVH_BACKTEST", g, *args)
        assert out[0][0].startswith(prefix), (args, out)


def test_one_asset_and_row_per_asset_tables_are_refused(xl):
    """One column cannot trade against a basket (R - r = 0), and a table with one row
    per asset (ticker, then prices) must be transposed; both say so instead of
    returning a backtest of nothing or of three bars."""
    p = _prices(T=60)
    one = xl("MNVH_BACKTEST", _grid(p[:, :1]))
    assert one[0][0].startswith("#PyXL! prices: has 1 asset")
    assert "2 or more price columns" in one[0][0]
    by_asset = tuple((t, *p[:, j].tolist()) for j, t in enumerate(TICKERS))
    out = xl("MNVH_BACKTEST", by_asset)
    assert out[0][0].startswith("#PyXL! prices: has one row per asset (AAA, BBB, ...)")
    assert "TRANSPOSE" in out[0][0]
    # the same table the right way round, dates as text labels, is still accepted
    dated = ((None, *TICKERS),) + tuple(
        (f"2020-01-{d + 1:02d}", *p[d].tolist()) for d in range(28))
    assert _values(xl("MNVH_BACKTEST", dated))["Periods"] == 27

def test_unordered_dates_rejected(xl):
    g = list(_grid(_prices(), dates=True))
    g[5], g[6] = g[6], g[5]
    out = xl("MNVH_BACKTEST", tuple(g))
    assert out[0][0].startswith("#PyXL! prices: dates are not in order")


def test_tiny_sample_reports_nan_as_blank(xl):
    p = _prices(T=3)
    out = _values(xl("MNVH_BACKTEST", _grid(p)))
    assert out["Periods"] == 2
    assert out["Skew"] == ""  # needs 3 returns
    assert out["Ledger identity residual (max rel.)"] < 1e-9


def test_registered_metadata(xl):
    info = xl.info("MNVH_BACKTEST")
    names = [a["name"] for a in info["args"]]
    assert names[:6] == ["prices", "lam", "beta", "weights", "fee_rate", "half_spread"]
    # arguments are only appended: debit_rate (2026-11-24) came after metric, lot_size
    # (2026-11-24, later) after debit_rate
    assert names[-3:] == ["metric", "debit_rate", "lot_size"]
    assert len(names) == 23


def test_benchmark_with_header_and_dates_equals_plain_column(xl):
    p, b = _prices(seed=6), _bench(seed=7)
    days = [dt.datetime(2020, 1, 1) + dt.timedelta(days=i) for i in range(len(b))]
    with_dates = (("Date", "SPX"),) + tuple((d, v) for d, v in zip(days, b.tolist(), strict=True))
    plain = xl.range(b[:, None])
    a = xl("MNVH_BACKTEST", _grid(p), 0.9, 20, "InvVol", None, None, with_dates, True)
    c = xl("MNVH_BACKTEST", _grid(p), 0.9, 20, "invvol", None, None, plain, True)
    assert a == c
    assert _values(a)["Beta to benchmark"] != ""


def test_parse_price_table_accepts_python_objects():
    import pandas as pd

    from pyxl.xl.udf_backtest import parse_price_table

    p = _prices(T=10, N=3)
    frame = pd.DataFrame(p, columns=["A", "B", "C"])
    got, tickers = parse_price_table(frame)
    np.testing.assert_array_equal(got, p)
    assert tickers == ["A", "B", "C"]
    got, tickers = parse_price_table(p)
    np.testing.assert_array_equal(got, p)
    assert tickers is None
