"""Workbook access for the button macros, behind one small protocol.

The macros never touch Excel or openpyxl directly: they talk to a
:class:`WorkbookIO`.  Two implementations:

* :class:`XlwingsBook`: the workbook that called ``RunPython``
  (``xw.Book.caller()``), with progress in Excel's status bar.  Needs Excel
  (Windows or macOS).
* :class:`OpenpyxlBook`: an ``.xlsx`` file on disk, used by the tests and by
  ``pyxl run-macro BOOK.xlsx MACRO`` (no Excel needed).  Input values are read
  from the cached values Excel (or ``pyxl calc``) stored in the file.

Values cross the protocol in Excel's shape: a 2-D list of rows, ``None`` for a
blank cell (what ``xlwings`` returns with ``ndim=2``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["Chart", "WorkbookIO", "OpenpyxlBook", "XlwingsBook", "cell_address", "clean_cell"]


@dataclass(frozen=True)
class Chart:
    """A native Excel chart over a block written on the same sheet.

    Attributes
    ----------
    title : str
        Chart title.
    kind : str
        ``"line"``, ``"bar"`` or ``"scatter"``.
    top, left : int
        1-based row and column of the data block's header row (first column
        holds the categories / x values, each further column is a series).
    n_rows : int
        Data rows below the header.
    n_cols : int
        Columns of the block, categories included.
    anchor : str
        Top-left cell of the chart ("H3").
    x_title, y_title : str
        Axis titles.
    """

    title: str
    kind: str
    top: int
    left: int
    n_rows: int
    n_cols: int
    anchor: str
    x_title: str = ""
    y_title: str = ""
    #: First column holds dates (format the axis as dates).
    x_dates: bool = False
    #: Number format of the value axis ("" = from the cells).
    y_format: str = ""


@runtime_checkable
class WorkbookIO(Protocol):
    """What a button macro may do to a workbook."""

    def sheet_names(self) -> list[str]:
        """Names of the worksheets, in order."""

    def active_sheet(self) -> str:
        """Name of the sheet the user is looking at."""

    def has_name(self, name: str) -> bool:
        """True when a workbook-scoped defined name exists."""

    def read_name(self, name: str) -> Any:
        """Value of a defined name: a 2-D list of rows (a constant: its value)."""

    def read_range(self, sheet: str, ref: str) -> list[list[Any]]:
        """Values of the cells ``ref`` (``$L$1:$DG$2``) of ``sheet``: a 2-D list of rows."""

    def name_address(self, name: str) -> tuple[str, str] | None:
        """``(sheet, "$A$1:$K$251")`` a defined name refers to now (after rows or columns
        were inserted in it); None for a constant."""

    def clear_sheet(self, sheet: str) -> None:
        """Erase values, formats and charts of ``sheet`` (creating it when absent)."""

    def write(self, sheet: str, row: int, col: int, rows: list[list[Any]]) -> None:
        """Write a block of values with its top-left cell at (row, col), 1-based."""

    def add_chart(self, sheet: str, chart: Chart) -> None:
        """Add a native chart."""

    def autofit(self, sheet: str) -> None:
        """Fit the column widths of ``sheet`` to what was written."""

    def status(self, text: str | None) -> None:
        """Show ``text`` in the status bar (``None`` gives the bar back to Excel)."""

    def save(self) -> None:
        """Persist the changes (a no-op in Excel: the user saves)."""


#: Parts of a workbook that openpyxl does not read, so that saving the workbook through it
#: (``pyxl run-macro`` without Excel) would drop them: (pattern in the part, what it is).
_DROPPED = (
    (r"^xl/drawings/drawing\d+\.xml$", rb"<(?:\w+:)?(?:sp|grpSp|cxnSp)\b",
     "shapes or text boxes"),
    (r"^xl/ctrlProps/", b"", "form controls (buttons, check boxes)"),
    (r"^xl/worksheets/sheet\d+\.xml$", rb"sparklineGroup", "sparklines"),
    (r"^xl/threadedComments/", b"", "threaded comments"),
    (r"^xl/slicers/", b"", "slicers"),
)


def dropped_on_save(path: str | Path) -> list[str]:
    """What saving ``path`` through openpyxl would lose, in words (empty: nothing known).

    openpyxl reads cells, styles, names, charts, pictures, data validation,
    conditional formatting and legacy comments, but not drawing shapes and text boxes,
    form controls, sparklines, threaded comments or slicers: a workbook saved through
    it no longer has them (checked for a text box on the MNVH template).
    """
    import re
    import zipfile

    found: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            for part, needle, what in _DROPPED:
                if what in found:
                    continue
                for name in zf.namelist():
                    if re.search(part, name) and (not needle or re.search(needle,
                                                                          zf.read(name))):
                        found.append(what)
                        break
    except (zipfile.BadZipFile, OSError):
        return []
    return found


def cell_address(row: int, col: int) -> str:
    """1-based (row, col) to A1 notation."""
    letters = ""
    n = col
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"{letters}{row}"


def clean_cell(value: Any) -> Any:
    """A value as a cell can hold it: NaN/inf and numpy scalars handled."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (int, float, str, bool, dt.date, dt.datetime)):
        return value
    return str(value)


def _number_format(x: float) -> str:
    """Readable format: thousands separators for money-sized numbers, 4 decimals else."""
    if x != x or abs(x) >= 1000:
        return "#,##0.00"
    if x != 0 and abs(x) < 1e-3:
        return "0.00E+00"
    return "0.0000"


def _as_rows(value: Any) -> Any:
    """openpyxl/xlwings range values as a 2-D list of rows."""
    if isinstance(value, tuple):
        return [[None if c == "" else c for c in row] for row in value]
    return value


class OpenpyxlBook:
    """A workbook file opened with openpyxl.

    Parameters
    ----------
    path : path-like
        The ``.xlsx`` to read.
    out : path-like, optional
        Where :meth:`save` writes (default: ``path`` itself).
    active : str, optional
        Sheet to treat as active (default: the file's active sheet).

    Notes
    -----
    The file is opened twice: once with formulas (what is written back) and
    once with ``data_only=True`` (cached values, what the macro reads).
    A macro-enabled file (``.xlsm``) keeps its VBA project.  openpyxl drops
    the cached values of formula cells and the dynamic-array marks on save;
    :meth:`save` puts both back on every sheet but the ``Out_`` ones (macros
    never write elsewhere, so the values read at open are still current).
    """

    def __init__(self, path: str | Path, out: str | Path | None = None,
                 active: str | None = None) -> None:
        import openpyxl

        self.path = Path(path)
        self.out = Path(out) if out is not None else self.path
        keep_vba = self.path.suffix.lower() in (".xlsm", ".xltm", ".xlam")
        self.wb = openpyxl.load_workbook(self.path, keep_vba=keep_vba)
        self.values = openpyxl.load_workbook(self.path, data_only=True)
        self._active = active or self.wb.active.title
        self.status_log: list[str] = []

    def sheet_names(self) -> list[str]:
        return list(self.wb.sheetnames)

    def active_sheet(self) -> str:
        return self._active

    def has_name(self, name: str) -> bool:
        return name in self.values.defined_names

    def read_name(self, name: str) -> Any:
        if name not in self.values.defined_names:
            raise KeyError(name)
        dn = self.values.defined_names[name]
        text = (dn.attr_text or "").strip()
        dests = list(dn.destinations) if dn.type == "RANGE" else []
        if not dests:
            # A constant such as ="kelly" or =0.5.
            text = text.lstrip("=")
            if len(text) >= 2 and text[0] == text[-1] == '"':
                return text[1:-1]
            try:
                return float(text)
            except ValueError:
                return text
        sheet, ref = dests[0]
        return self.read_range(sheet, ref)

    def name_address(self, name: str) -> tuple[str, str] | None:
        dn = self.values.defined_names[name]
        dests = list(dn.destinations) if dn.type == "RANGE" else []
        return (dests[0][0], dests[0][1]) if dests else None

    def read_range(self, sheet: str, ref: str) -> list[list[Any]]:
        from openpyxl.utils.cell import range_boundaries

        ws = self.values[sheet]
        c1, r1, c2, r2 = range_boundaries(ref.replace("$", ""))
        return [
            [ws.cell(row=r, column=c).value for c in range(c1, c2 + 1)]
            for r in range(r1, r2 + 1)
        ]

    def clear_sheet(self, sheet: str) -> None:
        if sheet in self.wb.sheetnames:
            idx = self.wb.sheetnames.index(sheet)
            self.wb.remove(self.wb[sheet])
            self.wb.create_sheet(sheet, idx)
        else:
            self.wb.create_sheet(sheet)

    def write(self, sheet: str, row: int, col: int, rows: list[list[Any]]) -> None:
        ws = self.wb[sheet]
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                cell = ws.cell(row=row + i, column=col + j, value=clean_cell(v))
                if isinstance(cell.value, (dt.date, dt.datetime)):
                    cell.number_format = "yyyy-mm-dd"
                elif isinstance(cell.value, float):
                    cell.number_format = _number_format(cell.value)

    def autofit(self, sheet: str) -> None:
        from openpyxl.utils import get_column_letter

        ws = self.wb[sheet]
        widths: dict[int, int] = {}
        for row in ws.iter_rows():
            for cell in row:
                v = cell.value
                if v is None:
                    continue
                if isinstance(v, (dt.date, dt.datetime)):
                    n = 10
                elif isinstance(v, float):
                    n = len(f"{v:,.2f}") if abs(v) >= 1000 else 8
                else:
                    n = len(str(v))
                if isinstance(v, str) and len(v) > 40 and cell.column == 1:
                    continue  # block titles may run over the next columns
                widths[cell.column] = max(widths.get(cell.column, 0), min(n, 40))
        for c, w in widths.items():
            ws.column_dimensions[get_column_letter(c)].width = w + 2

    def add_chart(self, sheet: str, chart: Chart) -> None:
        from openpyxl.chart import BarChart, LineChart, Reference, ScatterChart, Series

        ws = self.wb[sheet]
        cats = Reference(ws, min_col=chart.left, min_row=chart.top + 1,
                         max_row=chart.top + chart.n_rows)
        if chart.kind == "scatter":
            ch = ScatterChart()
            for c in range(chart.left + 1, chart.left + chart.n_cols):
                ys = Reference(ws, min_col=c, min_row=chart.top,
                               max_row=chart.top + chart.n_rows)
                ch.series.append(Series(ys, cats, title_from_data=True))
        else:
            ch = BarChart() if chart.kind == "bar" else LineChart()
            data = Reference(ws, min_col=chart.left + 1, min_row=chart.top,
                             max_col=chart.left + chart.n_cols - 1,
                             max_row=chart.top + chart.n_rows)
            ch.add_data(data, titles_from_data=True)
            ch.set_categories(cats)
        ch.title = chart.title
        ch.x_axis.title = chart.x_title or None
        ch.y_axis.title = chart.y_title or None
        ch.x_axis.delete = False  # openpyxl 3.1 hides axis labels otherwise
        ch.y_axis.delete = False
        if chart.kind == "line" and chart.n_rows > 24:
            ch.x_axis.tickLblSkip = max(1, chart.n_rows // 8)
            ch.x_axis.tickMarkSkip = max(1, chart.n_rows // 8)
        if chart.x_dates:
            ch.x_axis.number_format = "yyyy-mm"
        if chart.y_format:
            ch.y_axis.number_format = chart.y_format
        ch.width, ch.height = 18, 9
        ws.add_chart(ch, chart.anchor)

    def status(self, text: str | None) -> None:
        if text is not None:
            self.status_log.append(text)

    def save(self) -> None:
        from pyxl.workbook.exact_floats import install
        from pyxl.workbook.xmlcache import dynamic_cells, write_cached_values

        install()  # numbers to the last bit (openpyxl alone keeps 16 digits)

        dynamic = {s: c for s, c in dynamic_cells(self.path).items()
                   if s in self.wb.sheetnames and not s.startswith("Out_")}
        cached = self._formula_values()
        self.wb.save(self.out)
        if cached or dynamic:
            write_cached_values(self.out, self.out, cached, dynamic=dynamic)

    def _formula_values(self) -> dict[str, dict[tuple[int, int], Any]]:
        """Cached values of the formula cells (array blocks included) outside Out_ sheets."""
        from openpyxl.utils.cell import range_boundaries
        from openpyxl.utils.datetime import to_excel
        from openpyxl.worksheet.formula import ArrayFormula

        out: dict[str, dict[tuple[int, int], Any]] = {}
        for ws in self.wb.worksheets:
            if ws.title.startswith("Out_") or ws.title not in self.values.sheetnames:
                continue
            cells: set[tuple[int, int]] = set()
            # ws._cells, not iter_rows(): iterating would create empty cells (and rows).
            for c in list(ws._cells.values()):
                if isinstance(c.value, ArrayFormula) and c.value.ref:
                    c1, r1, c2, r2 = range_boundaries(c.value.ref.replace("$", ""))
                    cells.update((r, k) for r in range(r1, r2 + 1)
                                 for k in range(c1, c2 + 1))
                elif c.data_type == "f":
                    cells.add((c.row, c.column))
            vals = self.values[ws.title]
            got: dict[tuple[int, int], Any] = {}
            for r, k in cells:
                v = vals.cell(row=r, column=k).value
                if isinstance(v, (dt.datetime, dt.date, dt.time, dt.timedelta)):
                    v = float(to_excel(v, self.values.epoch))
                if v is not None:
                    got[(r, k)] = v
            if got:
                out[ws.title] = got
        return out


class XlwingsBook:
    """The calling workbook in a running Excel (``RunPython``).

    Parameters
    ----------
    book : xlwings.Book, optional
        Defaults to ``xw.Book.caller()``.
    """

    def __init__(self, book: Any = None) -> None:
        import xlwings as xw

        self.book = book if book is not None else xw.Book.caller()
        self.app = self.book.app

    def sheet_names(self) -> list[str]:
        return [s.name for s in self.book.sheets]

    def active_sheet(self) -> str:
        return self.book.sheets.active.name

    def has_name(self, name: str) -> bool:
        return any(n.name == name for n in self.book.names)

    def read_name(self, name: str) -> Any:
        nm = self.book.names[name]
        try:
            rng = nm.refers_to_range
        except Exception:  # noqa: BLE001 - a constant, not a range
            rng = None
        if rng is None:
            text = str(nm.refers_to).lstrip("=")
            if len(text) >= 2 and text[0] == text[-1] == '"':
                return text[1:-1]
            try:
                return float(text)
            except ValueError:
                return text
        return rng.options(ndim=2).value

    def read_range(self, sheet: str, ref: str) -> list[list[Any]]:
        from openpyxl.utils.cell import range_boundaries

        c1, r1, c2, r2 = range_boundaries(ref.replace("$", ""))
        rng = self.book.sheets[sheet].range((r1, c1), (r2, c2))
        return rng.options(ndim=2).value

    def name_address(self, name: str) -> tuple[str, str] | None:
        try:
            rng = self.book.names[name].refers_to_range
        except Exception:  # noqa: BLE001 - a constant, not a range
            return None
        return (rng.sheet.name, rng.address) if rng is not None else None

    def clear_sheet(self, sheet: str) -> None:
        if sheet not in self.sheet_names():
            self.book.sheets.add(sheet, after=self.book.sheets[-1])
            return
        sht = self.book.sheets[sheet]
        for chart in list(sht.charts):
            chart.delete()
        sht.clear()

    def write(self, sheet: str, row: int, col: int, rows: list[list[Any]]) -> None:
        if not rows:
            return
        width = max(len(r) for r in rows)
        block = [[clean_cell(v) for v in r] + [None] * (width - len(r)) for r in rows]
        self.book.sheets[sheet].range((row, col)).value = block

    def add_chart(self, sheet: str, chart: Chart) -> None:
        sht = self.book.sheets[sheet]
        anchor = sht.range(chart.anchor)
        kind = {"line": "line", "bar": "column_clustered", "scatter": "xy_scatter_lines"}
        ch = sht.charts.add(left=anchor.left, top=anchor.top, width=520, height=260)
        ch.chart_type = kind.get(chart.kind, "line")
        # The data columns only (header row = series names), then the first column as
        # every series' x values / categories.  Handing Excel the whole block leaves the
        # first column to its guess: under a text header, a numeric first column (a
        # period, a TE limit) is plotted as one more series in line and column charts.
        ch.set_source_data(sht.range(
            (chart.top, chart.left + 1),
            (chart.top + chart.n_rows, chart.left + chart.n_cols - 1)))
        xs = sht.range((chart.top + 1, chart.left), (chart.top + chart.n_rows, chart.left))
        try:  # SeriesCollection needs the Windows COM API; elsewhere x stays 1..n
            series = ch.api[1].SeriesCollection()
            for k in range(1, int(series.Count) + 1):
                ch.api[1].SeriesCollection(k).XValues = xs.api
        except Exception:  # noqa: BLE001
            pass
        try:  # chart titles need the COM/AppleScript API; cosmetic only
            ch.api[1].HasTitle = True
            ch.api[1].ChartTitle.Text = chart.title
        except Exception:  # noqa: BLE001
            pass

    def autofit(self, sheet: str) -> None:
        self.book.sheets[sheet].autofit("c")

    def status(self, text: str | None) -> None:
        self.app.status_bar = text if text is not None else False

    def save(self) -> None:
        """The user decides when to save in Excel."""
