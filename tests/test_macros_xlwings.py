"""The xlwings WorkbookIO against a stand-in for the slice of xlwings' API it uses.

No Excel here: the fake records what XlwingsBook asks of xlwings (ranges read
with ``options(ndim=2)``, blocks written, sheets cleared and added, charts,
``app.status_bar``) so the Excel path runs the same macro code as the tests
that use openpyxl, and keeps the same guarantees.
"""

from __future__ import annotations

import re
import types

import openpyxl
from openpyxl.utils.cell import column_index_from_string, get_column_letter, range_boundaries
from test_macros import KELLY_VALUES
from test_macros_books import build_book

from pyxl.macros import XlwingsBook, run


def _rc(a1: str) -> tuple[int, int]:
    m = re.fullmatch(r"\$?([A-Z]+)\$?(\d+)", a1)
    return int(m.group(2)), column_index_from_string(m.group(1))


class FakeRange:
    def __init__(self, sheet, r1, c1, r2, c2):
        self.sheet, self.r1, self.c1, self.r2, self.c2 = sheet, r1, c1, r2, c2
        self.left, self.top = c1 * 50.0, r1 * 15.0

    def options(self, ndim=None):
        assert ndim == 2
        return self

    @property
    def api(self):  # the COM Range stands in for itself
        return self

    @property
    def address(self):  # as xlwings: "$A$1" or "$A$1:$K$251"
        a = f"${get_column_letter(self.c1)}${self.r1}"
        b = f"${get_column_letter(self.c2)}${self.r2}"
        return a if a == b else f"{a}:{b}"

    @property
    def value(self):
        return [[self.sheet.cells.get((r, c)) for c in range(self.c1, self.c2 + 1)]
                for r in range(self.r1, self.r2 + 1)]

    @value.setter
    def value(self, block):
        self.sheet.writes.append((self.r1, self.c1, len(block)))
        for i, row in enumerate(block):
            for j, v in enumerate(row):
                self.sheet.cells[(self.r1 + i, self.c1 + j)] = v


class FakeSeries:
    XValues = None


class FakeChartApi:
    """The bits of Excel's COM Chart the macros use: one series per source column."""

    def __init__(self, chart):
        self.chart = chart
        self.HasTitle, self.ChartTitle = False, types.SimpleNamespace(Text="")

    def SeriesCollection(self, k=None):  # noqa: N802 - COM name
        if k is None:
            return types.SimpleNamespace(Count=len(self.chart.series))
        return self.chart.series[k - 1]


class FakeChart:
    def __init__(self, sheet):
        self.sheet, self.chart_type, self.source = sheet, None, None
        self.series: list[FakeSeries] = []
        self.api = (None, FakeChartApi(self))

    def set_source_data(self, rng):
        self.source = (rng.r1, rng.c1, rng.r2, rng.c2)
        self.series = [FakeSeries() for _ in range(rng.c1, rng.c2 + 1)]

    def delete(self):
        self.sheet.charts.remove(self)


class FakeCharts(list):
    def __init__(self, sheet):
        super().__init__()
        self.sheet = sheet

    def add(self, left, top, width, height):
        ch = FakeChart(self.sheet)
        self.append(ch)
        return ch


class FakeSheet:
    def __init__(self, name):
        self.name, self.cells, self.writes = name, {}, []
        self.charts = FakeCharts(self)
        self.cleared = 0

    def range(self, a, b=None):
        r1, c1 = a if isinstance(a, tuple) else _rc(a)
        r2, c2 = (b if isinstance(b, tuple) else _rc(b)) if b is not None else (r1, c1)
        return FakeRange(self, r1, c1, r2, c2)

    def clear(self):
        self.cells.clear()
        self.cleared += 1

    def autofit(self, axis):
        assert axis == "c"


class FakeSheets(list):
    active = None

    def __getitem__(self, key):
        if isinstance(key, str):
            return next(s for s in self if s.name == key)
        return list.__getitem__(self, key)

    def add(self, name, after=None):
        s = FakeSheet(name)
        self.insert(self.index(after) + 1 if after is not None else 0, s)
        return s


class FakeName:
    def __init__(self, book, name, text):
        self.book, self.name, self.refers_to = book, name, "=" + text

    @property
    def refers_to_range(self):
        m = re.fullmatch(r"'?([^'!]+)'?!(.+)", self.refers_to[1:])
        if not m:
            raise RuntimeError("com_error: not a range")  # what COM does for constants
        c1, r1, c2, r2 = range_boundaries(m.group(2).replace("$", ""))
        return FakeRange(self.book.sheets[m.group(1)], r1, c1, r2, c2)


class FakeNames(list):
    def __getitem__(self, key):
        return next(n for n in self if n.name == key)


class FakeApp:
    def __init__(self):
        self.status = []

    @property
    def status_bar(self):
        return self.status[-1] if self.status else False

    @status_bar.setter
    def status_bar(self, value):
        self.status.append(value)


class FakeBook:
    """A workbook as xlwings shows it.  ``values=True`` holds the cells' cached values
    with every number a float, as xlwings reads them from Excel; the default holds the
    file's contents (formulas as text)."""

    def __init__(self, path, active, values=False):
        wb = openpyxl.load_workbook(path, data_only=values)
        self.app = FakeApp()
        self.sheets = FakeSheets()
        for ws in wb.worksheets:
            s = FakeSheet(ws.title)
            for row in ws.iter_rows():
                for c in row:
                    v = c.value
                    if values and isinstance(v, int) and not isinstance(v, bool):
                        v = float(v)
                    if v is not None:
                        s.cells[(c.row, c.column)] = v
            self.sheets.append(s)
        self.sheets.active = self.sheets[active]
        self.names = FakeNames(FakeName(self, n, d.attr_text)
                               for n, d in wb.defined_names.items())


def _book(tmp_path, values=KELLY_VALUES):
    p = build_book("kelly", values, tmp_path / "k.xlsx", active="Inputs")
    return FakeBook(p, "Inputs")


def test_xlwings_book_runs_the_macro(tmp_path):
    fake = _book(tmp_path)
    inputs_before = dict(fake.sheets["Inputs"].cells)
    res = run("run_kelly", XlwingsBook(fake))
    assert res.ok, res.message
    out = fake.sheets["Out_Kelly"]
    assert out.cleared == 1
    assert out.cells[(1, 1)] == "Kelly leverage report (full run)"
    assert out.cells[(5, 1)] == "Asset" and out.cells[(6, 1)] == "S&P 500"
    assert round(out.cells[(6, 4)], 1) == 2.3
    assert len(out.charts) == 1 and out.charts[0].chart_type == "xy_scatter_lines"
    # the y column is the source (its header names the series), the leverage column
    # every series' x values
    r1, c1, r2, c2 = out.charts[0].source
    assert out.cells[(r1, c1 - 1)] == "Leverage" and c2 == c1 and r2 - r1 == 41
    assert str(out.cells[(r1, c1)]).startswith("Growth (")
    (series,) = out.charts[0].series
    x = series.XValues
    assert (x.r1, x.c1, x.r2, x.c2) == (r1 + 1, c1 - 1, r2, c1 - 1)
    assert fake.sheets["Inputs"].cells == inputs_before
    assert fake.sheets["Inputs"].writes == []
    assert [s.name for s in fake.sheets][-1] == "Out_Log"
    assert fake.app.status[-1].startswith("PyXL run_kelly: done")


def test_xlwings_book_failure_leaves_results(tmp_path):
    fake = _book(tmp_path)
    assert run("run_kelly", XlwingsBook(fake)).ok
    out = fake.sheets["Out_Kelly"]
    before, charts = dict(out.cells), list(out.charts)
    fake.sheets["Inputs"].cells[(13, 3)] = -1.0  # kelly_sigma row 1
    res = run("run_kelly", XlwingsBook(fake))
    assert not res.ok and res.message.startswith("kelly_sigma (row 1, S&P 500)")
    assert out.cells == before and out.charts == charts and out.cleared == 1
    assert fake.app.status[-1].startswith("PyXL run_kelly failed: kelly_sigma")
    log = fake.sheets["Out_Log"].cells
    assert log[(3, 2)] == "error" and "kelly_sigma" in log[(4, 2)]
