"""Audit 2: what a user reads in the reports and the template workbooks, recomputed independently.

Every expected value here comes from a closed form or from numpy on the raw inputs/outputs
(weights, ledger columns, scenario paths), never from the code that wrote the report.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pyxl.templates import builder
from pyxl.templates import kelly as tkelly
from pyxl.templates import mbp as tmbp
from pyxl.templates import mnvh as tmnvh
from pyxl.templates import spec as S
from pyxl.workbook import calculate


def _build(key: str, tmp_path: Path) -> Path:
    return builder(key)(tmp_path / S.TEMPLATES[key].filename)


def _instructions_text(path: Path) -> str:
    ws = openpyxl.load_workbook(path)["Instructions"]
    return "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)


# ---------------------------------------------------------------- mnvh_ledger.xlsx


def test_mnvh_backtest_sheet_formats_match_the_units_of_each_metric(tmp_path):
    """Returns/vol/drawdown/hit rate are decimals shown as %, counts as integers, and the
    ledger residual (about 1e-16) in scientific form, not '0.0000'."""
    import pyxl.udfs as udfs

    path = _build("mnvh", tmp_path)
    ws = openpyxl.load_workbook(path)["Backtest"]
    px = tmnvh.price_frame().iloc[:40]
    table = [list(px.columns)] + px.to_numpy().tolist()
    labels = [row[0] for row in udfs.MNVH_BACKTEST(table)]
    first, last = (int(x[1:]) for x in tmnvh.BACKTEST_BLOCK.split(":"))
    assert last - first + 1 == len(labels)  # the block holds every row of the formula
    fmt = {lab: ws.cell(first + i, 2).number_format for i, lab in enumerate(labels)}
    for lab in ("Total return", "CAGR", "Annualised vol", "Max drawdown", "Hit rate",
                "Fee/Gross"):
        assert fmt[lab].endswith("%"), (lab, fmt[lab])
    for lab in ("Periods", "Max DD duration (periods)", "Risk events"):
        assert "%" not in fmt[lab] and "." not in fmt[lab], (lab, fmt[lab])
    assert "E" in fmt["Ledger identity residual (max rel.)"]
    for lab in ("Sharpe", "Turnover (x NAV per year)", "Avg gross exposure (x NAV)"):
        assert "%" not in fmt[lab], lab


def test_mnvh_instructions_state_the_fixed_price_block(tmp_path):
    """Pasting more tickers or days is silently ignored: the instructions must say which block
    the formulas read, and that block must be the defined name's."""
    path = _build("mnvh", tmp_path)
    text = _instructions_text(path)
    end = S.MNVH.input("mnvh_price_table").ref.replace("$", "").split(":")[1]
    assert f"Prices!A1:{end}" in text  # dates in column A, then the named price table
    assert f"{S.MNVH_STOCKS} tickers x {S.MNVH_DAYS} days" in text


# ---------------------------------------------------------------- scenarios.xlsx


def test_scenarios_instructions_state_the_fixed_history_block(tmp_path):
    path = _build("scenarios", tmp_path)
    text = _instructions_text(path)
    end = S.SCENARIOS.input("scn_return_table").ref.replace("$", "").split(":")[1]
    assert f"History!A1:{end}" in text  # months in column A, then the named return table
    assert f"{len(S.SCN_TICKERS)} assets x {S.SCN_MONTHS} periods" in text


# ---------------------------------------------------------------- mbp.xlsx


def _within_te(w, bench, seg, B, F, s, m):
    """Seed eq. 5: TE of the segment-normalised active weights, dense covariance."""
    g = seg == m
    cov = B[g] @ F @ B[g].T + np.diag(s[g])
    v = w[g] / w[g].sum() - bench[g] / bench[g].sum()
    return math.sqrt(v @ cov @ v)


@pytest.fixture(scope="module")
def mbp_blank_seg3(tmp_path_factory):
    """mbp.xlsx with segment 3's within-segment limit left blank (= no limit), calculated."""
    tmp = tmp_path_factory.mktemp("mbp")
    path = _build("mbp", tmp)
    wb = openpyxl.load_workbook(path)
    seg_ref = S.MBP.input("mbp_te_segments").ref.replace("$", "")
    wb["Inputs"][seg_ref.split(":")[1]] = None
    wb.save(path)
    return calculate(path, path)


def test_mbp_blank_segment_limit_is_shown_as_none_not_zero(mbp_blank_seg3):
    rep = mbp_blank_seg3
    assert rep.issues == [], [str(i) for i in rep.issues[:3]]
    t0 = tmbp.PORTFOLIO_FIRST_ROW + tmbp.REPORT_ROWS + 2  # header row of the segment table
    vals = rep.values["Portfolio"]
    u = tmbp.universe()
    n = S.MBP_NAMES
    w = np.array([vals[(tmbp.PORTFOLIO_FIRST_ROW + i, 4)] for i in range(n)])
    args = (w, u["bench_w"], u["segment"], u["exposures"], u["factor_cov"], u["spec_var"])
    for m, limit in ((1, tmbp.TE_SEGMENTS[0]), (2, tmbp.TE_SEGMENTS[1]), (3, None)):
        r = t0 + m
        te = _within_te(*args, m)
        assert abs(vals[(r, 10)] - te) <= 1e-9 + 1e-7 * te  # "Within TE" column
        if limit is None:
            assert vals[(r, 11)] == "none"  # was 0.00 %, which read as a violated limit
            assert te > tmbp.TE_SEGMENTS[2]  # unconstrained, it does exceed the old limit
        else:
            assert vals[(r, 11)] == pytest.approx(limit)
            assert te <= limit * (1 + 1e-6)


def test_mbp_portfolio_report_matches_an_independent_decomposition(tmp_path):
    """The =MBP_REPORT block on the shipped inputs against numpy on the weight column."""
    path = _build("mbp", tmp_path)
    rep = calculate(path, path)
    vals = rep.values["Portfolio"]
    p0, n = tmbp.PORTFOLIO_FIRST_ROW, S.MBP_NAMES
    table = {vals[(p0 - 1 + i, 7)]: vals.get((p0 - 1 + i, 8)) for i in range(tmbp.REPORT_ROWS)}
    u = tmbp.universe()
    w = np.array([vals[(p0 + i, 4)] for i in range(n)])
    bench, seg = u["bench_w"], u["segment"]
    B, F, s = u["exposures"], u["factor_cov"], u["spec_var"]
    cov = B @ F @ B.T + np.diag(s)
    a = w - bench
    te2 = a @ cov @ a
    assert table["Market TE"] == pytest.approx(math.sqrt(te2), rel=1e-9)
    assert table["Market TE^2"] == pytest.approx(te2, rel=1e-9)
    # Segment (allocation) part u = sum_m (W_m - W^T_m) y**_m and selection parts v_m.
    uvec = np.zeros(n)
    vs = []
    for m in (1, 2, 3):
        g = seg == m
        Wm, Wt = w[g].sum(), bench[g].sum()
        y = np.where(g, bench / Wt, 0.0)
        uvec += (Wm - Wt) * y
        vs.append(np.where(g, w / Wm, 0.0) * Wm - Wm * y)
        assert table[f"Portfolio weight {m}"] == pytest.approx(Wm, abs=1e-12)
        assert table[f"Benchmark weight {m}"] == pytest.approx(Wt, abs=1e-12)
        assert table[f"Names held {m}"] == int(np.sum(w[g] > 1e-7))
        te_m = _within_te(w, bench, seg, B, F, s, m)
        assert table[f"Within-segment TE {m}"] == pytest.approx(te_m, rel=1e-7)
        assert table[f"W^2 x within TE^2 {m}"] == pytest.approx(Wm ** 2 * te_m ** 2, rel=1e-7)
        assert te_m <= tmbp.TE_SEGMENTS[m - 1] * (1 + 1e-6)
    np.testing.assert_allclose(uvec + sum(vs), a, atol=1e-12)
    d1 = sum(vs[i] @ cov @ vs[j] for i in range(3) for j in range(3) if i != j)
    d2 = sum(uvec @ cov @ v for v in vs)
    assert table["Segment TE^2"] == pytest.approx(uvec @ cov @ uvec, abs=1e-15)
    assert table["Delta_1"] == pytest.approx(d1, rel=1e-6, abs=1e-15)
    assert table["2 x Delta_2"] == pytest.approx(2 * d2, abs=1e-15)
    assert table["Names held"] == int(np.sum(w > 1e-7))


# ---------------------------------------------------------------- kelly.xlsx


def test_kelly_sheet_labels_say_fraction_and_drawdown_level(tmp_path):
    """With kelly_fraction = 0.5 column E is half of n*: its header must not call it n*; the
    fractional table's P column must say which wealth level it is about (50 %)."""
    path = _build("kelly", tmp_path)
    wb = openpyxl.load_workbook(path)
    wb["Inputs"]["C5"] = 0.5
    wb.save(path)
    rep = calculate(path, path)
    ws = openpyxl.load_workbook(path)["Kelly"]
    r0 = tkelly.KELLY_FIRST_ROW
    hdr_e = ws.cell(r0 - 1, 5).value
    assert "fraction" in hdr_e and "Kelly leverage n*" not in hdr_e
    mu, sigma, rf = 0.085, 0.182, 0.01
    n_half = 0.5 * (mu - rf) / sigma ** 2
    assert rep.values["Kelly"][(r0, 5)] == pytest.approx(n_half, rel=1e-12)
    assert "full Kelly" in ws.cell(r0 - 1, 6).value  # the seed's 2.3 is full Kelly
    g = openpyxl.load_workbook(path)["Growth"]
    title = g.cell(3, 5).value
    assert "50%" in title and "probability" in title
    # The P column at full Kelly: P(ever down to x) = x^(2g/s^2), g = rf + (mu-rf)^2/(2 s0^2).
    n_star = (mu - rf) / sigma ** 2
    gk = rf + (mu - rf) ** 2 / (2 * sigma ** 2)
    p = 0.5 ** (2 * gk / (n_star * sigma) ** 2)
    top = int(tkelly.FRACTION_BLOCK.split(":")[0][1:])
    assert rep.values["Growth"][(top + 4, 10)] == pytest.approx(p, rel=1e-9)
    assert rep.values["Growth"][(top + 4, 11)] == pytest.approx(math.log(2) / gk, rel=1e-9)


# ---------------------------------------------------------------- MNVH report files


def _synthetic_prices(T=700, N=6, seed=11):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0002, 0.015, size=(T, N))
    r -= 0.3 * np.vstack([np.zeros((1, N)), r[:-1] - r[:-1].mean(1, keepdims=True)])
    px = 50 * np.cumprod(1 + r, axis=0)
    idx = pd.bdate_range("2019-01-01", periods=T)
    return pd.DataFrame(px, index=idx, columns=[f"S{i}" for i in range(N)])


@pytest.fixture(scope="module")
def mnvh_report(tmp_path_factory):
    from pyxl.core.mnvh.ablation import research_config
    from pyxl.reports.mnvh import write_backtest_report

    out = tmp_path_factory.mktemp("mnvh")
    prices = _synthetic_prices()
    cfg = research_config(max_gross=3.0)
    write_backtest_report(prices, cfg, out, xlsx=False, echo=False)
    return out, prices, cfg


def test_edge_by_year_start_nav_chains_with_the_realised_pnl(mnvh_report):
    """start NAV of a year + its realised PnL = start NAV of the next year; the first is C_0."""
    out, _, cfg = mnvh_report
    edge = pd.read_csv(out / "edge_by_year.csv")
    ledger = pd.read_csv(out / "ledger.csv", index_col=0, parse_dates=True)
    nav = ledger["nav"]
    assert edge["start_nav"].iloc[0] == pytest.approx(cfg.cash0)
    for _, row in edge.iterrows():
        prev = nav[nav.index.year < row["year"]]
        assert row["start_nav"] == pytest.approx(prev.iloc[-1] if len(prev) else cfg.cash0,
                                                 rel=1e-6)
    chained = edge["start_nav"].to_numpy()[:-1] + edge["realised_pnl"].to_numpy()[:-1]
    np.testing.assert_allclose(chained, edge["start_nav"].to_numpy()[1:], rtol=1e-6)
    last = edge.iloc[-1]
    assert last["start_nav"] + last["realised_pnl"] == pytest.approx(nav.iloc[-1], rel=1e-6)


def test_mnvh_metrics_csv_recomputed_from_the_ledger(mnvh_report):
    from scipy import stats

    out, prices, cfg = mnvh_report
    m = pd.read_csv(out / "metrics.csv", index_col=0)["MNVH"]
    L = pd.read_csv(out / "ledger.csv", index_col=0, parse_dates=True)
    nav = L["nav"].to_numpy()
    r = nav[1:] / nav[:-1] - 1
    P, n = 252.0, r.size
    tr = L[[c for c in L.columns if c.startswith("trade:")]].to_numpy()
    expected = {
        "final_nav": nav[-1],
        "cagr": (nav[-1] / nav[0]) ** (P / n) - 1,
        "ann_vol": r.std(ddof=1) * math.sqrt(P),
        "sharpe": r.mean() / r.std(ddof=1) * math.sqrt(P),
        "max_drawdown": (nav / np.maximum.accumulate(nav) - 1).min(),
        "hit_rate": np.mean(r[r != 0] > 0),
        "skew": stats.skew(r, bias=False),
        "kurtosis": stats.kurtosis(r, bias=False),
        "turnover": (np.abs(tr) * prices.to_numpy()).sum() / nav.mean() / (n / P),
        "avg_gross": np.mean(L["gross"] / L["nav"]),
        "avg_net": np.mean(L["net"] / L["nav"]),
    }
    for k, v in expected.items():
        assert float(m[k]) == pytest.approx(v, rel=1e-6, abs=1e-9), k


# ---------------------------------------------------------------- Kelly and scenario reports


def test_kelly_report_fraction_and_horizon_tables_closed_form():
    from pyxl.reports.kelly import fraction_frame, horizon_table

    mu, sigma, rf = 0.0881, 0.183, 0.025
    ns = (mu - rf) / sigma ** 2
    fr = fraction_frame(mu, sigma, rf)
    for _, row in fr.iterrows():
        f = row["kelly_fraction"]
        n = f * ns
        g = rf + n * (mu - rf) - n ** 2 * sigma ** 2 / 2
        assert row["leverage"] == pytest.approx(n)
        assert row["log_growth"] == pytest.approx(g)
        assert row["growth_kept"] == pytest.approx(f * (2 - f))
        assert row["volatility"] == pytest.approx(n * sigma)
        assert row["p_ever_below_0.5"] == pytest.approx(0.5 ** (2 * g / (n * sigma) ** 2))
        assert row["years_to_double"] == pytest.approx(math.log(2) / g)
    z = 1.6448536269514722
    hor = horizon_table(mu, sigma, rf)
    for _, row in hor.iterrows():
        n, nb = row["leverage"], (0.0 if row["versus"] == "cash" else 1.0)
        gap = (n - nb) * (mu - rf) - (n ** 2 - nb ** 2) * sigma ** 2 / 2
        want = (z * abs(n - nb) * sigma / gap) ** 2 if gap > 0 else math.inf
        assert row["years"] == pytest.approx(want, rel=1e-6)


def test_scenario_summary_recomputed_from_the_paths():
    from pyxl.core import scenarios as core

    rng = np.random.default_rng(5)
    hist = rng.normal(0.006, 0.05, size=(90, 4))
    mu = np.array([0.06, 0.08, 0.05, 0.07])
    A = rng.normal(size=(4, 4))
    cov = (A @ A.T / 4 + np.eye(4)) * 0.02
    W = np.array([[0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    spec = core.ScenarioSpec(n_paths=300, block=4, horizon=36, lam=0.94, periods=12, seed=9)
    s = core.generate(hist, mu, cov, spec, W, keep_paths=True)
    X = s.paths
    port = X @ W.T
    wealth = np.concatenate([np.ones((X.shape[0], 1, 2)), np.cumprod(1 + port, axis=1)], 1)
    tw_block = s.summary_rows()
    first = [r[0] for r in tw_block]
    i_pf, i_tw, i_dd = (first.index(h) for h in ("portfolio", "terminal wealth", "max drawdown"))
    dd = (1 - wealth / np.maximum.accumulate(wealth, axis=1)).max(axis=1)
    for k in range(2):
        q = np.percentile(wealth[:, -1, k], [5, 25, 50, 75, 95])
        np.testing.assert_allclose(tw_block[i_tw + 1 + k][1:6], q, rtol=1e-12)
        assert tw_block[i_tw + 1 + k][6] == pytest.approx(wealth[:, -1, k].mean())
        np.testing.assert_allclose(tw_block[i_dd + 1 + k][1:6],
                                   np.percentile(dd[:, k], [5, 25, 50, 75, 95]), rtol=1e-12)
        # Portfolio realised mean: (1 + w'r_bar)^P - 1 equals the annual target (drift delta).
        m = X.reshape(-1, 4).mean(axis=0)
        row = tw_block[i_pf + 1 + k]
        assert row[2] == pytest.approx((1 + W[k] @ m) ** 12 - 1, rel=1e-10)
        assert row[2] == pytest.approx(W[k] @ mu, rel=1e-9)
    np.testing.assert_allclose(np.moveaxis(np.percentile(wealth, [5, 25, 50, 75, 95], axis=0),
                                           0, 1), s.fan, rtol=1e-12)


def test_kelly_horizon_table_raises_bad_input_and_reports_never_as_inf():
    """'never out-grows' is infinite years; a bad confidence is an error, not 'inf'."""
    from pyxl.errors import InputError
    from pyxl.reports.kelly import horizon_table

    t = horizon_table(0.085, 0.182, 0.01)
    # full Kelly vs cash: closed form (z sigma_gap / drift)^2 with drift = n(mu-rf) - n^2 s^2/2
    n = 0.075 / 0.182**2
    drift = n * 0.075 - 0.5 * n**2 * 0.182**2
    z = 1.6448536269514722
    full_cash = t[(t.strategy == "full Kelly") & (t.versus == "cash")].years.item()
    assert full_cash == pytest.approx((z * n * 0.182 / drift) ** 2, rel=1e-12)
    # mu = rf: Kelly leverage 0 is cash itself (never 'beats' it: inf), but it beats the
    # unlevered index, whose log growth is sigma^2/2 = 2 %/yr lower: (z sigma / 0.02)^2
    flat = horizon_table(0.01, 0.2, 0.01)
    assert np.isinf(flat[flat.versus == "cash"].years).all()
    np.testing.assert_allclose(flat[flat.versus == "unlevered index"].years,
                               (z * 0.2 / 0.02) ** 2, rtol=1e-12)
    with pytest.raises(InputError, match="confidence"):
        horizon_table(0.085, 0.182, 0.01, confidence=1.5)
