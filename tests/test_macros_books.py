"""Small synthetic workbooks laid out exactly as pyxl/templates/spec.py says.

Used by tests/test_macros*.py: every sheet of the template, every input at
its defined name, the ``pyxl_template`` constant, and a title in A1 of the
output sheets.  Values are supplied by the test (deterministic, small).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from openpyxl import Workbook
from openpyxl.utils.cell import range_boundaries
from openpyxl.workbook.defined_name import DefinedName

from pyxl.templates.spec import TEMPLATES


def build_book(key: str, values: dict[str, Any], path: Path,
               active: str | None = None) -> Path:
    """Write template ``key`` with ``values[name]`` at each named input.

    Scalars go to one cell, 1-D sequences along the named range (row or
    column), 2-D sequences as a block.  Inputs without a value stay blank.
    """
    spec = TEMPLATES[key]
    wb = Workbook()
    wb.remove(wb.active)
    for s in spec.sheets:
        ws = wb.create_sheet(s.name)
        if s.role == "output":
            ws["A1"] = s.title_en
        if s.role == "instructions":
            ws["A1"] = spec.title_en
    for inp in spec.inputs:
        ws = wb[inp.sheet]
        c1, r1, c2, r2 = range_boundaries(inp.ref.replace("$", ""))
        if inp.name in values:
            v = values[inp.name]
            arr = np.asarray(v, dtype=object)
            if arr.ndim == 0:
                ws.cell(row=r1, column=c1, value=arr.item())
            elif arr.ndim == 1:
                for k, x in enumerate(arr):
                    r, c = (r1 + k, c1) if c2 == c1 else (r1, c1 + k)
                    ws.cell(row=r, column=c, value=x)
            else:
                for i, row in enumerate(arr):
                    for j, x in enumerate(row):
                        ws.cell(row=r1 + i, column=c1 + j, value=x)
        wb.defined_names[inp.name] = DefinedName(inp.name, attr_text=inp.address)
    wb.defined_names["pyxl_template"] = DefinedName("pyxl_template", attr_text=f'"{key}"')
    if active is not None:
        wb.active = spec.sheets.index(spec.sheet(active))
    wb.save(path)
    return path


def sheet_xml(path: Path) -> dict[str, bytes]:
    """Worksheet XML parts by sheet name, for byte-for-byte comparisons."""
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        wbxml = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        targets = dict(re.findall(r'Id="(rId\d+)"[^>]*?Target="([^"]+)"', rels))
        targets.update({k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*?Id="(rId\d+)"',
                                                     rels)})
        out = {}
        for name, rid in re.findall(r'<sheet name="([^"]+)" sheetId="\d+"[^>]*r:id="(rId\d+)"',
                                    wbxml):
            target = targets[rid].lstrip("/")
            if not target.startswith("xl/"):
                target = "xl/" + target
            out[name] = z.read(target)
        return out


def sheet_values(path: Path) -> dict[str, list[tuple]]:
    """Every cell value of every sheet."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()]
            for ws in wb.worksheets}


def sheet_cells(path: Path) -> dict[str, list[tuple]]:
    """Every cell's (coordinate, value, number format) of every sheet."""
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return {ws.title: [(c.coordinate, c.value, c.number_format) for row in ws.iter_rows()
                       for c in row if c.value is not None]
            for ws in wb.worksheets}
