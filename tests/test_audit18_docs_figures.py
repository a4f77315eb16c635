"""Figures quoted in README.md and docs/*.md, recomputed now (audit 18).

Each test reads the number (or the quoted line) from the page itself, recomputes it
(independently where that is cheap: closed forms, numpy, a second quadrature; else through
the code path the page describes) and asserts that the page and the value agree to the
digits shown, so the pages cannot drift silently.  Only figures that take under about
2 s to recompute are here; :mod:`test_audit6_docs` covers the signatures, argument
tables, command lines, links and the first worked examples and is not repeated.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import excel_range, excel_row
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]


def _flat(name: str) -> str:
    """A page with its line breaks and indentation folded to single spaces."""
    return re.sub(r"\s+", " ", (ROOT / name).read_text(encoding="utf-8"))


def _find(name: str, pattern: str) -> re.Match:
    """The one match of ``pattern`` in the folded page (fails when the sentence moved)."""
    found = list(re.finditer(pattern, _flat(name)))
    assert len(found) == 1, (name, pattern, len(found))
    return found[0]


def _num(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-"))


def _shown(text: str, value: float, scale: float = 1.0) -> bool:
    """``value * scale`` rounds to the figure written ``text`` (its decimals)."""
    t = text.replace(",", "")
    decimals = len(t.split(".")[1]) if "." in t else 0
    return abs(float(t) - value * scale) <= 0.5 * 10 ** -decimals * (1 + 1e-9)


def _one(out):
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 1, out
    return out[0][0]


def _table(name: str, header: str) -> list[list[str]]:
    """Body rows (cells stripped) of the Markdown table whose header line is ``header``."""
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


# --- Kelly (docs/kelly.md, docs/excel.md, docs/workbooks.md) ----------------------------


def _lognormal_growth(n, mu, sigma, rf, periods):
    """periods * E ln(1 + rf_p + n (R - rf_p)) by adaptive quadrature (scipy's quad; the
    code uses 400-node Gauss-Legendre) over the normal driver on |z| <= 8, as the page
    states: -inf when the book can be wiped out within 8 standard deviations."""
    from scipy.integrate import quad

    rf_p = math.expm1(rf / periods)
    m, s = (mu - sigma ** 2 / 2) / periods, sigma / math.sqrt(periods)

    def wealth(z):
        return 1 + rf_p + n * (math.expm1(m + s * z) - rf_p)

    if min(wealth(-8), wealth(8)) <= 0:
        return -math.inf
    val, _ = quad(lambda z: math.log(wealth(z)) * norm.pdf(z), -8, 8, epsabs=1e-14,
                  epsrel=1e-12, limit=200)
    return periods * val


def test_growth_table_approx_and_exact_lognormal(xl):
    rows = _table("docs/kelly.md", "| n | approx | lognormal, daily (252) | "
                                   "lognormal, monthly (12) |")
    assert len(rows) == 4
    mu, sigma, rf = 0.085, 0.182, 0.01
    for n_cell, *cells in rows:
        n = (mu - rf) / sigma ** 2 if "n*" in n_cell else float(n_cell)
        assert _shown(n_cell.split()[0], n)
        approx = rf + n * (mu - rf) - n ** 2 * sigma ** 2 / 2
        exact = [approx] + [_lognormal_growth(n, mu, sigma, rf, p) for p in (252, 12)]
        code = [_one(xl("KELLY_GROWTH", n, mu, sigma, rf))] + [
            _one(xl("KELLY_GROWTH", n, mu, sigma, rf, "lognormal", p)) for p in (252, 12)]
        for cell, want, got in zip(cells, exact, code, strict=True):
            if cell == "ruin":
                assert want == -math.inf and "wipe out the account" in got, (n, got)
            else:
                assert _shown(cell.rstrip(" %"), want, 100), (n, cell, want)
                assert got == pytest.approx(want, rel=1e-7, abs=1e-9), (n, cell)


def test_yearly_rebalancing_example_and_the_8_sigma_cut(xl):
    m = _find("docs/kelly.md", r"for mu = 30 %, sigma = 5 %, yearly rebalancing at 5x: "
                               r"approximation (\d+) % a year, exact (\d+) %")
    approx = 5 * 0.30 - 25 * 0.05 ** 2 / 2
    exact = _lognormal_growth(5, 0.30, 0.05, 0.0, 1)
    assert _shown(m.group(1), approx, 100) and _shown(m.group(2), exact, 100)
    assert _one(xl("KELLY_GROWTH", 5, 0.30, 0.05, 0.0)) == pytest.approx(approx)
    assert _one(xl("KELLY_GROWTH", 5, 0.30, 0.05, 0.0, "lognormal", 1)) == pytest.approx(
        exact, rel=1e-8)
    # "Beyond that the probability (1.2e-15)": both tails beyond 8 standard deviations
    tail = _find("docs/kelly.md", r"Beyond that the probability \(([\d.e-]+)\)").group(1)
    assert f"{2 * norm.cdf(-8):.1e}" == tail
    _find("docs/kelly.md", r"Integrated by 400-point Gauss-Legendre quadrature over the "
                           r"standard-normal driver on \|z\| <= 8")
    from pyxl.core.kelly import closed_form

    assert closed_form.Z_CUT == 8 and closed_form._GL_NODES.size == 400


def test_half_kelly_example_and_the_excel_first_cell(xl):
    half = _find("docs/kelly.md", r"`=KELLY_LEVERAGE\(0\.085, 0\.182, 0\.01, 0\.5\)` = "
                                  r"([\d.]+)").group(1)
    assert _shown(half, 0.5 * 0.075 / 0.182 ** 2)
    assert _one(xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01, 0.5)) == pytest.approx(
        0.5 * 0.075 / 0.182 ** 2, rel=1e-14)
    full = _find("docs/excel.md", r"`=KELLY_LEVERAGE\(0\.085,0\.182,0\.01\)` in a cell: it "
                                  r"shows ([\d.]+)\.\.\.").group(1)
    assert str(0.075 / 0.182 ** 2).startswith(full)
    assert str(_one(xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01))).startswith(full)


def test_kelly_weights_example(xl):
    m = _find("docs/kelly.md", r"unconstrained \(([\d., ]+)\); long-only with gross <= "
                               r"(\d+): \(([\d., ]+)\)")
    free = [float(v) for v in m.group(1).split(",")]
    cap = float(m.group(2))
    capped = [float(v) for v in m.group(3).split(",")]
    mu = np.array([0.08, 0.06, 0.10])
    cov = np.array([[0.040, 0.010, 0.012], [0.010, 0.020, 0.004], [0.012, 0.004, 0.090]])
    want = np.linalg.solve(cov, mu - 0.01)  # Sigma^-1 (mu - rf), rf = 1 %
    assert all(_shown(f"{v:.3f}", w) for v, w in zip(free, want, strict=True)), want
    got = xl("KELLY_WEIGHTS", excel_row(mu), excel_range(cov), 0.01)[0]
    assert got == pytest.approx(want, rel=1e-12)
    # the capped optimum, independently: maximise w'(mu - rf) - w'Sw/2, w >= 0, sum w <= 2
    from scipy.optimize import minimize

    res = minimize(lambda w: -(w @ (mu - 0.01) - w @ cov @ w / 2), np.full(3, 0.5),
                   jac=lambda w: -(mu - 0.01 - cov @ w), method="SLSQP",
                   bounds=[(0, None)] * 3,
                   constraints=[{"type": "ineq", "fun": lambda w: cap - w.sum()}],
                   options={"ftol": 1e-14})
    assert all(_shown(f"{v:.3f}", w) for v, w in zip(capped, res.x, strict=True)), res.x
    got = xl("KELLY_WEIGHTS", excel_row(mu), excel_range(cov), 0.01, 1, cap, True)[0]
    assert got == pytest.approx(res.x, abs=1e-6)


def _years(mu_rf: float, sigma: float, n: float, nb: float, z: float) -> float:
    d = (n - nb) * mu_rf - (n * n - nb * nb) * sigma ** 2 / 2
    return (z * abs(n - nb) * sigma / d) ** 2


def test_rubinstein_table_and_the_pinned_inputs():
    rows = _table("docs/kelly.md", "| reading of mu - r_f = 2.5 % | Kelly n* | vs cash | "
                                   "vs all-stock |")
    z = norm.ppf(0.95)
    from pyxl.core.kelly import horizon_years

    for reading, mu_rf in zip(rows, (0.025, 0.025 + 0.18 ** 2 / 2, 0.041), strict=True):
        assert _shown(re.findall(r"[\d.]+", reading[0])[-1], mu_rf), reading
        n = mu_rf / 0.18 ** 2
        assert _shown(reading[1], n)
        cash = re.search(r"[\d,.]+", reading[2]).group(0)
        stock = re.search(r"[\d,.]+", reading[3]).group(0)
        assert _shown(cash, _years(mu_rf, 0.18, n, 0, z)), (reading, _years(mu_rf, 0.18, n, 0, z))
        assert _shown(stock, _years(mu_rf, 0.18, n, 1, z))
        assert horizon_years(mu_rf, 0.18, 0.0) == pytest.approx(_years(mu_rf, 0.18, n, 0, z))
    # the quoted pair 208 / 4,700 pins n*, mu - rf and z down
    m = _find("docs/kelly.md", r"gives `n\* = ([\d.]+)`, hence `mu - rf = ([\d.]+)`, and then "
                               r"`T_cash = 208` needs `z = ([\d.]+)`")
    ratio = math.sqrt(4700 / 208)
    n_star = ratio / (ratio - 1)
    assert _shown(m.group(1), n_star) and _shown(m.group(2), n_star * 0.18 ** 2)
    assert _shown(m.group(3), math.sqrt(208) * n_star * 0.18 / 2)
    # the templates page: "(we get 207) and 4,700 (we get 4,528 at z = 1.645)"
    m = _find("docs/workbooks.md", r"\(we get (\d+)\) and 4,700 \(we get ([\d,]+) at z = "
                                   r"1\.645\)")
    mu_rf = 0.025 + 0.18 ** 2 / 2
    assert _shown(m.group(1), _years(mu_rf, 0.18, mu_rf / 0.18 ** 2, 0, z))
    assert _shown(m.group(2), _years(mu_rf, 0.18, mu_rf / 0.18 ** 2, 1, z))


def test_half_kelly_against_the_index_never_catches_up_in_the_stated_range():
    _find("docs/kelly.md", r"Half Kelly never out-grows the unlevered index when 2/3 < n\* < 2")
    from pyxl.core.kelly import log_wealth_gap

    sigma = 0.2
    for n_star in np.linspace(0.05, 4.0, 80):
        drift, _ = log_wealth_gap(n_star / 2, 1.0, n_star * sigma ** 2, sigma, 0.0)
        inside = 2 / 3 + 1e-9 < n_star < 2 - 1e-9
        outside = n_star < 2 / 3 - 1e-9 or n_star > 2 + 1e-9
        assert not (inside and drift > 0) and not (outside and drift <= 0), (n_star, drift)


@pytest.fixture(scope="module")
def sp500_index():
    from pyxl.data import load_sp500_index

    return load_sp500_index()


def test_leverage_drift_bullets(sp500_index):
    from pyxl.reports.kelly import DEFAULT_COST, DEFAULT_RF, drift_table

    m = _find("docs/kelly.md", r"1990-2022 \(rf = ([\d.]+) %, (\d+) bp\)")
    assert _shown(m.group(1), DEFAULT_RF, 100) and _shown(m.group(2), DEFAULT_COST, 1e4)
    p = sp500_index.dropna().to_numpy(dtype=float)
    r = p[1:] / p[:-1] - 1
    mu, sigma, rf = r.mean() * 252, r.std(ddof=1) * math.sqrt(252), DEFAULT_RF
    m = _find("docs/kelly.md", r"mu = ([\d.]+) %, sigma = ([\d.]+) %, so n\* = ([\d.]+)\.")
    assert _shown(m.group(1), mu, 100) and _shown(m.group(2), sigma, 100)
    assert _shown(m.group(3), (mu - rf) / sigma ** 2)
    tab = drift_table(sp500_index, rf, DEFAULT_COST, [2.0]).set_index("rebalance")
    daily, monthly = tab.loc["daily"], tab.loc["monthly"]
    m = _find("docs/kelly.md", r"At 2x, daily rebalancing realises ([\d.]+) % a year\. The "
                               r"theory gives ([\d.]+) %; the exact daily-history growth is "
                               r"([\d.]+) %, minus ([\d.]+) % of fees, on a turnover of "
                               r"([\d.]+)x equity a year\.")
    theory = rf + 2 * (mu - rf) - 2 * sigma ** 2
    rf_p = math.expm1(rf / 252)
    exact = 252 * np.log1p(rf_p + 2 * (r - rf_p)).mean()
    assert _shown(m.group(1), daily["realised_growth"], 100)
    assert _shown(m.group(2), theory, 100) and _shown(m.group(3), exact, 100)
    assert _shown(m.group(4), daily["fees_per_year"], 100)
    assert _shown(m.group(5), daily["turnover_per_year"])
    m = _find("docs/kelly.md", r"Monthly rebalancing realises ([\d.]+) % with turnover "
                               r"([\d.]+)x\. In between, leverage drifts from ([\d.]+) to "
                               r"([\d.]+); even rebalanced daily, it moves from ([\d.]+) to "
                               r"([\d.]+) within a day")
    for text, v in zip(m.groups(), (100 * monthly["realised_growth"],
                                    monthly["turnover_per_year"], monthly["min_leverage"],
                                    monthly["max_leverage"], daily["min_leverage"],
                                    daily["max_leverage"]), strict=True):
        assert _shown(text, v), (text, v)


def test_two_times_buy_and_hold_from_2000_is_wiped_out_on_the_stated_day():
    """Was 'wiped out in 2008-09' (true only at rf = 0); at the CLI's rf = 2.5 % the
    debt outgrows the halved exposure at the October 2002 low."""
    from pyxl.core.kelly import simulate_leverage
    from pyxl.data import load_sp500_index
    from pyxl.reports.kelly import DEFAULT_COST, DEFAULT_RF

    m = _find("docs/kelly.md", r"Buy and hold at 2x from 2000 onwards is wiped out on "
                               r"(\d{4}-\d\d-\d\d): the index is then (\d+) % below its start "
                               r"while the debt has grown (\d+) % at rf = 2\.5 %\.")
    px = load_sp500_index("2000-01-01", None).dropna()
    p = px.to_numpy(dtype=float)
    # independently: exposure e0 = 2 (1 - fee), fee = cost e0, then held; debt accrues at rf
    e0 = 2 / (1 + 2 * DEFAULT_COST)
    cash0 = 1 - e0 - DEFAULT_COST * e0
    t = np.arange(p.size)
    wealth = e0 * p / p[0] + cash0 * np.exp(DEFAULT_RF / 252) ** t
    k = int(np.argmax(wealth <= 0))
    assert wealth[k] <= 0 and (wealth[:k] > 0).all()
    assert px.index[k].date() == dt.date.fromisoformat(m.group(1))
    assert _shown(m.group(2), 1 - p[k] / p[0], 100)
    assert _shown(m.group(3), np.exp(DEFAULT_RF / 252) ** k - 1, 100)
    r = p[1:] / p[:-1] - 1
    res = simulate_leverage(r, 2.0, np.zeros(r.size, dtype=bool), rf=DEFAULT_RF,
                            cost=DEFAULT_COST)
    assert px.index[res.ruined_at + 1] == px.index[k]  # return i ends on price i + 1


# --- MBP (docs/mbp.md) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def table1():
    from pyxl.core.mbp import make_universe
    from pyxl.core.mbp.study import table1_study
    from pyxl.reports.mbp import side_by_side

    df = table1_study(make_universe(), (0.0025, 0.01, 0.03, 0.05), within_multiple=2.0)
    return df, side_by_side(df)


def test_table1_rows_as_printed(table1):
    df, side = table1
    text = (ROOT / "docs/mbp.md").read_text(encoding="utf-8")
    block = text[text.index("    market TE          SBP U"):]
    lines = [ln.strip() for ln in block.splitlines()[1:5]]
    cell = re.compile(r"(\d+\.\d\d%) \((\d+)\)")
    for line in lines:
        label = line.split()[0]
        shown = cell.findall(line)
        assert len(shown) == 8, line
        got = side.loc[label].tolist()
        for (te, names), now in zip(shown, got, strict=True):
            te_now, names_now = cell.match(now).groups()
            assert te == te_now, (label, te, now)
            # names held depend on where the solver stops for weights near 1e-7; the
            # page states the working-set path and fresh solves differ by up to 3
            assert abs(int(names) - int(names_now)) <= 3, (label, names, now)


def test_table1_prose(table1):
    df, _ = table1
    at = df.set_index(["portfolio", "te_limit"])
    m = _find("docs/mbp.md", r"at 1 % market TE, ([\d.]+) % instead of ([\d.]+) % a year")
    assert _shown(m.group(1), at.loc[("MBP", 0.01), "active_alpha"], 100)
    assert _shown(m.group(2), at.loc[("SBP", 0.01), "active_alpha"], 100)
    m = _find("docs/mbp.md", r"grows fastest \(to (\d+) % at 5 % market TE, held in (\d+) "
                             r"names\)")
    assert _shown(m.group(1), at.loc[("SBP", 0.05), "within_te_3"], 100)
    assert int(m.group(2)) == at.loc[("SBP", 0.05), "names_3"]
    sbp = df[df.portfolio == "SBP"]
    within = sbp[["within_te_1", "within_te_2", "within_te_3"]].to_numpy()
    assert (within.argmax(axis=1) == 2).all()  # "At every level it is the largest"


def test_synthetic_universe_figures():
    from pyxl.core.mbp import HELD_THRESHOLD, make_universe

    u = make_universe()
    m = _find("docs/mbp.md", r"The top 100 hold (\d+) %, names 101-500 hold (\d+) % and the "
                             r"rest (\d+) %")
    bw = np.sort(u.bench_w)[::-1]
    for text, v in zip(m.groups(), (bw[:100].sum(), bw[100:500].sum(), bw[500:].sum()),
                       strict=True):
        assert _shown(text, v, 100)
    low = _find("docs/mbp.md", r"The smallest synthetic benchmark weight is ([\d.e-]+)\.")
    assert float(low.group(1)) == float(f"{u.bench_w.min():.1e}")
    _find("docs/mbp.md", r"\*\*Names held\*\* counts weights above `1e-7` \(`HELD_THRESHOLD`\)")
    assert HELD_THRESHOLD == 1e-7
    nnz = _find("docs/mbp.md", r"give about (\d+) non-zeros per row").group(1)
    assert _shown(nnz, (u.exposures != 0).sum(axis=1).mean())
    vols = np.sqrt(np.diag(u.factor_cov))
    m = _find("docs/mbp.md", r"Factor vols are (\d+) / (\d+) / (\d+) / (\d+) % and (\d+)-(\d+) "
                             r"% for the industries")
    assert [int(v) for v in m.groups()[:4]] == [round(100 * v) for v in vols[:4]]
    assert int(m.group(5)) <= 100 * vols[4:].min() and 100 * vols[4:].max() <= int(m.group(6))
    assert u.factor_cov.shape == (37, 37) and np.linalg.eigvalsh(u.factor_cov).min() > 0
    m = _find("docs/mbp.md", r"clipped to (\d+)-(\d+) %: small caps")
    spec = np.sqrt(u.spec_var)
    assert spec.min() == pytest.approx(int(m.group(1)) / 100)
    assert spec.max() == pytest.approx(int(m.group(2)) / 100)


def _mbp_problem(seed: int, n: int = 40, k: int = 4):
    """The dense random model of the 'given the other limits' example (audit 16's)."""
    from test_audit16_notebook import _mbp

    return _mbp(seed, n, k)


def test_infeasibility_examples_are_the_optimiser_lines():
    from pyxl.core.mbp import Limits, make_data, make_universe, optimize
    from pyxl.errors import InfeasibleError

    page = _flat("docs/mbp.md")
    # "Example: `te_total: ...`": market TE 1e-5 with max_weight half the largest
    # benchmark weight, on the formula tests' 40-name universe
    example = re.search(r"Example: `(te_total: market TE limit [^`]+)`", page).group(1)
    u = make_universe(n=40, seed=5, breaks=(8, 20))
    d = make_data(u.bench_w, u.segment, u.exposures, u.factor_cov, u.spec_var)
    with pytest.raises(InfeasibleError) as err:
        optimize(d, u.alpha, Limits(te_total=1e-5, segment_neutral=False,
                                    max_weight=0.5 * u.bench_w.max()))
    assert str(err.value) == example
    # step 4's line: within-segment limits of 1 % with the market TE and max_weight
    quoted = re.search(r"\(`(te_segments item 2: [^`]+)`\)", page).group(1)
    seg, bw, B, F, s, alpha = _mbp_problem(1)
    with pytest.raises(InfeasibleError) as err:
        optimize(make_data(bw, seg, B, F, s), alpha,
                 Limits(te_total=0.02, segment_neutral=False, te_within=(0.01, 0.01, 0.01),
                        max_weight=0.04))
    assert str(err.value) == quoted
    # "`max_weight: 0.001 x 600 names < 1`"
    _find("docs/mbp.md", r"`max_weight: 0\.001 x 600 names < 1`")
    u6 = make_universe(n=600, seed=1)
    with pytest.raises(InfeasibleError, match=r"^max_weight: 0\.001 x 600 names < 1"):
        optimize(make_data(u6.bench_w, u6.segment, u6.exposures, u6.factor_cov, u6.spec_var),
                 u6.alpha, Limits(te_total=0.01, max_weight=0.001))


def test_report_residual_and_the_handle_mismatch_line(xl):
    from pyxl.core.mbp import make_universe

    u = make_universe(n=40, seed=5, breaks=(8, 20))

    def col(a):
        return excel_range(np.asarray(a, dtype=float))

    args = [col(u.alpha), col(u.bench_w), col(u.segment), excel_range(u.exposures),
            excel_range(u.factor_cov), col(u.spec_var)]
    handle = _one(xl("MBP_OPTIMIZE", *args, 0.01, xl.MISSING, xl.MISSING, xl.MISSING,
                     "handle"))
    assert re.fullmatch(r"pyxl:mbp#[0-9a-f]{12}", handle)
    rep = dict((r[0], r[1]) for r in xl("MBP_REPORT", handle))
    exp = _find("docs/mbp.md", r"Sum of terms, Market TE\^2, Residual \(about 1e(-\d+)\)")
    assert abs(rep["Residual"]) <= 10 ** (int(exp.group(1)) + 2)
    assert rep["Sum of terms"] == pytest.approx(rep["Market TE^2"], rel=1e-12)
    line = re.search(r"answer is `(#PyXL! bench_w: differs from [^`]+)`",
                     _flat("docs/mbp.md")).group(1)
    bw = u.bench_w.copy()
    bw[[0, 1]] = bw[[1, 0]]
    assert _one(xl("MBP_REPORT", handle, col(bw))) == line


# --- MNVH and the ledger (docs/mnvh.md, docs/ledger.md, README.md) ---------------------


def test_bundled_sample_sizes_and_why_2005():
    from pyxl.data import load_sp500_prices
    from pyxl.reports.mnvh import DEMO_START

    prices = load_sp500_prices()
    m = _find("README.md", r"\((\d+) S&P 500 stocks, (\d{4})-(\d{4})\)")
    assert prices.shape[1] == int(m.group(1))
    assert (prices.index[0].year, prices.index[-1].year) == (int(m.group(2)), int(m.group(3)))
    bars = _find("docs/ledger.md", r"on the full bundled data \(([\d,]+) bars").group(1)
    assert len(prices) == _num(bars)
    demo = prices[prices.index >= DEMO_START]
    m = _find("docs/mnvh.md", r"20 S&P 500 stocks, (\S+) to (\S+) \(([\d,]+) daily bars\)")
    assert (str(demo.index[0].date()), str(demo.index[-1].date())) == m.groups()[:2]
    assert len(demo) == _num(m.group(3))
    # "several are below 1 USD before 2005 (AAPL 0.098 in December 1997)"
    m = _find("docs/mnvh.md", r"\(AAPL ([\d.]+) in (\w+) (\d{4})\)")
    early = prices[prices.index < DEMO_START]
    assert (early < 1).any().sum() >= 3
    low = early["AAPL"].idxmin()
    assert early["AAPL"].min() == float(m.group(1))
    assert (low.strftime("%B"), low.year) == (m.group(2), int(m.group(3)))


def test_demo_figures_and_walk_forward(tmp_path):
    """The demo's table ("Figures at the time of writing") and walk-forward line, by the
    demo's own report function on the demo's inputs (no ablation, no xlsx)."""
    from pyxl.core.mnvh.ablation import research_config
    from pyxl.data import load_sp500_index, load_sp500_prices
    from pyxl.reports.mnvh import DEMO_START, write_backtest_report

    prices = load_sp500_prices(start=DEMO_START)
    bench = load_sp500_index(start=DEMO_START).reindex(prices.index)
    config = research_config(max_gross=3.0)
    head = _find("docs/mnvh.md", r"Figures at the time of writing \(lam ([\d.]+), beta (\d+), "
                                 r"equal weights, gross cap (\d)x\)")
    assert (config.lam, config.beta, config.max_gross) == tuple(float(g) for g in head.groups())
    b = config.beta
    rep = write_backtest_report(
        prices, config, tmp_path, scheme="equal", benchmark=bench, xlsx=False, echo=False,
        walkforward={"lams": [0.8, 0.9, 0.95], "betas": [b / 4, b, 2 * b],
                     "schemes": ["equal", "invvol"], "is_periods": 756, "oos_periods": 252})
    m = rep.metrics
    rows = {r[0]: r[1:] for r in _table("docs/mnvh.md",
                                        "| | MNVH | MNVH, no trading costs | S&P 500 buy and "
                                        "hold |")}
    keys = {"CAGR": ("cagr", 100), "Annualised vol": ("ann_vol", 100),
            "Sharpe": ("sharpe", 1), "Max drawdown": ("max_drawdown", 100),
            "Turnover (x NAV a year)": ("turnover", 1), "Beta to the index": ("beta_bench", 1)}
    assert set(keys) | {"Avg gross / net exposure (x NAV)",
                        "Ledger identity residual (max, every bar)"} == set(rows)
    for label, (key, scale) in keys.items():
        for cell, col in zip(rows[label], m.columns, strict=True):
            if cell:
                assert _shown(cell.rstrip(" %"), m.loc[key, col], scale), (label, col)
            else:
                assert np.isnan(m.loc[key, col]) or label == "Beta to the index", (label, col)
    for cell, col in zip(rows["Avg gross / net exposure (x NAV)"], m.columns, strict=True):
        if cell:
            gross, net = cell.split(" / ")
            assert _shown(gross, m.loc["avg_gross", col]) and _shown(net, m.loc["avg_net", col])
    residual = rows["Ledger identity residual (max, every bar)"][0]
    # a rounding residual: its one digit moves with the numpy version (3e-16 here,
    # 4e-16 on the lowest pins of .ci/min-versions), so within a factor of 2
    assert float(residual) / 2 <= rep.checks["identity"] <= 2 * float(residual) <= 1e-15
    # "about -7 % to -10 % on the bundled data with the defaults; see "Avg net exposure""
    assert -0.10 <= m.loc["avg_net", "MNVH"] <= -0.07
    # "~90x NAV annual turnover at 6 bp costs"
    assert round(m.loc["turnover", "MNVH"], -1) == 90
    assert config.fees.fee_rate + config.fees.half_spread == pytest.approx(6e-4)
    wf = _find("docs/mnvh.md", r"\((\d) years in sample, (\d) year out, (\d+) folds "
                               r"(\d{4})-(\d{4}), grid lam x beta x \{equal, invvol\}\): "
                               r"out-of-sample CAGR (-?[\d.]+) %, Sharpe (-?[\d.]+)\.")
    folds = pd.read_csv(tmp_path / "walkforward.csv", encoding="utf-8-sig")
    oos = pd.read_csv(tmp_path / "walkforward_oos_metrics.csv",
                      encoding="utf-8-sig").set_index("metric")["oos"]
    assert (int(wf.group(1)) * 252, int(wf.group(2)) * 252) == (756, 252)
    assert len(folds) == int(wf.group(3))
    assert pd.Timestamp(folds["oos_first_date"].iloc[0]).year == int(wf.group(4))
    assert pd.Timestamp(folds["oos_last_date"].iloc[-1]).year == int(wf.group(5))
    assert _shown(wf.group(6), oos["cagr"], 100) and _shown(wf.group(7), oos["sharpe"])


def test_backtest_spills_the_stated_table(xl):
    rows = int(_find("docs/mnvh.md", r"spills a (\d+) x 2 table").group(1))
    rng = np.random.default_rng(np.random.SeedSequence(18))
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (80, 4)), axis=0))
    bench = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 80)))
    out = xl("MNVH_BACKTEST", excel_range(prices), 0.9, 35, "invvol", 0.0005, 0.0001,
             excel_range(bench), True)
    assert len(out) == rows and {len(r) for r in out} == {2}
    from pyxl.core.metrics import METRICS

    # the metrics table, then the three rows the page names
    assert [r[0] for r in out] == [*METRICS.values(), "Ledger identity residual (max rel.)",
                                   "Risk events", "Mean rho (rolling, clipped)"]


def test_rate_and_bar_limits(xl):
    m = _find("docs/mnvh.md", r"beyond 1\.8e308 \(about ([\d,]+), i\.e\. ([\d,]+) % a year, "
                              r"for daily bars")
    from scipy.optimize import brentq

    log_max = math.log(1.8) + 308 * math.log(10)  # ln(1.8e308); 1.8e308 itself is inf
    limit = brentq(lambda r: 252 * math.log1p(r / 252) - log_max, 100, 1e5)
    assert abs(_num(m.group(1)) - limit) <= 5 and abs(_num(m.group(2)) - 100 * limit) <= 500
    rng = np.random.default_rng(np.random.SeedSequence(19))
    prices = excel_range(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (30, 3)), axis=0)))
    blank = [xl.MISSING] * 16
    over = _one(xl("MNVH_BACKTEST", prices, *blank, math.ceil(limit) + 5, xl.MISSING,
                   xl.MISSING, "Final NAV"))
    assert over.startswith("#PyXL! cash_rate: ")
    assert isinstance(_one(xl("MNVH_BACKTEST", prices, *blank, math.floor(limit) - 5,
                              xl.MISSING, xl.MISSING, "Final NAV")), float)
    bars = _find("docs/mnvh.md", r"bars per year, at most ([\d,]+) \(one bar a second\)")
    from pyxl.core.metrics import MAX_PERIODS_PER_YEAR

    assert _num(bars.group(1)) == MAX_PERIODS_PER_YEAR == 366 * 86400
    eps = _find("docs/mnvh.md", r"`max r - min r <= 64 eps \(1 \+ max \|r\|\)`, about "
                                r"([\d.e-]+):")
    assert f"{64 * np.finfo(float).eps:.1e}" == eps.group(1)


def test_benchmark_book_shares(monkeypatch):
    """kappa and trade shares of the two books of benchmarks/bench_mnvh.py."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    sys.modules.pop("bench_mnvh", None)
    import bench_mnvh as bench

    from pyxl.core.mnvh import MNVHConfig, run_backtest

    P, w = bench.problem()
    assert P.shape == (2520, 200)
    _find("docs/ledger.md", r"\(T = 2520 x N = 200, seeded random walks")
    floor = _find("docs/ledger.md", r"kappa = 0 on (\d+) % of bars, in \(0, 1\) on (\d+) %, 1 on "
                                    r"(\d+) %; (\d+) % of asset-steps trade")
    heavy = _find("docs/ledger.md", r"every asset trades on every bar and 0 < kappa < 1 on "
                                    r"(\d+) % of bars")
    (_, _, floor_kw), (_, _, heavy_kw) = bench.CASES
    for kw, shown in ((floor_kw, floor.groups()), (heavy_kw, heavy.groups())):
        res = run_backtest(P, w, MNVHConfig(**kw))
        k, traded = res.kappa[1:], res.trades[1:] != 0
        shares = [(k == 0).mean(), ((k > 0) & (k < 1)).mean(), (k == 1).mean(), traded.mean()]
        if len(shown) == 1:  # the heavy book: every asset-step trades
            assert traded.all() and (k > 0).all()
            shares = shares[1:2]
        for text, v in zip(shown, shares, strict=True):
            assert _shown(text, v, 100), (text, v)


def test_most_open_lots_on_the_bundled_data():
    """'the most seen are ... 14 on the bundled S&P data', counted here by a plain
    deque per asset (an open lot per buy or sell that adds to the position)."""
    from collections import deque

    from pyxl.core.mnvh import MNVHConfig, run_backtest
    from pyxl.data import load_sp500_prices

    shown = _find("docs/ledger.md", r"the most seen are (\d+) on the benchmark's heavy book "
                                    r"and (\d+) on the bundled S&P data")
    prices = load_sp500_prices()
    trades = np.asarray(run_backtest(prices, np.full(20, 0.05), MNVHConfig()).trades)
    most = 0
    for col in trades.T:
        lots, pos = deque(), 0.0
        for x in col[col != 0]:
            if pos == 0 or (x > 0) == (pos > 0):
                lots.append(abs(x))
            else:
                c = abs(x)
                while c > 0 and lots:
                    if lots[0] > c:
                        lots[0] -= c
                        c = 0.0
                    else:
                        c -= lots.popleft()
                if c > 0:  # through zero: one lot with the rest
                    lots.append(c)
            pos += x
            most = max(most, len(lots))
    assert most == int(shown.group(2))
    # the later paragraph about the heavy book quotes the same maximum
    heavy = _find("docs/ledger.md", r"On that book an asset holds \d+ open lots on average "
                                    r"\(90th percentile \d+, at most (\d+)\)")
    assert heavy.group(1) == shown.group(1)


# --- scenarios (docs/scenarios.md) ------------------------------------------------------


def test_left_tail_note_on_the_demo_setup():
    from pyxl.core import scenarios as core
    from pyxl.reports.scenarios import DEMO_HORIZON, DEMO_TICKERS, demo_inputs

    m = _find("docs/scenarios.md", r"In the demo setup \(([\d,]+) paths x (\d+) months x (\d+) "
                                   r"stocks\) (\w+) asset-months came out below -100 % \(the "
                                   r"lowest (-\d+) %\), and PG's 0\.001st percentile is (-\d+) % "
                                   r"against a worst historical month of (-\d+) %")
    n_paths, horizon, n_assets = int(_num(m.group(1))), int(m.group(2)), int(m.group(3))
    assert (horizon, n_assets) == (DEMO_HORIZON, len(DEMO_TICKERS))
    rets, mu, cov, W, labels = demo_inputs()
    spec = core.ScenarioSpec(n_paths=n_paths, block=0, horizon=horizon, lam=0.94, periods=12,
                             seed=2026, method="moving")
    paths = core.generate(rets.to_numpy(), mu, cov, spec, W, keep_paths=True).paths
    words = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
    assert int((paths < -1).sum()) == words[m.group(4)]
    assert _shown(m.group(5), paths.min(), 100)
    pg = list(DEMO_TICKERS).index("PG")
    assert _shown(m.group(6), np.percentile(paths[:, :, pg], 0.001), 100)
    assert _shown(m.group(7), rets["PG"].min(), 100)


def test_demo_run_and_small_arithmetic():
    from pyxl.reports.scenarios import DEMO_HORIZON, DEMO_PATHS, DEMO_TICKERS

    m = _find("docs/scenarios.md", r"`pyxl demo --only scenarios` runs ([\d,]+) paths x (\d+) "
                                   r"months on monthly returns of ([A-Z, ]+?) \(1990-2022\)")
    assert (_num(m.group(1)), int(m.group(2))) == (DEMO_PATHS, DEMO_HORIZON)
    assert [t.strip() for t in m.group(3).split(",")] == list(DEMO_TICKERS)
    m = _find("docs/scenarios.md", r"about \(1\+lam\)/\(1-lam\) ~ (\d+) periods")
    assert _shown(m.group(1), 1.94 / 0.06)
    m = _find("docs/scenarios.md", r"7 %/12 = ([\d.]+) % vs 1\.07\^\(1/12\) - 1 = ([\d.]+) %")
    assert _shown(m.group(1), 7 / 12) and _shown(m.group(2), 1.07 ** (1 / 12) - 1, 100)
    m = _find("docs/scenarios.md", r"ln\(1\.8e308\) = ([\d.]+)")
    assert _shown(m.group(1), math.log(1.8) + 308 * math.log(10))
    m = _find("docs/scenarios.md", r"mean terminal wealth is about ([\d.]+) against "
                                   r"\(1 \+ ([\d.]+) %\)\^10 = ([\d.]+)")
    from pyxl.reports.scenarios import demo_inputs

    _, mu, _, W, labels = demo_inputs()
    balanced = float(W[labels.index("balanced")] @ mu)
    assert _shown(m.group(2), balanced, 100) and _shown(m.group(3), (1 + balanced) ** 10)


def test_overflow_limits_let_the_stated_examples_pass():
    """'a 1,000 % mean over 50 years of months or an 8,000 % vol over a year pass'."""
    from pyxl.core import scenarios as core
    from pyxl.errors import InputError

    _find("docs/scenarios.md", r"\(a 1,000 % mean over 50 years of months or an 8,000 % vol "
                               r"over a year pass\)")
    hist = np.random.default_rng(np.random.SeedSequence(20)).normal(0.01, 0.05, (60, 2))

    def run(mu0, vol0, horizon):
        spec = core.ScenarioSpec(n_paths=2, block=3, horizon=horizon, periods=12)
        return core.generate(hist, np.array([mu0, 0.05]), np.diag([vol0 ** 2, 0.04]), spec)

    run(10.0, 0.2, 600)    # 1,000 % a year over 50 years of months
    run(0.05, 80.0, 12)    # 8,000 % vol over a year
    with pytest.raises(InputError, match="^cov_ann: "):
        run(0.05, 90.0, 12)  # 8 sqrt(12) * 90 / sqrt(12) = 720 > 709.8
    with pytest.raises(InputError, match="^mu_ann: "):
        run(40.0, 0.2, 600)


def test_memory_and_cache_constants():
    from pyxl.core.scenarios import engine
    from pyxl.xl import handles, udf_scenarios

    page = _flat("docs/scenarios.md")
    assert "Paths are generated in fixed groups of 256" in page and engine.BLOCK_PATHS == 256
    assert "(at most 64 handles and 1 GiB of arrays" in page
    assert (handles.MAX_OBJECTS, handles.MAX_BYTES) == (64, 1 << 30)
    assert "Runs larger than 20 million values" in page
    assert udf_scenarios.MAX_KEPT_VALUES == engine.FAN_MAX_VALUES == 20_000_000
    six = _find("docs/scenarios.md", r"about (\w+) runs of 20 million values").group(1)
    assert {"six": 6}[six] == int(handles.MAX_BYTES / (20e6 * 8))
    assert "at most 64 of them holding at most 1 GiB" in _flat("docs/mbp.md")


# --- templates (docs/workbooks.md) and quoted lines (docs/excel.md) --------------------


def test_template_blocks_as_described():
    import openpyxl

    def names(book):
        wb = openpyxl.load_workbook(ROOT / "workbooks" / book, read_only=False)
        return wb, {n: wb.defined_names[n].attr_text.replace("$", "").replace("'", "")
                    for n in wb.defined_names}

    wb, nm = names("mnvh_ledger.xlsx")
    m = _find("docs/workbooks.md", r"(\d+) daily closes of (\d+) bundled S&P 500 stocks "
                                   r"\((\S+) to (\S+)\)")
    assert nm["mnvh_price_table"] == "Prices!B1:K251" and nm["mnvh_dates"] == "Prices!A2:A251"
    days, stocks = int(m.group(1)), int(m.group(2))
    ws = wb["Prices"]
    assert (days, stocks) == (250, 10) and ws.max_column == 1 + stocks
    assert (str(ws["A2"].value.date()), str(ws[f"A{days + 1}"].value.date())) == m.groups()[2:]
    assert "target weights `mnvh_weights` (C14:L14)" in _flat("docs/workbooks.md")
    assert nm["mnvh_weights"] == "Inputs!C14:L14"
    wb, nm = names("scenarios.xlsx")
    m = _find("docs/workbooks.md", r"(\d+) monthly simple returns of ([A-Z, ]+) "
                                   r"\(`scn_returns`")
    assert nm["scn_returns"] == f"History!B2:F{int(m.group(1)) + 1}"
    assert [c.value for c in wb["History"][1]][1:] == [t.strip() for t in m.group(2).split(",")]
    wb, nm = names("mbp.xlsx")
    m = _find("docs/workbooks.md", r"(\d+) names from the engine's synthetic TSE-like generator, "
                                   r"segments top (\d+) / (\d+)-(\d+) / (\d+)-(\d+)")
    seg = [c.value for c in wb["Universe"]["B"][1:int(m.group(1)) + 1]]
    n1, n2 = int(m.group(2)), int(m.group(4))
    assert seg == [1] * n1 + [2] * (n2 - n1) + [3] * (int(m.group(1)) - n2)
    assert nm["mbp_exposures"] == "Universe!F2:K121" and nm["mbp_factor_cov"] == "Factors!B2:G7"
    assert "`mbp_te_segments` (C9:E9" in _flat("docs/workbooks.md")
    assert nm["mbp_te_segments"] == "Inputs!C9:E9"
    wb, nm = names("kelly.xlsx")
    assert "`kelly_sigma` (A13:C19, 7 assets)" in _flat("docs/workbooks.md")
    assert nm["kelly_names"] == "Inputs!A13:A19" and nm["kelly_sigma"] == "Inputs!C13:C19"
    for key, cell in (("rf", "C4"), ("fraction", "C5"), ("confidence", "C6"),
                      ("vs_leverage", "C7"), ("asset", "C8")):
        assert f"`kelly_{key}` ({cell}" in _flat("docs/workbooks.md")
        assert nm[f"kelly_{key}"] == f"Inputs!{cell}"


def test_quoted_lines_of_the_excel_and_kelly_pages(xl):
    line = _find("docs/excel.md", r"`(#PyXL! beta: text '10,5' at the cell has a decimal "
                                  r"comma; [^`]+)`").group(1)
    rows = (("A", "B"),) + tuple((100.0 + i, 50.0 + (-1) ** i) for i in range(30))
    assert _one(xl("MNVH_BACKTEST", rows, 0.9, "10,5")) == line
    # "`cov: is labelled A, B, D, not by the labels of mu`" and the one-number refusal
    from pyxl.core.kelly import kelly_leverage, kelly_weights
    from pyxl.errors import InputError

    mu = pd.Series([0.08, 0.06, 0.10], index=list("ABC"))
    cov = pd.DataFrame(np.diag([0.04, 0.02, 0.09]), index=list("ABD"), columns=list("ABD"))
    quoted = _find("docs/kelly.md", r"\(`(cov: is labelled A, B, D, not by the labels of mu)`\)")
    with pytest.raises(InputError) as err:
        kelly_weights(mu, cov, 0.01)
    assert str(err.value).startswith(quoted.group(1) + ";")
    quoted = _find("docs/kelly.md", r"\(`(mu: must be one number, got an array of shape "
                                    r"\(2,\); call once per asset or leverage) \.\.\.`\)")
    with pytest.raises(InputError) as err:
        kelly_leverage(np.array([0.08, 0.06]), 0.2, 0.01)
    assert str(err.value).startswith(quoted.group(1))


def test_ledger_template_check_column_and_formula_count():
    import openpyxl
    from openpyxl.worksheet.formula import ArrayFormula

    m = _find("docs/workbooks.md", r"the check column is at most about ([\d.e-]+) USD")
    wb = openpyxl.load_workbook(ROOT / "workbooks" / "mnvh_ledger.xlsx", data_only=True)
    ws = wb["Backtest"]
    (cell,) = [c for row in ws.iter_rows() for c in row
               if isinstance(c.value, str) and c.value.startswith("Max |PnL check|")]
    worst = ws.cell(cell.row, cell.column + 1).value  # the value the template was saved with
    assert 0 <= worst and float(f"{worst:.0e}") <= float(m.group(1))
    m = _find("docs/workbooks.md", r"the 60-step ledger, about ([\d,]+) formulas")
    wb = openpyxl.load_workbook(ROOT / "workbooks" / "mnvh_ledger.xlsx")
    count = sum(isinstance(c.value, ArrayFormula) or str(c.value).startswith("=")
                for s in wb.worksheets for row in s.iter_rows() for c in row)
    assert abs(count - _num(m.group(1))) <= 0.05 * _num(m.group(1)), count
