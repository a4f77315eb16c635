"""Assemble ``pyxl.xlam`` from xlwings' ribbon add-in template and ``addin/``.

The starting point is the file ``xlwings quickstart NAME --addin --ribbon``
copies (``xlwings/quickstart_addin_ribbon.xlam`` of the installed xlwings).
No Excel is needed; every part is written as the Office formats define it:

==============================  ==================================================
part                            what the build puts there
==============================  ==================================================
``customUI/customUI.xml``       ``addin/customUI.xml``: the "PyXL" ribbon tab
``xl/workbook.xml``             the config sheet renamed ``pyxl.conf``
``xl/worksheets/sheet1.xml``    the config sheet: ``addin/pyxl.conf`` key/values
``xl/sharedStrings.xml``        its strings
``xl/vbaProject.bin``           VBA project "PyXL": xlwings' custom add-in module
                                with ``PROJECT_NAME = "pyxl"``, the ribbon
                                callbacks, ``ThisWorkbook`` (Workbook_Open), the
                                UDF wrappers ``xlwings_udfs`` and ``PyXLRegister``
==============================  ==================================================

xlwings' custom add-ins read their settings from a sheet named
``PROJECT_NAME & ".conf"``; with ``PROJECT_NAME = "pyxl"`` that is ``pyxl.conf``
(the custom add-in's counterpart of the ``xlwings.conf`` sheet).  A workbook
may override any key with its own ``pyxl.conf`` sheet.

:func:`inspect_xlam` reads a built file back (zip members, ribbon XML, config
sheet, VBA modules through oletools' olevba) for the tests and the command.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from defusedxml import ElementTree as SafeET

from pyxl.addin import wrappers
from pyxl.addin.vbaproject import VBAProject, parse_bas

__all__ = [
    "PROJECT_NAME",
    "CONFIG_SHEET",
    "template_path",
    "read_config",
    "build_xlam",
    "inspect_xlam",
    "XlamInfo",
    "StaleWrappersError",
]

PROJECT_NAME = "pyxl"
CONFIG_SHEET = f"{PROJECT_NAME}.conf"
_SS_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_UI_NS = "http://schemas.microsoft.com/office/2006/01/customui"


class StaleWrappersError(RuntimeError):
    """The committed wrapper ``.bas`` files no longer match the Python formulas."""


def template_path() -> Path:
    """xlwings' ribbon add-in template (what ``xlwings quickstart --addin --ribbon`` copies)."""
    import xlwings

    path = Path(xlwings.__file__).parent / "quickstart_addin_ribbon.xlam"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: reinstall xlwings (pip install -U xlwings)")
    return path


def read_config(path: Path) -> list[tuple[str, str]]:
    """Key/value pairs of an xlwings-style ``.conf`` file (``"KEY","VALUE"`` lines)."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        m = re.fullmatch(r'\s*"([^"]*)"\s*,\s*"([^"]*)"\s*', line)
        if not m:
            raise ValueError(f"{path}: bad line {line!r}; expected \"KEY\",\"VALUE\"")
        pairs.append((m.group(1), m.group(2)))
    return pairs


def _config_parts(pairs: list[tuple[str, str]]) -> tuple[bytes, bytes]:
    """(sheet1.xml, sharedStrings.xml) of the config sheet: keys in A, values in B."""
    strings: list[str] = []

    def sid(s: str) -> int:
        if s not in strings:
            strings.append(s)
        return strings.index(s)

    rows = []
    for r, (key, value) in enumerate(pairs, start=1):
        cells = [f'<c r="A{r}" s="1" t="s"><v>{sid(key)}</v></c>']
        if value.upper() in ("TRUE", "FALSE"):
            cells.append(f'<c r="B{r}" s="1" t="b"><v>{int(value.upper() == "TRUE")}</v></c>')
        elif value:
            cells.append(f'<c r="B{r}" s="1" t="s"><v>{sid(value)}</v></c>')
        rows.append(f'<row r="{r}" spans="1:2">{"".join(cells)}</row>')
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<worksheet xmlns="{_SS_NS}" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheetPr codeName="Sheet2" />'
        f'<dimension ref="A1:B{max(len(pairs), 1)}" />'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0" /></sheetViews>'
        '<sheetFormatPr defaultColWidth="8.875" defaultRowHeight="15.75" />'
        '<cols><col min="1" max="1" width="18" style="1" customWidth="1" />'
        '<col min="2" max="2" width="24" style="1" customWidth="1" /></cols>'
        f'<sheetData>{"".join(rows)}</sheetData>'
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
        'footer="0.3" /></worksheet>'
    )
    sst = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<sst xmlns="{_SS_NS}" count="{len(strings)}" uniqueCount="{len(strings)}">'
        + "".join(f"<si><t>{escape(s)}</t></si>" for s in strings)
        + "</sst>"
    )
    return sheet.encode("utf-8"), sst.encode("utf-8")


def _workbook_xml(xml: bytes) -> bytes:
    text = xml.decode("utf-8")
    text = re.sub(r'<sheet name="[^"]*"', f'<sheet name="{CONFIG_SHEET}"', text, count=1)
    # Drop the template author's absolute path.
    text = re.sub(r"<mc:AlternateContent.*?</mc:AlternateContent>", "", text, flags=re.S)
    return text.encode("utf-8")


def _vba_project(template_bin: bytes, src: Path) -> bytes:
    import xlwings

    proj = VBAProject(template_bin)
    proj.rename("PyXL")
    custom = (Path(xlwings.__file__).parent / "xlwings_custom_addin.bas").read_text(
        encoding="utf-8")
    _, xlw_code = parse_bas(custom)
    xlw_code, n = re.subn(r'(Public Const PROJECT_NAME As String = )"[^"]*"',
                          rf'\1"{PROJECT_NAME}"', xlw_code)
    if n != 1:
        raise RuntimeError("xlwings_custom_addin.bas has no PROJECT_NAME constant")
    proj.set_module("xlwings", xlw_code)
    for m in list(proj.modules):
        if m.name.startswith("Ribbon") and m.kind == "procedural":
            proj.remove_module(m.name)
    for fname in ("RibbonPyXL.bas", wrappers.WRAPPERS_FILE, wrappers.REGISTER_FILE):
        name, code = parse_bas((src / fname).read_bytes().decode("cp1252"))
        proj.set_module(name, code)
    _, wb_code = parse_bas((src / "ThisWorkbook.cls").read_text(encoding="utf-8"))
    proj.set_module("ThisWorkbook", wb_code)
    return proj.to_bytes()


def build_xlam(out: Path, src: Path | None = None, *, interpreter_win: str | None = None,
               check_wrappers: bool = True) -> Path:
    """Write ``pyxl.xlam`` to ``out``.

    Parameters
    ----------
    out : Path
        Target file.
    src : Path, optional
        The add-in source folder (default: ``addin/`` of this checkout).
    interpreter_win : str, optional
        Path of ``pythonw.exe`` written into the config sheet's
        ``Interpreter_Win`` (``pyxl addin install`` passes the running one).
    check_wrappers : bool
        Refuse to build when the committed wrappers drift from the formulas.

    Raises
    ------
    StaleWrappersError
        When ``check_wrappers`` and ``pyxl addin wrappers`` needs to be run.
    """
    src = Path(src) if src is not None else wrappers.ADDIN_DIR
    if check_wrappers:
        stale = wrappers.stale_files(src)
        if stale:
            raise StaleWrappersError(
                f"{', '.join(stale)} in {src} no longer match pyxl.udfs; "
                "run 'pyxl addin wrappers' and commit the result")
    pairs = read_config(src / "pyxl.conf")
    if interpreter_win is not None:
        pairs = [(k, interpreter_win if k.lower() == "interpreter_win" else v) for k, v in pairs]
    # xlwings' GetConfig stops at the first layer holding a key, even with a blank value,
    # so a blank row here would hide the same key set in a folder's pyxl.conf or in
    # %USERPROFILE%\.pyxl\pyxl.conf: the sheet carries only the keys with a value.
    pairs = [(k, v) for k, v in pairs if str(v).strip()]
    sheet_xml, sst_xml = _config_parts(pairs)
    custom_ui = (src / "customUI.xml").read_bytes()
    SafeET.fromstring(custom_ui)  # well-formed or raise

    with zipfile.ZipFile(template_path()) as zin:
        members = [(i, zin.read(i.filename)) for i in zin.infolist()]
    # [Content_Types].xml first, as Office writes it.
    members.sort(key=lambda m: m[0].filename != "[Content_Types].xml")
    replaced = {
        "customUI/customUI.xml": custom_ui,
        "xl/worksheets/sheet1.xml": sheet_xml,
        "xl/sharedStrings.xml": sst_xml,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in members:
            name = info.filename
            if name in replaced:
                data = replaced[name]
            elif name == "xl/workbook.xml":
                data = _workbook_xml(data)
            elif name == "xl/vbaProject.bin":
                data = _vba_project(data, src)
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(zi, data)
    out.write_bytes(buf.getvalue())
    return out


@dataclass
class XlamInfo:
    """What :func:`inspect_xlam` found in a built add-in."""

    members: list[str]
    tab_labels: list[str]
    callbacks: list[str]
    sheets: list[str]
    config: dict[str, object]
    modules: dict[str, str] = field(default_factory=dict)

    def missing_callbacks(self) -> list[str]:
        """Ribbon ``onAction`` targets with no matching Sub in the VBA modules."""
        missing = []
        for cb in self.callbacks:
            mod, _, proc = cb.rpartition(".")
            code = self.modules.get(mod, "") if mod else "\n".join(self.modules.values())
            if not re.search(rf"^\s*(Public\s+|Private\s+)?Sub\s+{re.escape(proc)}\s*\(",
                             code, flags=re.M | re.I):
                missing.append(cb)
        return missing


def inspect_xlam(path: Path) -> XlamInfo:
    """Read a built ``.xlam`` back: ribbon, config sheet and VBA (via oletools' olevba)."""
    from oletools.olevba import VBA_Parser

    with zipfile.ZipFile(path) as z:
        members = z.namelist()
        ui = SafeET.fromstring(z.read("customUI/customUI.xml"))
        wb = SafeET.fromstring(z.read("xl/workbook.xml"))
        sheet = SafeET.fromstring(z.read("xl/worksheets/sheet1.xml"))
        sst = SafeET.fromstring(z.read("xl/sharedStrings.xml"))
        vba_bin = z.read("xl/vbaProject.bin")
    tabs = [t.get("label") for t in ui.iter(f"{{{_UI_NS}}}tab")]
    callbacks = [e.get("onAction") for e in ui.iter() if e.get("onAction")]
    sheets = [s.get("name") for s in wb.iter(f"{{{_SS_NS}}}sheet")]
    strings = ["".join(t.text or "" for t in si.iter(f"{{{_SS_NS}}}t"))
               for si in sst.iter(f"{{{_SS_NS}}}si")]
    cells: dict[str, object] = {}
    for c in sheet.iter(f"{{{_SS_NS}}}c"):
        v = c.find(f"{{{_SS_NS}}}v")
        if v is None:
            continue
        t = c.get("t")
        cells[c.get("r")] = (strings[int(v.text)] if t == "s" else
                             bool(int(v.text)) if t == "b" else v.text)
    config = {}
    for ref, key in cells.items():
        if ref.startswith("A") and ref[1:].isdigit():
            config[str(key)] = cells.get("B" + ref[1:], "")
    parser = VBA_Parser("pyxl.xlam", data=vba_bin)
    modules = {}
    for _f, stream, _vba_name, code in parser.extract_macros():
        modules[stream.split("/")[-1]] = code
    parser.close()
    return XlamInfo(members, tabs, callbacks, sheets, config, modules)
