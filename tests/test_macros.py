"""Button macros on small synthetic workbooks through the openpyxl WorkbookIO.

The contract under test (pyxl/macros/runner.py): inputs are never modified
(their sheet XML is byte-for-byte identical after a run), results go only to
``Out_`` sheets cleared first, and a failure writes nothing to the result
sheet while the status bar and ``Out_Log`` say why.
"""

from __future__ import annotations

import openpyxl
import pytest
from test_macros_books import build_book, sheet_cells, sheet_values, sheet_xml

import pyxl.macros as macros
from pyxl.errors import InputError
from pyxl.macros import OpenpyxlBook
from pyxl.macros.runner import LOG_SHEET, Block, Report, execute

KELLY_VALUES = {
    "kelly_rf": 0.01,
    "kelly_fraction": 1.0,
    "kelly_confidence": 0.95,
    "kelly_vs_leverage": 0,
    "kelly_asset": "TOPIX",
    "kelly_names": ["S&P 500", "TOPIX"],
    "kelly_mu": [0.085, 0.046],
    "kelly_sigma": [0.182, 0.177],
}


@pytest.fixture
def kelly_book(tmp_path):
    return build_book("kelly", KELLY_VALUES, tmp_path / "kelly.xlsx", active="Inputs")


def _fake_report(io, progress):
    progress("adding", 0.5)
    a = io.read_name("kelly_rf")[0][0]
    return Report("Out_Kelly", "Fake", [
        Block("Numbers", [["x", "y"], [1, a + 1], [2, a + 2], [3, float("nan")]], chart="line"),
    ])


def test_success_writes_only_output_sheets(kelly_book):
    before = sheet_xml(kelly_book)
    io = OpenpyxlBook(kelly_book)
    res = execute(io, "fake", _fake_report)
    assert res.ok, res.message
    after = sheet_xml(kelly_book)
    for name in ("Instructions", "Inputs", "Kelly", "Growth"):
        assert after[name] == before[name], name  # byte-for-byte
    wb = openpyxl.load_workbook(kelly_book)
    out = wb["Out_Kelly"]
    assert out["A1"].value == "Fake"
    assert out["A4"].value == "Numbers"
    assert [out.cell(row=r, column=2).value for r in range(5, 9)] == ["y", 1.01, 2.01, None]
    assert len(out._charts) == 1
    assert wb[LOG_SHEET]["B3"].value == "ok"
    assert any("adding" in s for s in io.status_log)
    assert io.status_log[-1].startswith("PyXL fake: done")


def test_output_sheet_is_cleared_first(kelly_book):
    wb = openpyxl.load_workbook(kelly_book)
    wb["Out_Kelly"]["Z99"] = "stale"
    wb.save(kelly_book)
    assert execute(OpenpyxlBook(kelly_book), "fake", _fake_report).ok
    assert openpyxl.load_workbook(kelly_book)["Out_Kelly"]["Z99"].value is None


@pytest.mark.parametrize("exc", [InputError("kelly_sigma", "value 0 is not > 0", "enter > 0"),
                                 ZeroDivisionError("float division by zero")])
def test_failure_writes_nothing_partial(kelly_book, exc):
    assert execute(OpenpyxlBook(kelly_book), "fake", _fake_report).ok
    before = sheet_xml(kelly_book)
    before_cells = sheet_cells(kelly_book)

    def failing(io, progress):
        progress("half way", 0.5)
        raise exc

    io = OpenpyxlBook(kelly_book)
    res = execute(io, "fake", failing)
    assert not res.ok
    after = sheet_xml(kelly_book)
    after_cells = sheet_cells(kelly_book)
    for name in before:
        if name == LOG_SHEET:
            continue
        if not name.startswith("Out_"):
            assert after[name] == before[name], name  # inputs: byte-for-byte
        # results of the previous run: every value and number format kept
        assert after_cells[name] == before_cells[name], name
    log = openpyxl.load_workbook(kelly_book)[LOG_SHEET]
    assert log["B3"].value == "error"
    assert str(exc).split(":")[0] in log["B4"].value
    assert "failed" in io.status_log[-1]
    if isinstance(exc, InputError):
        assert io.status_log[-1].endswith(str(exc))
    else:
        assert "internal error: ZeroDivisionError" in res.message
        assert "\n" not in res.message


def test_refuses_to_write_a_non_output_sheet(kelly_book):
    before = sheet_xml(kelly_book)
    res = execute(OpenpyxlBook(kelly_book), "fake",
                  lambda io, p: Report("Inputs", "x", [Block("b", [["a"]])]))
    assert not res.ok and "not an Out_ sheet" in res.message
    assert sheet_xml(kelly_book)["Inputs"] == before["Inputs"]


def test_dispatch_on_instructions_sheet_writes_nothing(tmp_path):
    p = build_book("kelly", KELLY_VALUES, tmp_path / "k.xlsx", active="Instructions")
    before = sheet_values(p)
    io = OpenpyxlBook(p)
    assert macros.dispatch(io) is None
    assert "run_kelly" in io.status_log[-1]
    assert sheet_values(p) == before


def test_dispatch_on_non_template(tmp_path):
    p = tmp_path / "plain.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = 1
    wb.save(p)
    io = OpenpyxlBook(p)
    assert macros.dispatch(io) is None
    assert "not a PyXL template" in io.status_log[-1]


def test_macro_of_another_template_is_refused(kelly_book):
    res = macros.run_mbp(OpenpyxlBook(kelly_book))
    assert not res.ok
    assert "kelly template" in res.message


def test_missing_defined_name_is_reported(tmp_path):
    p = build_book("kelly", KELLY_VALUES, tmp_path / "k.xlsx", active="Inputs")
    wb = openpyxl.load_workbook(p)
    del wb.defined_names["kelly_rf"]
    wb.save(p)
    res = macros.run_kelly(OpenpyxlBook(p))
    assert not res.ok
    assert res.message.startswith("kelly_rf: defined name missing")


def test_pyxl_main_dispatches_through_the_calling_book(tmp_path, monkeypatch):
    """The ribbon's RunPython "import pyxl; pyxl.main()" path, with the book swapped in."""
    import pyxl

    p = build_book("kelly", KELLY_VALUES, tmp_path / "k.xlsx", active="Inputs")
    books = []

    def caller():
        books.append(OpenpyxlBook(p))
        return books[-1]

    monkeypatch.setattr(macros, "XlwingsBook", caller)
    monkeypatch.setattr(macros, "run", lambda name, io: execute(io, name, _fake_report))
    pyxl.main()
    assert books and books[0].status_log[-1].startswith("PyXL run_kelly: done")
    assert openpyxl.load_workbook(p)["Out_Kelly"]["A1"].value == "Fake"


def test_cli_run_macro(tmp_path, capsys):
    from pyxl.cli import main

    p = build_book("kelly", KELLY_VALUES, tmp_path / "k.xlsx", active="Inputs")
    out = tmp_path / "out.xlsx"
    assert main(["run-macro", str(p), "run_kelly", "-o", str(out)]) == 0
    assert "Out_Kelly" in capsys.readouterr().out
    assert openpyxl.load_workbook(out)["Out_Kelly"]["A5"].value == "Asset"
    assert main(["run-macro", str(p), "run_nothing"]) == 2
    bad = build_book("kelly", {**KELLY_VALUES, "kelly_sigma": [0.182, 0.0]},
                     tmp_path / "bad.xlsx", active="Inputs")
    assert main(["run-macro", str(bad), "run_kelly"]) == 1
    assert "kelly_sigma (row 2, TOPIX)" in capsys.readouterr().err
