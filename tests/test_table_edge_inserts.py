"""Rows and columns inserted at the edges of a template's data table.

Rows inserted at a table's first row: the Run button refuses them.

Excel (and LibreOffice: checked with a real insert, the name ``mnvh_prices`` became
``$B$3:$K$252``) moves a named range down for a row inserted at its first row instead of
widening it.  The new first bar / asset / name then lies above every name: the check
cells said so (review 20), but the Run button rebuilt the table from the names and ran
without the row.  Each template defines ``pyxl_top_<sheet>``, the header row and the
first data row; the check cell and the Run button both read it (3 rows after such an
insert).  A deleted first data row shrinks it to 1 row, which is no warning: the names
shrink too and the table is read whole (the check cell used to warn then).

A row inserted just below a table (or a column just right of it): the check cell's probe
of the cells past the table moved down with it, so a day typed in the new row lay between
the table and the probe, and the check said "ok" while the sheets left the day out (the
Run button, which probes past the names, refused).  The probe now starts on the table's
last row (column), which it subtracts, and widens over such a row as Excel widens any
range for a row inserted below its first row (checked in LibreOffice: a day typed in a
row inserted at Prices!252, and a price in a column inserted at L, both turn the check
red there too).
"""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from test_macros_books import sheet_cells
from test_rows_inserted import _insert_row

from pyxl.macros import OpenpyxlBook, run
from pyxl.templates.spec import TEMPLATES
from pyxl.workbook import calculate

BOOKS = Path(__file__).resolve().parents[1] / "workbooks"

# key, book, sheet, first data row, a new row typed there, check cells
CASES = [
    ("kelly", "kelly.xlsx", "Inputs", 13, ["NEW", 0.1, 0.2],
     [("Inputs", "B10"), ("Kelly", "B3")]),
    ("mnvh", "mnvh_ledger.xlsx", "Prices", 2, [36160, *[100.0] * 10],
     [("Backtest", "B3"), ("Ledger", "AO4")]),
    ("mbp", "mbp.xlsx", "Universe", 2, ["NEW", 1, 0.0, 0.01], [("Portfolio", "E3")]),
    ("scenarios", "scenarios.xlsx", "History", 2, [36000, 0.01, 0.01, 0.01, 0.01, 0.01],
     [("Summary", "B3")]),
]


def _copy(tmp_path: Path, book: str) -> Path:
    path = tmp_path / book
    path.write_bytes((BOOKS / book).read_bytes())
    return path


@pytest.mark.parametrize("key, book, sheet, k, row, checks", CASES)
def test_run_button_refuses_a_row_inserted_at_the_first_row(tmp_path, key, book, sheet, k,
                                                             row, checks):
    path = _copy(tmp_path, book)
    assert run(TEMPLATES[key].macro, OpenpyxlBook(path)).ok  # the shipped book runs
    out = next(s.name for s in TEMPLATES[key].sheets if s.role == "output")
    before = sheet_cells(path)[out]
    _insert_row(path, k, row, sheet=sheet)
    wb = openpyxl.load_workbook(path)
    assert wb.defined_names[f"pyxl_top_{sheet}"].attr_text.endswith(f"${k + 1}")
    res = run(TEMPLATES[key].macro, OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith(f"{sheet}!A{k}: row {k} lies above the named ranges"), \
        res.message
    assert f"start in row {k + 1}" in res.message and "delete it" in res.message
    assert sheet_cells(path)[out] == before  # nothing written


@pytest.mark.parametrize("key, book, sheet, k, row, checks", CASES)
def test_a_deleted_first_row_is_no_warning(tmp_path, key, book, sheet, k, row, checks):
    """Deleting the first data row shrinks the names and the first-row name alike; the
    check cells do not call it an insert (``ROWS(pyxl_top_...) > 2``, not ``<> 2``) and the
    Run button runs on the rest of the table."""
    path = _copy(tmp_path, book)
    want = {c: calculate(path).value(*c) for c in checks}
    _delete_row(path, k, sheet)
    wb = openpyxl.load_workbook(path)
    assert wb.defined_names[f"pyxl_top_{sheet}"].attr_text.endswith(f"$A${k - 1}")
    rep = calculate(path)
    for c in checks:
        got = str(rep.value(*c))
        if key == "mbp":  # its size check: the Portfolio sheet shows 120 names
            assert got.startswith("Universe is 119 names"), (c, got)
        else:
            assert got == str(want[c]), (c, got)
    res = run(TEMPLATES[key].macro, OpenpyxlBook(path))
    if key == "kelly":  # the asset chosen on Inputs was the deleted first one
        assert res.message.startswith("kelly_asset: 'S&P 500' is not in the asset table")
    elif key == "mbp":  # the benchmark weights lost the deleted name's weight
        assert res.message.startswith("mbp_bench_w: sums to 0.86"), res.message
    else:
        assert res.ok, res.message


def test_a_book_without_the_name_runs_as_before(tmp_path):
    """Workbooks made before the name existed (shared copies) have no ``pyxl_top_...``;
    the Run button then checks what it checked before."""
    path = _copy(tmp_path, "mnvh_ledger.xlsx")
    wb = openpyxl.load_workbook(path)
    del wb.defined_names["pyxl_top_Prices"]
    wb.save(path)
    assert run("run_mnvh", OpenpyxlBook(path)).ok


def _delete_row(path: Path, k: int, sheet: str) -> None:
    """Delete row ``k`` of ``sheet`` as Excel does: references below move up one row, a
    range ending on row k loses it, a range starting on it keeps its first row."""
    ref = re.compile(rf"((?:'{sheet}'|{sheet})!)(\$?[A-Z]{{1,3}}\$?)(\d+)"
                     r"(?::(\$?[A-Z]{1,3}\$?)(\d+))?")

    def move(m: re.Match) -> str:
        where, c1, r1, c2, r2 = m.groups()
        r1 = int(r1) - (int(r1) > k)
        if c2 is None:
            return f"{where}{c1}{r1}"
        r2 = int(r2) - (int(r2) >= k)
        return f"{where}{c1}{r1}:{c2}{max(r2, r1)}"

    wb = openpyxl.load_workbook(path)
    wb[sheet].delete_rows(k)
    _rewrite_refs(wb, lambda text: ref.sub(move, text))
    wb.save(path)


def _rewrite_refs(wb: openpyxl.Workbook, fix) -> None:
    """Apply ``fix`` to the text of every defined name and formula (as Excel moves them)."""
    for dn in wb.defined_names.values():
        if dn.attr_text:
            dn.attr_text = fix(dn.attr_text)
    for ws in wb.worksheets:
        for r in ws.iter_rows():
            for c in r:
                if c.data_type == "f" and isinstance(c.value, str):
                    c.value = fix(c.value)
                elif hasattr(c.value, "text"):  # an array formula
                    c.value.text = fix(c.value.text)


def _insert_col(path: Path, k: int, sheet: str, cells: dict[int, object]) -> None:
    """Insert column ``k`` of ``sheet`` as Excel does (references to columns >= k move
    right one column; a range starting left of k and ending at or right of it widens)
    and type ``cells`` (row -> value) in it."""
    from openpyxl.utils import column_index_from_string, get_column_letter

    ref = re.compile(rf"((?:'{sheet}'|{sheet})!)(\$?)([A-Z]{{1,3}})(\$?\d+)"
                     r"(?::(\$?)([A-Z]{1,3})(\$?\d+))?")

    def shift(col: str) -> str:
        n = column_index_from_string(col)
        return get_column_letter(n + (n >= k))

    def move(m: re.Match) -> str:
        where, d1, c1, r1, d2, c2, r2 = m.groups()
        out = f"{where}{d1}{shift(c1)}{r1}"
        return out if c2 is None else f"{out}:{d2}{shift(c2)}{r2}"

    wb = openpyxl.load_workbook(path)
    wb[sheet].insert_cols(k)
    _rewrite_refs(wb, lambda text: ref.sub(move, text))
    for r, v in cells.items():
        wb[sheet].cell(r, k, v)
    wb.save(path)


@pytest.mark.parametrize("key, book, sheet, k, row, checks", CASES)
def test_a_row_inserted_just_below_the_table_is_probed(tmp_path, key, book, sheet, k, row,
                                                       checks):
    block = TEMPLATES[key].blocks[0]
    below = block.corners[1][1] + 1
    path = _copy(tmp_path, book)
    _insert_row(path, below, [None] * len(row), sheet=sheet)  # inserted, still empty
    rep = calculate(path)
    ok = {c: rep.value(*c) for c in checks}
    assert all("outside" not in str(v) for v in ok.values()), ok
    _insert_row(_copy(tmp_path, book), below, row, sheet=sheet)  # inserted and typed in
    rep = calculate(tmp_path / book)
    for c in checks:
        got = str(rep.value(*c))
        assert block.message in got, (c, got)
    res = run(TEMPLATES[key].macro, OpenpyxlBook(tmp_path / book))
    assert not res.ok and f"{sheet}!A{below} lies outside" in res.message, res.message


def test_a_column_inserted_just_right_of_the_prices_is_probed(tmp_path):
    path = _copy(tmp_path, "mnvh_ledger.xlsx")
    _insert_col(path, 12, "Prices", {})
    assert calculate(path).value("Backtest", "B3") == "ok"
    _insert_col(path := _copy(tmp_path, "mnvh_ledger.xlsx"), 12, "Prices", {1: "NEW", 2: 100.0})
    msg = TEMPLATES["mnvh"].blocks[0].message
    assert calculate(path).value("Backtest", "B3") == msg
