"""Audit 17: `pyxl calc` on workbooks a user builds, checked against Excel's rules by hand.

Each value below is worked out by hand from Excel's documented rules (the comment
next to it shows the arithmetic); LibreOffice, where installed, is a second,
independent evaluator of the same cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pyxl.workbook import calculate
from pyxl.workbook.functions import excel_round, yearfrac_days

# Column A mixes text, a blank, a number, a number stored as text and a logical.
_MIXED = [("a", 1.0, 10), ("b", 2.0, 20), (None, 3.0, 30), (5, 4.0, 40),
          ("A", 5.0, 50), ("ab", 6.0, 60), ("5", 7.0, 70), (True, 8.0, 80)]

# (formula, Excel's value by hand)
_CRITERIA = [
    ('=COUNTIF(D!A1:A8,"<>")', 7),                      # every non-blank cell
    ('=COUNTIF(D!A1:A8,"<>a")', 6),                     # all but "a" and "A", blank included
    ('=SUMIF(D!A1:A8,"<>a",D!B1:B8)', 30),              # 36 - 1 - 5
    ('=COUNTIF(D!A1:A8,"=")', 1),                       # the blank cell
    ('=COUNTIF(D!A1:A8,"")', 1),
    ('=COUNTIF(D!A1:A8,"<>"&"b")', 7),
    ('=SUMIFS(D!B1:B8,D!A1:A8,"<>b",D!C1:C8,">15")', 33),  # rows 3..8: 3+4+5+6+7+8
    ('=COUNTIFS(D!A1:A8,"<>a*")', 5),                   # "a", "A", "ab" match a*
    ('=COUNTIF(D!A1:A8,"a?")', 1),                      # "ab" only: whole text
    ('=COUNTIF(D!A1:A8,"A*")', 3),                      # case-insensitive
    ('=COUNTIF(D!A1:A8,"<b")', 4),                      # text cells a, A, ab, "5"
    ('=AVERAGEIF(D!A1:A8,"<>a",D!B1:B8)', 5),           # (2+3+4+6+7+8)/6
    ('=COUNTIFS(D!A1:A8,"<>",D!B1:B8,">2")', 5),        # rows 4..8
    ('=_xlfn.MAXIFS(D!B1:B8,D!A1:A8,"<>a")', 8),        # the TRUE row counts
    ('=_xlfn.MINIFS(D!B1:B8,D!A1:A8,"<>")', 1),
    ('=AVERAGEIFS(D!B1:B8,D!A1:A8,"<>")', 33 / 7),      # (36 - 3) / 7
    ('=COUNTIF(D!A1:A8,D!E1)', 0),                      # blank criterion cell means 0
    ('=COUNTIF(D!A1:A8,TRUE)', 1),
    ('=COUNTIF(D!A1:A8,"=a")', 2),
    ('=SUMIF(D!B1:B8,">=2")', 35),                      # 36 - 1
]


def _criteria_book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "F"
    d = wb.create_sheet("D")
    for row in _MIXED:
        d.append(list(row))
    for i, (text, _) in enumerate(_CRITERIA, start=1):
        ws.cell(i, 1, text)
    wb.save(path)
    return path


def test_criteria_functions_follow_excel(tmp_path):
    rep = calculate(_criteria_book(tmp_path / "crit.xlsx"))
    got = {text: rep.value("F", f"A{i}") for i, (text, _) in enumerate(_CRITERIA, start=1)}
    want = {text: pytest.approx(float(v), rel=1e-12) for text, v in _CRITERIA}
    assert got == want


def libreoffice_sheet(path: Path, sheet: str, tmp_path: Path) -> list[list[str]]:
    """Sheet ``sheet`` of ``path`` as LibreOffice calculates it (headless, its own profile
    under ``tmp_path``): the rows of its CSV export, as text."""
    out = tmp_path / "lo"
    profile = f"-env:UserInstallation={(tmp_path / 'profile').as_uri()}"
    subprocess.run(["soffice", profile, "--headless", "--convert-to",
                    "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,"
                    "false,1", "--outdir", str(out), str(path)],
                   capture_output=True, timeout=180, check=True)
    with open(out / f"{path.stem}-{sheet}.csv", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_agrees_on_the_criteria(tmp_path):
    path = _criteria_book(tmp_path / "crit.xlsx")
    lo = [float(r[0]) for r in libreoffice_sheet(path, "F", tmp_path)]
    rep = calculate(path)
    ours = [rep.value("F", f"A{i}") for i in range(1, len(_CRITERIA) + 1)]
    assert ours == pytest.approx(lo, rel=1e-9)


@pytest.mark.parametrize(("x", "d", "mode", "want"), [
    (1.005, 2, "half", 1.01),      # the double is 1.00499999999999989...
    (-1.005, 2, "half", -1.01),
    (2.675, 2, "half", 2.68),
    (4.35, 2, "down", 4.35),       # the double is 4.34999999999999964...
    (-4.35, 2, "down", -4.35),
    (0.1 + 0.2, 1, "up", 0.3),     # 0.30000000000000004 shows as 0.3
    (1.01, 1, "up", 1.1),
    (1.99, 0, "down", 1.0),
    (-2.5, 0, "half", -3.0),
    (2.5, -1, "half", 0.0),
    (1234.5678, -2, "half", 1200.0),
    (1e-20, 25, "half", 1e-20),
])
def test_excel_round(x, d, mode, want):
    assert excel_round(x, d, mode) == want


def _book(path: Path, formulas: list[str], data: list[list[object]] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "F"
    d = wb.create_sheet("D")
    for row in data or []:
        d.append(row)
    for i, text in enumerate(formulas, start=1):
        ws.cell(i, 1, text)
    wb.save(path)
    return path


def test_round_functions_in_a_workbook(tmp_path):
    cells = ["=ROUND(1.005,2)", "=ROUNDDOWN(4.35,2)", "=ROUNDUP(0.1+0.2,1)",
             "=ROUND(D!A1*1.5,2)", '=ROUND("1.005",2)']
    rep = calculate(_book(tmp_path / "r.xlsx", cells, [[0.67]]))
    # 0.67 * 1.5 = 1.005 (shown), as the double 1.0050000000000001
    assert [rep.value("F", f"A{i}") for i in range(1, 6)] == [1.01, 4.35, 0.3, 1.01, 1.01]
    assert not rep.issues


@pytest.mark.parametrize(("start", "end", "basis", "want"), [
    # basis 1, at most a year apart: 366 when the period holds a 29 February
    (dt.date(2023, 12, 31), dt.date(2024, 6, 30), 1, 182 / 366),
    (dt.date(2023, 3, 1), dt.date(2024, 2, 29), 1, 365 / 366),
    (dt.date(2022, 3, 1), dt.date(2023, 2, 28), 1, 364 / 365),
    (dt.date(2024, 1, 1), dt.date(2024, 12, 31), 1, 365 / 366),
    # basis 1, longer: the average length of the years 2022..2024
    (dt.date(2022, 7, 1), dt.date(2024, 7, 1), 1, 731 / ((365 + 365 + 366) / 3)),
    # basis 0: two February month-ends count as 30 and 30
    (dt.date(2023, 2, 28), dt.date(2024, 2, 29), 0, 1.0),
    (dt.date(2024, 2, 29), dt.date(2024, 3, 31), 0, 31 / 360),   # 30 Feb -> 31 Mar
    (dt.date(2024, 1, 31), dt.date(2024, 3, 31), 0, 60 / 360),
    (dt.date(2024, 6, 30), dt.date(2023, 12, 31), 3, 182 / 365),  # other bases unchanged
])
def test_yearfrac(tmp_path, start, end, basis, want):
    rep = calculate(_book(tmp_path / "y.xlsx", [f"=YEARFRAC(D!A1,D!B1,{basis})"],
                          [[start, end]]))
    assert rep.value("F", "A1") == pytest.approx(want, rel=1e-14)
    y = sorted([start, end])
    if basis in (0, 1):
        assert yearfrac_days(*y[0].timetuple()[:3], *y[1].timetuple()[:3],
                             basis=basis) == pytest.approx(want, rel=1e-14)


def test_percentrank_ties_take_the_lowest_rank(tmp_path):
    cells = ["=PERCENTRANK.INC(D!A1:A6,2)",          # 1 value below 2, n - 1 = 5: 0.2
             "=_xlfn.PERCENTRANK.EXC(D!A1:A6,2)",    # (1 + 1) / 7 = 0.2857.. cut to 0.285
             "=PERCENTRANK(D!A1:A6,1)",              # the smallest value: 0
             "=PERCENTRANK.INC(D!B1:B101,30,2)"]     # 29 / 100, cut at 2 digits: 0.29
    data = [[v, None] for v in (1.0, 2.0, 2.0, 3.0, 4.0, 5.0)]
    data += [[None, None] for _ in range(95)]
    for i in range(101):
        data[i][1] = float(i + 1)
    rep = calculate(_book(tmp_path / "p.xlsx", cells, data))
    assert [rep.value("F", f"A{i}") for i in range(1, 5)] == [0.2, 0.285, 0.0, 0.29]


def test_circular_reference_is_reported_not_left_blank(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "F"
    ws["A1"], ws["A2"], ws["B1"], ws["C1"] = "=A2+1", "=A1+1", "=A1*2", "=1+1"
    wb.save(tmp_path / "c.xlsx")
    rep = calculate(tmp_path / "c.xlsx")
    named = {(i.cell, i.value) for i in rep.issues}
    assert {("A1", "not calculated"), ("A2", "not calculated"),
            ("B1", "not calculated")} <= named
    assert "circular reference" in str(rep.issues[0])
    assert rep.value("F", "C1") == 2.0 and ("C1", "not calculated") not in named


def test_single_cell_formula_with_many_values_is_warned(tmp_path):
    rep = calculate(_book(tmp_path / "s.xlsx", ["=D!A2:A4*2", "=SUM(D!A2:A4*2)"],
                          [[1.0], [2.0], [3.0], [4.0]]))
    assert rep.value("F", "A2") == 18.0
    warned = [i for i in rep.issues if i.cell == "A1"]
    assert len(warned) == 1 and warned[0].value == "warning" and "3x1" in warned[0].hint
    assert not [i for i in rep.issues if i.cell == "A2"]


def test_unsupported_new_function_is_named(tmp_path):
    rep = calculate(_book(tmp_path / "n.xlsx", ["=SUM(_xlfn.SEQUENCE(4))"]))
    assert [str(i) for i in rep.issues] == [
        "F!A1: #NAME? (function not supported without Excel: SEQUENCE)"]


def test_percent_criterion_is_the_decimal_excel_parses(tmp_path):
    """'=5.2%' matches a cell holding 0.052: the criterion is read with the project's one
    percent rule (pyxl.numparse.percent_value), not float('5.2') / 100, one ulp off."""
    path = _book(tmp_path / "pct.xlsx", ['=COUNTIF(D!A1:A3,"=5.2%")', '=COUNTIF(D!A1:A3,"<5.2%")'],
                 [[0.052], [0.05], [0.06]])
    rep = calculate(path)
    assert (rep.value("F", "A1"), rep.value("F", "A2")) == (1, 1)


def test_array_result_over_a_block_of_another_shape_is_laid_out_as_excel_does(tmp_path):
    """Excel does not reshape an array formula's result to its block: a one-column result
    repeats across the block, a one-row result down it, and cells beyond the result are
    #N/A.  The formulas package reshaped equal-sized results: {=A3:A4*2} over C3:D3 gave
    6, 2 (LibreOffice: 6, 6)."""
    from openpyxl.worksheet.formula import ArrayFormula

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    ws["A3"], ws["A4"], ws["B3"] = 3, 1, 5
    blocks = {  # block: (formula, Excel's values by hand, row by row)
        "C3:D3": ("=A3:A4*2", [[6, 6]]),              # column of 6, 2 across one row
        "H3:H4": ("=A3:B3*2", [[6], [6]]),            # row of 6, 10 down one column
        "C6:C8": ("=A3:A4*2", [[6], [2], ["#N/A"]]),  # beyond the result: #N/A
        "J3:K5": ("=A3:A4*2", [[6, 6], [2, 2], ["#N/A", "#N/A"]]),
        "E3:F4": ("=A3:B3*2", [[6, 10], [6, 10]]),
        "M3:N4": ("=A3:B3*A3:A4", [[9, 15], [3, 5]]),  # same shape: as is
    }
    for ref, (text, _) in blocks.items():
        ws[ref.split(":")[0]] = ArrayFormula(ref, text)
    path = tmp_path / "blocks.xlsx"
    wb.save(path)
    vals = calculate(path).values["S"]
    for ref, (_, want) in blocks.items():
        r0 = ws[ref.split(":")[0]].row
        c0 = ws[ref.split(":")[0]].column
        got = [[vals[(r0 + i, c0 + j)] for j in range(len(want[0]))] for i in range(len(want))]
        assert got == [[float(x) if not isinstance(x, str) else x for x in row]
                       for row in want], ref


def test_typed_numbers_keep_every_digit(tmp_path):
    """The formulas package rounded typed numbers to 15 decimal places: a typed 3e-16
    became 0 and 1.234567890123456e-3 lost three digits.  Excel keeps the 17
    significant digits stored in the file."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    # (at most 16 significant digits: openpyxl writes a float with %.16g)
    typed = [1.234567890123456e-3, 3e-16, 8.333333333333333e-08, 123456.7890123457, -7.0e-20]
    for i, x in enumerate(typed, start=1):
        ws[f"A{i}"] = x
        ws[f"B{i}"] = f"=A{i}*1"
    path = tmp_path / "digits.xlsx"
    wb.save(path)
    vals = calculate(path).values["S"]
    assert [vals[(i, 2)] for i in range(1, len(typed) + 1)] == typed
