"""Audit 12: formulas fed the way spreadsheet users lay out ranges.

Whole-column references and ranges drawn too large (trailing blank rows and columns),
total rows typed under the data, tables laid out sideways (dates across the first row),
numbers typed as text by a Japanese IME, the texts ``nan``/``inf``, and What-If
recalculation.  Every figure is checked against the same data passed cleanly.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from conftest import excel_range, excel_row
from conftest import xl_error as _err

from pyxl.xl.cache import clear_all

T, N = 60, 4
_rng = np.random.default_rng(12)
P = 100.0 * np.exp(np.cumsum(_rng.normal(0.0, 0.01, (T, N)), axis=0))
DATES = [dt.datetime(2020, 1, 1) + dt.timedelta(days=i) for i in range(T)]
TICK = ("AAA", "BBB", "CCC", "DDD")
R = 0.005 + 0.04 * _rng.standard_normal((48, 3))
R_DATES = [dt.datetime(2019, 1, 31) + dt.timedelta(days=31 * i) for i in range(48)]
MU = np.array([0.05, 0.06, 0.08])
COV = np.array([[0.04, 0.01, 0.0], [0.01, 0.05, 0.01], [0.0, 0.01, 0.06]])


def _dated(values, dates, tickers, corner="Date") -> list[tuple]:
    """A price or returns table as on a sheet: header row, date column, numbers."""
    return [(corner, *tickers)] + [(d, *map(float, r)) for d, r in zip(dates, values, strict=True)]


def _returns_table() -> list[tuple]:
    return _dated(R, R_DATES, ("A", "B", "C"))


def _recolor(xl, returns, output="path:1"):
    return xl("MBB_RECOLOR", tuple(returns), excel_row(MU), excel_range(COV), 4, 40, 0.94, 12,
              3, None, 0, output)


# --- whole-column references and ranges drawn too large -----------------------------------

def test_whole_column_reference_backtest_equals_the_data_range(xl):
    rows = _dated(P, DATES, TICK)
    clean = xl("MNVH_BACKTEST", tuple(rows))
    assert dict(clean)["Periods"] == T - 1
    whole = tuple(rows) + ((None,) * (N + 1),) * (1_048_576 - len(rows))
    assert xl("MNVH_BACKTEST", whole) == clean


def test_trailing_blank_columns_are_ignored_like_trailing_blank_rows(xl):
    """A range drawn two columns too wide (or Prices!A:K over data in A:E) was refused as
    'blank cell at row 1, column 5' while the same range two rows too long was read."""
    rows = _dated(P, DATES, TICK)
    wide = tuple((*r, None, None) for r in rows) + ((None,) * (N + 3),) * 5
    assert xl("MNVH_BACKTEST", wide) == xl("MNVH_BACKTEST", tuple(rows))
    ret = _returns_table()
    wide = [(*r, None) for r in ret]
    assert xl("KELLY_SCENARIO", tuple(wide)) == xl("KELLY_SCENARIO", tuple(ret))
    assert _recolor(xl, wide) == _recolor(xl, ret)


def test_newest_first_returns_with_trailing_blank_rows_are_put_oldest_first(xl):
    """With blank rows under the data (a whole-column reference) the date-order check gave
    up on the blank date cells, so newest-first history was bootstrapped backwards."""
    ret = _returns_table()
    newest_first = [ret[0], *ret[1:][::-1]]
    want = _recolor(xl, ret)
    assert _recolor(xl, newest_first) == want
    assert _recolor(xl, newest_first + [(None,) * 4] * 30) == want


def test_an_interior_blank_row_is_named_not_dropped(xl):
    rows = _dated(P, DATES, TICK)
    rows.insert(31, (None,) * (N + 1))  # between data rows 30 and 31
    assert _err(xl("MNVH_BACKTEST", tuple(rows))) == (
        "#PyXL! prices: blank cell at row 31, column 1; fill it or shrink the range")


# --- total rows typed under the data --------------------------------------------------------

_TOTAL_FIX = ("enter its date, or delete the row (a total or average row would be read as "
              "one more period)")


@pytest.mark.parametrize("newest_first", [False, True])
def test_average_row_under_dated_prices_is_refused(xl, newest_first):
    """'Average' in the date column was taken for a row label: one more bar of average
    prices (60 periods instead of 59); and newest-first prices were then not reversed."""
    rows = _dated(P, DATES, TICK)
    if newest_first:
        rows = [rows[0], *rows[1:][::-1]]
    rows.append(("Average", *map(float, P.mean(axis=0))))
    assert _err(xl("MNVH_BACKTEST", tuple(rows))) == (
        f"#PyXL! prices: row {T + 1} has 'Average' in the date column; {_TOTAL_FIX}")


def test_total_row_with_a_blank_date_is_refused(xl):
    rows = _dated(P, DATES, TICK) + [(None, *map(float, P.sum(axis=0)))]
    assert _err(xl("MNVH_BACKTEST", tuple(rows))) == (
        f"#PyXL! prices: row {T + 1} has a blank cell in the date column; {_TOTAL_FIX}")
    text_dates = [("Date", *TICK)] + [(d.strftime("%Y-%m-%d"), *map(float, r))
                                      for d, r in zip(DATES, P, strict=True)]
    text_dates.append(("Total", *map(float, P.sum(axis=0))))
    assert f"row {T + 1} has 'Total' in the date column" in _err(
        xl("MNVH_BACKTEST", tuple(text_dates)))


def test_average_row_under_dated_returns_is_refused(xl):
    ret = _returns_table() + [("Average", *map(float, R.mean(axis=0)))]
    want = f"#PyXL! returns: row 49 has 'Average' in the date column; {_TOTAL_FIX}"
    assert _err(xl("KELLY_SCENARIO", tuple(ret))) == want
    assert _err(_recolor(xl, ret)) == want


def test_row_labels_that_are_not_dates_are_still_dropped(xl):
    """A label column (t1, t2, ...) is not a date column: no row is refused."""
    labelled = [("id", "A", "B", "C")] + [(f"t{i}", *map(float, r)) for i, r in enumerate(R)]
    assert xl("KELLY_SCENARIO", tuple(labelled)) == xl("KELLY_SCENARIO", excel_range(R))


# --- tables laid out sideways ---------------------------------------------------------------

_ACROSS = ("has dates across its first row (one row per asset); give one row per date and one "
           "column per asset: transpose the range, e.g. =TRANSPOSE(...)")


@pytest.mark.parametrize("corner", ["Ticker", None])
def test_dates_across_the_first_row_are_refused(xl, corner):
    """Tickers down the first column and dates across: read as 60 assets of 3 periods
    under a 'Ticker' corner, without a word."""
    sideways = [(corner, *DATES)] + [(t, *map(float, P[:, j])) for j, t in enumerate(TICK)]
    assert _err(xl("MNVH_BACKTEST", tuple(sideways))) == f"#PyXL! prices: {_ACROSS}"
    sideways = [(corner, *R_DATES)] + [(t, *map(float, R[:, j])) for j, t in enumerate("ABC")]
    assert _err(xl("KELLY_SCENARIO", tuple(sideways))) == f"#PyXL! returns: {_ACROSS}"
    assert _err(_recolor(xl, sideways)) == f"#PyXL! returns: {_ACROSS}"


# --- numbers as text ------------------------------------------------------------------------

def test_full_width_digits_from_a_japanese_ime_are_numbers(xl):
    """'１２３' was read as 123 but '１２３．５' refused as text."""
    rows = [list(map(float, r)) for r in P]
    clean = xl("MNVH_BACKTEST", excel_range(P))
    rows[10][2] = "".join(chr(ord(c) + 0xFEE0) for c in repr(float(P[10, 2])))  # full-width
    assert xl("MNVH_BACKTEST", tuple(map(tuple, rows))) == clean
    assert xl("KELLY_LEVERAGE", "０．０８５", "０．１８２", "０．０１") == \
        xl("KELLY_LEVERAGE", 0.085, 0.182, 0.01)
    assert xl("MNVH_STEP", excel_row([10.0, -5.0]), excel_row([100.0, 50.0]),
              excel_row([101.0, 49.0]), excel_row([0.5, 0.5]), "０．９", "１，０００") == \
        xl("MNVH_STEP", excel_row([10.0, -5.0]), excel_row([100.0, 50.0]),
           excel_row([101.0, 49.0]), excel_row([0.5, 0.5]), 0.9, 1000.0)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_nan_and_inf_typed_as_text_are_not_numbers(xl, text):
    """Python's float() reads them (Excel's VALUE does not): lam 'nan' gave blank cells,
    cash 'nan' a blank kappa, and a returns column with 'nan' blamed the leverage n."""
    step = xl("MNVH_STEP", excel_row([10.0, -5.0]), excel_row([100.0, 50.0]),
              excel_row([101.0, 49.0]), excel_row([0.5, 0.5]), text, 1000.0)
    assert _err(step) == f"#PyXL! lam: text {text!r} at the cell; enter a number"
    kappa = xl("LEDGER_KAPPA", excel_row([100.0, 50.0]), excel_row([1.0, 2.0]), text)
    assert _err(kappa) == f"#PyXL! cash: text {text!r} at the cell; enter a number"
    growth = xl("KELLY_GROWTH", 1.0, None, None, 0.01, excel_range([0.01, text, 0.02]), 252)
    assert _err(growth) == f"#PyXL! model: text {text!r} at item 2; enter a number"


# --- recalculation ------------------------------------------------------------------------

def test_what_if_table_over_lam_and_beta_matches_fresh_single_calls(xl):
    prices = excel_range(P)
    blanks = (None,) * 17
    grid = [(lam, beta) for lam in (0.5, 0.9) for beta in (10.0, 35.0)]
    seen = {g: xl("MNVH_BACKTEST", prices, *g, *blanks, "Sharpe") for g in grid}
    assert len({v[0][0] for v in seen.values()}) == len(grid)
    for g in grid[::-1]:
        clear_all()
        assert xl("MNVH_BACKTEST", prices, *g, *blanks, "Sharpe") == seen[g]


def test_columns_named_by_dates_over_a_date_column_are_a_normal_table(xl):
    """Futures named by expiry month ('2025-03') over a date column are not sideways."""
    ret = _returns_table()
    for corner in ("Date", None):
        named = [(corner, "2025-03", "2025-06", "2025-09"), *ret[1:]]
        assert xl("KELLY_SCENARIO", tuple(named)) == xl("KELLY_SCENARIO", tuple(ret))
