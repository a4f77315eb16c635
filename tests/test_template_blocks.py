"""Template data blocks: a table pasted wider or longer than the block is flagged, not half-read.

The MNVH Prices block (A1:K251: 10 tickers x 250 days), the scenario History block
(A1:F121: 5 assets x 120 months) and the MBP Universe (A1:K121: 120 names x 6 factors)
and Factors (A1:G7) blocks have a fixed size, like the named ranges every formula
and the Run button read.  A PM pasting 20 tickers or 500 days used to get results for the
first 10 tickers or 250 days without a word (and an MBP universe of 121 names was
optimised over its first 120).  Now the check cell (Backtest!B3 with its Ledger mirror,
Summary!B3, Portfolio!E3) shows the warning in red, the Run button refuses, and both
name the fix.  Each case is calculated by the workbook engine (``pyxl calc``) on the
committed workbook, edited as a user would edit it.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from test_macros_xlwings import FakeBook

from pyxl.macros import OpenpyxlBook, XlwingsBook, run
from pyxl.templates import spec as S
from pyxl.workbook import calculate

BOOKS = Path(__file__).resolve().parents[1] / "workbooks"
MNVH_MSG = ("Prices are also outside A1:K251: the sheets read only 10 tickers x 250 days; "
            "delete the extra rows and columns")
SCN_MSG = ("History is also outside A1:F121: the sheets read only 5 assets x 120 months; "
           "delete the extra rows and columns")
UNIVERSE_MSG = ("Universe is also outside A1:K121: the sheets read only 120 names x 6 factors; "
                "delete the extra rows and columns")
FACTORS_MSG = ("Factors are also outside A1:G7: the sheets read only 6 x 6 factors; "
               "delete the extra rows and columns")
KELLY_MSG = ("Assets are also outside A12:C19: the sheets read only 7 assets; insert rows "
             "inside the table instead (the Run button reports every row; the Kelly sheet "
             "keeps the seed's 7 rows)")
NEWEST_FIRST = "Prices are newest first: sort the Prices sheet by date, oldest first"


def _edited(tmp_path: Path, name: str, sheet: str, cells: dict[tuple[int, int], object],
            reverse_rows: tuple[int, int] | None = None) -> Path:
    """A copy of a committed workbook with ``cells`` ((row, col) -> value) set on ``sheet``."""
    path = tmp_path / name
    shutil.copy(BOOKS / name, path)
    wb = openpyxl.load_workbook(path)
    ws = wb[sheet]
    if reverse_rows is not None:
        r1, r2 = reverse_rows
        rows = [[c.value for c in ws[r]] for r in range(r1, r2 + 1)]
        for r, row in zip(range(r1, r2 + 1), rows[::-1], strict=True):
            for c, v in enumerate(row, start=1):
                ws.cell(r, c).value = v
    for (r, c), v in cells.items():
        ws.cell(r, c).value = v
    wb.save(path)
    return path


def _mnvh_checks(path: Path, tmp_path: Path) -> tuple[object, object]:
    rep = calculate(path, tmp_path / "out.xlsx")
    return rep.values["Backtest"].get((3, 2)), rep.values["Ledger"].get((4, 41))


def _scn_check(path: Path, tmp_path: Path) -> object:
    return calculate(path, tmp_path / "out.xlsx").values["Summary"].get((3, 2))


def _wider_prices() -> dict[tuple[int, int], object]:
    """An 11th ticker pasted in column L: header and 250 prices."""
    cells: dict[tuple[int, int], object] = {(1, 12): "NVDA"}
    cells.update({(r, 12): 100.0 + r for r in range(2, 252)})
    return cells


def _longer_prices() -> dict[tuple[int, int], object]:
    """A 251st day pasted in row 252 (a date and 10 prices)."""
    import datetime as dt

    cells: dict[tuple[int, int], object] = {(252, 1): dt.datetime(2022, 12, 29)}
    cells.update({(252, c): 50.0 for c in range(2, 12)})
    return cells


def test_spec_blocks_are_the_named_tables_on_their_sheets():
    """A data sheet's block starts in A1 and ends at the last cell any named range on its
    sheet reaches; the Kelly asset table is its three names with their header row."""
    blocks = [(spec, b) for spec in S.TEMPLATES.values() for b in spec.blocks]
    assert {(spec.key, b.sheet) for spec, b in blocks} == {
        ("mnvh", "Prices"), ("scenarios", "History"), ("mbp", "Universe"), ("mbp", "Factors"),
        ("kelly", "Inputs")}
    for spec, block in blocks:
        first, last = block.corners
        names = block.names or [i.name for i in spec.inputs if i.sheet == block.sheet]
        refs = [i.ref for i in spec.inputs if i.name in names]
        starts = [S._cell_rc(r.split(":")[0]) for r in refs]
        ends = [S._cell_rc(r.split(":")[-1]) for r in refs]
        assert last == (max(c for c, _ in ends), max(r for _, r in ends)), block
        if block.names:
            assert first == (1, min(r for _, r in starts) - 1), block  # the header row
        else:
            assert first == (1, 1), block
    assert S.beyond_block("$A$1:$K$251") == ("$L$1:$DG$2", "$A$252:$K$253")
    assert S.beyond_block("$A$12:$C$19", 0, 1) == ("$A$20:$C$20",)


def _mbp_check(path: Path, tmp_path: Path) -> object:
    return calculate(path, tmp_path / "out.xlsx").values["Portfolio"].get((3, 5))


def test_shipped_blocks_are_ok(tmp_path):
    assert _mnvh_checks(BOOKS / "mnvh_ledger.xlsx", tmp_path) == ("ok", "ok")
    assert _scn_check(BOOKS / "scenarios.xlsx", tmp_path) == "ok"
    assert _mbp_check(BOOKS / "mbp.xlsx", tmp_path) == "ok"


@pytest.mark.parametrize("sheet, cells, message, first_cell", [
    ("Universe", {(122, 1): "N121", (122, 2): 3, (122, 3): 0.0, (122, 4): 0.01},
     UNIVERSE_MSG, "Universe!A122"),
    ("Universe", {(1, 12): "sector_3", (2, 12): 0.0}, UNIVERSE_MSG, "Universe!L1"),
    ("Factors", {(8, 1): "sector_3", (8, 2): 0.0}, FACTORS_MSG, "Factors!A8"),
], ids=["121st-name", "7th-factor-column", "7th-factor-row"])
def test_mbp_universe_larger_than_the_block_warns_and_the_button_refuses(
        tmp_path, sheet, cells, message, first_cell):
    path = _edited(tmp_path, "mbp.xlsx", sheet, cells)
    assert _mbp_check(path, tmp_path) == message
    res = run("run_mbp", OpenpyxlBook(path))
    assert not res.ok and res.message.startswith(f"{first_cell} lies outside the {sheet} block")


@pytest.mark.parametrize("case, first_cell", [("wider", "Prices!L1"), ("longer", "Prices!A252")])
def test_mnvh_table_larger_than_the_block_warns_and_the_button_refuses(tmp_path, case,
                                                                        first_cell):
    cells = _wider_prices() if case == "wider" else _longer_prices()
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", cells)
    assert _mnvh_checks(path, tmp_path) == (MNVH_MSG, MNVH_MSG)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith(f"{first_cell} lies outside the Prices block A1:K251")
    assert "10 tickers x 250 days" in res.message and "delete the extra" in res.message


def test_block_warning_comes_before_the_date_warning(tmp_path):
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", _wider_prices(),
                   reverse_rows=(2, 251))
    assert _mnvh_checks(path, tmp_path) == (MNVH_MSG, MNVH_MSG)
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", {}, reverse_rows=(2, 251))
    assert _mnvh_checks(path, tmp_path) == (NEWEST_FIRST, NEWEST_FIRST)


def test_a_cleared_extra_column_is_ok_again(tmp_path):
    """Deleting the extra data (cells set blank) puts the check and the button back."""
    cells = {k: None for k in _wider_prices()}
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", cells)
    assert _mnvh_checks(path, tmp_path) == ("ok", "ok")
    assert run("run_mnvh", OpenpyxlBook(path)).ok


def test_scenarios_history_larger_than_the_block_warns_and_the_button_refuses(tmp_path):
    cells: dict[tuple[int, int], object] = {(1, 7): "MSFT"}
    cells.update({(r, 7): 0.01 for r in range(2, 122)})
    path = _edited(tmp_path, "scenarios.xlsx", "History", cells)
    assert _scn_check(path, tmp_path) == SCN_MSG
    res = run("run_scenarios", OpenpyxlBook(path))
    assert not res.ok and res.message.startswith("History!G1 lies outside the History block")
    path = _edited(tmp_path, "scenarios.xlsx", "History", {(122, 3): 0.02})
    assert _scn_check(path, tmp_path) == SCN_MSG
    res = run("run_scenarios", OpenpyxlBook(path))
    assert not res.ok and res.message.startswith("History!C122 lies outside")


def test_check_cells_turn_red_on_the_warning():
    for name, sheet, ref, prefix in (("mnvh_ledger.xlsx", "Backtest", "B3", "Prices are"),
                                     ("scenarios.xlsx", "Summary", "B3", "History is"),
                                     ("mbp.xlsx", "Portfolio", "E3", "Universe is"),
                                     ("mbp.xlsx", "Portfolio", "E3", "Factors are")):
        ws = openpyxl.load_workbook(BOOKS / name)[sheet]
        formulas = [f for cf in ws.conditional_formatting if ref in str(cf.sqref)
                    for r in cf.rules for f in r.formula]
        assert f'LEFT(${ref[0]}$3,{len(prefix)})="{prefix}"' in formulas, formulas
        assert ws["A3"].value.startswith(
            {"Backtest": "Prices check", "Summary": "History / ", "Portfolio": "Universe check"}[
                sheet])


def test_excel_button_refuses_through_xlwings(tmp_path):
    """The same refusal through the xlwings adapter (cells read as Excel hands them over)."""
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", _wider_prices())
    fake = FakeBook(path, "Backtest", values=True)
    res = run("run_mnvh", XlwingsBook(fake))
    assert not res.ok and res.message.startswith("Prices!L1 lies outside")
    assert fake.app.status[-1].startswith("PyXL run_mnvh failed: Prices!L1")


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_calculates_the_block_check(tmp_path):
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", _longer_prices())
    out = tmp_path / "lo"
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"  # own instance
    subprocess.run(["soffice", profile, "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,"
                    "false,5", "--outdir", str(out), str(path)],
                   capture_output=True, timeout=180, check=True)
    with open(out / "mnvh_ledger-Backtest.csv", encoding="utf-8") as f:
        assert list(csv.reader(f))[2][1] == MNVH_MSG


def _grown_names(path: Path, rows: int) -> None:
    """As Excel does when rows are inserted inside the price block: the Prices names reach
    ``rows`` more rows (openpyxl does not shift names itself)."""
    wb = openpyxl.load_workbook(path)
    for inp in S.MNVH.inputs:
        if inp.sheet == "Prices" and inp.ref.endswith("$251"):
            ref = inp.ref[:-3] + str(251 + rows)
            wb.defined_names[inp.name].attr_text = f"'Prices'!{ref}"
    wb.save(path)


@pytest.mark.parametrize("adapter", ["openpyxl", "xlwings"])
def test_button_follows_names_grown_by_inserted_rows(tmp_path, adapter):
    """Rows inserted inside the block widen its names (Excel shifts the check cell's
    references alike), so a 251st day is then inside, and a 252nd is outside."""
    path = _edited(tmp_path, "mnvh_ledger.xlsx", "Prices", _longer_prices())
    _grown_names(path, 1)

    def book():
        return OpenpyxlBook(path) if adapter == "openpyxl" else XlwingsBook(
            FakeBook(path, "Backtest", values=True))

    assert run("run_mnvh", book()).ok
    wb = openpyxl.load_workbook(path)
    wb["Prices"]["A253"] = wb["Prices"]["A252"].value
    wb.save(path)
    res = run("run_mnvh", book())
    assert not res.ok
    assert res.message.startswith("Prices!A253 lies outside the Prices block A1:K252"), res.message


def _kelly_checks(path: Path, tmp_path: Path) -> tuple[object, object]:
    rep = calculate(path, tmp_path / "out.xlsx")
    return rep.values["Inputs"].get((10, 2)), rep.values["Kelly"].get((3, 2))


def _kelly_report_names(path: Path) -> list[str]:
    ws = openpyxl.load_workbook(path)["Out_Kelly"]
    return [str(c.value) for c in ws["A"] if c.value is not None]


def test_kelly_eighth_asset_below_the_table_warns_and_the_button_refuses(tmp_path):
    """An 8th asset typed in row 20 was read by nothing (the Kelly sheet has 7 rows, the
    names end in row 19) and nothing said so."""
    assert _kelly_checks(BOOKS / "kelly.xlsx", tmp_path) == ("ok", "ok")
    path = _edited(tmp_path, "kelly.xlsx", "Inputs",
                   {(20, 1): "Nikkei 225", (20, 2): 0.07, (20, 3): 0.2})
    assert _kelly_checks(path, tmp_path) == (KELLY_MSG, KELLY_MSG)
    res = run("run_kelly", OpenpyxlBook(path))
    assert not res.ok
    assert res.message == (
        "Inputs!A20 lies outside the Inputs block A12:C19: the template reads only 7 assets; "
        "insert rows inside the table instead (the Run button reports every row; the Kelly "
        "sheet keeps the seed's 7 rows)"), res.message  # no CLI reads this table: no CLI note
    # a column added right of the table is not data anything misses: still ok
    path = _edited(tmp_path, "kelly.xlsx", "Inputs", {(12, 4): "weight", (13, 4): 0.5})
    assert _kelly_checks(path, tmp_path) == ("ok", "ok")
    assert run("run_kelly", OpenpyxlBook(path)).ok


def test_kelly_button_reports_a_row_inserted_inside_the_table(tmp_path):
    """A row inserted inside the table (rows 13-19) widens the names, as Excel does, so the
    Run button reports the 8th asset; a 9th typed under the grown table is refused."""
    path = tmp_path / "kelly.xlsx"
    shutil.copy(BOOKS / "kelly.xlsx", path)
    wb = openpyxl.load_workbook(path)
    ws = wb["Inputs"]
    ws.insert_rows(15)  # openpyxl moves the cells but neither names nor formulas
    for c, v in enumerate(("Nikkei 225", 0.07, 0.2), start=1):
        ws.cell(15, c, v)
    for name in ("kelly_names", "kelly_mu", "kelly_sigma"):
        dn = wb.defined_names[name]
        dn.attr_text = dn.attr_text.replace("$19", "$20")
    wb.save(path)
    res = run("run_kelly", OpenpyxlBook(path))
    assert res.ok, res.message
    names = _kelly_report_names(path)
    assert "Nikkei 225" in names and "Global 3x balanced" in names
    wb = openpyxl.load_workbook(path)
    wb["Inputs"]["A21"] = "NASDAQ 100"
    wb.save(path)
    res = run("run_kelly", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("Inputs!A21 lies outside the Inputs block A12:C20"), res.message


def test_kelly_check_cells_turn_red_on_the_warning():
    wb = openpyxl.load_workbook(BOOKS / "kelly.xlsx")
    for sheet, ref in (("Inputs", "B10"), ("Kelly", "B3")):
        ws = wb[sheet]
        formulas = [f for cf in ws.conditional_formatting if ref in str(cf.sqref)
                    for r in cf.rules for f in r.formula]
        assert f'LEFT($B${ref[1:]},10)="Assets are"' in formulas, formulas
        assert ws.cell(int(ref[1:]), 1).value.startswith("Asset table")
