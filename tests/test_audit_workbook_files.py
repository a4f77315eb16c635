"""Audit: workbooks as users and other tools save them, through `pyxl calc` and run-macro.

Every workbook is built here (openpyxl or raw SpreadsheetML in a zip), so the cases are
reproducible; expected values come from the calendar (datetime, numpy's business-day
count), hand arithmetic, and LibreOffice where it is installed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from pyxl.errors import InputError
from pyxl.workbook import calculate

ROOT = Path(__file__).resolve().parents[1]
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_NS = ('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _raw_book(path: Path, sheets: list[tuple[str, str]], shared: list[str] = (),
              names: str = "") -> Path:
    """A minimal .xlsx written as raw XML: (sheet name, <sheetData> inner XML) pairs,
    shared-string items, and <definedName> elements, as other tools write them."""
    def esc(t: str) -> str:
        return t.replace("&", "&amp;").replace('"', "&quot;")

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        over = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1))
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            f'spreadsheetml.sheet.main+xml"/>{over}<Override PartName="/xl/sharedStrings.'
            'xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sharedStrings+xml"/></Types>'))
        z.writestr("_rels/.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'))
        tabs = "".join(f'<sheet name="{esc(n)}" sheetId="{i}" r:id="rId{i}"/>'
                       for i, (n, _) in enumerate(sheets, start=1))
        dn = f"<definedNames>{names}</definedNames>" if names else ""
        z.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8"?><workbook '
                   f'{_NS}><sheets>{tabs}</sheets>{dn}<calcPr calcId="191029"/></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" '
                       f'Target="worksheets/sheet{i}.xml"/>'
                       for i in range(1, len(sheets) + 1))
        rels += (f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/sharedStrings" '
                 'Target="sharedStrings.xml"/>')
        z.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>'))
        for i, (_, data) in enumerate(sheets, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", '<?xml version="1.0" encoding="UTF-8"?>'
                       f"<worksheet {_NS}><sheetData>{data}</sheetData></worksheet>")
        z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst {_NS} '
                   f'count="{len(shared)}" uniqueCount="{len(shared)}">{"".join(shared)}</sst>')
    return path


def _libreoffice_values(path: Path, tmp: Path) -> openpyxl.Workbook:
    """``path`` recalculated and saved by LibreOffice, read back as values."""
    out = tmp / "lo"
    out.mkdir(exist_ok=True)
    subprocess.run([SOFFICE, "--headless", "--convert-to", "xlsx", "--outdir", str(out),
                    str(path)], check=True, capture_output=True, timeout=180)
    return openpyxl.load_workbook(out / path.name, data_only=True)


# --- The 1904 date system ------------------------------------------------------------------

_DATE_FORMULAS = {
    "C1": "=YEAR(A1)", "D1": "=MONTH(A1)", "E1": "=DAY(A1)", "F1": "=WEEKDAY(A1)",
    "G1": "=EDATE(A1,1)", "H1": "=DATE(2024,1,31)", "I1": "=EOMONTH(A1,1)",
    "J1": "=B1-A1", "K1": "=NETWORKDAYS(A1,B1)", "L1": '=TEXT(A1,"yyyy-mm-dd")',
    "M1": "=YEARFRAC(A1,B1,0)", "N1": "=WORKDAY(A1,3)",
}


def _dated_book(path: Path, mac: bool) -> Path:
    wb = openpyxl.Workbook()
    if mac:
        wb.epoch = CALENDAR_MAC_1904  # Excel for Mac: <workbookPr date1904="1"/>
    ws = wb.active
    ws.title = "Dates"
    ws["A1"], ws["B1"] = dt.datetime(2024, 1, 31), dt.datetime(2024, 7, 1)
    for ref, text in _DATE_FORMULAS.items():
        ws[ref] = text
        if ref in ("G1", "H1", "I1", "N1"):
            ws[ref].number_format = "yyyy-mm-dd"
    wb.save(path)
    return path


def _calendar_answers() -> dict[str, object]:
    a, b = dt.date(2024, 1, 31), dt.date(2024, 7, 1)
    return {
        "C1": 2024, "D1": 1, "E1": 31,
        "F1": a.isoweekday() % 7 + 1,  # WEEKDAY type 1: Sunday 1 .. Saturday 7
        "G1": dt.datetime(2024, 2, 29), "H1": dt.datetime(2024, 1, 31),
        "I1": dt.datetime(2024, 2, 29), "J1": (b - a).days,
        "K1": int(np.busday_count(a, b + dt.timedelta(days=1))),
        "L1": "2024-01-31",
        "M1": (30 * 6 + 1 - 30) / 360,  # US 30/360: day 31 -> 30; Jan 30 .. Jul 1
        "N1": dt.datetime(2024, 2, 5),  # Wed + 3 business days = Mon 5 Feb
    }


@pytest.mark.parametrize("mac", [False, True], ids=["1900", "1904"])
def test_date_functions_follow_the_workbook_date_system(tmp_path, mac):
    """A Mac workbook (1904 system) gave YEAR 2020, DAY 30, DATE(2024,1,31) shown as
    2028-02-01, EDATE 2024-03-01, the wrong WEEKDAY and TEXT '2020-01-30'."""
    src = _dated_book(tmp_path / "dates.xlsx", mac)
    out = tmp_path / "dates_calc.xlsx"
    report = calculate(src, out)
    assert report.issues == []
    got = openpyxl.load_workbook(out, data_only=True)["Dates"]
    for ref, want in _calendar_answers().items():
        value = got[ref].value
        if isinstance(want, float):
            assert value == pytest.approx(want, rel=1e-12), ref
        else:
            assert value == want, (ref, value, want)


def test_pyxl_formulas_read_a_serial_date_column_in_the_workbooks_system():
    """A date column saved as General reaches the formulas as serials; under the 1904
    system 43830 is 2024-01-01 (1900 system: 45292), not 2019-12-31 as read before."""
    from pyxl.numparse import numeric_dates
    from pyxl.workbook.functions import date_system_1904

    # independent: day counts from each system's day 0 with the standard library
    want = [dt.date(2024, 1, 1), dt.date(2024, 1, 31)]
    s1900 = [(d - dt.date(1899, 12, 30)).days for d in want]
    s1904 = [(d - dt.date(1904, 1, 1)).days for d in want]
    assert s1900 == [45292, 45322] and s1904 == [43830, 43860]
    assert list(numeric_dates(s1900).date) == want
    with date_system_1904():
        assert list(numeric_dates(s1904).date) == want
    assert list(numeric_dates(s1904).date) == [dt.date(2019, 12, 31), dt.date(2020, 1, 30)]


def test_date_before_1904_is_num_error_in_a_mac_workbook(tmp_path):
    wb = openpyxl.Workbook()
    wb.epoch = CALENDAR_MAC_1904
    wb.active["A1"] = "=DATE(1903,12,31)"
    wb.active["A2"] = "=YEAR(0)"
    wb.save(tmp_path / "early.xlsx")
    report = calculate(tmp_path / "early.xlsx")
    sheet = wb.active.title
    assert report.value(sheet, "A1") == "#NUM!"
    assert report.value(sheet, "A2") == 1904.0  # serial 0 is 1904-01-01


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice not installed")
def test_1904_dates_agree_with_libreoffice(tmp_path):
    src = _dated_book(tmp_path / "mac.xlsx", mac=True)
    ours = calculate(src, tmp_path / "mac_calc.xlsx")
    lo = _libreoffice_values(src, tmp_path)["Dates"]
    for ref in ("C1", "D1", "E1", "F1", "J1", "K1", "L1"):
        assert ours.value("Dates", ref) == pytest.approx(lo[ref].value) \
            if not isinstance(lo[ref].value, str) else ours.value("Dates", ref) == lo[ref].value
    ws = openpyxl.load_workbook(tmp_path / "mac_calc.xlsx", data_only=True)["Dates"]
    for ref in ("G1", "H1", "I1", "N1"):
        assert ws[ref].value == lo[ref].value, ref


def test_run_macro_keeps_the_dates_of_a_1904_workbook(tmp_path):
    """The Run button's path (openpyxl) converts 1904 serials itself: the equity curve's
    first date is the Prices sheet's first date, and the Prices dates stay as they were."""
    from pyxl.macros import OpenpyxlBook, run

    wb = openpyxl.load_workbook(ROOT / "workbooks" / "mnvh_ledger.xlsx")
    first = wb["Prices"]["A2"].value
    wb.epoch = CALENDAR_MAC_1904
    wb.save(tmp_path / "mac.xlsx")
    calculate(tmp_path / "mac.xlsx", tmp_path / "mac.xlsx")
    result = run("run_mnvh", OpenpyxlBook(tmp_path / "mac.xlsx", out=tmp_path / "out.xlsx"))
    assert result.ok, result.message
    out = openpyxl.load_workbook(tmp_path / "out.xlsx", data_only=True)
    assert out.epoch == CALENDAR_MAC_1904
    assert out["Prices"]["A2"].value == first
    dates = [r[0] for r in out["Out_Backtest"].iter_rows(values_only=True)
             if r and isinstance(r[0], dt.datetime)]
    assert dates[0] == first


# --- Text, logical and error cells as other tools save them -------------------------------

_SHARED = ['<si><t>12.5</t></si>', '<si><r><rPr><b/></rPr><t>ri</t></r>'
           '<r><t xml:space="preserve">ch </t></r></si>']
_CELLS = (
    '<row r="1"><c r="A1"><v>1</v></c><c r="B1"><f>SUM(A1:A4)</f></c>'
    '<c r="C1"><f>AVERAGE(A1:A4)</f></c><c r="D1"><f>COUNT(A1:A4)</f></c>'
    '<c r="E1"><f>MAX(A1:A4)</f></c><c r="F1"><f>MIN(A1:A4)</f></c>'
    '<c r="G1"><f>SUMPRODUCT(A1:A4,A1:A4)</f></c><c r="H1"><f>PRODUCT(A1:A4)</f></c>'
    '<c r="I1"><f>STDEV(A1:A4)</f></c><c r="J1"><f>MEDIAN(A1:A4)</f></c>'
    '<c r="K1"><f>SUM(A2)</f></c><c r="L1"><f>SUM("12.5",1)</f></c>'
    '<c r="M1"><f>A2*2</f></c><c r="N1"><f>COUNTA(A1:A4)</f></c></row>'
    '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="B2"><f t="shared" ref="B2:B3" si="0">'
    'A2&amp;"|"&amp;C2</f></c><c r="C2" t="inlineStr"><is><t>inl</t></is></c>'
    '<c r="D2" t="s"><v>1</v></c><c r="E2" t="e"><v>#N/A</v></c>'
    '<c r="F2"><f>ISNA(E2)</f></c><c r="G2"><f>LEN(D2)</f></c></row>'
    '<row r="3"><c r="A3"><v>3</v></c><c r="B3"><f t="shared" si="0"/></c>'
    '<c r="C3"><f t="array" ref="C3:D3">A3:A4*2</f></c></row>'
    '<row r="4"><c r="A4" t="b"><v>1</v></c></row>'
)


def test_text_and_logical_cells_in_ranges_are_skipped_as_excel_does(tmp_path):
    """A number stored as text ('12.5') and TRUE in A1:A4 = 1, '12.5', 3, TRUE: Excel's
    aggregate functions count only the numbers 1 and 3 (SUM gave 16.5, COUNT 3, and
    AVERAGE, MAX, MIN, STDEV, MEDIAN #VALUE!)."""
    src = _raw_book(tmp_path / "other_tool.xlsx", [("Data", _CELLS)], _SHARED)
    r = calculate(src)
    want = {"B1": 4.0, "C1": 2.0, "D1": 2.0, "E1": 3.0, "F1": 1.0, "G1": 10.0, "H1": 3.0,
            "I1": float(np.std([1.0, 3.0], ddof=1)), "J1": 2.0, "K1": 0.0,
            "L1": 13.5,  # a typed text argument is still read as its number
            "M1": 25.0, "N1": 4.0,
            "B2": "12.5|inl", "B3": "3|6", "F2": True, "G2": 5.0, "C3": 6.0}
    for ref, value in want.items():
        assert r.value("Data", ref) == pytest.approx(value) if isinstance(value, float) \
            else r.value("Data", ref) == value, (ref, r.value("Data", ref))


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice not installed")
def test_text_cells_in_ranges_agree_with_libreoffice(tmp_path):
    # without the TRUE cell: LibreOffice has no logical type and sums TRUE as 1, where
    # Excel's SUM skips logical values in references
    cells = _CELLS.replace('<c r="A4" t="b"><v>1</v></c>', "")
    src = _raw_book(tmp_path / "other_tool.xlsx", [("Data", cells)], _SHARED)
    ours = calculate(src)
    lo = _libreoffice_values(src, tmp_path)["Data"]
    # not L1: LibreOffice refuses SUM("12.5", 1) (#VALUE!), Excel reads a typed text as 12.5
    for ref in ("B1", "C1", "D1", "E1", "F1", "G1", "H1", "I1", "J1", "K1", "M1", "N1", "G2"):
        assert ours.value("Data", ref) == pytest.approx(lo[ref].value), ref


# --- Sheet names and defined-name scope -------------------------------------------------------


def test_sheet_name_with_an_apostrophe_is_refused_naming_the_sheet(tmp_path):
    """A reference to 'It''s data'!A1 gave #REF!, and a defined name pointing there
    stopped the calculation with 'AttributeError: NoneType ... groupdict'."""
    main = ('<row r="1"><c r="A1"><f>\'It\'\'s data\'!A1*2</f></c>'
            '<c r="B1"><f>total</f></c></row>')
    src = _raw_book(tmp_path / "q.xlsx", [("Main", main), (
        "It's data", '<row r="1"><c r="A1"><v>100</v></c></row>')],
        names="<definedName name=\"total\">'It''s data'!$A$1</definedName>")
    with pytest.raises(InputError, match=r"It's data.*apostrophe.*rename the sheet"):
        calculate(src)


def test_spaces_and_japanese_in_sheet_names_calculate(tmp_path):
    main = ("<row r=\"1\"><c r=\"A1\"><f>'My Data'!A1+'日本語 シート'!A1+rate</f></c></row>")
    src = _raw_book(tmp_path / "jp.xlsx", [
        ("Main", main), ("My Data", '<row r="1"><c r="A1"><v>7</v></c></row>'),
        ("日本語 シート", '<row r="1"><c r="A1"><v>5</v></c></row>')],
        names="<definedName name=\"rate\">'日本語 シート'!$A$1</definedName>")
    assert calculate(src).value("Main", "A1") == 17.0


def test_sheet_scoped_name_is_warned_not_silently_replaced(tmp_path):
    """Excel copies a sheet with sheet-scoped copies of its names; the engine reads only
    workbook-wide names, so Other!B1 = rate*2 took the workbook's rate (5 -> 10) where
    Excel and LibreOffice take Other's own (100 -> 200)."""
    names = ('<definedName name="rate">Data!$A$1</definedName>'
             '<definedName name="rate" localSheetId="2">Other!$A$1</definedName>')
    src = _raw_book(tmp_path / "scope.xlsx", [
        ("Main", '<row r="1"><c r="A1"><f>rate*2</f></c><c r="B1"><f>"rate"</f></c></row>'),
        ("Data", '<row r="1"><c r="A1"><v>5</v></c></row>'),
        ("Other", '<row r="1"><c r="A1"><v>100</v></c><c r="B1"><f>rate*2</f></c></row>')],
        names=names)
    report = calculate(src)
    assert report.value("Main", "A1") == 10.0
    flagged = [(i.sheet, i.cell) for i in report.issues]
    assert ("Other", "B1") in flagged
    assert ("Main", "A1") not in flagged and ("Main", "B1") not in flagged
    text = next(str(i) for i in report.issues if i.cell == "B1")
    assert "RATE" in text and "Scope: Workbook" in text


def test_hidden_and_reordered_sheets_calculate(tmp_path):
    wb = openpyxl.Workbook()
    data = wb.active
    data.title = "Data"
    data["A1"] = 4
    calc = wb.create_sheet("Calc")
    calc["A1"] = "=Data!A1*Secret!A1"
    secret = wb.create_sheet("Secret")
    secret["A1"] = 2.5
    secret.sheet_state = "veryHidden"
    data.sheet_state = "hidden"
    wb.move_sheet("Calc", offset=-1)
    wb.active = 0
    wb.save(tmp_path / "h.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = calculate(tmp_path / "h.xlsx", tmp_path / "h_out.xlsx")
    assert report.value("Calc", "A1") == 10.0
    back = openpyxl.load_workbook(tmp_path / "h_out.xlsx")
    assert back.sheetnames == ["Calc", "Data", "Secret"]
    assert back["Secret"].sheet_state == "veryHidden" and back["Data"].sheet_state == "hidden"


# ------------------------------------------------ run-macro and what openpyxl cannot keep

_TEXT_BOX = (
    '<twoCellAnchor><from><col>10</col><colOff>0</colOff><row>2</row><rowOff>0</rowOff>'
    '</from><to><col>13</col><colOff>0</colOff><row>5</row><rowOff>0</rowOff></to>'
    '<sp macro="" textlink=""><nvSpPr><cNvPr id="99" name="TextBox 99"/><cNvSpPr txBox="1"/>'
    '</nvSpPr><spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="1000000" cy="500000"/></a:xfrm>'
    '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></spPr><txBody><a:bodyPr/><a:lstStyle/>'
    '<a:p><a:r><a:t>My note</a:t></a:r></a:p></txBody></sp><clientData/></twoCellAnchor>')


def _notes(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(zf.read(n).count(b"My note") for n in zf.namelist()
                   if n.startswith("xl/drawings/"))


def test_run_macro_refuses_to_delete_a_text_box_in_place(tmp_path, capsys):
    """A text box a user drew on the MNVH template: openpyxl does not read shapes, so
    `pyxl run-macro BOOK run_mnvh` (which saves in place) deleted it without a word.  In
    place it is now refused, the file untouched; with -o the other file is written and a
    note says what it lacks."""
    from pyxl.cli import main
    from pyxl.macros.book import dropped_on_save

    src = Path(__file__).resolve().parents[1] / "workbooks" / "mnvh_ledger.xlsx"
    book = tmp_path / "mine.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "xl/drawings/drawing1.xml":
                data = data.replace(b"</wsDr>", _TEXT_BOX.encode() + b"</wsDr>")
            zout.writestr(name, data)
    assert _notes(book) == 1
    before = book.read_bytes()
    assert main(["run-macro", str(book), "run_mnvh"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pyxl: mine.xlsx: holds shapes or text boxes, which saving without Excel "
                   "would delete; write the results to another file with -o OUT.xlsx, or run "
                   "the button in Excel"]
    assert book.read_bytes() == before
    out = tmp_path / "out.xlsx"
    assert main(["run-macro", str(book), "run_mnvh", "-o", str(out)]) == 0
    assert "out.xlsx will not have the shapes or text boxes of mine.xlsx" in capsys.readouterr().err
    assert _notes(out) == 0 and _notes(book) == 1  # openpyxl dropped it, as the note says
    # the templates themselves hold nothing openpyxl drops
    for name in ("mnvh_ledger", "scenarios", "mbp", "kelly"):
        assert dropped_on_save(src.with_name(f"{name}.xlsx")) == [], name
