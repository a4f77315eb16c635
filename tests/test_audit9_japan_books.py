"""A Tokyo portfolio manager on the template workbooks and the MBP CLI (audit 9).

Template edits as a Japanese user makes them: TSE codes typed or pasted as numbers into the
ticker cells (7203 over yen prices of 100-80,000), Japanese names, real date cells; MBP
inputs as CSVs saved by Japanese Excel (cp932) or as "CSV UTF-8" (BOM), names being TSE
codes or Japanese text.  Figures are checked against independent implementations (the
MNVH reference backtest, a dense cvxpy model of the MBP problem).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from test_macros_templates import _block

from pyxl.macros import OpenpyxlBook, run
from pyxl.templates.spec import TEMPLATES

WORKBOOKS = Path(__file__).resolve().parents[1] / "workbooks"
CODES = [7203, 6758, 9984, 8306, 8316, 4063, 6861, 9432, 8035, 1306]  # 1306: TOPIX ETF


def _yen_prices(T=250, seed=9):
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    p0 = np.array([2800.0, 13000, 6000, 1300, 7500, 45000, 65000, 150, 30000, 2500])
    r = 0.015 * rng.standard_normal((T, p0.size))
    r[0] = 0.0
    return np.round(p0 * np.exp(np.cumsum(r, axis=0)), 1)


def _mnvh_book(tmp_path, header):
    path = tmp_path / TEMPLATES["mnvh"].filename
    shutil.copy(WORKBOOKS / TEMPLATES["mnvh"].filename, path)
    P = _yen_prices()
    dates = list(pd.bdate_range("2024-01-04", periods=len(P)).to_pydatetime())
    wb = openpyxl.load_workbook(path)
    ws = wb["Prices"]
    ws["A1"] = "日付"
    for j, code in enumerate(header):
        ws.cell(1, 2 + j, code)
    for t, d in enumerate(dates):
        ws.cell(2 + t, 1, d)
        for j in range(P.shape[1]):
            ws.cell(2 + t, 2 + j, float(P[t, j]))
    wb.save(path)
    return path, P, dates


@pytest.mark.parametrize("header", [CODES, [str(c) for c in CODES]], ids=["numbers", "text"])
def test_mnvh_run_button_tse_codes_typed_as_numbers_are_the_header(tmp_path, header):
    # codes pasted as numbers into Prices!B1:K1 were traded as the first bar of prices:
    # 250 periods and a final NAV of 5.6 million yen instead of 249 and about 1.0 million,
    # and the equity curve lost its dates (0, 1, 2, ...)
    from pyxl.core.ledger.fees import FeeModel
    from pyxl.core.mnvh.engine import MNVHConfig
    from pyxl.core.mnvh.reference import reference_backtest

    path, P, dates = _mnvh_book(tmp_path, header)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert res.ok, res.message
    wb = openpyxl.load_workbook(path, data_only=True)
    lam, beta, cash0, fee, fixed, min_cash = (wb["Inputs"].cell(r, 3).value
                                              for r in range(4, 10))
    cfg = MNVHConfig(lam=lam, beta=beta, beta_mode="absolute", cash0=cash0, min_cash=min_cash,
                     fees=FeeModel(fee_rate=fee, fixed_fee=fixed))
    ref = reference_backtest(P, np.full(10, 0.1), cfg)
    rows = list(wb["Out_Backtest"].iter_rows(values_only=True))
    metrics = {r[0]: r[1] for r in _block(rows, "Metrics")}
    assert metrics["Periods"] == len(P) - 1
    assert metrics["Final NAV"] == pytest.approx(ref.nav[-1], rel=1e-12)
    equity = _block(rows, "Equity curve")[1:]
    assert [r[0] for r in equity] == dates
    np.testing.assert_allclose([r[1] for r in equity], ref.nav, rtol=1e-9)
    # the chart plots the whole curve: 250 bars below the header
    chart = openpyxl.load_workbook(path)["Out_Backtest"]._charts[0]
    ref_f = chart.series[0].val.numRef.f
    top = next(i for i, r in enumerate(rows, 1) if r[0] == "Equity curve") + 1
    assert ref_f == f"'Out_Backtest'!$B${top + 1}:$B${top + len(P)}"


def test_mbp_run_button_japanese_names_and_codes_label_the_weights(tmp_path):
    path = tmp_path / TEMPLATES["mbp"].filename
    shutil.copy(WORKBOOKS / TEMPLATES["mbp"].filename, path)
    wb = openpyxl.load_workbook(path)
    names = ["トヨタ自動車", "三菱UFJ", 7203, "1306", "TOPIX"]
    for i, name in enumerate(names):
        wb["Universe"].cell(2 + i, 1, name)
    wb.save(path)
    assert run("run_mbp", OpenpyxlBook(path)).ok
    rows = list(openpyxl.load_workbook(path)["Out_MBP"].iter_rows(values_only=True))
    got = [r[0] for r in _block(rows, "Weights")[1:6]]
    assert got == ["トヨタ自動車", "三菱UFJ", "7203", "1306", "TOPIX"]


# --- pyxl mbp optimize on a Japanese universe --------------------------------------------


def _universe():
    from pyxl.core.mbp.universe import make_universe

    u = make_universe(n=30, seed=7)
    seg = np.repeat([1, 2, 3], [5, 10, 15])
    return u, seg


def _csvs(tmp_path, names, encoding):
    u, seg = _universe()
    assets = pd.DataFrame({"name": names, "alpha": u.alpha, "bench_w": u.bench_w,
                           "segment": seg, "spec_var": u.spec_var})
    assets = pd.concat([assets, pd.DataFrame(u.exposures, columns=list(u.factor_names))],
                       axis=1)
    a, f = tmp_path / f"assets_{encoding}.csv", tmp_path / f"cov_{encoding}.csv"
    assets.to_csv(a, index=False, encoding=encoding, float_format="%.17g")
    pd.DataFrame(u.factor_cov, columns=list(u.factor_names)).to_csv(
        f, index=False, encoding=encoding, float_format="%.17g")
    return a, f


def _optimize(tmp_path, a, f, *extra):
    out = tmp_path / "weights.csv"
    proc = subprocess.run([sys.executable, "-m", "pyxl", "mbp", "optimize", str(a), str(f),
                           "--te-total", "0.02", "--te-segments", "0.04,,0.06", *extra,
                           "-o", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def _dense_optimum(te_total=0.02, within=((1, 0.04), (3, 0.06))):
    """Seed 004 MBP (segment neutral) with the dense N x N covariance, independently."""
    import cvxpy as cp

    u, seg = _universe()
    S = u.exposures @ u.factor_cov @ u.exposures.T + np.diag(u.spec_var)
    L = np.linalg.cholesky((S + S.T) / 2).T
    wb = u.bench_w
    w = cp.Variable(wb.size)
    cons = [cp.sum(w) == 1, w >= 0, cp.norm(L @ (w - wb)) <= te_total]
    for m in (1, 2, 3):
        g = seg == m
        cons.append(cp.sum(w[g]) == wb[g].sum())
    for m, te in within:
        g = np.flatnonzero(seg == m)
        W = wb[g].sum()
        cons.append(cp.norm(L[:, g] @ (w[g] - wb[g])) <= te * W)  # W y** = w^T_G
    prob = cp.Problem(cp.Maximize(u.alpha @ w), cons)
    prob.solve(solver="CLARABEL")
    return prob.value, u.alpha


@pytest.mark.parametrize("encoding", ["cp932", "utf-8-sig"])
def test_mbp_optimize_japanese_names_match_a_dense_model(tmp_path, encoding):
    names = ["トヨタ自動車", "三菱UFJ", "ソニーグループ", "信越化学工業", "TOPIX連動ETF"] + \
        [f"銘柄{i}" for i in range(25)]
    out = _optimize(tmp_path, *_csvs(tmp_path, names, encoding))
    assert out.read_bytes().startswith(b"\xef\xbb\xbfname,weight")  # Excel shows the kana
    w = pd.read_csv(out, encoding="utf-8-sig")
    assert list(w["name"]) == names
    best, alpha = _dense_optimum()
    assert alpha @ w["weight"].to_numpy() == pytest.approx(best, rel=1e-6)
    assert w["weight"].sum() == pytest.approx(1.0, abs=1e-8)


def test_mbp_optimize_numeric_codes_with_a_blank_name_stay_codes(tmp_path):
    # one blank name made pandas read the column as floats: every code came back as
    # 7203.0; a code with a leading zero (0700) lost it
    names = ["0700", *[str(c) for c in CODES[1:]], "", *[str(1301 + i) for i in range(19)]]
    out = _optimize(tmp_path, *_csvs(tmp_path, names, "cp932"))
    text = out.read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in text[1:]] == ["0700", *names[1:]]


@pytest.mark.parametrize("header, names", [
    ("銘柄コード", [str(c) for c in CODES] + [str(1301 + i) for i in range(20)]),
    ("銘柄", ["トヨタ自動車"] * 30),
])
def test_mbp_optimize_label_column_not_named_name_is_named_in_the_error(tmp_path, header,
                                                                        names):
    # was "factor_cov: header does not match ...; use the factor names in order: 銘柄コード,
    # market, ..." (asking for the codes as a factor) or "'トヨタ自動車' is not a number"
    a, f = _csvs(tmp_path, names, "cp932")
    frame = pd.read_csv(a, encoding="cp932", dtype={"name": str})
    frame.rename(columns={"name": header}).to_csv(a, index=False, encoding="cp932")
    proc = subprocess.run([sys.executable, "-m", "pyxl", "mbp", "optimize", str(a), str(f),
                           "--te-total", "0.02"], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and f"'{header}'" in err[0] and "'name'" in err[0], err


@pytest.mark.parametrize("extra, flag", [(["--te-segments", "0.04"], "--te-segments"),
                                         (["--te-segments", "0.04,-1,"], "--te-segments")])
def test_mbp_optimize_errors_name_the_cli_option(tmp_path, extra, flag):
    # was "te_segments: has 1 limits, expected 3", an argument the CLI does not have
    a, f = _csvs(tmp_path, [f"銘柄{i}" for i in range(30)], "utf-8-sig")
    proc = subprocess.run([sys.executable, "-m", "pyxl", "mbp", "optimize", str(a), str(f),
                           "--te-total", "0.02", *extra], capture_output=True, text=True,
                          check=False)
    assert proc.returncode != 0
    assert proc.stderr.strip().startswith(f"pyxl: {flag}: "), proc.stderr


def test_calc_into_a_new_folder_with_a_japanese_name(tmp_path):
    # `pyxl calc BOOK -o 出力/` (docs: "into a folder: out/kelly_calc.xlsx") wrote a
    # workbook FILE named 出力 when the folder did not exist yet
    from pyxl.cli import main

    src = tmp_path / "ケリー表.xlsx"
    shutil.copy(WORKBOOKS / TEMPLATES["kelly"].filename, src)
    assert main(["calc", str(src), "-o", f"{tmp_path / '出力'}/", "-q"]) == 0
    out = tmp_path / "出力" / "ケリー表_calc.xlsx"
    assert out.is_file()
    ws = openpyxl.load_workbook(out, data_only=True)["Kelly"]
    assert any(isinstance(c, float) for row in ws.iter_rows(values_only=True) for c in row)


@pytest.mark.parametrize("existing", [False, True])
def test_run_macro_into_a_folder(tmp_path, existing):
    # `-o 出力/` wrote a workbook file named 出力; an existing folder failed with
    # "IsADirectoryError"
    from pyxl.cli import main

    src = tmp_path / "kelly.xlsx"
    shutil.copy(WORKBOOKS / TEMPLATES["kelly"].filename, src)
    folder = tmp_path / "出力"
    if existing:
        folder.mkdir()
    assert main(["run-macro", str(src), "run_kelly", "-o",
                 str(folder) if existing else f"{folder}/"]) == 0
    out = folder / "kelly.xlsx"
    rows = list(openpyxl.load_workbook(out)["Out_Kelly"].iter_rows(values_only=True))
    assert rows[0][0] == "Kelly leverage report (full run)"


def test_backtest_sheet_with_numeric_codes_in_prices_row_1(tmp_path):
    """Backtest!'s =MNVH_BACKTEST reads mnvh_prices (no ticker row): Tokyo codes typed as
    numbers in Prices!B1:K1 give the same metrics as text tickers (they were a first bar
    of prices, 250 periods instead of 249), and so does the Run button."""
    from pyxl.macros import OpenpyxlBook, run
    from pyxl.templates.mnvh import BACKTEST_BLOCK
    from pyxl.workbook import calculate

    shipped = Path(__file__).resolve().parents[1] / "workbooks" / "mnvh_ledger.xlsx"
    codes = tmp_path / "codes.xlsx"
    shutil.copy(shipped, codes)
    wb = openpyxl.load_workbook(codes)
    for c, code in enumerate((7203, 6758, 9984, 8306, 4063, 6861, 8035, 9432, 6098, 4502),
                             start=2):
        wb["Prices"].cell(1, c).value = code
    wb.save(codes)
    r0 = openpyxl.utils.cell.range_boundaries(BACKTEST_BLOCK)[1]

    def metrics(path):
        vals = calculate(path, tmp_path / f"{path.stem}_out.xlsx").values["Backtest"]
        return {vals.get((r, 1)): vals.get((r, 2)) for r in range(r0, r0 + 22)}

    got, want = metrics(codes), metrics(shipped)
    assert got["Periods"] == want["Periods"] == 249
    assert got["Final NAV"] == want["Final NAV"]
    assert run("run_mnvh", OpenpyxlBook(codes)).ok


def test_kelly_growth_sheet_matches_a_code_typed_as_text_or_number(tmp_path):
    """Growth!B5:B6 find the asset comparing as text: a code typed as a number in the
    names (8306) and as text in Inputs!C8 ('8306) is the same asset, as for the Run
    button (MATCH gave #N/A); an asset not in the list stays #N/A."""
    from pyxl.workbook import calculate

    shipped = Path(__file__).resolve().parents[1] / "workbooks" / "kelly.xlsx"
    wb = openpyxl.load_workbook(shipped)
    ws = wb["Inputs"]
    codes = [8306, 7203, 6758, 9984, 4063, 6861, 8035]
    mu = [ws.cell(r, 2).value for r in range(13, 20)]
    for r, code in zip(range(13, 20), codes, strict=True):
        ws.cell(r, 1).value = code
    ws["C8"].value = "7203"
    wb.save(tmp_path / "codes.xlsx")
    g = calculate(tmp_path / "codes.xlsx", tmp_path / "out.xlsx").values["Growth"]
    assert g.get((5, 2)) == mu[1]
    ws["C8"].value = "9999"
    wb.save(tmp_path / "miss.xlsx")
    g = calculate(tmp_path / "miss.xlsx", tmp_path / "miss_out.xlsx").values["Growth"]
    assert str(g.get((5, 2))).startswith("#N/A")


def test_ledger_ticker_headers_follow_the_prices_sheet(tmp_path):
    """Ledger!C5.. are linked to Prices row 1 (they were typed AAPL, BAC, ... and went
    stale when a user pasted other tickers)."""
    from pyxl.workbook import calculate

    shipped = Path(__file__).resolve().parents[1] / "workbooks" / "mnvh_ledger.xlsx"
    wb = openpyxl.load_workbook(shipped)
    wb["Prices"]["B1"].value = 7203
    wb["Prices"]["C1"].value = "トヨタ"
    wb.save(tmp_path / "b.xlsx")
    led = calculate(tmp_path / "b.xlsx", tmp_path / "out.xlsx").values["Ledger"]
    assert led.get((5, 3)) == 7203 and led.get((5, 4)) == "トヨタ"
