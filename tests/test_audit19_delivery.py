"""Audit of the no-Excel delivery (templates, ``pyxl calc``, ``pyxl run-macro``, ``pyxl
templates``): each defect found, with the exact line or value the user sees.

D1  a zero or negative value in a range is named by its cell, as text is;
D2  the Run button names the sheet cell of a table read with its header row;
D3  ``run_mbp`` leaves an unsolvable frontier grid point blank instead of failing;
D4  ``pyxl templates --only`` refuses an unknown key, and ``--help`` lists the keys;
D5  ``pyxl calc``'s text-to-number coercion is a documented limit;
D6  kelly.xlsx shows a blank input blank (and its PyXL cells the blank error), not 0.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from conftest import excel_range
from test_macros_templates import _block

from pyxl.cli import main
from pyxl.errors import InputError
from pyxl.macros import OpenpyxlBook, run
from pyxl.templates import builder, generate
from pyxl.templates.spec import MBP_FRONTIER_TE, TEMPLATES
from pyxl.xl.convert import to_matrix, to_vector

ROOT = Path(__file__).resolve().parents[1]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _doc(name: str) -> str:
    return _flat((ROOT / name).read_text(encoding="utf-8"))


def _book(key: str, tmp_path: Path, name: str | None = None, **cells) -> Path:
    """Template ``key`` built into ``tmp_path`` with ``cells`` ({"Prices!E30": 0}) set."""
    path = tmp_path / (name or TEMPLATES[key].filename)
    builder(key)(path)
    if cells:
        wb = openpyxl.load_workbook(path)
        for ref, value in cells.items():
            sheet, cell = ref.split("!")
            wb[sheet][cell] = value
        wb.save(path)
    return path


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        fn(*args, **kwargs)
    return str(err.value)


# --- D1: the sign check names the cell ------------------------------------------------


def test_sign_error_names_the_cell_of_a_matrix():
    assert _error(to_matrix, [[1.0, 2.0], [3.0, 0.0]], "prices", positive=True) == (
        "prices: value 0 at row 2, column 2 is not > 0; enter strictly positive values")
    assert _error(to_matrix, [[1.0], [-2.0]], "prices", positive=True) == (
        "prices: value -2 at row 2 is not > 0; enter strictly positive values")
    assert _error(to_matrix, [[1.0, -2.0]], "cov", nonnegative=True) == (
        "cov: value -2 at column 2 is negative; enter values >= 0")
    assert _error(to_matrix, [[0.0]], "p", positive=True) == (
        "p: value 0 at the cell is not > 0; enter strictly positive values")


def test_sign_error_names_the_item_of_a_vector_counting_blanks():
    assert _error(to_vector, [[0.1], [0.2], [-0.001]], "bench_w", nonnegative=True) == (
        "bench_w: value -0.001 at item 3 is negative; enter values >= 0")
    assert _error(to_vector, [[0.1, 0.0]], "p_now", positive=True) == (
        "p_now: value 0 at item 2 is not > 0; enter strictly positive values")
    # a blank allowed before the bad cell still counts: item 3, not the 2nd finite value
    assert _error(to_vector, [[None], [0.2], [-1.0]], "max_weight", nonnegative=True,
                  allow_blank=True) == (
        "max_weight: value -1 at item 3 is negative; enter values >= 0")


def test_zero_price_is_named_like_text_in_the_same_cell(xl):
    rng = np.random.default_rng(19)
    prices = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, (40, 5)), axis=0))).astype(object)
    header = [["AAA", "BBB", "CCC", "DDD", "EEE"]]
    prices[28, 3] = 0.0
    zero = xl("MNVH_BACKTEST", excel_range(header + prices.tolist()))
    prices[28, 3] = "n/a"
    text = xl("MNVH_BACKTEST", excel_range(header + prices.tolist()))
    assert text == [["#PyXL! prices: text 'n/a' at row 29, column 4; enter a number"]]
    assert zero == [["#PyXL! prices: value 0 at row 29, column 4 is not > 0; "
                     "enter strictly positive values"]]
    assert zero[0][0] in _doc("docs/excel.md")


# --- D2: the Run button names the sheet cell of a table with a header row -------------


def test_run_mnvh_names_the_prices_cell(tmp_path):
    text = run("run_mnvh", OpenpyxlBook(_book("mnvh", tmp_path, **{"Prices!E30": "n/a"})))
    assert text.message == ("mnvh_price_table: text 'n/a' at Prices!E30; enter a number "
                            "(input of MNVH_BACKTEST)")
    zero = run("run_mnvh", OpenpyxlBook(_book("mnvh", tmp_path, "z.xlsx", **{"Prices!E30": 0})))
    assert zero.message == ("mnvh_price_table: value 0 at Prices!E30 is not > 0; enter "
                            "strictly positive values (input of MNVH_BACKTEST)")
    assert zero.message in _doc("docs/excel.md")
    assert text.message in _doc("docs/workbooks.md")


def test_run_mnvh_without_tickers_counts_the_header_row(tmp_path):
    # blank tickers: the formula takes no header, so its row 1 is the sheet's row 1
    blank = {f"Prices!{c}1": None for c in "BCDEFGHIJK"}
    res = run("run_mnvh", OpenpyxlBook(_book("mnvh", tmp_path, **blank)))
    assert res.message == ("mnvh_price_table: blank cell at Prices!B1; fill it or shrink the "
                           "range (input of MNVH_BACKTEST)")


def test_run_scenarios_names_the_history_cell(tmp_path):
    text = run("run_scenarios", OpenpyxlBook(_book("scenarios", tmp_path,
                                                   **{"History!C50": "abc"})))
    assert text.message == ("scn_return_table: text 'abc' at History!C50; enter a number "
                            "(input of MBB_RECOLOR)")
    low = run("run_scenarios", OpenpyxlBook(_book("scenarios", tmp_path, "l.xlsx",
                                                  **{"History!D40": -1.5})))
    assert low.message == ("scn_return_table: -1.5 at History!D40 is below -100 %; enter "
                           "simple returns as decimals (0.052 for 5.2 %) (input of MBB_RECOLOR)")


def test_every_template_table_with_a_header_row_is_named_by_its_cells():
    from pyxl.macros.engines import HEADER_TABLES

    with_header = {i.name for t in TEMPLATES.values() for i in t.inputs
                   if i.kind == "matrix" and "header row" in i.doc_en}
    assert with_header == set(HEADER_TABLES) == {"mnvh_price_table", "scn_return_table"}


def test_sheet_cell_quotes_a_sheet_name_when_needed():
    from pyxl.macros.engines import _sheet_cell

    assert _sheet_cell("Prices", 5, 30) == "Prices!E30"
    assert _sheet_cell("My prices", 2, 1) == "'My prices'!B1"
    assert _sheet_cell("Q1's", 1, 2) == "'Q1''s'!A2"


def test_whole_rows_and_columns_of_a_table_are_named_by_their_cells():
    from pyxl.macros.engines import _cells_of_table

    class History:  # scn_return_table as the template lays it out
        def has_name(self, name):
            return True

        def name_address(self, name):
            return ("History", "$B$1:$F$121")

    rows = [["AAPL", "JNJ", "JPM", "KO", "XOM"]] + [[0.01] * 5 for _ in range(120)]

    def named(problem):
        return _cells_of_table(History(), "scn_return_table", rows, problem)

    assert named("column 2 is constant; drop it or fix the data") == (
        "History!C2:C121 is constant; drop it or fix the data")
    # only the first position, and only before the fix: a quoted upstream error keeps its own
    assert named("row 3, column 2 shows another formula's error (mu: text 'abc' at the cell); "
                 "fix that cell first") == (
        "History!C4 shows another formula's error (mu: text 'abc' at the cell); "
        "fix that cell first")


def test_run_mbp_names_the_benchmark_weight_item(tmp_path):
    res = run("run_mbp", OpenpyxlBook(_book("mbp", tmp_path, **{"Universe!C60": -0.001})))
    # mbp_bench_w is Universe!C2:C121 (no header row): Universe!C60 is its item 59
    assert res.message == ("mbp_bench_w: value -0.001 at item 59 is negative; enter values "
                           ">= 0 (input of MBP_OPTIMIZE)")


# --- D3: an unsolvable frontier point is left blank ------------------------------------


def test_run_mbp_leaves_unsolvable_frontier_points_blank(tmp_path):
    path = _book("mbp", tmp_path, **{"Inputs!C6": 0.1})  # mbp_max_weight 10 %
    res = run("run_mbp", OpenpyxlBook(path))
    assert res.ok, res.message
    assert res.message == "results in Out_MBP"
    rows = [list(r) for r in openpyxl.load_workbook(path)["Out_MBP"].iter_rows(values_only=True)]
    weights = [r[2] for r in _block(rows, "Weights")[1:]]
    assert len(weights) == 120 and max(weights) <= 0.1 + 1e-9
    assert sum(weights) == pytest.approx(1.0, abs=1e-9)
    for title in ("TE frontier", "Names held by market TE limit"):
        table = _block(rows, title)
        assert [r[0] for r in table[1:]] == list(MBP_FRONTIER_TE)
        width = sum(v is not None for v in table[0])  # the sheet pads rows with blanks
        for r in table[1:3]:  # 0.25 % and 0.5 %: below the smallest feasible TE
            assert r[1:width] == [None] * (width - 1)
        for r in table[3:]:
            assert all(isinstance(v, (int, float)) for v in r[1:width])
    unsolved = _block(rows, "Frontier points not solved")
    assert unsolved[0][:3] == ["Portfolio", "Market TE limit",
                               "Why it is blank (as the Frontier sheet's weight column shows it)"]
    assert [(r[0], r[1]) for r in unsolved[1:]] == [
        ("SBP", 0.0025), ("MBP", 0.0025), ("SBP", 0.005), ("MBP", 0.005)]
    why = unsolved[1][2]
    assert re.fullmatch(r"te_total: market TE limit 0\.2500% cannot be met; smallest feasible "
                        r"0\.6\d{3}% with the weight constraints; loosen this limit or the "
                        r"others", why), why


def test_run_mbp_still_fails_when_the_users_own_problem_fails(tmp_path):
    path = _book("mbp", tmp_path, **{"Inputs!C6": 0.1, "Inputs!C4": 0.001})
    res = run("run_mbp", OpenpyxlBook(path))
    assert not res.ok
    assert re.fullmatch(r"mbp_te_total: market TE limit 0\.1000% cannot be met; smallest "
                        r"feasible 0\.6\d{3}% with the weight constraints; loosen this limit or "
                        r"the others \(input of MBP_OPTIMIZE\)", res.message), res.message


# --- D4: pyxl templates --only -----------------------------------------------------------


def test_templates_only_refuses_an_unknown_key(tmp_path, capsys):
    out = tmp_path / "books"
    assert main(["templates", "-o", str(out), "--only", "kelli", "--no-calc"]) == 2
    err = capsys.readouterr().err
    assert err == ("pyxl: --only: unknown template 'kelli'; choose from mnvh scenarios mbp "
                   "kelly\n")
    assert not out.exists()
    with pytest.raises(InputError, match=r"^only: unknown template 'x'; choose from mnvh "):
        generate(out, ["x"], calculate=False)


def test_templates_only_takes_a_file_name_too(tmp_path, capsys):
    assert main(["templates", "-o", str(tmp_path), "--only", "mnvh_ledger", "--no-calc"]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'mnvh_ledger.xlsx'}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mnvh_ledger.xlsx"]


def test_templates_help_lists_the_keys(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    top = _flat(capsys.readouterr().out)
    assert "write the template workbooks (keys mnvh scenarios mbp kelly)" in top
    with pytest.raises(SystemExit):
        main(["templates", "--help"])
    page = _flat(capsys.readouterr().out)
    assert ("--only [KEY ...] templates to write, by key: mnvh scenarios mbp kelly (a file "
            "name such as mnvh_ledger also works; default all)") in page
    assert ("(mnvh: mnvh_ledger.xlsx, scenarios: scenarios.xlsx, mbp: mbp.xlsx, kelly: "
            "kelly.xlsx)") in page


# --- D5: text coerced to a number in pyxl calc: a documented limit ----------------------


def test_text_to_number_coercion_is_a_documented_calc_limit(tmp_path):
    from pyxl.workbook import calculate

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["A1"], ws["A2"], ws["A3"] = "2%", "1,234.5", "12.5"
    for i, f in enumerate(('=A1*1', '=A2*1', '="2%"+0', '=VALUE("2%")', '=ABS(A1)',
                           '=VALUE("1,234.5")', '=A3*1', '="12.5"+0'), start=1):
        ws[f"B{i}"] = f
    wb.save(tmp_path / "t.xlsx")
    calculate(tmp_path / "t.xlsx", tmp_path / "c.xlsx")
    got = [c.value for c in openpyxl.load_workbook(tmp_path / "c.xlsx", data_only=True)["S"]["B"]]
    # what docs/workbooks.md says; when pyxl calc mends this, update the Limits list
    assert got == ["#VALUE!"] * 5 + [85469, 12.5, 12.5]
    limits = _doc("docs/workbooks.md").split("### Limits (honest list)")[1]
    assert ("`=A1*1` with the text `2%` or `1,234.5` in A1, `=\"2%\"+0`, `=VALUE(\"2%\")` and "
            "`=ABS(A1)` give `#VALUE!` where Excel gives 0.02 and 1234.5, and "
            "`=VALUE(\"1,234.5\")` gives 85469 (read as a date)") in limits


# --- D6: kelly.xlsx never shows a blank input as 0 -------------------------------------


def test_kelly_sheet_shows_a_blank_mu_blank_as_the_run_button(tmp_path):
    from pyxl.workbook import calculate

    path = _book("kelly", tmp_path, **{"Inputs!B16": None, "Inputs!C8": "MSCI EM"})
    calculate(path, path)
    wb = openpyxl.load_workbook(path, data_only=True)
    kelly, growth = wb["Kelly"], wb["Growth"]
    assert kelly["A8"].value == "MSCI EM"
    assert kelly["B8"].value in (None, "")  # blank, not 0
    assert kelly["D8"].value == "#VALUE!"  # the Sharpe of a blank mu
    blank = "#PyXL! mu: is blank; enter a number"
    assert kelly["E8"].value == blank  # was -0.181, a leverage from mu = 0
    assert kelly["I8"].value == blank
    assert growth["B5"].value in (None, "")
    assert growth["B6"].value == 0.235
    assert growth["B7"].value == blank
    assert growth["E5"].value == blank  # =KELLY_TABLE
    # the other rows are unchanged
    assert kelly["E5"].value == pytest.approx((0.085 - 0.01) / 0.182 ** 2)
    res = run("run_kelly", OpenpyxlBook(path))
    assert res.message == ("kelly_mu (row 4, MSCI EM): is blank; enter a number (input of "
                           "KELLY_LEVERAGE)")


def test_kelly_sheet_mirrors_are_guarded_and_a_blank_name_is_blank(tmp_path):
    path = _book("kelly", tmp_path)
    ws = openpyxl.load_workbook(path)["Kelly"]
    assert [ws[f"{c}8"].value for c in "ABC"] == [
        f'=IF(ISBLANK(Inputs!{c}16),"",Inputs!{c}16)' for c in "ABC"]
    from pyxl.workbook import calculate

    wb = openpyxl.load_workbook(path)
    wb["Inputs"]["A17"] = None
    wb.save(path)
    calculate(path, path)
    kelly = openpyxl.load_workbook(path, data_only=True)["Kelly"]
    assert kelly["A9"].value in (None, "")  # a plain =Inputs!A17 showed 0
    assert kelly["E9"].value == pytest.approx((0.055 - 0.01) / 0.0886 ** 2)


def test_committed_kelly_workbook_has_the_guarded_mirrors():
    wb = openpyxl.load_workbook(ROOT / "workbooks" / "kelly.xlsx")
    assert wb["Kelly"]["B8"].value == '=IF(ISBLANK(Inputs!B16),"",Inputs!B16)'
    assert "ISBLANK(kelly_mu)" in wb["Growth"]["B5"].value
    assert "ISBLANK(kelly_sigma)" in wb["Growth"]["B6"].value
