"""Audit 4 of the button macros (pyxl/macros): every Out_ sheet against independent values.

Each test runs a template's macro on a copy of the committed workbook in
``workbooks/`` (inputs edited with openpyxl where needed) and checks what it
wrote against closed forms (Kelly), a second implementation (the pure-Python
MNVH reference ledger, numpy for the MBP tracking-error decomposition and for
the scenario fans) or the workbook's own input cells (labels stay on their row).
The Excel path runs through the fake xlwings book of ``test_macros_xlwings``,
fed with the cells' values and numbers as floats, as xlwings hands them over.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from statistics import NormalDist

import numpy as np
import openpyxl
import pytest
from test_macros_templates import _block
from test_macros_xlwings import FakeBook

from pyxl.macros import OpenpyxlBook, XlwingsBook, dispatch, run
from pyxl.templates.spec import TEMPLATES

WORKBOOKS = Path(__file__).resolve().parents[1] / "workbooks"
OUT = {key: next(s.name for s in spec.sheets if s.role == "output")
       for key, spec in TEMPLATES.items()}


def _copy(key: str, tmp_path: Path, edits: dict[str, object] | None = None) -> Path:
    """The committed template in ``tmp_path``, with ``{"Sheet!A1": value}`` edits."""
    path = tmp_path / TEMPLATES[key].filename
    shutil.copy(WORKBOOKS / TEMPLATES[key].filename, path)
    if edits:
        wb = openpyxl.load_workbook(path)
        for ref, value in edits.items():
            sheet, cell = ref.split("!")
            wb[sheet][cell] = value
        wb.save(path)
    return path


def _rows(path: Path, sheet: str) -> list[tuple]:
    return list(openpyxl.load_workbook(path)[sheet].iter_rows(values_only=True))


def _values(path: Path, sheet: str, ref: str) -> list[list[object]]:
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return [[c.value for c in row] for row in ws[ref]]


def _cells(path: Path, sheet: str) -> list[tuple]:
    """Cells of ``sheet`` without the run's time stamps (``Written by``, the run log)."""
    out = []
    for row in _rows(path, sheet):
        if row and row[0] == "Run log":
            break
        out.append(tuple(v for v in row
                         if not (isinstance(v, str) and v.startswith("Written by"))))
    return out


# --- Kelly: closed forms (seed 003) ------------------------------------------------------


def _kelly(mu, sigma, rf, fraction=1.0):
    return fraction * (mu - rf) / sigma**2


def _growth(n, mu, sigma, rf):
    return rf + n * (mu - rf) - 0.5 * n * n * sigma * sigma


def _years(n, nb, mu, sigma, rf, p):
    """Rubinstein: T = (z_p |n - nb| sigma / gap)^2, gap = g(n) - g(nb)."""
    gap = _growth(n, mu, sigma, rf) - _growth(nb, mu, sigma, rf)
    return (NormalDist().inv_cdf(p) * abs(n - nb) * sigma / gap) ** 2


def _kelly_assets(path):
    return [r for r in _values(path, "Inputs", "A13:C19") if r[0] is not None]


def test_kelly_table_matches_closed_forms_after_edits(tmp_path):
    path = _copy("kelly", tmp_path, {"Inputs!C4": 0.02, "Inputs!C5": 0.5,
                                     "Inputs!C6": 0.9, "Inputs!C7": 0})
    assert run("run_kelly", OpenpyxlBook(path)).ok
    table = _block(_rows(path, "Out_Kelly"), "Kelly table")
    assets = _kelly_assets(path)
    assert [r[0] for r in table[1:]] == [a[0] for a in assets]
    for (name, mu, sigma), row in zip(assets, table[1:], strict=True):
        n = _kelly(mu, sigma, 0.02, 0.5)
        assert row[1:3] == (mu, sigma)
        assert row[3] == pytest.approx(n, rel=1e-12), name
        assert row[4] == pytest.approx(_growth(n, mu, sigma, 0.02), rel=1e-12), name
        assert row[5] == pytest.approx(_years(n, 0.0, mu, sigma, 0.02, 0.9), rel=1e-9), name


def test_kelly_blank_name_keeps_every_asset_on_its_own_row(tmp_path):
    """Before the fix a blank name shifted every later name onto the previous row's
    mu and sigma (MSCI KOKUSAI shown with TOPIX's 4.6 %/17.7 %) and dropped the last
    asset."""
    path = _copy("kelly", tmp_path, {"Inputs!A14": None})
    res = run("run_kelly", OpenpyxlBook(path))
    assert res.ok, res.message
    table = _block(_rows(path, "Out_Kelly"), "Kelly table")
    sheet = _values(path, "Inputs", "A13:C19")
    assert len(table) - 1 == len(sheet) == 7
    for (name, mu, sigma), row in zip(sheet, table[1:], strict=True):
        assert row[0] == (name if name is not None else "(row 2)")
        assert row[1:3] == (mu, sigma)
        assert row[3] == pytest.approx(_kelly(mu, sigma, 0.01), rel=1e-12)


def test_kelly_cleared_row_is_skipped_and_errors_name_the_right_row(tmp_path):
    path = _copy("kelly", tmp_path, {"Inputs!A14": None, "Inputs!B14": None,
                                     "Inputs!C14": None})
    assert run("run_kelly", OpenpyxlBook(path)).ok
    table = _block(_rows(path, "Out_Kelly"), "Kelly table")
    assets = _kelly_assets(path)
    assert "TOPIX" not in [r[0] for r in table[1:]]
    for (name, mu, sigma), row in zip(assets, table[1:], strict=True):
        assert row[:3] == (name, mu, sigma)
        assert row[3] == pytest.approx(_kelly(mu, sigma, 0.01), rel=1e-12)
    # MSCI KOKUSAI sits in row 3 of kelly_sigma; before the fix the message said row 2
    before = _cells(path, "Out_Kelly")
    wb = openpyxl.load_workbook(path)
    wb["Inputs"]["C15"] = None
    wb.save(path)
    res = run("run_kelly", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("kelly_sigma (row 3, MSCI KOKUSAI): is blank"), res.message
    assert _cells(path, "Out_Kelly") == before


def test_kelly_half_kelly_vs_unlevered_reports_never_instead_of_failing(tmp_path):
    """Half Kelly on TOPIX (n*/2 = 0.57) never out-grows the unlevered index: before
    the fix the whole run failed with 'KELLY_HORIZON: leverage: 0.575 never out-grows
    1', naming no input cell and no asset."""
    path = _copy("kelly", tmp_path, {"Inputs!C5": 0.5, "Inputs!C7": 1})
    res = run("run_kelly", OpenpyxlBook(path))
    assert res.ok, res.message
    table = _block(_rows(path, "Out_Kelly"), "Kelly table")
    for (name, mu, sigma), row in zip(_kelly_assets(path), table[1:], strict=True):
        n = _kelly(mu, sigma, 0.01, 0.5)
        if _growth(n, mu, sigma, 0.01) <= _growth(1.0, mu, sigma, 0.01):
            assert row[5] == "never", name
        else:
            assert row[5] == pytest.approx(_years(n, 1.0, mu, sigma, 0.01, 0.95), rel=1e-9)
    never = [r[0] for r in table[1:] if r[5] == "never"]
    assert never == ["TOPIX", "MSCI KOKUSAI", "MSCI EM"]


@pytest.mark.parametrize("cell,value,expect", [
    ("Inputs!C6", 1.5, "kelly_confidence: must be < 1"),
    ("Inputs!C7", "cash", "kelly_vs_leverage: text 'cash'"),
    ("Inputs!B16", float("nan"), "kelly_mu (row 4, MSCI EM): is blank"),
    ("Inputs!C13", 0, "kelly_sigma (row 1, S&P 500): must be > 0"),
])
def test_kelly_bad_input_is_one_line_and_keeps_results(tmp_path, cell, value, expect):
    path = _copy("kelly", tmp_path)
    assert run("run_kelly", OpenpyxlBook(path)).ok
    before = _cells(path, "Out_Kelly")
    wb = openpyxl.load_workbook(path)
    sheet, ref = cell.split("!")
    wb[sheet][ref] = value
    wb.save(path)
    io = OpenpyxlBook(path)
    res = run("run_kelly", io)
    assert not res.ok and res.message.startswith(expect), res.message
    assert "\n" not in io.status_log[-1] and io.status_log[-1].endswith(res.message)
    assert _cells(path, "Out_Kelly") == before


# --- MBP: the decomposition recomputed with numpy from the written weights -------------


def _mbp_model(path):
    uni = _values(path, "Universe", "A2:K121")
    names = [r[0] for r in uni]
    seg = np.array([r[1] for r in uni], dtype=int)
    bench = np.array([r[2] for r in uni], dtype=float)
    spec = np.array([r[4] for r in uni], dtype=float)
    X = np.array([r[5:] for r in uni], dtype=float)
    F = np.array(_values(path, "Factors", "B2:G7"), dtype=float)
    return names, seg, bench, X @ F @ X.T + np.diag(spec)


def test_mbp_decomposition_and_weights_recomputed_independently(tmp_path):
    path = _copy("mbp", tmp_path)
    assert run("run_mbp", OpenpyxlBook(path)).ok
    rows = _rows(path, "Out_MBP")
    names, seg, bench, V = _mbp_model(path)
    wt = _block(rows, "Weights")
    assert [r[0] for r in wt[1:]] == names
    assert [r[1] for r in wt[1:]] == pytest.approx(list(bench), abs=0)
    w = np.array([r[2] for r in wt[1:]], dtype=float)
    rep = {r[0]: r[1] for r in _block(rows, "Decomposition")}
    a = w - bench
    assert rep["Market TE"] == pytest.approx(math.sqrt(a @ V @ a), rel=1e-9)
    assert rep["Market TE"] <= 0.01 * (1 + 1e-6)  # mbp_te_total
    limits = _values(path, "Inputs", "C9:E9")[0]
    for m in (1, 2, 3):
        idx = seg == m
        d = np.where(idx, w / w[idx].sum() - bench / bench[idx].sum(), 0.0)
        assert rep[f"Within-segment TE {m}"] == pytest.approx(math.sqrt(d @ V @ d), rel=1e-7)
        assert rep[f"Within-segment TE {m}"] <= limits[m - 1] * (1 + 1e-6)
        assert rep[f"Portfolio weight {m}"] == pytest.approx(w[idx].sum(), rel=1e-9)
        assert rep[f"Names held {m}"] == int((w[idx] > 1e-7).sum())
    assert sum(w) == pytest.approx(1.0, abs=1e-9)


def test_mbp_blank_name_keeps_weights_on_their_row(tmp_path):
    """Before the fix the weights table dropped the blank name, so JP005 was shown
    with JP004's benchmark weight and weight, and every later row shifted."""
    path = _copy("mbp", tmp_path, {"Universe!A5": None})
    res = run("run_mbp", OpenpyxlBook(path))
    assert res.ok, res.message
    names, _, bench, _ = _mbp_model(path)
    wt = _block(_rows(path, "Out_MBP"), "Weights")
    assert len(wt) - 1 == 120
    assert [r[0] for r in wt[1:]] == [n if n is not None else "(row 4)" for n in names]
    assert [r[1] for r in wt[1:]] == list(bench)


@pytest.mark.parametrize("template,cell,value,expect", [
    ("mbp", "Factors!B2", -0.05, "mbp_factor_cov: is not positive semidefinite"),
    ("mbp", "Inputs!C6", 0.03, "mbp_max_weight: segment 1 needs 0.7577"),
    ("mbp", "Universe!C5", "x", "mbp_bench_w: text 'x'"),
    ("mbp", "Inputs!C4", None, "mbp_te_total: is blank"),
    ("scenarios", "Targets!C8", -0.08, "scn_cov_ann: is not positive semi-definite"),
    ("scenarios", "History!C10", float("nan"), "scn_return_table: blank cell"),
    ("scenarios", "Inputs!C5", "many", "scn_n_paths: text 'many'"),
])
def test_bad_input_keeps_the_previous_results(tmp_path, template, cell, value, expect):
    out = {"mbp": "Out_MBP", "scenarios": "Out_Scenarios"}[template]
    path = _copy(template, tmp_path)
    assert run(f"run_{template}", OpenpyxlBook(path)).ok
    before = _cells(path, out)
    charts = len(openpyxl.load_workbook(path)[out]._charts)
    wb = openpyxl.load_workbook(path)
    sheet, ref = cell.split("!")
    wb[sheet][ref] = value
    wb.save(path)
    res = run(f"run_{template}", OpenpyxlBook(path))
    assert not res.ok and res.message.startswith(expect), res.message
    assert _cells(path, out) == before
    assert len(openpyxl.load_workbook(path)[out]._charts) == charts


# --- MNVH: the ledger against the pure-Python reference ledger ---------------------------


def test_mnvh_ledger_matches_the_reference_implementation(tmp_path):
    from pyxl.core.ledger.fees import FeeModel
    from pyxl.core.mnvh.engine import MNVHConfig
    from pyxl.core.mnvh.reference import reference_backtest

    path = _copy("mnvh", tmp_path, {"Inputs!C4": 0.8, "Inputs!C7": 0.001})
    assert run("run_mnvh", OpenpyxlBook(path)).ok
    prices = np.array(_values(path, "Prices", "B2:K251"), dtype=float)
    lam, beta, cash0, fee, fixed, min_cash = (r[0] for r in _values(path, "Inputs", "C4:C9"))
    cfg = MNVHConfig(lam=lam, beta=beta, beta_mode="absolute", cash0=cash0, min_cash=min_cash,
                     fees=FeeModel(fee_rate=fee, fixed_fee=fixed))
    ref = reference_backtest(prices, np.full(10, 0.1), cfg)
    rows = _rows(path, "Out_Backtest")
    ledger = _block(rows, "Ledger per bar")
    assert ledger[0][:10] == ("Date", "NAV", "Cash", "Gross", "Net", "Kappa", "MTM", "Fees",
                              "Slippage", "Financing")
    dates = [r[0] for r in _values(path, "Prices", "A2:A251")]
    assert [r[0] for r in ledger[1:]] == dates
    for j, field in enumerate(("nav", "cash", "gross", "net", "kappa", "mtm", "fees"), 1):
        want = np.asarray(getattr(ref, field), dtype=float)
        got = np.array([np.nan if r[j] is None else r[j] for r in ledger[1:]], dtype=float)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-6, equal_nan=True,
                                   err_msg=field)
    metrics = {r[0]: r[1] for r in _block(rows, "Metrics")}
    assert metrics["Final NAV"] == pytest.approx(ref.nav[-1], rel=1e-12)
    assert metrics["Total return"] == pytest.approx(ref.nav[-1] / cash0 - 1, rel=1e-9)


def test_mnvh_shorter_price_table_keeps_its_dates(tmp_path):
    """Clearing the last 50 rows of Prices (a shorter history): before the fix the
    equity curve and the ledger lost their dates (0, 1, 2, ... instead)."""
    edits = {f"Prices!{c}{r}": None for r in range(202, 252) for c in "ABCDEFGHIJK"}
    path = _copy("mnvh", tmp_path, edits)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert res.ok, res.message
    rows = _rows(path, "Out_Backtest")
    dates = [r[0] for r in _values(path, "Prices", "A2:A201")]
    assert [r[0] for r in _block(rows, "Equity curve")[1:]] == dates
    assert [r[0] for r in _block(rows, "Ledger per bar")[1:]] == dates
    chart = openpyxl.load_workbook(path)["Out_Backtest"]._charts[0]
    assert chart.x_axis.number_format.formatCode == "yyyy-mm"


# --- Scenarios: fans from the core's paths, percentiles with numpy ---------------------


def test_scenario_fans_match_wealth_percentiles_of_the_core_paths(tmp_path):
    from pyxl.core.scenarios.engine import ScenarioSpec, generate

    path = _copy("scenarios", tmp_path, {"Inputs!C5": 300, "Inputs!C8": 7})
    assert run("run_scenarios", OpenpyxlBook(path)).ok
    R = np.array(_values(path, "History", "B2:F121"), dtype=float)
    mu = np.array(_values(path, "Targets", "C4:G4"), dtype=float).ravel()
    C = np.array(_values(path, "Targets", "C8:G12"), dtype=float)
    W = np.array(_values(path, "Targets", "C15:G17"), dtype=float)
    block, n_paths, lam, periods, seed, ridge = (r[0] for r in _values(path, "Inputs", "C4:C9"))
    spec = ScenarioSpec(n_paths=int(n_paths), block=int(block), lam=lam, periods=int(periods),
                        seed=int(seed), ridge=ridge)
    paths = np.asarray(generate(R, mu, C, spec, W).paths)
    wealth = np.cumprod(1.0 + paths @ W.T, axis=1)
    rows = _rows(path, "Out_Scenarios")
    for k in range(3):
        fan = np.array([r[:6] for r in _block(rows, f"Fan: RT portfolio {k + 1}")[1:]],
                       dtype=float)
        assert fan[0].tolist() == [0, 1, 1, 1, 1, 1]
        q = np.percentile(wealth[:, :, k], [5, 25, 50, 75, 95], axis=0).T
        np.testing.assert_allclose(fan[1:, 1:], q, rtol=1e-12)
        # ridge 0: the drift delta makes the realised per-period mean the geometric target
        target = (1 + W[k] @ mu) ** (1 / periods) - 1
        assert (paths @ W[k]).mean() == pytest.approx(target, rel=1e-9)




def test_scenarios_rerun_with_fewer_rt_portfolios_leaves_no_leftovers(tmp_path):
    path = _copy("scenarios", tmp_path)
    assert run("run_scenarios", OpenpyxlBook(path)).ok
    wb = openpyxl.load_workbook(path)
    for c in "CDEFG":
        wb["Targets"][f"{c}17"] = None
    wb.save(path)
    assert run("run_scenarios", OpenpyxlBook(path)).ok
    rows = _rows(path, "Out_Scenarios")
    titles = [r[0] for r in rows if isinstance(r[0], str) and r[0].startswith("Fan")]
    assert len(titles) == 2
    assert len(openpyxl.load_workbook(path)["Out_Scenarios"]._charts) == 2
    assert "RT3" not in [r[0] for r in rows]


# --- Both paths, dispatch, reruns ----------------------------------------------------------


def ValueBook(path, active):  # noqa: N802 - reads like the class it stands for
    """The fake xlwings book over the cells' values, numbers as floats (what xlwings reads)."""
    return FakeBook(path, active, values=True)


def _grid_fake(sheet) -> dict:
    stop = min([r for (r, _), v in sheet.cells.items() if v == "Run log"] + [10**9])
    return {k: v for k, v in sheet.cells.items() if v is not None and k[0] < stop and k[0] != 2}


def _grid_file(path: Path, sheet: str) -> dict:
    ws = openpyxl.load_workbook(path)[sheet]
    cells = {(c.row, c.column): c.value for r in ws.iter_rows() for c in r if c.value is not None}
    stop = min([r for (r, _), v in cells.items() if v == "Run log"] + [10**9])
    return {k: v for k, v in cells.items() if k[0] < stop and k[0] != 2}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15))
    return a == b


@pytest.mark.parametrize("key", ["kelly", "mnvh", "mbp", "scenarios"])
def test_xlwings_and_openpyxl_paths_write_the_same_cells(tmp_path, key):
    path = _copy(key, tmp_path)
    fake = ValueBook(path, "Inputs")
    assert run(TEMPLATES[key].macro, XlwingsBook(fake)).ok
    assert run(TEMPLATES[key].macro, OpenpyxlBook(path)).ok
    a, b = _grid_fake(fake.sheets[OUT[key]]), _grid_file(path, OUT[key])
    assert a.keys() == b.keys()
    bad = [(k, a[k], b[k]) for k in a if not _same(a[k], b[k])]
    assert not bad, bad[:5]
    assert len(fake.sheets[OUT[key]].charts) == len(openpyxl.load_workbook(path)[OUT[key]]._charts)


def test_numeric_ticker_codes_are_labelled_alike_in_excel_and_openpyxl(tmp_path):
    """Tokyo codes typed as numbers: xlwings reads 7002.0, openpyxl 7002.  Before the
    fix Out_MBP said '7002.0' in Excel and '7002' from pyxl run-macro."""
    path = _copy("mbp", tmp_path, {f"Universe!A{r}": 7000 + r for r in range(2, 122)})
    fake = ValueBook(path, "Portfolio")
    assert run("run_mbp", XlwingsBook(fake)).ok
    assert run("run_mbp", OpenpyxlBook(path)).ok
    want = [str(7000 + r) for r in range(2, 122)]
    assert [r[0] for r in _block(_rows(path, "Out_MBP"), "Weights")[1:]] == want
    cells = fake.sheets["Out_MBP"].cells
    top = next(r for (r, c), v in cells.items() if v == "Name" and c == 1)
    assert [cells[(top + i, 1)] for i in range(1, 121)] == want


@pytest.mark.parametrize("key", ["kelly", "mnvh", "mbp", "scenarios"])
def test_run_picks_the_template_macro_on_every_sheet(tmp_path, key):
    path = _copy(key, tmp_path)
    spec = TEMPLATES[key]
    for sheet in openpyxl.load_workbook(path).sheetnames:
        io = OpenpyxlBook(path, active=sheet)
        res = dispatch(io)
        if spec.sheet(sheet).role == "instructions":
            assert res is None and spec.macro in io.status_log[-1]
        else:
            assert res is not None and res.ok, (sheet, res)
            assert io.status_log[-1].startswith(f"PyXL {spec.macro}: done")
            assert io.status_log[-1].endswith(f"results in {OUT[key]}")


@pytest.mark.parametrize("key", ["kelly", "mnvh", "mbp", "scenarios"])
def test_second_run_writes_identical_out_sheet(tmp_path, key):
    path = _copy(key, tmp_path)
    assert run(TEMPLATES[key].macro, OpenpyxlBook(path)).ok
    first = _cells(path, OUT[key])
    io = OpenpyxlBook(path)
    assert run(TEMPLATES[key].macro, io).ok
    assert _cells(path, OUT[key]) == first
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames.count(OUT[key]) == 1 and wb.sheetnames[-1] == "Out_Log"
    assert len(wb[OUT[key]]._charts) == {"scenarios": 3}.get(key, 1)
    # progress lines, then one final line saying what was written
    assert len(io.status_log) >= 3 and "%" in io.status_log[1]


def test_kelly_asset_not_in_the_table_is_named_not_silently_replaced(tmp_path):
    """A kelly_asset typed wrong used to chart the first asset without a word."""
    from test_macros import KELLY_VALUES
    from test_macros_books import build_book

    from pyxl.macros import OpenpyxlBook, run

    path = build_book("kelly", {**KELLY_VALUES, "kelly_asset": "TOPX"}, tmp_path / "k.xlsx",
                      active="Inputs")
    res = run("run_kelly", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("kelly_asset: 'TOPX' is not in the asset table")
    # blank: the first asset, as before
    path = build_book("kelly", {**KELLY_VALUES, "kelly_asset": None}, tmp_path / "b.xlsx",
                      active="Inputs")
    assert run("run_kelly", OpenpyxlBook(path)).ok
