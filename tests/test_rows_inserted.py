"""Template sheets follow rows inserted inside their data tables, as Excel inserts them.

MNVH Ledger sheet: a day inserted among the first bars of the Prices table is stepped through.

The Ledger sheet steps through the first 61 bars.  Its cells referred to Prices rows 2-62
one by one, so a row a PM inserted among them (a missing trading day) was skipped: Excel
shifts such references past the new row, while the named price table, which the Backtest
sheet and the Run button read, grows to include it.  The Ledger and the Backtest then ran
on different days without a word.  The Ledger now reads bar t as row t + 1 of the named
table (``INDEX(mnvh_prices, t + 1, 0)``, which the workbook engine evaluates as Excel
does: ``pyxl.workbook.functions``), so it follows the table as it stands.

The date-order check refers to the name only, so it stays whole wherever the row goes.

The insertion is made here as Excel makes it (cells below move down, names and references
reaching the row grow or move), and the Ledger is checked against the core engine run on
the first 61 rows of the edited table.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest

import pyxl.udfs as udfs
from pyxl.macros import OpenpyxlBook, run
from pyxl.templates import mbp, mnvh
from pyxl.templates import spec as S
from pyxl.workbook import calculate

BOOKS = Path(__file__).resolve().parents[1] / "workbooks"
def _shift_refs(text: str, k: int, sheet: str = "Prices") -> str:
    """References to ``sheet`` rows >= k move down one row, as Excel's Insert does (a range
    starting above k and ending at or below it grows)."""
    ref = re.compile(rf"((?:'{sheet}'|{sheet})!)(\$?[A-Z]{{1,3}}\$?)(\d+)"
                     r"(?::(\$?[A-Z]{1,3}\$?)(\d+))?")

    def move(m: re.Match) -> str:
        sheet, c1, r1, c2, r2 = m.groups()
        r1 = int(r1) + (int(r1) >= k)
        out = f"{sheet}{c1}{r1}"
        if c2 is not None:
            out += f":{c2}{int(r2) + (int(r2) >= k)}"
        return out

    return ref.sub(move, text)


def _insert_row(path: Path, k: int, values: list[object], sheet: str = "Prices") -> None:
    """Insert row ``k`` of ``sheet`` (Excel: select row k, Insert) and type ``values``."""
    wb = openpyxl.load_workbook(path)
    wb[sheet].insert_rows(k)  # moves the cells; names and formulas are ours to move
    for dn in wb.defined_names.values():
        if dn.attr_text:
            dn.attr_text = _shift_refs(dn.attr_text, k, sheet)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f" and isinstance(c.value, str):
                    c.value = _shift_refs(c.value, k, sheet)
                elif hasattr(c.value, "text"):  # an array formula
                    c.value.text = _shift_refs(c.value.text, k, sheet)
    for j, v in enumerate(values, start=1):
        wb[sheet].cell(k, j, v)
    wb.save(path)


def _table(path: Path, last_row: int) -> list[list[object]]:
    ws = openpyxl.load_workbook(path, data_only=True)["Prices"]
    return [[ws.cell(r, c).value for c in range(2, 2 + 10)] for r in range(1, last_row + 1)]


def test_shift_refs_is_excels_insert():
    assert _shift_refs("=Prices!A9+Prices!$B$10", 10) == "=Prices!A9+Prices!$B$11"
    assert _shift_refs("'Prices'!$B$2:$K$251", 10) == "'Prices'!$B$2:$K$252"
    assert _shift_refs("=SUM(Prices!B11:K12)", 10) == "=SUM(Prices!B12:K13)"


@pytest.mark.parametrize("k", [3, 10, 40, 251])
def test_ledger_steps_through_a_day_inserted_among_its_bars(tmp_path, k):
    path = tmp_path / "mnvh_ledger.xlsx"
    shutil.copy(BOOKS / "mnvh_ledger.xlsx", path)
    px = _table(path, 252)
    above, below = np.array(px[k - 2], float), np.array(px[k - 1], float)
    ws = openpyxl.load_workbook(path, data_only=True)["Prices"]
    day = ws.cell(k - 1, 1).value + (ws.cell(k, 1).value - ws.cell(k - 1, 1).value) / 2
    new_prices = np.round(np.sqrt(above * below), 2)  # a day between its neighbours
    _insert_row(path, k, [day, *new_prices.tolist()])

    rep = calculate(path, tmp_path / "out.xlsx")
    L, r0, steps = mnvh.LEDGER_COLUMNS, mnvh.LEDGER_FIRST_ROW, mnvh.LEDGER_STEPS
    led = rep.values["Ledger"]
    # the Ledger's bar k - 2 is the inserted day (when it is one of the Ledger's bars)
    if k - 2 <= steps:
        got_day = led[(r0 + k - 2, L["date"])]
        if isinstance(got_day, (int, float)):  # a serial number, as the engine keeps dates
            got_day = dt.datetime(1899, 12, 30) + dt.timedelta(days=got_day)
        assert got_day == day
    # ... and it ends where the engine ends on the first 61 bars of the edited table
    table = _table(path, steps + 2)
    assert _table(path, k)[k - 1] == new_prices.tolist()
    d = mnvh.DEFAULTS
    args = (d["mnvh_lam"], d["mnvh_beta"], "equal", d["mnvh_fee_rate"], 0, "", False, False,
            "absolute", d["mnvh_cash0"], "", "", "", 0, d["mnvh_fixed_fee"], 0, 0,
            d["mnvh_min_cash"])
    short = dict(udfs.MNVH_BACKTEST(table, *args))
    end_nav = led[(r0 + steps, L["nav"])]
    assert end_nav == pytest.approx(short["Final NAV"], rel=1e-9)
    # the Backtest sheet reads the whole grown table (251 days), and nothing warns: the
    # date check refers to the names only (it compared A2:A250 with A3:A251, which Excel
    # moves apart for a row inserted at row 3 or 251: #VALUE!)
    assert rep.values["Backtest"][(3, 2)] == "ok"
    assert rep.values["Ledger"][(4, L["check"])] == "ok"
    full = dict(udfs.MNVH_BACKTEST(_table(path, 252), *args))
    bt = {rep.values["Backtest"].get((r, 1)): rep.values["Backtest"].get((r, 2))
          for r in range(5, 40)}
    assert bt["Final NAV"] == pytest.approx(full["Final NAV"], rel=1e-9)


def test_mbp_portfolio_names_stay_beside_their_weights_after_an_inserted_name(tmp_path):
    """The Portfolio sheet showed Universe!A{row} beside the weights of =MBP_OPTIMIZE over
    the names: after a name inserted at Universe row 10, every later row showed the next
    name beside the weight of the one before, without a word.  Now each row is
    INDEX(mbp_names, i), and Portfolio!E3 says the names outgrew the 120 rows shown."""
    path = tmp_path / "mbp.xlsx"
    shutil.copy(BOOKS / "mbp.xlsx", path)
    ws = openpyxl.load_workbook(path, data_only=True)["Universe"]
    new = [ws.cell(10, c).value for c in range(1, 12)]
    new[0], new[2] = "JPNEW", 0.0  # a name outside the benchmark
    _insert_row(path, 10, new, sheet="Universe")
    rep = calculate(path, tmp_path / "out.xlsx")
    names = [c.value for c in openpyxl.load_workbook(path)["Universe"]["A"][1:122]]
    assert names[8] == "JPNEW" and len(names) == 121
    p0 = mbp.PORTFOLIO_FIRST_ROW
    shown = [rep.values["Portfolio"][(p0 + i, 1)] for i in range(S.MBP_NAMES)]
    assert shown == names[:S.MBP_NAMES]  # name i beside weight i of the names' order
    assert rep.values["Portfolio"][(3, 5)] == (
        "Universe is 121 names: the Portfolio and Frontier sheets show 120; keep 120 names, "
        "or use the Run button, which reports every name")
    res = run("run_mbp", OpenpyxlBook(path))
    assert res.ok, res.message
    out = [c.value for c in openpyxl.load_workbook(path)["Out_MBP"]["A"]]
    assert "JPNEW" in out
