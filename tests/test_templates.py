"""Template workbooks: they open, calculate without Excel, and match the core cell by cell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.utils import get_column_letter

import pyxl.udfs as udfs
from pyxl.core import kelly as kcore
from pyxl.core.ledger.kappa import largest_kappa
from pyxl.core.mbp.decompose import decompose
from pyxl.core.mbp.model import make_data
from pyxl.core.mbp.optimize import Limits, optimize
from pyxl.core.mnvh.rule import mnvh_step
from pyxl.templates import builder, kelly, mbp, mnvh, scenarios
from pyxl.templates import spec as S
from pyxl.workbook import calculate

REL = 1e-9


def close(a, b, rel=REL, abs_=1e-12):
    return abs(float(a) - float(b)) <= max(rel * max(abs(float(a)), abs(float(b))), abs_)


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """Every template built into a temp folder and calculated once: key -> (path, report)."""
    out = tmp_path_factory.mktemp("templates")
    res = {}
    for key, t in S.TEMPLATES.items():
        path = builder(key)(out / t.filename)
        res[key] = (path, calculate(path, path))
    return res


@pytest.mark.parametrize("key", list(S.TEMPLATES))
def test_template_matches_spec_and_calculates_cleanly(books, key):
    path, rep = books[key]
    spec = S.TEMPLATES[key]
    assert rep.issues == [], [str(i) for i in rep.issues[:5]]
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [s.name for s in spec.sheets]
    names = wb.defined_names
    assert names["pyxl_template"].attr_text == f'"{key}"'
    for inp in spec.inputs:
        assert names[inp.name].attr_text == inp.address, inp.name
        ws = wb[inp.sheet]
        cells = ws[inp.ref.replace("$", "")]
        flat = [c for row in (cells if isinstance(cells, tuple) and isinstance(
            cells[0], tuple) else [cells if isinstance(cells, tuple) else (cells,)]) for c in row]
        assert all(c.value is not None for c in flat), inp.name
        if inp.kind not in ("labels",) and spec.sheet(inp.sheet).role == "inputs":
            assert all(c.fill.fgColor.rgb.endswith("FFF2CC") for c in flat), inp.name
        if inp.choices or inp.choices_from:
            dvs = [dv for dv in ws.data_validations.dataValidation
                   if inp.ref.replace("$", "") in str(dv.sqref)]
            assert dvs and dvs[0].type == "list", inp.name
            if inp.choices_from:  # the list is the named table, as it stands
                assert dvs[0].formula1 == inp.choices_from, inp.name
                assert inp.choices_from in wb.defined_names, inp.name
    for s in spec.sheets:
        if s.role == "output":
            assert wb[s.name].max_row <= 5
    # Check cells: a formula, "ok" on the shipped inputs, red by conditional formatting.
    for sheet, ref, what in spec.checks:
        assert str(wb[sheet][ref].value).startswith("="), (sheet, ref, what)
        r, c = wb[sheet][ref].row, wb[sheet][ref].column
        assert rep.values[sheet][(r, c)] == "ok", (sheet, ref, what)
        assert any(ref in str(cf.sqref) for cf in wb[sheet].conditional_formatting), ref
    # Cached values are in the committed-style file (openpyxl data_only sees numbers).
    wbv = openpyxl.load_workbook(path, data_only=True)
    n_num = sum(isinstance(c.value, float) for ws in wbv.worksheets for row in ws.iter_rows()
                for c in row)
    assert n_num > 50


def _v(rep, sheet, r, c):
    return rep.values[sheet][(r, c)]


def test_kelly_against_core_and_seed(books):
    _, rep = books["kelly"]
    rf = 0.01
    r0 = kelly.KELLY_FIRST_ROW
    for i, (_name, mu, sigma) in enumerate(S.KELLY_ASSETS):
        r = r0 + i
        lev = kcore.kelly_leverage(mu, sigma, rf, 1.0)
        assert close(_v(rep, "Kelly", r, 5), lev)
        assert round(_v(rep, "Kelly", r, 5), 1) == kelly.SEED_LEVERAGE[i]  # the seed's table
        assert close(_v(rep, "Kelly", r, 7), kcore.growth_approx(lev, mu, sigma, rf))
        assert close(_v(rep, "Kelly", r, 9), kcore.horizon_years(mu, sigma, rf, 0.95, 0.0, lev))
    # Rubinstein block: about 208 and 4,700 years.
    col_b = {r: v for (r, c), v in rep.values["Kelly"].items() if c == 2}
    years = sorted(v for v in col_b.values() if isinstance(v, float) and v > 100)
    assert 200 < years[0] < 215 and 4400 < years[1] < 4800
    # Growth grid: approximation and exact lognormal (daily rebalancing).
    mu, sigma = S.KELLY_ASSETS[0][1:]
    nstar = kcore.kelly_leverage(mu, sigma, rf)
    for i, x in enumerate(kelly.KELLY_MULTIPLES):
        r = kelly.GROWTH_FIRST_ROW + i
        n = x * nstar
        assert close(_v(rep, "Growth", r, 2), n)
        assert close(_v(rep, "Growth", r, 3), kcore.growth_approx(n, mu, sigma, rf))
        assert close(_v(rep, "Growth", r, 4),
                     kcore.growth_exact(n, mu, sigma, rf, "lognormal", 252))
    # KELLY_TABLE block equals the core's fractional table.
    rows = kcore.fractional_table(mu, sigma, rf, 0.5)
    assert len(rows) == 4
    for k, row in enumerate(rows):  # block E4:K8, header in row 4
        want = (row.leverage, row.growth, row.growth_kept, row.volatility, row.prob_drawdown,
                row.years_to_double)
        for j, v in enumerate(want):
            assert close(_v(rep, "Growth", 5 + k, 6 + j), v)


def _ledger_reference(prices: np.ndarray, w: np.ndarray, d: dict, steps: int):
    """The Ledger sheet recomputed with the core functions (no Excel, no formulas package)."""
    n = prices.shape[1]
    q = np.zeros(n)
    cash = d["mnvh_cash0"]
    out = [(q.copy(), None, cash, cash)]
    for t in range(1, steps + 1):
        p_prev, p_now = prices[t - 1], prices[t]
        target = mnvh_step(q, p_prev, p_now, w, d["mnvh_lam"], d["mnvh_beta"])
        dq = target - q
        kappa = largest_kappa(p_now, dq, cash, d["mnvh_fee_rate"], d["mnvh_fixed_fee"],
                              d["mnvh_min_cash"])
        q_new = q + kappa * dq
        traded = q_new - q
        fees = d["mnvh_fee_rate"] * np.abs(traded) @ p_now + d["mnvh_fixed_fee"] * np.count_nonzero(
            traded)
        cash = cash - traded @ p_now - fees
        q = q_new
        out.append((q.copy(), kappa, cash, cash + q @ p_now, target))
    return out


def test_mnvh_ledger_against_core(books):
    _, rep = books["mnvh"]
    prices = mnvh.price_frame().to_numpy()
    w = np.full(S.MNVH_STOCKS, round(1.0 / S.MNVH_STOCKS, 10))
    ref = _ledger_reference(prices, w, mnvh.DEFAULTS, mnvh.LEDGER_STEPS)
    L, r0 = mnvh.LEDGER_COLUMNS, mnvh.LEDGER_FIRST_ROW
    for t in range(1, mnvh.LEDGER_STEPS + 1):
        r = r0 + t
        q, kappa, cash, nav, target = ref[t]
        for j in range(S.MNVH_STOCKS):
            assert close(_v(rep, "Ledger", r, L["target"] + j), target[j], rel=1e-9, abs_=1e-9)
            assert close(_v(rep, "Ledger", r, L["q"] + j), q[j], rel=1e-9, abs_=1e-9)
        assert close(_v(rep, "Ledger", r, L["kappa"]), kappa)
        assert close(_v(rep, "Ledger", r, L["cash"]), cash)
        assert close(_v(rep, "Ledger", r, L["nav"]), nav)
        # PnL identity: NAV change = MTM - fees (no financing on this sheet).
        assert abs(_v(rep, "Ledger", r, L["check"])) <= 1e-9 * nav


def test_mnvh_date_check_cells(books):
    """Backtest!B3 reads mnvh_dates; its Ledger mirror sits above the check column."""
    path, _ = books["mnvh"]
    wb = openpyxl.load_workbook(path)
    (bt_sheet, bt_ref, _), (led_sheet, led_ref, _) = S.MNVH.checks
    assert (bt_sheet, led_sheet) == ("Backtest", "Ledger")
    assert "mnvh_dates" in wb[bt_sheet][bt_ref].value
    led = wb[led_sheet][led_ref]
    assert led.value == f"=Backtest!${bt_ref[0]}${bt_ref[1:]}"
    assert led.column == mnvh.LEDGER_COLUMNS["check"] and led.row < mnvh.LEDGER_FIRST_ROW - 1


def test_mnvh_backtest_sheet_and_ledger_agree_with_engine(books):
    _, rep = books["mnvh"]
    px = mnvh.price_frame()
    table = [list(px.columns)] + px.to_numpy().tolist()
    d = mnvh.DEFAULTS
    args = (d["mnvh_lam"], d["mnvh_beta"], "equal", d["mnvh_fee_rate"], 0, "", False, False,
            "absolute", d["mnvh_cash0"], "", "", "", 0, d["mnvh_fixed_fee"], 0, 0,
            d["mnvh_min_cash"])
    full = udfs.MNVH_BACKTEST(table, *args)
    assert isinstance(full, list), full
    for i, (label, value) in enumerate(full):
        assert _v(rep, "Backtest", 5 + i, 1) == label
        got = _v(rep, "Backtest", 5 + i, 2)
        if isinstance(value, float) and np.isnan(value):
            assert got in ("", None)
        else:
            assert close(got, value), label
    # The engine run over the ledger's bars ends at the ledger sheet's NAV.
    short = dict(udfs.MNVH_BACKTEST(table[: mnvh.LEDGER_STEPS + 2], *args))
    end_nav = _v(rep, "Ledger", mnvh.LEDGER_FIRST_ROW + mnvh.LEDGER_STEPS,
                 mnvh.LEDGER_COLUMNS["nav"])
    assert close(short["Final NAV"], end_nav, rel=1e-9)


def test_mbp_against_core(books):
    _, rep = books["mbp"]
    u = mbp.universe()
    data = make_data(u["bench_w"], u["segment"], u["exposures"], u["factor_cov"], u["spec_var"])
    lim = Limits(te_total=mbp.DEFAULTS["mbp_te_total"], te_within=mbp.TE_SEGMENTS,
                 segment_neutral=True, max_weight=mbp.DEFAULTS["mbp_max_weight"])
    w = optimize(data, u["alpha"], lim).weights
    p0 = mbp.PORTFOLIO_FIRST_ROW
    got = np.array([_v(rep, "Portfolio", p0 + i, 4) for i in range(S.MBP_NAMES)])
    np.testing.assert_allclose(got, w, rtol=REL, atol=1e-12)
    rows = decompose(data, got).rows()
    for i, (label, value) in enumerate(rows):
        assert _v(rep, "Portfolio", p0 - 1 + i, 7) == label
        assert close(_v(rep, "Portfolio", p0 - 1 + i, 8), value, abs_=1e-15), label
    # Independent numpy check of the limits on the weights the workbook shows.
    a = got - u["bench_w"]
    B, F, s = u["exposures"], u["factor_cov"], u["spec_var"]
    te = np.sqrt(a @ B @ F @ B.T @ a + a @ (s * a))
    assert te <= mbp.DEFAULTS["mbp_te_total"] * (1 + 1e-6)
    assert abs(got.sum() - 1) < 1e-8 and got.min() >= -1e-9


def test_mbp_frontier_against_core(books):
    _, rep = books["mbp"]
    u = mbp.universe()
    data = make_data(u["bench_w"], u["segment"], u["exposures"], u["factor_cov"], u["spec_var"])
    s0 = mbp.FRONTIER["summary_row"]
    sbp_g3 = []
    for t, te in enumerate(S.MBP_FRONTIER_TE):
        w = optimize(data, u["alpha"], Limits(te_total=te, segment_neutral=False,
                                              max_weight=mbp.DEFAULTS["mbp_max_weight"])).weights
        d = dict(decompose(data, w).rows())
        assert close(_v(rep, "Frontier", s0 + t, 2), d["Names held"], abs_=0.5)
        for m in range(3):
            assert close(_v(rep, "Frontier", s0 + t, 3 + m), d[f"Within-segment TE {m + 1}"],
                         rel=1e-6, abs_=1e-9)
        for m in range(3):
            assert _v(rep, "Frontier", s0 + t, 7 + m) <= mbp.TE_SEGMENTS[m] * (1 + 1e-6)
        sbp_g3.append(_v(rep, "Frontier", s0 + t, 5))
    # Seed Table 1's shape: small-cap within-segment TE grows with the market TE.
    assert sbp_g3 == sorted(sbp_g3) and sbp_g3[-1] > mbp.TE_SEGMENTS[2]


def test_scenarios_against_formula_and_targets(books):
    _, rep = books["scenarios"]
    hist = scenarios.history()
    mu, cov, rt = scenarios.targets(hist)
    d = scenarios.DEFAULTS
    table = [list(hist.columns)] + hist.to_numpy().tolist()
    direct = udfs.MBB_RECOLOR(table, [mu.tolist()], cov.tolist(),
                              d["scn_block"], d["scn_n_paths"], d["scn_lam"], d["scn_periods"],
                              d["scn_seed"], rt.tolist(), d["scn_ridge"], "summary")
    assert isinstance(direct, list), direct
    assert len(direct) == scenarios.SUMMARY_ROWS
    for i, row in enumerate(direct):
        for j, v in enumerate(row):
            got = _v(rep, "Summary", 5 + i, 1 + j)
            if isinstance(v, str):
                assert got == v
            elif v is None or (isinstance(v, float) and np.isnan(v)):
                assert got in ("", None)
            else:
                assert close(got, v), (i, j)
    # Drift delta with ridge 0: every RT portfolio's realised mean equals its target.
    labels = [_v(rep, "Summary", 5 + i, 1) for i in range(scenarios.SUMMARY_ROWS)]
    first_rt = labels.index("portfolio") + 1
    for k in range(S.SCN_RT):
        target, realised = (_v(rep, "Summary", 5 + first_rt + k, c) for c in (2, 3))
        assert close(target, rt[k] @ mu) and abs(realised - target) < 1e-10
    fan = udfs.MBB_RECOLOR(table, [mu.tolist()], cov.tolist(),
                           d["scn_block"], d["scn_n_paths"], d["scn_lam"], d["scn_periods"],
                           d["scn_seed"], rt.tolist(), d["scn_ridge"], f"fan:{d['scn_fan_rt']}")
    assert len(fan) == S.SCN_MONTHS + 2 and fan[0][0] == "period"
    for i in (1, 60, S.SCN_MONTHS + 1):
        for j in range(6):
            assert close(_v(rep, "Summary", 5 + i, 11 + j), fan[i][j])


def test_user_edit_recalculates_as_core_says(books, tmp_path):
    path, _ = books["kelly"]
    edited = tmp_path / "kelly_edit.xlsx"
    shutil.copy(path, edited)
    wb = openpyxl.load_workbook(edited)
    wb["Inputs"]["C4"] = 0.02  # kelly_rf
    wb["Inputs"]["C5"] = 0.5  # kelly_fraction
    wb.save(edited)
    rep = calculate(edited, edited)
    _, mu, sigma = S.KELLY_ASSETS[2]
    assert close(_v(rep, "Kelly", kelly.KELLY_FIRST_ROW + 2, 5),
                 kcore.kelly_leverage(mu, sigma, 0.02, 0.5))
    wbv = openpyxl.load_workbook(edited, data_only=True)
    assert close(wbv["Kelly"].cell(kelly.KELLY_FIRST_ROW + 2, 5).value,
                 kcore.kelly_leverage(mu, sigma, 0.02, 0.5))


def test_cli_templates_writes_all(tmp_path):
    from pyxl.cli import main

    assert main(["templates", "-o", str(tmp_path), "--only", "kelly", "--no-calc"]) == 0
    wb = openpyxl.load_workbook(tmp_path / "kelly.xlsx")
    assert wb["Kelly"].cell(kelly.KELLY_FIRST_ROW, 5).value.startswith("=KELLY_LEVERAGE(")


def test_committed_workbooks_match_generator(books):
    """workbooks/*.xlsx are the generator's output: same formulas in every cell."""
    root = Path(__file__).resolve().parents[1] / "workbooks"
    for key, (path, _) in books.items():
        committed = root / S.TEMPLATES[key].filename
        if not committed.exists():
            pytest.fail(f"{committed} missing: run pyxl templates")
        a, b = openpyxl.load_workbook(path), openpyxl.load_workbook(committed)
        assert a.sheetnames == b.sheetnames
        for ws in a.worksheets:
            wb_ = b[ws.title]
            computed = set()  # cells of array blocks hold computed values, not inputs
            for anchor, ref in ws.array_formulae.items():
                for row in ws[ref]:
                    computed.update(c.coordinate for c in row if c.coordinate != anchor)
            for row in ws.iter_rows():
                for c in row:
                    if c.coordinate in computed:
                        continue
                    va, vb = c.value, wb_[c.coordinate].value
                    va = getattr(va, "text", va)
                    vb = getattr(vb, "text", vb)
                    assert va == vb, f"{key} {ws.title}!{c.coordinate}: run pyxl templates"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_templates_open_in_libreoffice(books, tmp_path):
    for key, (path, _) in books.items():
        vals = tmp_path / f"{key}_values.xlsx"
        calculate(path, vals, values_only=True)
        res = subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir",
                              str(tmp_path), str(vals)], capture_output=True, timeout=180)
        pdf = tmp_path / f"{key}_values.pdf"
        assert res.returncode == 0 and pdf.exists() and pdf.stat().st_size > 10_000, key


def test_column_letters_helper():
    assert [get_column_letter(i) for i in (1, 26, 27)] == ["A", "Z", "AA"]
    assert S._col(27) == "AA" and S._col(52) == "AZ"


def test_demo_fills_every_template(tmp_path):
    from pyxl.reports.excel import run_demo

    files = run_demo(tmp_path, lambda msg, frac=None: None)
    names = sorted(p.name for p in files)
    assert names == sorted([t.filename for t in S.TEMPLATES.values()] + ["calc_log.txt"])
    log = (tmp_path / "workbooks" / "calc_log.txt").read_text()
    assert log.count("0 error cells") == len(S.TEMPLATES)
    wb = openpyxl.load_workbook(tmp_path / "workbooks" / "kelly.xlsx", data_only=True)
    assert close(wb["Kelly"].cell(kelly.KELLY_FIRST_ROW, 5).value,
                 kcore.kelly_leverage(0.085, 0.182, 0.01))
