"""Review 20: `pyxl calc`'s mended Excel functions on cases their first tests missed.

Every expected value is worked out by hand from Excel's documented rules (the comment
beside it shows the arithmetic).  LibreOffice 7 gives the same values for the INDEX,
criteria-ordering, SUMIF-family and ROUND cases below.
"""

from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import pytest

from pyxl.workbook import calculate
from pyxl.workbook.functions import excel_round

# D!A1:C3 is 1..9 by rows; E1 holds the row/column number 2, E2 is blank, E3 is the
# text "2"; column G mixes numbers and numbers stored as text.
_GRID = [[1, 2, 3, None, 2, None, 3],
         [4, 5, 6, None, None, None, "3"],
         [7, 8, 9, None, "2", None, 5],
         [None, None, None, None, None, None, "7"],
         [None, None, None, None, None, None, 1]]


def _book(path: Path, formulas: list[str], rows: list[list[object]] = _GRID) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "F"
    d = wb.create_sheet("D")
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row, start=1):
            if v is not None:
                d.cell(r, c, v)
    for i, text in enumerate(formulas, start=1):
        ws.cell(i, 1, text)
    wb.save(path)
    return path


def _values(tmp_path: Path, cases: list[tuple[str, float]],
            rows: list[list[object]] = _GRID) -> tuple[dict, dict]:
    rep = calculate(_book(tmp_path / "b.xlsx", [f for f, _ in cases], rows))
    got = {f: rep.value("F", f"A{i}") for i, (f, _) in enumerate(cases, start=1)}
    want = {f: pytest.approx(v, rel=1e-12) for f, v in cases}
    return got, want


_INDEX = [
    ("=SUM(INDEX(D!A1:C3,D!E1,0))", 15),                  # row 2: 4 + 5 + 6
    ("=SUM(INDEX(D!A1:C3,0,D!E1))", 15),                  # column 2: 2 + 5 + 8
    ("=SUMPRODUCT(INDEX(D!A1:C3,D!E1,0),D!A1:C1)", 32),   # 4*1 + 5*2 + 6*3
    ("=SUM(INDEX(D!A1:C3,D!E1,D!E2))", 15),               # a blank column number is 0
    ("=SUM(INDEX(D!A1:C3,D!E3,0))", 15),                  # the text "2" is the number 2
    ("=SUM(INDEX(D!A1:A3,0))", 12),                       # one column: 1 + 4 + 7
    ("=SUM(INDEX(D!A1:C1,0))", 6),                        # one row: 1 + 2 + 3
    ("=INDEX(D!A1:C3,D!E1,3)", 6),                        # one cell, as before
]


def test_index_zero_with_numbers_from_cells(tmp_path):
    """INDEX(array, row, 0) with the row number in a cell (the way a user writes it)
    returned the row's first cell, silently (SUM 4 for 15): the mend handled only
    numbers typed into the formula; and INDEX(column, 0) returned one cell."""
    got, want = _values(tmp_path, _INDEX)
    assert got == want


_ORDER = [
    ('=COUNTIF(D!G1:G5,">2")', 2),      # the numbers 3 and 5; "3" and "7" are text
    ('=COUNTIF(D!G1:G5,"<=3")', 2),     # the numbers 3 and 1
    ('=SUMIF(D!G1:G5,">0")', 9),        # 3 + 5 + 1
    ('=COUNTIFS(D!G1:G5,">=1",D!G1:G5,"<7")', 3),  # 3, 5, 1
]


def test_criteria_ordering_skips_numbers_stored_as_text(tmp_path):
    """Excel's ">2" in COUNTIF/SUMIF compares number cells only: a number stored as
    text is not counted (it is by "=3"); pyxl calc counted it."""
    got, want = _values(tmp_path, _ORDER)
    assert got == want


_SUMS = [("a", 3), ("a", "4"), ("a", "x"), ("b", 100), ("a", 2)]
_OPERATING = [
    ('=SUMIF(D!A1:A5,"a",D!B1:B5)', 5),             # 3 + 2: text "4" and "x" are skipped
    ('=SUMIFS(D!B1:B5,D!A1:A5,"a")', 5),
    ('=AVERAGEIF(D!A1:A5,"a",D!B1:B5)', 2.5),       # (3 + 2) / 2
    ('=AVERAGEIFS(D!B1:B5,D!A1:A5,"a")', 2.5),
    ('=_xlfn.MAXIFS(D!B1:B5,D!A1:A5,"a")', 3),
    ('=_xlfn.MINIFS(D!B1:B5,D!A1:A5,"a")', 2),
    ('=COUNTIF(D!A1:A5,"a")', 4),                   # counting still counts every match
]


def test_sum_average_max_ranges_skip_text(tmp_path):
    """Text in SUMIF's sum range (or AVERAGEIF's, MAXIFS's) is skipped in Excel; pyxl
    calc summed "4" as 4 (SUMIF 9 for 5) and gave #VALUE! for AVERAGEIF and MAXIFS."""
    rows = [list(r) for r in _SUMS]
    got, want = _values(tmp_path, _OPERATING, rows)
    assert got == want


def test_round_at_the_ends_of_the_double_range(tmp_path):
    """ROUND(1E+300, 300) is 1E+300 (it was #VALUE!: the decimal context overflowed),
    the largest double rounds to itself (it gave inf), and a result of zero is 0, not
    -0 (ROUND(-2.55, -1))."""
    assert excel_round(1e300, 300) == 1e300
    assert excel_round(-1e300, 310, "up") == -1e300
    big = 1.7976931348623157e308
    assert excel_round(big, 0) == big
    assert excel_round(-big, 2, "down") == -big
    zero = excel_round(-2.55, -1)
    assert zero == 0.0 and math.copysign(1.0, zero) == 1.0
    rep = calculate(_book(tmp_path / "r.xlsx", ["=ROUND(1E+300,300)", "=ROUND(-2.55,-1)"]))
    assert rep.value("F", "A1") == pytest.approx(1e300, rel=1e-15)
    assert rep.value("F", "A2") == 0.0
    assert not [i for i in rep.issues if i.sheet == "F"]


# --- A row inserted as a table's new first row --------------------------------------

_BOOKS = Path(__file__).resolve().parents[1] / "workbooks"


@pytest.mark.parametrize("book, sheet, first_row, row, check", [
    ("kelly.xlsx", "Inputs", 13, ["NEW", 0.1, 0.2], [("Inputs", "B10"), ("Kelly", "B3")]),
    ("mnvh_ledger.xlsx", "Prices", 2, [44560, *[100.0] * 10],
     [("Backtest", "B3"), ("Ledger", "AO4")]),
    ("mbp.xlsx", "Universe", 2, ["NEW", 1, 0.0, 0.01], [("Portfolio", "E3")]),
    ("scenarios.xlsx", "History", 2, [36000, 0.01, 0.01, 0.01, 0.01, 0.01],
     [("Summary", "B3")]),
])
def test_row_inserted_at_the_first_row_is_flagged(tmp_path, book, sheet, first_row, row,
                                                  check):
    """Excel moves a named range down (it does not widen it) for a row inserted at its
    first row, as LibreOffice does (checked there: kelly_names became A14:A20): a new
    first asset / bar / name typed there lay outside every name and every probe, and
    the check cells said "ok" while nothing read it."""
    from test_rows_inserted import _insert_row

    path = tmp_path / book
    path.write_bytes((_BOOKS / book).read_bytes())
    _insert_row(path, first_row, row, sheet=sheet)
    rep = calculate(path)
    subject = {"Inputs": "Assets are", "Prices": "Prices are", "Universe": "Universe is",
               "History": "History is"}[sheet]
    for where, cell in check:
        got = str(rep.value(where, cell))
        assert got.startswith(f"{subject} also in a row inserted above"), (where, cell, got)


def test_row_inserted_inside_the_table_is_still_ok(tmp_path):
    """The first-row guard does not fire for a row inserted below the first row (the
    names widen over it: the Kelly table's 8th asset is read by the Run button)."""
    from test_rows_inserted import _insert_row

    path = tmp_path / "kelly.xlsx"
    path.write_bytes((_BOOKS / "kelly.xlsx").read_bytes())
    _insert_row(path, 14, ["NEW", 0.1, 0.2], sheet="Inputs")
    rep = calculate(path)
    assert rep.value("Inputs", "B10") == "ok"
