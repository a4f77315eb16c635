"""The workbook engine: formulas evaluated without Excel, cached values written next to <f>."""

from __future__ import annotations

import math
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

import pyxl.udfs as udfs
from pyxl.core.kelly import kelly_leverage
from pyxl.core.mnvh.rule import mnvh_step
from pyxl.errors import InputError
from pyxl.workbook import calculate
from pyxl.workbook.functions import from_excel_result, to_excel_arg


def _book(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "In put"
    for j, (q, pp, pn, w) in enumerate(zip((10.0, -5.0, 0.0), (100.0, 50.0, 20.0),
                                           (101.0, 49.0, 20.5), (0.5, 0.3, 0.2), strict=True)):
        ws.cell(1, 1 + j, q)
        ws.cell(2, 1 + j, pp)
        ws.cell(3, 1 + j, pn)
        ws.cell(4, 1 + j, w)
    ws["E1"], ws["E2"], ws["E3"] = 0.085, 0.182, 0.01
    wb.defined_names["lam"] = DefinedName("lam", attr_text="'In put'!$E$5")
    ws["E5"] = 0.9
    out = wb.create_sheet("Out")
    out["A1"] = ArrayFormula("A1:C1", "=MNVH_STEP('In put'!A1:C1,'In put'!A2:C2,"
                                      "'In put'!A3:C3,'In put'!A4:C4,lam,1000)")
    out["A2"] = "=KELLY_LEVERAGE('In put'!E1,'In put'!E2,'In put'!E3)"
    out["B2"] = "=A2*2"
    out["C2"] = "=KELLY_LEVERAGE('In put'!E1,-1,'In put'!E3)"
    out["D2"] = '="n="&TEXT(A2,"0.0")'
    out["E2"] = "=A2>1"
    out["A3"] = "=NOSUCHFUNCTION(1)"
    out["A4"] = "=SUM(A1:C1)"
    wb.save(path)
    return path


def test_adapter_shapes_like_xlwings():
    assert to_excel_arg(np.array([[2.0]], dtype=object)) == 2.0
    assert to_excel_arg(np.array([[1, 2]], dtype=object)) == [[1.0, 2.0]]
    import schedula as sh
    from formulas.tokens.operand import Error

    # an error cell reaches the formula as its text, as xlwings' err_to_str gives it in Excel
    assert to_excel_arg(np.array([[sh.EMPTY, Error.errors["#N/A"]]], dtype=object)) == [
        [None, "#N/A"]]
    assert to_excel_arg(np.array([[True]], dtype=object)) is True
    out = from_excel_result([[1.0, float("nan")], [np.float64(2.0)]])
    assert out.shape == (2, 2) and out[0, 1] == "" and out[1, 1] == "" and out[1, 0] == 2.0
    assert from_excel_result([[3.5]]) == 3.5
    assert from_excel_result("#PyXL! x: bad") == "#PyXL! x: bad"


def test_calculate_matches_core_and_keeps_formulas(tmp_path):
    src = _book(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    rep = calculate(src, out)
    want = mnvh_step(np.array([10.0, -5.0, 0.0]), np.array([100.0, 50.0, 20.0]),
                     np.array([101.0, 49.0, 20.5]), np.array([0.5, 0.3, 0.2]), 0.9, 1000.0)
    got = [rep.value("Out", c) for c in ("A1", "B1", "C1")]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    k = kelly_leverage(0.085, 0.182, 0.01)
    assert rep.value("Out", "A2") == pytest.approx(k, rel=1e-12)
    assert rep.value("Out", "B2") == pytest.approx(2 * k, rel=1e-12)
    assert rep.value("Out", "D2") == f"n={k:.1f}"
    assert rep.value("Out", "E2") is True
    assert rep.value("Out", "A4") == pytest.approx(want.sum(), rel=1e-12)
    # Formulas kept, values cached.
    wb_f = openpyxl.load_workbook(out)
    assert isinstance(wb_f["Out"]["A1"].value, ArrayFormula)
    assert wb_f["Out"]["B2"].value == "=A2*2"
    wb_v = openpyxl.load_workbook(out, data_only=True)
    assert wb_v["Out"]["B1"].value == pytest.approx(want[1], rel=1e-12)
    assert wb_v["Out"]["A2"].value == pytest.approx(k, rel=1e-12)
    assert wb_v["Out"]["E2"].value is True
    assert wb_v["In put"]["E5"].value == 0.9  # inputs untouched
    # Every other part of the package is byte-identical.
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(out) as b:
        assert set(a.namelist()) == set(b.namelist())
        for name in a.namelist():
            if "worksheets/sheet2" not in name and name != "xl/workbook.xml":
                assert a.read(name) == b.read(name), name


def test_errors_name_sheet_and_cell(tmp_path):
    rep = calculate(_book(tmp_path / "in.xlsx"), None)
    text = {f"{i.sheet}!{i.cell}": str(i) for i in rep.issues}
    assert "Out!C2" in text and "sigma" in text["Out!C2"] and "#PyXL!" in text["Out!C2"]
    assert "Out!A3" in text and "NOSUCHFUNCTION" in text["Out!A3"]
    assert len(rep.issues) == 2


def test_user_edit_recalculates(tmp_path):
    src = _book(tmp_path / "in.xlsx")
    wb = openpyxl.load_workbook(src)
    wb["In put"]["E5"] = 0.5  # lambda
    wb["In put"]["E2"] = 0.25  # sigma
    wb.save(src)
    rep = calculate(src, tmp_path / "out.xlsx")
    want = mnvh_step(np.array([10.0, -5.0, 0.0]), np.array([100.0, 50.0, 20.0]),
                     np.array([101.0, 49.0, 20.5]), np.array([0.5, 0.3, 0.2]), 0.5, 1000.0)
    np.testing.assert_allclose([rep.value("Out", c) for c in ("A1", "B1", "C1")], want,
                               rtol=1e-12)
    assert rep.value("Out", "A2") == pytest.approx(kelly_leverage(0.085, 0.25, 0.01), rel=1e-12)


def test_values_only_and_in_place(tmp_path):
    src = _book(tmp_path / "in.xlsx")
    vals = tmp_path / "vals.xlsx"
    rep = calculate(src, vals, values_only=True)
    wb = openpyxl.load_workbook(vals)
    assert wb["Out"]["A2"].value == pytest.approx(rep.value("Out", "A2"))
    assert wb["Out"]["D2"].value == rep.value("Out", "D2")
    assert wb["Out"]["C2"].value.startswith("#PyXL!")
    # Calculating a calculated file again (in place) gives the same values.
    calculate(src, src)
    again = calculate(src, src)
    assert again.value("Out", "A2") == rep.value("Out", "A2")


def test_pyxl_functions_are_the_udfs():
    from pyxl.workbook.functions import pyxl_formulas

    found = pyxl_formulas()
    for name, func in found.items():
        assert func is getattr(udfs, name)
    assert {"KELLY_LEVERAGE", "MNVH_STEP", "LEDGER_KAPPA"} <= set(found)


def test_double_negation_is_flagged(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["B1"], ws["A2"], ws["B2"] = 1, 2, 1, 3
    ws["C1"] = "=SUMPRODUCT(--(A1:B1<>A2:B2))"
    ws["C2"] = "=SUMPRODUCT((A1:B1<>A2:B2)*1)"
    wb.save(tmp_path / "d.xlsx")
    rep = calculate(tmp_path / "d.xlsx")
    assert rep.value("Sheet", "C2") == 1.0
    assert [i.cell for i in rep.issues] == ["C1"] and "*1" in rep.issues[0].hint


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        calculate(tmp_path / "missing.xlsx")
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(InputError, match="not an .xlsx"):
        calculate(tmp_path / "x.csv")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot be read"):
        calculate(tmp_path / "bad.xlsx")


def test_cli_calc(tmp_path, capsys):
    from pyxl.cli import main

    src = _book(tmp_path / "in.xlsx")
    assert main(["calc", str(src), "-o", str(tmp_path / "o.xlsx")]) == 0
    captured = capsys.readouterr()
    assert "formulas" in captured.out and "Out!C2" in captured.err
    assert main(["calc", str(src), "-o", str(tmp_path / "o.xlsx"), "--strict", "-q"]) == 1
    assert main(["calc", str(tmp_path / "nope.xlsx")]) == 2


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_reads_cached_values(tmp_path):
    src = _book(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    rep = calculate(src, out)
    subprocess.run(["soffice", "--headless", "--convert-to", "csv:Text - txt - csv (StarCalc)"
                    ":44,34,76,1,,0,false,true,false,false,false,2", "--outdir", str(tmp_path),
                    str(out)], check=True, capture_output=True, timeout=120)
    rows = (tmp_path / "out-Out.csv").read_text().splitlines()
    # Single-cell PyXL formulas keep their cached value in LibreOffice.
    a2 = float(rows[1].split(",")[0])
    assert math.isclose(a2, rep.value("Out", "A2"), rel_tol=1e-9)


def test_dynamic_array_metadata(tmp_path):
    src = _book(tmp_path / "in.xlsx")
    out = tmp_path / "dyn.xlsx"
    calculate(src, out, dynamic_arrays=True)
    with zipfile.ZipFile(out) as z:
        meta = z.read("xl/metadata.xml").decode()
        assert 'name="XLDAPR"' in meta and 'fDynamic="1"' in meta
        assert b"/xl/metadata.xml" in z.read("[Content_Types].xml")
        assert b"sheetMetadata" in z.read("xl/_rels/workbook.xml.rels")
        sheet = z.read("xl/worksheets/sheet2.xml").decode()
    # Only the PyXL array anchor is marked; plain formulas are not.
    assert sheet.count('cm="1"') == 1 and '<c r="A1"' in sheet.split('cm="1"')[0][-40:]
    # Recalculating keeps the metadata once (no duplicate parts or relationships).
    calculate(out, out, dynamic_arrays=True)
    with zipfile.ZipFile(out) as z:
        assert z.namelist().count("xl/metadata.xml") == 1
        assert z.read("xl/_rels/workbook.xml.rels").count(b"sheetMetadata") == 1
    wb = openpyxl.load_workbook(out, data_only=True)
    assert wb["Out"]["A2"].value > 0


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_file_saved_by_libreoffice_calculates(tmp_path):
    """LibreOffice lower-cases unknown names and caches #NAME? in array blocks; still fine."""
    src = _book(tmp_path / "in.xlsx")
    want = calculate(src, None)
    subprocess.run(["soffice", "--headless", "--convert-to", "xlsx:Calc MS Excel 2007 XML",
                    "--outdir", str(tmp_path / "lo"), str(src)], check=True,
                   capture_output=True, timeout=120)
    saved = tmp_path / "lo" / "in.xlsx"
    with zipfile.ZipFile(saved) as z:
        assert b"#NAME?" in z.read("xl/worksheets/sheet2.xml")
    rep = calculate(saved, tmp_path / "out.xlsx")
    for cell in ("A1", "B1", "C1", "A2", "B2", "A4"):
        assert rep.value("Out", cell) == pytest.approx(want.value("Out", cell), rel=1e-12)
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx", data_only=True)
    assert wb["Out"]["B1"].value == pytest.approx(want.value("Out", "B1"), rel=1e-12)
