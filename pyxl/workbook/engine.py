"""Calculate an .xlsx without Excel: every formula, PyXL's included.

``calculate(in_path, out_path)`` loads the workbook into the ``formulas``
package's Excel engine (``ExcelModel().loads(path).finish()``), with PyXL's
formulas registered as custom functions (:mod:`pyxl.workbook.functions`,
the very functions the add-in calls), evaluates it, and writes a copy of the
file in which every formula cell keeps its formula and carries the computed
value as its cached value (:mod:`pyxl.workbook.xmlcache`).

Array convention
----------------
A PyXL formula that returns more than one cell must be stored as an array
formula over the block it fills (openpyxl ``ArrayFormula(ref, text)``; in
Excel: select the block, type the formula, Ctrl+Shift+Enter).  The engine
evaluates it into the whole block, as Excel does: a result smaller than the
block pads with ``#N/A``, a larger one is cut.  The ``formulas`` package does
not spill: a PyXL formula in a plain cell whose result is larger than one cell
gives ``#VALUE!`` there; any other such formula (``=A1:A3*2``, ``=MMULT(...)``)
keeps its first value, and the report warns about the cell (Excel 365 would
spill it; older Excel intersects a range with the formula's row or column).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pyxl.errors import InputError
from pyxl.workbook import functions as fx
from pyxl.workbook.xmlcache import split_coord, write_cached_values

__all__ = ["CalcReport", "CellIssue", "calculate", "evaluate"]

_KEY = re.compile(
    r"^'?(?:\[[^\]]*\])?(?P<sheet>.*?)'?!(?P<ref>\$?[A-Z]+\$?\d+(?::\$?[A-Z]+\$?\d+)?)$"
)
_ODD_NAME = re.compile(r"[\[\]]")
_DOUBLE_NEG = re.compile(r"--\s*\(")
_FUNC = re.compile(r"(?<![A-Z0-9_.\"])([A-Z_][A-Z0-9_.]*)\s*\(", re.IGNORECASE)
_PREFIX = re.compile(r"^(?:_XLFN\.)?(?:_XLWS\.)?", re.IGNORECASE)


@dataclass(frozen=True)
class CellIssue:
    """A formula cell whose result is an error value or a ``#PyXL!`` message."""

    sheet: str
    cell: str
    value: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.sheet}!{self.cell}: {self.value}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass
class CalcReport:
    """What :func:`calculate` did."""

    path: Path
    formulas: int = 0
    cells: int = 0
    seconds: float = 0.0
    issues: list[CellIssue] = field(default_factory=list)
    #: Sheet -> {(row, col): value} of every formula cell (and array block cell).
    values: dict[str, dict[tuple[int, int], Any]] = field(default_factory=dict)

    def value(self, sheet: str, coord: str) -> Any:
        """Computed value of one cell, e.g. ``report.value("Kelly", "D5")``."""
        return self.values[sheet].get(split_coord(coord))


@dataclass(frozen=True)
class _Formula:
    sheet: str
    coord: str
    text: str
    ref: str | None  # array block, None for a single-cell formula


def _open(path: Path) -> Any:
    """The workbook (formulas, not cached values) through openpyxl, read once per run."""
    import openpyxl

    try:
        return openpyxl.load_workbook(path, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as err:
        raise InputError(str(path), f"cannot be read as an .xlsx workbook ({err})",
                         "save it from Excel as .xlsx") from None


def _formula_cells(wb: Any) -> list[_Formula]:
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    out = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if isinstance(v, ArrayFormula):
                    out.append(_Formula(ws.title, c.coordinate, v.text or "", _block(v.ref)))
                elif isinstance(v, DataTableFormula):
                    out.append(_Formula(ws.title, c.coordinate, "TABLE()", None))
                elif c.data_type == "f" and isinstance(v, str):
                    out.append(_Formula(ws.title, c.coordinate, v, None))
    return out


def _scope_issues(wb: Any, cells: list[_Formula]) -> list[CellIssue]:
    """Refuse sheet names the engine cannot read; warn where a sheet-scoped name is used.

    The ``formulas`` package cannot parse a reference to a sheet whose name holds an
    apostrophe (``'Q1''24'!A1``): such a cell gave ``#REF!`` and a defined name
    referring to it stopped the whole calculation with an ``AttributeError``.  It also
    reads only workbook-scoped defined names: a formula on sheet S using a name that S
    defines for itself (Excel makes such names when a sheet is copied) was given the
    workbook's name of that spelling, silently, or ``#NAME?``.

    Raises
    ------
    InputError
        ``sheet "Q1'24": has an apostrophe in its name, ...; rename the sheet ...``.
    """
    texts = [f.text for f in cells] + [str(dn.attr_text or "") for dn in
                                        wb.defined_names.values()]
    texts += [str(dn.attr_text or "") for ws in wb.worksheets
              for dn in ws.defined_names.values()]
    for ws in wb.worksheets:
        if "'" in ws.title:
            quoted = "'" + ws.title.replace("'", "''").upper() + "'!"
            if any(quoted in t.upper() for t in texts):
                raise InputError(f'sheet "{ws.title}"', "has an apostrophe in its name, "
                                 "which the formula engine cannot read in references",
                                 "rename the sheet without it (Excel renames it in the "
                                 "formulas and names too)")
    issues = []
    for ws in wb.worksheets:
        local = {n.upper() for n in ws.defined_names}
        if not local:
            continue
        for f in cells:
            if f.sheet != ws.title:
                continue
            text = re.sub(r'"[^"]*"', '""', f.text).upper()
            used = sorted(n for n in local if re.search(
                r"(?<![\w.!'\]])" + re.escape(n) + r"(?![\w.(!])", text))
            if used:
                issues.append(CellIssue(
                    f.sheet, f.coord, "warning",
                    f"{', '.join(used)} is defined for sheet {f.sheet} only; calculation "
                    "without Excel reads workbook-wide names only (it used the workbook's "
                    "name of that spelling, or gave an error): make the name workbook-wide "
                    "(Name Manager, Scope: Workbook) or refer to the cells"))
    return issues


def _block(ref: str | None) -> str | None:
    """An array formula's block without ``$``; a one-cell block as ``"B1"``.

    LibreOffice writes a one-cell array formula as ``ref="B1:B1"``; the engine
    keys its result as ``B1``.
    """
    if not ref:
        return ref
    ref = ref.replace("$", "").upper()
    first, _, last = ref.partition(":")
    return first if last in ("", first) else ref


def _plain(v: Any) -> Any:
    import schedula as sh
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY:
        return None
    if isinstance(v, XlError):
        return str(v)
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, int, np.floating, float)):
        return float(v)
    return v


def _exact_model() -> type:
    """``formulas.ExcelModel`` reading typed numbers exactly.

    The package rounds every typed number to 15 decimal *places*
    (``round(val, 15)``), so 1.234567890123456e-3 kept 13 significant digits and a
    typed 3e-16 became 0; Excel keeps the 17 significant digits the file stores.
    Numbers are compiled as read; anything else goes to the package unchanged.
    """
    import formulas

    class ExactModel(formulas.ExcelModel):
        def compile_cell(self, cell, context, references, formula_references):
            if cell.data_type == "n" and isinstance(cell.value, float):
                crd = formula_references.get(cell.coordinate, cell.coordinate)
                return self._compile_cell(crd, cell.value, context, True, references)
            return super().compile_cell(cell, context, references, formula_references)

    return ExactModel


def _fill_block(value: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An array result laid over a block of ``shape`` cells the way Excel does.

    A result of one row is repeated down the block and one of one column across it;
    otherwise rows and columns beyond the result's are ``#N/A`` and those beyond the
    block are dropped.  The ``formulas`` package reshaped a result whose size
    matched the block, so ``{=A3:A4*2}`` over C3:D3 gave 6, 2 where Excel and
    LibreOffice give 6, 6.
    """
    from formulas.tokens.operand import Error

    r, c = value.shape
    R, C = int(shape[0]), int(shape[1])
    if (r, c) == (R, C) or r == 0 or c == 0:
        return value
    out = np.full((R, C), Error.errors["#N/A"], dtype=object)
    rows = np.arange(R) if r > 1 else np.zeros(R, dtype=np.int64)
    cols = np.arange(C) if c > 1 else np.zeros(C, dtype=np.int64)
    keep_r = rows < r
    keep_c = cols < c
    out[np.ix_(keep_r, keep_c)] = value[np.ix_(rows[keep_r], cols[keep_c])]
    return out


def evaluate(
    path: Path, collapsed: dict[tuple[str, str], tuple[int, int]] | None = None,
    date1904: bool = False,
) -> dict[tuple[str, str], np.ndarray]:
    """Evaluate every cell of ``path``; ``{(SHEET, REF): 2-D values}`` (sheet upper-case).

    ``date1904``: the workbook counts dates in the 1904 system (Excel for Mac), so the
    date functions run under :func:`pyxl.workbook.functions.date_system_1904`.

    ``collapsed``, when given, receives ``{(SHEET, CELL): (rows, cols)}`` for every
    single-cell formula whose result had more than one value: the ``formulas``
    package keeps its first value there, silently (Excel 365 would spill it; older
    Excel intersects a range with the formula's row or column).
    """
    import formulas.cell as fcell
    from formulas.ranges import Ranges, _shape

    fx.register()
    keep = fcell.format_output

    def recording(rng: dict[str, Any], value: Any) -> Any:
        shape = np.shape(value)
        if (collapsed is not None and not isinstance(value, (Ranges, str))
                and len(shape) == 2 and shape[0] * shape[1] > 1
                and rng.get("r1") == rng.get("r2") and rng.get("n1") == rng.get("n2")):
            m = _KEY.match(str(rng.get("name", "")))
            if m is not None:
                sheet = m.group("sheet").replace("''", "'").upper()
                collapsed[(sheet, m.group("ref").replace("$", "").upper())] = (
                    int(shape[0]), int(shape[1]))
        if isinstance(value, np.ndarray) and value.ndim == 2:
            value = _fill_block(value, _shape(**rng))
        return keep(rng, value)

    old = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    fcell.format_output = recording
    try:
        with fx.date_system_1904() if date1904 else contextlib.nullcontext():
            model = _exact_model()().loads(str(path)).finish()
            solution = model.calculate()
    finally:
        fcell.format_output = keep
        if old is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old
    out: dict[tuple[str, str], np.ndarray] = {}
    for key, rng in solution.items():
        m = _KEY.match(str(key))
        if m is None:
            continue
        val = getattr(rng, "value", rng)
        arr = np.asarray(val, dtype=object)
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr.reshape(1, -1)
        sheet = m.group("sheet").replace("''", "'").upper()
        out[(sheet, m.group("ref").replace("$", "").upper())] = arr
    return out


def _hint(text: str, value: str) -> str:
    import formulas

    if value != "#NAME?":
        return ""
    known = formulas.get_functions()
    unknown = sorted({_PREFIX.sub("", n.upper()) for n in _FUNC.findall(text)
                      if _PREFIX.sub("", n.upper()) not in known
                      and n.upper() not in known
                      and not n.upper().startswith("_XLPM.")})
    if unknown:
        return "function not supported without Excel: " + ", ".join(unknown)
    return "unknown name"


def calculate(
    in_path: str | Path, out_path: str | Path | None = None, *, values_only: bool = False,
    dynamic_arrays: bool = False,
) -> CalcReport:
    """Evaluate every formula of workbook ``in_path``; write values into ``out_path``.

    Parameters
    ----------
    in_path : path
        An .xlsx or .xlsm workbook.
    out_path : path, optional
        Where to write the calculated copy (formulas kept, cached values
        set).  ``None`` computes without writing.  May equal ``in_path``.
    values_only : bool
        Write values in place of the formulas (for readers without PyXL).
    dynamic_arrays : bool
        Mark array formulas that call PyXL functions as Excel 365 dynamic
        arrays, so they spill natively instead of showing as legacy
        ``{=...}`` Ctrl+Shift+Enter arrays (the templates are written so).

    Returns
    -------
    CalcReport
        Counts, timing, every computed value, and the cells whose result is an
        Excel error or a ``#PyXL!`` message (sheet and cell named).

    Raises
    ------
    InputError
        When the file is missing or is not a readable workbook.
    """
    t0 = time.perf_counter()
    src = Path(in_path)
    if not src.is_file():
        raise InputError(str(src), "no such file", "check the path")
    if src.suffix.lower() not in (".xlsx", ".xlsm"):
        raise InputError(str(src), "is not an .xlsx or .xlsm file", "save it as .xlsx")
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    wb = _open(src)
    cells = _formula_cells(wb)
    scope = _scope_issues(wb, cells)
    date1904 = wb.epoch == CALENDAR_MAC_1904  # workbookPr date1904 (Excel for Mac)
    # Cells of an array block (other than its anchor) hold the previous cached result;
    # an error cached there (LibreOffice writes #NAME? for PyXL arrays) would shadow the
    # block's new value, so the engine reads a copy with those caches cleared.
    stale: dict[str, dict[tuple[int, int], Any]] = {}
    for f in cells:
        if f.ref is not None and ":" in f.ref:
            (r1, c1), (r2, c2) = (split_coord(x) for x in f.ref.split(":"))
            block = stale.setdefault(f.sheet, {})
            for r in range(r1, r2 + 1):
                for c in range(c1, c2 + 1):
                    if (r, c) != (r1, c1):
                        block[(r, c)] = None
    work = src
    tmpdir = None
    # The formulas package cannot parse its own cell keys when the file name holds
    # square brackets ("book[1].xlsx", as browsers save downloads): read a copy.
    odd_name = _ODD_NAME.search(src.name) is not None
    if stale or odd_name:
        tmpdir = tempfile.TemporaryDirectory(prefix="pyxl-calc-")
        work = Path(tmpdir.name) / ("book" + src.suffix.lower() if odd_name else src.name)
        if stale:
            write_cached_values(src, work, stale, drop_full_calc=False)
        else:
            shutil.copyfile(src, work)
    collapsed: dict[tuple[str, str], tuple[int, int]] = {}
    try:
        solved = evaluate(work, collapsed, date1904=date1904)
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - the engine's failure, told in one line
        raise InputError(str(src), f"the formula engine failed ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:120] if str(err) else ''})",
                         "simplify the formulas it names or calculate in Excel") from None
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()
    report = CalcReport(path=Path(out_path) if out_path else src)
    report.issues.extend(scope)
    for f in cells:
        sheet_u = f.sheet.upper()
        target = f.ref or f.coord
        arr = solved.get((sheet_u, target.replace("$", "").upper()))
        if arr is None and f.ref is None:
            # the engine leaves the cells of a circular reference (and every cell that
            # depends on one) without a value: say so, never show them as blank quietly
            report.issues.append(CellIssue(
                f.sheet, f.coord, "not calculated",
                "circular reference, or a cell that depends on one: Excel needs "
                "iterative calculation for it; remove the circle"))
            arr = np.asarray([[None]], dtype=object)
        elif f.ref is None and (sheet_u, f.coord.upper()) in collapsed:
            n_rows, n_cols = collapsed[(sheet_u, f.coord.upper())]
            first = _plain(arr[0, 0])
            if not (isinstance(first, str) and first.startswith("#")):
                report.issues.append(CellIssue(
                    f.sheet, f.coord, "warning",
                    f"the formula gives {n_rows}x{n_cols} values and only the first is "
                    f"kept here; enter it as an array formula over a {n_rows}x{n_cols} "
                    "block, or wrap it in SUM/INDEX to get one value"))
        if arr is None:  # never silently keep a stale cached value
            report.issues.append(CellIssue(f.sheet, f.coord, "not calculated",
                                           f"array block {f.ref} has no result"))
            continue
        report.formulas += 1
        r0, c0 = split_coord((f.ref or f.coord).split(":")[0])
        vals = report.values.setdefault(f.sheet, {})
        flagged = False
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                v = _plain(arr[i, j])
                vals[(r0 + i, c0 + j)] = v
                report.cells += 1
                if flagged or not isinstance(v, str):
                    continue
                # #N/A inside an array block is Excel's padding; elsewhere a failed lookup.
                if v.startswith("#PyXL!") or v in ("#NAME?", "#VALUE!", "#REF!", "#NUM!",
                                                      "#DIV/0!", "#NULL!") or (
                        v == "#N/A" and f.ref is None):
                    from openpyxl.utils import get_column_letter

                    report.issues.append(CellIssue(
                        f.sheet, f"{get_column_letter(c0 + j)}{r0 + i}", v, _hint(f.text, v)))
                    flagged = True
    for f in cells:
        if _DOUBLE_NEG.search(f.text):
            report.issues.append(CellIssue(
                f.sheet, f.coord, "warning",
                "--(...) of a comparison evaluates to 0 without Excel; write (...)*1"))
    if out_path is not None:
        dynamic: dict[str, set[tuple[int, int]]] = {}
        if dynamic_arrays:
            pyxl_names = set(fx.register())
            for f in cells:
                used = {n.upper() for n in _FUNC.findall(f.text)}
                if f.ref is not None and used & pyxl_names:
                    dynamic.setdefault(f.sheet, set()).add(split_coord(f.coord))
        write_cached_values(src, Path(out_path), report.values, values_only=values_only,
                            dynamic=dynamic)
    report.seconds = time.perf_counter() - t0
    return report
