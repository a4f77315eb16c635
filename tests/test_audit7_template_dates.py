"""MNVH template: the sheets themselves flag a Prices sheet that is not oldest first (audit 7).

The price table the Ledger and Backtest formulas read has no date column, so rows are
taken in sheet order as time order: newest-first prices (as many downloads come) ran the
strategy backwards in time without a word (the shipped data reversed ends at a Final NAV of
959,541.94 instead of the dated engine's 959,819.27).  Backtest!B3, mirrored above the
Ledger's check column (AO4), now reads the dates and says so.  Each case is calculated
through the workbook engine (``pyxl calc``) on the committed workbook, edited as a user
would edit it, and the sheet must agree with the Run button's own date rule.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pyxl.macros import OpenpyxlBook, run
from pyxl.workbook import calculate

SHIPPED = Path(__file__).resolve().parents[1] / "workbooks" / "mnvh_ledger.xlsx"
DAYS, LAST_COL = 250, 11  # Prices!A2:K251, dates in column A
NEWEST_FIRST = "Prices are newest first: sort the Prices sheet by date, oldest first"
UNSORTED = "Prices are not in date order: sort the Prices sheet by date, oldest first"


def _edited(tmp_path: Path, edit=None) -> Path:
    path = tmp_path / "mnvh_ledger.xlsx"
    shutil.copy(SHIPPED, path)
    if edit is not None:
        wb = openpyxl.load_workbook(path)
        ws = wb["Prices"]
        rows = [[ws.cell(r, c).value for c in range(1, LAST_COL + 1)]
                for r in range(2, DAYS + 2)]
        for r, row in enumerate(edit(rows), start=2):
            for c, v in enumerate(row, start=1):
                ws.cell(r, c).value = v
        wb.save(path)
    return path


def _checks(path: Path, tmp_path: Path) -> tuple[object, object]:
    """(Backtest!B3, Ledger!AO4) as the workbook engine calculates them."""
    rep = calculate(path, tmp_path / "out.xlsx")
    return rep.values["Backtest"].get((3, 2)), rep.values["Ledger"].get((4, 41))


def _macro_refuses(path: Path) -> bool:
    res = run("run_mnvh", OpenpyxlBook(path))
    return not res.ok and "oldest first" in res.message


def test_shipped_template_date_check_is_ok(tmp_path):
    path = _edited(tmp_path)
    wb = openpyxl.load_workbook(path)
    dates = [wb["Prices"].cell(r, 1).value for r in range(2, DAYS + 2)]
    assert dates == sorted(dates)  # the shipped data is oldest first
    assert _checks(path, tmp_path) == ("ok", "ok")
    # and it is shown: a label beside it, red only for a warning (conditional formatting)
    bt = wb["Backtest"]
    assert bt["A3"].value.startswith("Prices check")
    rules = [r for cf in bt.conditional_formatting for r in cf.rules]
    assert any('"Prices are"' in f for r in rules for f in r.formula)


def test_reversed_prices_warn_on_both_sheets_as_the_macro_refuses(tmp_path):
    path = _edited(tmp_path, lambda rows: rows[::-1])
    assert _checks(path, tmp_path) == (NEWEST_FIRST, NEWEST_FIRST)
    assert _macro_refuses(path)


def test_shuffled_block_says_not_in_date_order(tmp_path):
    def swap(rows):  # two months moved to the end: up and down steps
        return rows[:100] + rows[140:] + rows[100:140]

    path = _edited(tmp_path, swap)
    assert _checks(path, tmp_path) == (UNSORTED, UNSORTED)
    assert _macro_refuses(path)


def test_shorter_table_with_blank_trailing_rows_stays_ok(tmp_path):
    keep = 180
    path = _edited(tmp_path, lambda rows: rows[:keep] + [[None] * LAST_COL] * (DAYS - keep))
    assert _checks(path, tmp_path) == ("ok", "ok")


def test_shorter_newest_first_table_still_warns(tmp_path):
    keep = 180
    path = _edited(tmp_path,
                   lambda rows: rows[:keep][::-1] + [[None] * LAST_COL] * (DAYS - keep))
    assert _checks(path, tmp_path) == (NEWEST_FIRST, NEWEST_FIRST)
    assert _macro_refuses(path)


@pytest.mark.parametrize("label", ["text", "gap"])
def test_column_not_all_dates_is_not_checked(tmp_path, label):
    """Text labels or a blank row between dates: no check (the macro's rule), no warning."""
    def edit(rows):
        rows = [list(r) for r in rows[::-1]]  # newest first, yet not all dates
        if label == "text":
            for i, r in enumerate(rows):
                r[0] = f"bar {DAYS - i}"
        else:
            rows[10][0] = None
        return rows

    path = _edited(tmp_path, edit)
    got = _checks(path, tmp_path)
    assert got[0] == got[1] and got[0].startswith("not checked")
    assert not _macro_refuses(path)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_calculates_the_date_check(tmp_path):
    """LibreOffice recalculates the check (plain Excel functions) on the edited workbook."""
    path = _edited(tmp_path, lambda rows: rows[::-1])  # openpyxl drops the cached values
    out = tmp_path / "lo"
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"  # own instance
    for sheet_no in (5, 4):  # Backtest, Ledger
        subprocess.run(["soffice", profile, "--headless", "--convert-to",
                        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,"
                        f"false,{sheet_no}", "--outdir", str(out), str(path)],
                       capture_output=True, timeout=180, check=True)
    with open(out / "mnvh_ledger-Backtest.csv", encoding="utf-8") as f:
        assert list(csv.reader(f))[2][1] == NEWEST_FIRST
    with open(out / "mnvh_ledger-Ledger.csv", encoding="utf-8") as f:
        assert list(csv.reader(f))[3][40] == NEWEST_FIRST
