"""Audit 10: template workbooks as a PM edits them in a spreadsheet application.

Each edited state below was first made with LibreOffice (headless, through UNO) on the
committed workbook and saved as .xlsx; the tests rebuild the same file state with openpyxl
(names and cells as LibreOffice wrote them), so they run without LibreOffice.

* Renaming a data sheet (Prices -> Px, Universe -> Univ): LibreOffice and Excel rename
  the sheet inside every defined name and formula.  The check cell kept working, but the
  Run button looked for the block on the sheet named in the spec, found no such sheet,
  skipped the block check and ran a 20-ticker (121-name) table on its first 10 tickers
  (120 names) without a word.
* Blank MNVH inputs: the Ledger sheet reads a blank fee rate as 0 and refuses a blank
  lambda or beta, while =MNVH_BACKTEST and the Run button took the formula's defaults
  (fee 5 bp, beta 35 currency units, starting cash 1,000,000): the Backtest sheet showed
  metrics of another strategy than the Ledger's, with no warning.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from pyxl.core.ledger.fees import FeeModel
from pyxl.core.mnvh.engine import MNVHConfig, run_backtest
from pyxl.macros import OpenpyxlBook, run
from pyxl.workbook import calculate

BOOKS = Path(__file__).resolve().parents[1] / "workbooks"


def _copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copy(BOOKS / name, path)
    return path


def _rename_sheet(wb: openpyxl.Workbook, old: str, new: str) -> None:
    """Rename a sheet as LibreOffice / Excel do: the sheet, its defined names, formulas."""
    wb[old].title = new
    for dn in wb.defined_names.values():
        if dn.attr_text and dn.attr_text.lstrip("'").startswith(old):
            dn.attr_text = dn.attr_text.replace(f"'{old}'!", f"{new}!").replace(f"{old}!",
                                                                              f"{new}!")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str) and c.value.startswith("=") and f"{old}!" in c.value:
                    c.value = c.value.replace(f"{old}!", f"{new}!")


def _prices(path: Path) -> np.ndarray:
    ws = openpyxl.load_workbook(path, data_only=True)["Prices"]
    return np.array([[ws.cell(r, c).value for c in range(2, 12)] for r in range(2, 252)],
                    dtype=float)


def _engine_nav(prices: np.ndarray, fee_rate: float) -> float:
    """Final NAV of the core engine with the template's settings (independent of the book)."""
    cfg = MNVHConfig(lam=0.9, beta=1e7, beta_mode="absolute", cash0=1e6, min_cash=0.0,
                     fees=FeeModel(fee_rate=fee_rate, fixed_fee=1.0))
    return float(run_backtest(prices, np.full(prices.shape[1], 0.1), cfg).nav[-1])


def _run_value(path: Path, sheet: str, label: str) -> object:
    ws = openpyxl.load_workbook(path, data_only=True)[sheet]
    return next(r[1] for r in ws.iter_rows(values_only=True) if r and r[0] == label)


# --- renamed data sheets ---------------------------------------------------------------


def test_renamed_prices_sheet_with_a_wider_table_is_refused(tmp_path):
    path = _copy(tmp_path, "mnvh_ledger.xlsx")
    wb = openpyxl.load_workbook(path)
    _rename_sheet(wb, "Prices", "Px")
    ws = wb["Px"]
    ws["L1"] = "AMD"
    for r in range(2, 252):
        ws.cell(r, 12, 100.0 + r)
    wb.save(path)
    assert wb.defined_names["mnvh_prices"].attr_text == "Px!$B$2:$K$251"
    res = run("run_mnvh", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("Px!L1 lies outside the Px block A1:K251"), res.message


def test_renamed_prices_sheet_alone_still_runs(tmp_path):
    path = _copy(tmp_path, "mnvh_ledger.xlsx")
    wb = openpyxl.load_workbook(path)
    _rename_sheet(wb, "Prices", "Px")
    wb.save(path)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert res.ok, res.message


def test_renamed_universe_sheet_with_a_121st_name_is_refused(tmp_path):
    path = _copy(tmp_path, "mbp.xlsx")
    wb = openpyxl.load_workbook(path)
    _rename_sheet(wb, "Universe", "Univ")
    wb["Univ"]["A122"] = "N121"
    wb.save(path)
    res = run("run_mbp", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith("Univ!A122 lies outside the Univ block A1:K121"), res.message


# --- blank MNVH inputs -------------------------------------------------------------------


def _blank(tmp_path: Path, cell: str) -> Path:
    path = _copy(tmp_path, "mnvh_ledger.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["Inputs"][cell] = None
    wb.save(path)
    return path


def test_blank_fee_rate_means_no_fee_on_the_backtest_sheet_and_the_button(tmp_path):
    """The Ledger reads a blank fee as 0; the Backtest sheet and the button must too."""
    path = _blank(tmp_path, "C7")
    no_fee = _engine_nav(_prices(path), 0.0)
    assert abs(no_fee - _engine_nav(_prices(path), 0.0005)) > 1000  # the cases differ
    rep = calculate(path, tmp_path / "out.xlsx")
    assert rep.value("Backtest", "A7") == "Final NAV"
    assert rep.value("Backtest", "B7") == pytest.approx(no_fee, rel=1e-12)
    res = run("run_mnvh", OpenpyxlBook(path))
    assert res.ok, res.message
    assert _run_value(path, "Out_Backtest", "Final NAV") == pytest.approx(no_fee, rel=1e-12)


@pytest.mark.parametrize("cell, arg, name", [("C5", "beta", "mnvh_beta"),
                                             ("C4", "lam", "mnvh_lam"),
                                             ("C6", "cash0", "mnvh_cash0")])
def test_blank_lambda_beta_or_cash_is_refused_not_defaulted(tmp_path, cell, arg, name):
    """Before the fix a blank beta ran the Backtest sheet and the button with beta = 35
    currency units (final NAV 997,510 instead of an error); the Ledger says "is blank"."""
    path = _blank(tmp_path, cell)
    rep = calculate(path, tmp_path / "out.xlsx")
    a5 = rep.value("Backtest", "A5")
    assert isinstance(a5, str) and a5.startswith(f"#PyXL! {arg}: "), a5
    assert "blank" in a5
    res = run("run_mnvh", OpenpyxlBook(path))
    assert not res.ok
    assert res.message.startswith(f"{name} (Inputs!{cell}): is blank; enter a number"), \
        res.message
