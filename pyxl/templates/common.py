"""Shared building blocks of the template generators (openpyxl).

Styles: input cells have a pale-yellow fill and blue font, formula cells a
pale-grey fill and black font, headers are bold on light blue; every sheet
starts with a bilingual title in row 1 and its purpose in row 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import absolute_coordinate
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula
from openpyxl.worksheet.worksheet import Worksheet

from pyxl.templates.spec import DataBlock, InputName, TemplateSpec

__all__ = [
    "INPUT_FILL", "FORMULA_FILL", "HEADER_FILL",
    "new_workbook", "style_input", "style_formula", "header", "title",
    "scalar_inputs", "instructions", "text", "array_formula", "set_widths", "col", "plain_lines",
    "PCT", "NUM", "MONEY", "block_check_formula", "red_when_warning",
]

INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
INPUT_FONT = Font(color="1F4E9E")
FORMULA_FILL = PatternFill("solid", fgColor="F2F2F2")
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
THIN = Side(style="thin", color="BFBFBF")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)

WARN_FILL = PatternFill("solid", fgColor="FFC7CE")
WARN_FONT = Font(color="9C0006", bold=True)

PCT = "0.00%"
NUM = "#,##0.0000"
MONEY = "#,##0.00"


def new_workbook(spec: TemplateSpec) -> Workbook:
    """A workbook with the spec's sheets (in order), titles and the ``pyxl_template`` name.

    Its numbers are saved to the last bit (:func:`pyxl.workbook.exact_floats.install`):
    the bundled data in the templates reads back as the same doubles the CLI reads.
    """
    from pyxl.workbook.exact_floats import install

    install()
    wb = Workbook()
    wb.remove(wb.active)
    for s in spec.sheets:
        ws = wb.create_sheet(s.name)
        if s.role != "data":  # data tables start in A1 with their header row
            title(ws, f"{s.title_en}", s.title_ja)
        if s.role == "output":
            ws["A4"] = (f"Filled by the PyXL ribbon's Run button (macro {spec.macro}); "
                        "cleared on every run. Inputs are never modified.")
            ws["A5"] = (f"PyXLリボンの実行ボタン (マクロ {spec.macro}) で出力されます。"
                        "実行のたびに消去されます。入力は変更されません。")
    wb.defined_names["pyxl_template"] = DefinedName("pyxl_template", attr_text=f'"{spec.key}"')
    for inp in spec.inputs:
        wb.defined_names[inp.name] = DefinedName(inp.name, attr_text=inp.address)
    for block in spec.blocks:  # read by the check cell and the Run button; not an input
        # (not hidden: the formulas package of `pyxl calc` does not read hidden names)
        wb.defined_names[block.top_name] = DefinedName(block.top_name,
                                                       attr_text=block.top_address)
    for ws in wb.worksheets:
        page_setup(ws)
    wb.properties.title = spec.title_en
    wb.properties.subject = spec.title_ja
    wb.properties.creator = "PyXL"
    return wb


def page_setup(ws: Worksheet) -> None:
    """Landscape, fit to one page wide (printing and PDF rendering)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _long_text(ws: Worksheet, r: int, para: str, width_chars: int = 150) -> None:
    """A wrapped paragraph merged over columns A:D."""
    text(ws, r, 1, para).alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=4)
    units = sum(2 if ord(ch) > 0x2E80 else 1 for ch in para)
    ws.row_dimensions[r].height = 15 * max(1, -(-units // width_chars))


def text(ws: Worksheet, row: int, column: int, value: str) -> Any:
    """Write a label that is text even when it starts with ``=``."""
    c = ws.cell(row, column, value)
    if isinstance(value, str) and value.startswith("="):
        c.data_type = "s"
    return c


def title(ws: Worksheet, en: str, ja: str) -> None:
    """Bilingual sheet title in A1 (English) and A2 (Japanese)."""
    text(ws, 1, 1, en)
    ws["A1"].font = TITLE_FONT
    text(ws, 2, 1, ja)
    ws["A2"].font = Font(italic=True, color="595959")


def style_input(cell: Any, number_format: str | None = None) -> None:
    """Mark a cell as user input."""
    cell.fill = INPUT_FILL
    cell.font = INPUT_FONT
    cell.border = BOX
    if number_format:
        cell.number_format = number_format


def style_formula(cell: Any, number_format: str | None = None) -> None:
    """Mark a cell as computed."""
    cell.fill = FORMULA_FILL
    cell.border = BOX
    if number_format:
        cell.number_format = number_format


def header(ws: Worksheet, row: int, col: int, labels: Sequence[str]) -> None:
    """Bold header cells across a row."""
    for j, lab in enumerate(labels):
        c = text(ws, row, col + j, lab)
        c.font = HEADER_FONT
        c.fill = HEADER_FILL
        c.border = BOX
        c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    if any(len(str(lab)) > 14 for lab in labels):
        ws.row_dimensions[row].height = 30


def _validation(ws: Worksheet, inp: InputName) -> None:
    if inp.choices or inp.choices_from:
        # a named range as the list source: the drop-down follows the cells it names
        source = inp.choices_from or '"' + ",".join(inp.choices) + '"'
        dv = DataValidation(type="list", formula1=source,
                            allow_blank=False, showErrorMessage=True,
                            errorTitle="PyXL", error="Pick a value from the list / 一覧から選択")
    elif inp.kind == "integer":
        dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0",
                            showErrorMessage=True, errorTitle="PyXL",
                            error="Enter a whole number >= 0 / 0以上の整数")
    elif inp.kind == "number":
        dv = DataValidation(type="decimal", operator="between", formula1="-1E+300",
                            formula2="1E+300", showErrorMessage=True, errorTitle="PyXL",
                            error="Enter a number / 数値を入力")
    else:
        return
    dv.promptTitle = inp.name
    dv.prompt = inp.doc_en[:250]
    dv.showInputMessage = True
    ws.add_data_validation(dv)
    dv.add(inp.ref.replace("$", ""))


def scalar_inputs(ws: Worksheet, spec: TemplateSpec, values: dict[str, Any],
                  formats: dict[str, str] | None = None) -> None:
    """Write the one-cell inputs of ``ws``: label (EN), label (JA), value, name.

    The value cells are at the refs the spec gives (column C); they get the
    input style, data validation and the defined name shown in column D.
    """
    formats = formats or {}
    header(ws, 3, 1, ["Input", "入力", "Value / 値", "Name / 名前"])
    for inp in spec.inputs:
        if inp.sheet != ws.title or inp.name not in values:
            continue
        cell = ws[inp.ref.replace("$", "")]
        r = cell.row
        ws.cell(r, 1, inp.doc_en)
        ws.cell(r, 2, inp.doc_ja)
        cell.value = values[inp.name]
        style_input(cell, formats.get(inp.name))
        ws.cell(r, 4, inp.name).font = Font(color="808080", italic=True)
        _validation(ws, inp)


def instructions(ws: Worksheet, spec: TemplateSpec, steps_en: Iterable[str],
                 steps_ja: Iterable[str]) -> None:
    """The Instructions sheet: steps in both languages, the sheet map and the input names."""
    r = 4
    ws.cell(r, 1, "How to use (English)").font = HEADER_FONT
    r += 1
    for i, s in enumerate(steps_en, 1):
        _long_text(ws, r, f"{i}. {s}")
        r += 1
    r += 1
    ws.cell(r, 1, "使い方 (日本語)").font = HEADER_FONT
    r += 1
    for i, s in enumerate(steps_ja, 1):
        _long_text(ws, r, f"{i}. {s}")
        r += 1
    r += 1
    ws.cell(r, 1, "Colour code / 色の意味").font = HEADER_FONT
    r += 1
    c = ws.cell(r, 1, "Input: edit freely / 入力: 自由に変更可")
    style_input(c)
    r += 1
    c = ws.cell(r, 1, "Formula: computed, do not overwrite / 数式: 上書きしないでください")
    style_formula(c)
    r += 2
    header(ws, r, 1, ["Sheet / シート", "Role / 役割", "Purpose", "内容"])
    for s in spec.sheets:
        r += 1
        ws.cell(r, 1, s.name)
        ws.cell(r, 2, s.role)
        text(ws, r, 3, s.title_en)
        text(ws, r, 4, s.title_ja)
    r += 2
    header(ws, r, 1, ["Name / 名前", "Cells / セル", "Meaning", "意味"])
    for inp in spec.inputs:
        r += 1
        ws.cell(r, 1, inp.name)
        ws.cell(r, 2, inp.address)
        ws.cell(r, 3, inp.doc_en)
        ws.cell(r, 4, inp.doc_ja)
    set_widths(ws, {"A": 34, "B": 26, "C": 60, "D": 44})
    ws.sheet_view.showGridLines = False


def array_formula(ws: Worksheet, ref: str, text: str, number_format: str | None = None) -> None:
    """Store ``text`` as an array formula filling ``ref`` and style the block.

    Every cell of the block is created (styled), so the workbook engine and
    Excel find the whole output area formatted.
    """
    first = ref.split(":")[0]
    ws[first] = ArrayFormula(ref, text)
    for row in ws[ref] if ":" in ref else [[ws[ref]]]:
        for c in row:
            style_formula(c, number_format)


def plain_lines(chart: Any) -> None:
    """Straight (not smoothed) series lines; axes shown (LibreOffice hides deleted ones)."""
    for series in chart.series:
        series.smooth = False
    chart.x_axis.tickLblPos = "low"
    chart.x_axis.delete = False
    chart.y_axis.delete = False


def set_widths(ws: Worksheet, widths: dict[str, float]) -> None:
    """Column widths by letter."""
    for col, w in widths.items():
        ws.column_dimensions[col].width = w


def col(n: int) -> str:
    """1-based column number to letters."""
    return get_column_letter(n)


def block_check_formula(block: DataBlock, otherwise: str = '"ok"') -> str:
    """A check cell's formula: the block's warning while data lies outside it, else ``otherwise``.

    Counts the cells holding a value just right of and just below ``block``
    (:attr:`pyxl.templates.spec.DataBlock.edge_probes`: each probe starts on the block's
    last column or row, whose own count is subtracted, so that it widens over a row or
    column inserted just past the block) as ``SUMPRODUCT((LEN(range)>0)*1)``,
    which Excel, LibreOffice and the ``formulas`` package of ``pyxl calc`` evaluate
    alike.  COUNTA does not: LibreOffice counted every row of such a range beyond the
    sheet's data as filled, and ``COUNTIF(range,"<>")`` counted the blanks in
    ``formulas``.  ``otherwise`` is an Excel expression (without ``=``), ``"ok"`` by
    default.

    A row inserted at the table's first row moves the names down past it (Excel widens
    a name only for rows inserted below its first row), so the check first tests that
    the header row and the first data row are still adjacent: the name
    :attr:`~pyxl.templates.spec.DataBlock.top_name` (``$A$1:$A$2`` as shipped, the Run
    button reads it too) has more than 2 rows after such an insert, and the check shows
    :attr:`~pyxl.templates.spec.DataBlock.top_message`.  A deleted first row shrinks it
    to 1 row, which is no warning: the names shrink with it and the table is read whole.

    Returns
    -------
    str
        ``=IF(ROWS(pyxl_top_...)>2,"<block.top_message>",IF(SUMPRODUCT(...)+SUMPRODUCT(...)>0,
        "<block.message>",<otherwise>))``.
    """
    sheet = block.sheet if block.sheet.isalnum() else "'" + block.sheet.replace("'", "''") + "'"
    counts = "+".join(f"SUMPRODUCT((LEN({sheet}!{wide})>0)*1)"
                      f"-SUMPRODUCT((LEN({sheet}!{edge})>0)*1)"
                      for wide, edge in block.edge_probes)
    return (f'=IF(ROWS({block.top_name})>2,"{block.top_message}",'
            f'IF({counts}>0,"{block.message}",{otherwise}))')


def red_when_warning(ws: Worksheet, ref: str, prefix: str) -> None:
    """Light-red fill and dark-red bold text while the check cell ``ref`` starts with ``prefix``
    (every warning of that check does; ``"ok"`` and notes such as "not checked" do not)."""
    ws.conditional_formatting.add(ref, FormulaRule(
        formula=[f'LEFT({absolute_coordinate(ref)},{len(prefix)})="{prefix}"'],
        fill=WARN_FILL, font=WARN_FONT))
