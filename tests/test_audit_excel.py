"""Audit regressions for the Excel delivery: workbook engine, run-macro, templates.

Every expected value is independent of the code under test: the core called
directly, an Excel rule written out by hand, or the bytes of the input file.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import xlwings
from openpyxl.worksheet.formula import ArrayFormula

from pyxl.core import kelly as kcore
from pyxl.macros import OpenpyxlBook, run
from pyxl.workbook import calculate

ROOT = Path(__file__).resolve().parents[1]
KELLY = ROOT / "workbooks" / "kelly.xlsx"


def _close(a, b, rel=1e-12):
    return abs(float(a) - float(b)) <= rel * max(abs(float(a)), abs(float(b)), 1e-300)


def _kelly_inputs_book(path: Path, ref: str, text: str) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "In"
    ws["A1"], ws["A2"], ws["A3"] = 0.085, 0.182, 0.01
    ws2 = wb.create_sheet("S")
    ws2["B1"] = ArrayFormula(ref, text)
    wb.save(path)
    return path


# ---------------------------------------------------------------------------
# pyxl calc: array formulas over a one-cell block written as "B1:B1"
# ---------------------------------------------------------------------------


def test_single_cell_array_block_written_as_range_is_calculated(tmp_path):
    """LibreOffice (and openpyxl users) store a one-cell array formula as ref="B1:B1"."""
    path = _kelly_inputs_book(tmp_path / "one.xlsx", "B1:B1",
                              "=KELLY_LEVERAGE(In!A1,In!A2,In!A3)")
    rep = calculate(path, tmp_path / "one_out.xlsx")
    want = (0.085 - 0.01) / 0.182**2  # closed form of the seed
    assert rep.formulas == 1
    assert _close(rep.value("S", "B1"), want)
    wbv = openpyxl.load_workbook(tmp_path / "one_out.xlsx", data_only=True)
    assert _close(wbv["S"]["B1"].value, want)


# ---------------------------------------------------------------------------
# pyxl calc: file names the formulas package cannot parse
# ---------------------------------------------------------------------------


def test_file_name_with_square_brackets_calculates(tmp_path):
    """Browsers save downloads as 'kelly[1].xlsx'; calc must not fail on the name."""
    src = tmp_path / "kelly [1].xlsx"
    shutil.copy(KELLY, src)
    out = tmp_path / "kelly [1] out.xlsx"
    rep = calculate(src, out)
    assert rep.issues == []
    mu, sigma = 0.085, 0.182  # the seed's S&P 500 row, r_f = 1 %
    assert _close(rep.value("Kelly", "E5"), kcore.kelly_leverage(mu, sigma, 0.01, 1.0))
    assert _close(rep.value("Kelly", "E5"), (mu - 0.01) / sigma**2)


# ---------------------------------------------------------------------------
# pyxl calc: a result that does not fit its array block (Excel's legacy rule)
# ---------------------------------------------------------------------------


def _table(mu=0.085, sigma=0.182, rf=0.01):
    import pyxl.udfs as udfs

    return udfs.KELLY_TABLE(mu, sigma, rf)  # 5 rows x 7 columns, header row first


def test_array_result_larger_than_block_is_cut(tmp_path):
    """docs/workbooks.md: 'a larger one is cut, as in Excel's legacy arrays'."""
    table = _table()
    assert (len(table), len(table[0])) == (5, 7)
    path = _kelly_inputs_book(tmp_path / "cut.xlsx", "B1:D3",
                              "=KELLY_TABLE(In!A1,In!A2,In!A3)")
    rep = calculate(path)
    assert rep.issues == []
    for i in range(3):
        for j in range(3):
            got, want = rep.values["S"][(1 + i, 2 + j)], table[i][j]
            assert got == want if isinstance(want, str) else _close(got, want), (i, j)


def test_array_result_of_other_shape_same_size_is_not_reshuffled(tmp_path):
    """5 x 7 result in a 7 x 5 block: Excel cuts columns and pads rows with #N/A."""
    table = _table()
    path = _kelly_inputs_book(tmp_path / "shape.xlsx", "B1:F7",
                              "=KELLY_TABLE(In!A1,In!A2,In!A3)")
    rep = calculate(path)
    vals = rep.values["S"]
    for i in range(7):
        for j in range(5):
            got = vals[(1 + i, 2 + j)]
            if i >= 5:
                assert got == "#N/A", (i, j)
            else:
                want = table[i][j]
                assert got == want if isinstance(want, str) else _close(got, want), (i, j)


def test_array_result_smaller_than_block_pads_and_broadcasts(tmp_path):
    """Excel: a one-row result repeats down the block; cells past the result are #N/A."""
    path = _kelly_inputs_book(tmp_path / "pad.xlsx", "B1:D2",
                              "=KELLY_LEVERAGE(In!A1,In!A2,In!A3)*{1,2}")
    rep = calculate(path)
    lev = (0.085 - 0.01) / 0.182**2
    vals = rep.values["S"]
    for r in (1, 2):
        assert _close(vals[(r, 2)], lev) and _close(vals[(r, 3)], 2 * lev)
        assert vals[(r, 4)] == "#N/A"


# ---------------------------------------------------------------------------
# pyxl run-macro: the workbook keeps everything but its Out_ sheets
# ---------------------------------------------------------------------------


def _dynamic_cells(path: Path) -> set[tuple[str, str]]:
    import re

    out = set()
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/sheet"):
                for m in re.finditer(rb'<c r="([A-Z]+\d+)"[^>]*\scm="1"', z.read(n)):
                    out.add((n, m.group(1).decode()))
    return out


@pytest.mark.parametrize("bad", [False, True])
def test_run_macro_keeps_cached_values_and_dynamic_arrays(tmp_path, bad):
    """A button run (ok or failed) must not strip the formula sheets' values."""
    path = tmp_path / "kelly book.xlsx"
    shutil.copy(KELLY, path)
    if bad:  # text in a numeric input: the run fails and writes only Out_Log
        wb = openpyxl.load_workbook(path)
        wb["Inputs"]["C14"] = "n/a"
        wb.save(path)
        calculate(path, path, dynamic_arrays=True)
    before = openpyxl.load_workbook(path, data_only=True)
    marks = _dynamic_cells(path)
    assert marks  # the template marks its PyXL arrays as dynamic
    res = run("run_kelly", OpenpyxlBook(path))
    assert res.ok is (not bad)
    after = openpyxl.load_workbook(path, data_only=True)
    for sheet in ("Kelly", "Growth"):
        for row in before[sheet].iter_rows():
            for c in row:
                assert after[sheet][c.coordinate].value == c.value, f"{sheet}!{c.coordinate}"
    # The S&P 500 leverage is still readable as a number (seed: 2.3).
    if not bad:
        assert round(after["Kelly"]["E5"].value, 1) == 2.3
    assert _dynamic_cells(path) >= marks


def test_run_macro_keeps_the_vba_project_of_an_xlsm(tmp_path):
    """A template saved as .xlsm (for its own RunPython buttons) keeps its macros."""
    vba_src = Path(xlwings.__file__).parent / "quickstart.xlsm"
    with zipfile.ZipFile(vba_src) as z:
        vba = z.read("xl/vbaProject.bin")
    wb = openpyxl.load_workbook(KELLY)
    wb.vba_archive = zipfile.ZipFile(vba_src)
    path = tmp_path / "kelly buttons.xlsm"
    wb.save(path)
    assert run("run_kelly", OpenpyxlBook(path)).ok
    with zipfile.ZipFile(path) as z:
        assert z.read("xl/vbaProject.bin") == vba
        types = z.read("[Content_Types].xml")
    assert b"macroEnabled" in types  # else Excel refuses to open the .xlsm


def test_run_macro_cli_on_a_path_with_spaces_and_unicode(tmp_path):
    from pyxl.cli import main

    folder = tmp_path / "データ dir"
    folder.mkdir()
    src = folder / "ケリー 表.xlsx"
    shutil.copy(KELLY, src)
    out = folder / "out ケリー.xlsx"
    assert main(["run-macro", str(src), "run_kelly", "-o", str(out)]) == 0
    wb = openpyxl.load_workbook(out, data_only=True)
    ws = wb["Out_Kelly"]
    found = [r for r in ws.iter_rows(values_only=True) if r and r[0] == "S&P 500"]
    assert found and _close(found[0][3], (0.085 - 0.01) / 0.182**2)
    assert os.path.getsize(src) == KELLY.stat().st_size  # the source is untouched


def test_values_match_independent_kelly_numbers_after_an_edit(tmp_path):
    """Edit r_f and one sigma with openpyxl, recalculate: dependants follow."""
    path = tmp_path / "k.xlsx"
    shutil.copy(KELLY, path)
    wb = openpyxl.load_workbook(path)
    wb["Inputs"]["C4"] = 0.02
    wb["Inputs"]["C14"] = 0.2  # TOPIX sigma
    wb.save(path)
    rep = calculate(path, path)
    assert rep.issues == []
    assert _close(rep.value("Kelly", "E6"), (0.046 - 0.02) / 0.2**2)
    assert _close(rep.value("Kelly", "E5"), (0.085 - 0.02) / 0.182**2)
    assert np.isfinite(rep.value("Kelly", "G6"))
