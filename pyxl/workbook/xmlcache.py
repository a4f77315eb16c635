"""Write computed values as cached ``<v>`` values next to the formulas of an .xlsx.

openpyxl cannot store a formula and its cached value in one cell, so the
workbook engine copies the input package byte for byte and edits only the
``<sheetData>`` of each worksheet part: every formula cell keeps its ``<f>``
and gains a ``<v>`` (with the right ``t`` type attribute), and the cells of
an array-formula block that were never written get one.  Everything else
(styles, charts, defined names, data validation, VBA) is untouched, so Excel
shows the formulas, while LibreOffice and ``openpyxl(data_only=True)`` show
the values.

XML is parsed with :mod:`defusedxml` (no entity expansion, no external
references).  The root start tag is restored verbatim after serialisation so
namespace declarations that ``mc:Ignorable`` refers to survive.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as DET

from pyxl.workbook.exact_floats import number_text

__all__ = ["ERROR_CODES", "write_cached_values", "sheet_parts", "split_coord", "METADATA_XML",
           "dynamic_cells"]

#: Cell metadata marking a formula as an Excel 365 dynamic array (the XLDAPR type, as
#: Excel, XlsxWriter and SheetJS write it): cells with ``cm="1"`` spill natively.
METADATA_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<metadata xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:xda="http://schemas.microsoft.com/office/spreadsheetml/2017/dynamicarray">'
    '<metadataTypes count="1"><metadataType name="XLDAPR" minSupportedVersion="120000" '
    'copy="1" pasteAll="1" pasteValues="1" merge="1" splitFirst="1" rowColShift="1" '
    'clearFormats="1" clearComments="1" assign="1" coerce="1" cellMeta="1"/>'
    '</metadataTypes><futureMetadata name="XLDAPR" count="1"><bk><extLst>'
    '<ext uri="{bdbb8cdc-fa1e-496e-a857-3c3f30c029c3}">'
    '<xda:dynamicArrayProperties fDynamic="1" fCollapsed="0"/></ext></extLst></bk>'
    '</futureMetadata><cellMetadata count="1"><bk><rc t="1" v="0"/></bk></cellMetadata>'
    '</metadata>'
)
_CT_METADATA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetMetadata+xml"
_REL_METADATA = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sheetMetadata"

NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_M = "{" + NS_MAIN + "}"

ERROR_CODES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
               "#GETTING_DATA", "#SPILL!", "#CALC!")

_COORD = re.compile(r"^\$?([A-Z]{1,3})\$?(\d+)$")


def split_coord(coord: str) -> tuple[int, int]:
    """``"B3"`` -> (row 3, column 2)."""
    m = _COORD.match(coord.upper())
    if m is None:
        raise ValueError(f"bad cell reference {coord!r}")
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


def _namespaces(data: bytes) -> list[tuple[str, str]]:
    out = []
    for _event, (prefix, uri) in DET.iterparse(io.BytesIO(data), events=("start-ns",)):
        out.append((prefix, uri))
    return out


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part path inside the package."""
    wb_path = "xl/workbook.xml"
    rels_path = "xl/_rels/workbook.xml.rels"
    wb = DET.fromstring(zf.read(wb_path))
    rels = DET.fromstring(zf.read(rels_path))
    targets = {}
    for rel in rels.iter(f"{{{NS_PKG_REL}}}Relationship"):
        target = rel.get("Target", "")
        if target.startswith("/"):
            path = target.lstrip("/")
        else:
            path = posixpath.normpath(posixpath.join("xl", target))
        targets[rel.get("Id")] = path
    out = {}
    for sh in wb.iter(f"{_M}sheet"):
        rid = sh.get(f"{{{NS_REL}}}id")
        if rid in targets:
            out[sh.get("name")] = targets[rid]
    return out


def dynamic_cells(path: Path) -> dict[str, set[tuple[int, int]]]:
    """Sheet -> cells marked as Excel 365 dynamic arrays (``cm`` attribute, XLDAPR metadata).

    Empty when the package has no dynamic-array metadata.
    """
    out: dict[str, set[tuple[int, int]]] = {}
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        if "xl/metadata.xml" not in names or b"XLDAPR" not in zf.read("xl/metadata.xml"):
            return out
        for sheet, part in sheet_parts(zf).items():
            if part not in names:
                continue
            root = DET.fromstring(zf.read(part))
            for c in root.iter(f"{_M}c"):
                if c.get("cm") and c.get("r"):
                    out.setdefault(sheet, set()).add(split_coord(c.get("r")))
    return out


def _set_value(c: ET.Element, value: Any, values_only: bool = False) -> None:
    for child in list(c):
        if child.tag in (f"{_M}v", f"{_M}is") or (values_only and child.tag == f"{_M}f"):
            c.remove(child)
    if "t" in c.attrib:
        del c.attrib["t"]
    if value is None or (isinstance(value, str) and value == "" and c.find(f"{_M}f") is None):
        return
    v = ET.SubElement(c, f"{_M}v")
    if isinstance(value, bool):
        c.set("t", "b")
        v.text = "1" if value else "0"
    elif isinstance(value, (int, float)):
        x = float(value)
        if math.isfinite(x):
            v.text = number_text(x)
        else:
            c.set("t", "e")
            v.text = "#NUM!"
    else:
        text = str(value)
        if text in ERROR_CODES:
            c.set("t", "e")
            v.text = text
        elif values_only:
            c.remove(v)
            c.set("t", "inlineStr")
            ET.SubElement(ET.SubElement(c, f"{_M}is"), f"{_M}t").text = text
        else:
            c.set("t", "str")
            v.text = text


def _edit_sheet(data: bytes, values: Mapping[tuple[int, int], Any],
                values_only: bool = False, dynamic: frozenset = frozenset()) -> bytes:
    for prefix, uri in _namespaces(data):
        if not re.fullmatch(r"ns\d+", prefix or ""):
            ET.register_namespace(prefix or "", uri)
    root = DET.fromstring(data)
    sheet_data = root.find(f"{_M}sheetData")
    if sheet_data is None:
        sheet_data = ET.SubElement(root, f"{_M}sheetData")
    rows: dict[int, ET.Element] = {}
    for row in sheet_data.findall(f"{_M}row"):
        rows[int(row.get("r"))] = row
    by_row: dict[int, dict[int, Any]] = {}
    for (r, c), v in values.items():
        by_row.setdefault(r, {})[c] = v
    for r in sorted(by_row):
        row = rows.get(r)
        if row is None:
            row = ET.Element(f"{_M}row", {"r": str(r)})
            later = [k for k in rows if k > r]
            idx = list(sheet_data).index(rows[min(later)]) if later else len(sheet_data)
            sheet_data.insert(idx, row)
            rows[r] = row
        cells: dict[int, ET.Element] = {}
        for cell in row.findall(f"{_M}c"):
            cells[split_coord(cell.get("r"))[1]] = cell
        for col in sorted(by_row[r]):
            cell = cells.get(col)
            if cell is None:
                from openpyxl.utils import get_column_letter

                cell = ET.Element(f"{_M}c", {"r": f"{get_column_letter(col)}{r}"})
                later = [k for k in cells if k > col]
                idx = list(row).index(cells[min(later)]) if later else len(
                    row.findall(f"{_M}c"))
                row.insert(idx, cell)
                cells[col] = cell
            _set_value(cell, by_row[r][col], values_only)
            if (r, col) in dynamic and not values_only:
                cell.set("cm", "1")
        if "spans" in row.attrib:
            del row.attrib["spans"]
    text = ET.tostring(root, encoding="unicode")
    # Restore the original root start tag (all its namespace declarations).
    orig = data.decode("utf-8")
    m_orig = re.search(r"<(?!\?)(?!!)[^>]*>", orig)
    m_new = re.search(r"<(?!\?)(?!!)[^>]*>", text)
    if m_orig and m_new and not m_new.group(0).endswith("/>"):
        root_tag = m_orig.group(0)
        have = set(re.findall(r"xmlns(?::[\w.-]+)?=", root_tag))
        extra = [d for d in re.findall(r'\sxmlns(?::[\w.-]+)?="[^"]*"', m_new.group(0))
                 if d.strip().split('"')[0] not in have]
        if extra:
            root_tag = root_tag[:-1] + "".join(extra) + ">"
        text = text[: m_new.start()] + root_tag + text[m_new.end():]
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text).encode("utf-8")


def write_cached_values(
    src: Path, dst: Path, values: Mapping[str, Mapping[tuple[int, int], Any]],
    *, drop_full_calc: bool = True, values_only: bool = False,
    dynamic: Mapping[str, set[tuple[int, int]]] | None = None,
) -> None:
    """Copy ``src`` to ``dst`` with cached values set.

    Parameters
    ----------
    values : mapping
        Sheet name -> {(row, col): value}; values are float, bool, str (an
        Excel error code such as ``"#N/A"`` is written as an error) or None.
    drop_full_calc : bool
        Remove ``fullCalcOnLoad`` from the workbook's ``calcPr`` so readers
        that honour it (LibreOffice) show the cached values instead of
        recalculating without PyXL.  Excel still recalculates on open because
        the file's ``calcId`` is older than its own engine.
    """
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(src) as zin:
        parts = sheet_parts(zin)
        edits = {parts[s]: v for s, v in values.items() if s in parts and v}
        names = set(zin.namelist())
        add_meta = bool(dynamic) and not values_only and "xl/metadata.xml" not in names and \
            b"sheetMetadata" not in zin.read("xl/_rels/workbook.xml.rels")
        marks = {parts[s]: frozenset(c) for s, c in (dynamic or {}).items() if s in parts} \
            if add_meta else {}
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename in edits:
                    data = _edit_sheet(data, edits[item.filename], values_only,
                                       marks.get(item.filename, frozenset()))
                elif item.filename == "xl/workbook.xml" and drop_full_calc:
                    data = re.sub(rb'\s+fullCalcOnLoad="(1|true)"', b"", data)
                elif add_meta and item.filename == "[Content_Types].xml":
                    data = data.replace(b"</Types>", (
                        f'<Override PartName="/xl/metadata.xml" ContentType="{_CT_METADATA}"/>'
                        "</Types>").encode())
                elif add_meta and item.filename == "xl/_rels/workbook.xml.rels":
                    data = data.replace(b"</Relationships>", (
                        f'<Relationship Id="rIdPyXLmeta" Type="{_REL_METADATA}" '
                        'Target="metadata.xml"/></Relationships>').encode())
                zout.writestr(item, data)
            if add_meta:
                zout.writestr("xl/metadata.xml", METADATA_XML)
    shutil.move(tmp, dst)
