"""``=MNVH_BACKTEST(prices, ...)``: a full MNVH + Ledger-SPT backtest in one cell.

Returns the metrics table (labels in the first column, values in the second)
so users can put ``lam`` and ``beta`` in cells and drive What-If data tables;
``metric`` picks a single value instead.  Argument order is stable: new
arguments are only ever appended.

Price table rules (documented in docs/mnvh.md):

* a first row is a header of tickers when it holds text and no numbers, when its
  first cell is ``Date`` (or a word below), or when its first cell is other text
  that is not a date (``日付``, ``Month``) above a column of dates (numeric codes
  typed as numbers, 7203, are then tickers too); so is a first row of numeric codes
  typed as text (``'7203'``) above cells that are all numbers; a first row mixing
  text and prices otherwise (a text date, then prices) is data;
* a first column is a date column (and ignored for the numbers) when its data
  cells are dates or text, or when the header's first cell is blank or one of
  ``Date``, ``Time``, ``Datetime``, ``Timestamp``, ``Day``, ``Week``, ``Month``,
  ``Year``, ``Period``;
* with a date column, rows in descending date order (newest first, as many
  downloads are) are put in ascending order; unordered dates are an error;
  a ``benchmark`` column without its own dates is read row by row next to the
  prices as they stand on the sheet, so it is reversed with them; one with its own
  dates beside dated prices is met by date, as ``pyxl backtest --benchmark`` meets it
  (extra dates ignored, a missing price date refused); a date on two rows is refused;
* trailing blank rows and trailing blank columns (a whole-column reference such as
  ``Prices!A:K``, or a range drawn too large) are ignored; any other blank, text or
  price <= 0 is an error naming its row and column;
* in a date column, a row with prices but no date (``Average`` or a blank date cell
  beside a total row) is an error naming its row, not one more bar;
* dates across the first row (one row per asset) are refused with the fix (transpose).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xlwings as xw

from pyxl.core.labels import date_order, on_dates
from pyxl.core.metrics import BACKTEST_EXTRA, METRICS, backtest_metrics
from pyxl.core.mnvh import DEFAULT_BETA, DEFAULT_LAM
from pyxl.core.mnvh.ablation import (
    DEFAULT_FEE_RATE,
    DEFAULT_HALF_SPREAD,
    build_inputs,
    research_config,
    run_strategy,
)
from pyxl.core.mnvh.estimation import mean_rho
from pyxl.core.mnvh.weights import SCHEMES
from pyxl.errors import InputError
from pyxl.numparse import DATE_HEADERS, is_date_word, jp_date_text, text_dates
from pyxl.xl.cache import memoize
from pyxl.xl.convert import (
    _is_code_header,
    _is_number,
    check_date_rows,
    excel_formula,
    is_date,
    is_excel_error,
    is_missing,
    is_text,
    refuse_dates_across,
    table,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_matrix,
    to_vector,
    trim_range,
    xl_arg,
)

__all__ = ["MNVH_BACKTEST", "parse_price_table"]

_DECIMAL_FIX = "enter a decimal fraction of the notional (0.0005 = 5 bp)"

#: Extra rows after the metrics of :data:`pyxl.core.metrics.METRICS`.
EXTRA = BACKTEST_EXTRA


def _rows(value: Any) -> list[list[Any]]:
    if isinstance(value, pd.DataFrame):
        return [list(value.columns)] + value.to_numpy(dtype=object).tolist()
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim == 2 else [[v] for v in value.tolist()]
    if not isinstance(value, (list, tuple)):
        return [[value]]
    if value and not isinstance(value[0], (list, tuple)):
        return [[v] for v in value]
    return [list(r) for r in value]


def parse_price_table(value: Any, name: str = "prices", min_rows: int = 3
                      ) -> tuple[np.ndarray, list[str] | None]:
    """Prices ``(T, N)`` and tickers (or None) from an Excel range (see module rules)."""
    prices, header, _dated, _flipped, _dates = _parse_dated(value, name, min_rows)
    return prices, header


def _parse_dated(value: Any, name: str, min_rows: int
                 ) -> tuple[np.ndarray, list[str] | None, bool, bool, pd.DatetimeIndex | None]:
    """:func:`parse_price_table` plus whether the range had a date column, whether its
    rows were reversed (newest first on the sheet) and the rows' dates, oldest first,
    when the date column holds calendar dates (date cells or date text, years >= 1800),
    else None.

    A date on two rows is refused naming both rows, as ``pyxl backtest`` refuses it in a
    CSV file: one row per date.
    """
    flipped = False
    dates = None
    if is_missing(value):
        raise InputError(name, "is empty", "select a range of prices")
    # a whole-column reference (Prices!A:K) or a range drawn too large: the blank rows
    # under the data and blank columns right of it go, fast, before anything else
    rows = _rows(trim_range(value))
    while rows and is_missing(rows[-1]):
        rows.pop()
    # dates typed as text the Japanese way (2024年1月4日, 令和6年1月4日) read like 2024-01-04
    rows = [[jp_date_text(r[0]), *r[1:]] if r else r for r in rows]
    refuse_dates_across(rows, name)
    header = None
    corner = _corner_over_dates(rows)  # parses the first column's dates: once
    _refuse_row_per_asset(rows, name, corner)
    if rows and (_text_header(rows[0]) or _numeric_codes_header(rows) or corner):
        header = ["" if c is None else str(c).strip() for c in rows[0]]
        rows = rows[1:]
    if not rows:
        raise InputError(name, "has a header but no prices", "select the price rows too")
    ncols = max(len(r) for r in rows)
    first = [r[0] if r else None for r in rows]
    filled = [c for c in first if not (c is None or (isinstance(c, str) and not c.strip()))]
    date_col = ncols >= 2 and (
        (filled and all(is_date(c) or is_text(c) for c in filled))
        or (header is not None and header[0].lower() in DATE_HEADERS)
    )
    if date_col:
        # a total row under the prices ("Average", or a blank date) is not one more bar
        check_date_rows(rows, name, numbers_are_dates=header is not None
                        and is_date_word(header[0]))
        rows = [r[1:] for r in rows]
        if header is not None:
            header = header[1:]
        stamps = text_dates(first)
        if stamps.notna().all() and len(stamps) > 1:
            order = date_order(stamps)
            if order == "newest first":
                rows = rows[::-1]
                flipped = True
            elif order == "not in date order":
                raise InputError(name, "dates are not in order",
                                 "sort the table by date (oldest first)")
            if all(is_date(c) for c in filled) or _is_date_text(filled):
                twice = stamps.duplicated(keep=False)
                if twice.any():
                    at = np.flatnonzero(twice)
                    day = stamps[at[0]]
                    pair = [int(i) + 1 for i in at if stamps[i] == day][:2]
                    raise InputError(name, f"date {day.date()} is on rows {pair[0]} and "
                                     f"{pair[1]}", "remove the repeated row (one row per date)")
                dates = stamps[::-1] if flipped else stamps
    prices = to_matrix(rows, name, min_rows=min_rows, positive=True)
    if header is not None and len(header) != prices.shape[1]:
        header = None
    if dates is not None and len(dates) != prices.shape[0]:
        dates = None
    return prices, header, bool(date_col), flipped, dates


def _text_header(row: list[Any]) -> bool:
    """True when ``row`` is a header of tickers: it holds text and, past a first cell
    that names a date column (``Date``), no numbers.  A first row of data (a text date,
    then prices) or a row of prices with a typo in it is not a header: taking it for
    one would silently drop the first bar."""
    if not any(is_text(c) for c in row):
        return False
    first = row[0] if row else None
    if is_date_word(first):
        return True
    return not any(_is_number(c) for c in row[1:])


def _is_date_text(cells: list[Any]) -> bool:
    """True when every cell is a date, or text that parses as a date with a year
    ('2013-01-31', 'Jan 2013'; not 't1' or 'May', which dateutil reads as year 1)."""
    if all(is_date(c) for c in cells):
        return True
    if not all(is_date(c) or is_text(c) for c in cells):
        return False
    try:
        stamps = pd.to_datetime(pd.Series([str(c) for c in cells]), errors="coerce",
                                format="mixed")
    except (TypeError, ValueError, OverflowError):
        return False
    return bool(stamps.notna().all() and (stamps.dt.year >= 1800).all())


def _corner_over_dates(rows: list[list[Any]]) -> bool:
    """True when the first row's first cell is a text label that is not a date (``日付``,
    ``Month``, ``Code``) over a column of dates: the header of a dated table, whatever
    its other cells hold (numeric ticker codes such as 7203 typed as numbers); or a blank
    first cell over date cells beside numeric ticker codes (whole numbers >= 1000).  A
    first row of data starts with a date, so it is not taken for a header."""
    if len(rows) < 2 or not rows[0]:
        return False
    below = [r[0] for r in rows[1:] if r and not is_missing(r[0])]
    if is_missing(rows[0][0]):
        # a blank corner (a DataFrame pasted with its index) over dates, beside numeric
        # ticker codes (7203, 6758): the header; a first row of data would have its date
        return (len(rows[0]) > 1 and _is_code_header(rows[0][1:]) and bool(below)
                and all(is_date(c) for c in below))
    if not is_text(rows[0][0]):
        return False
    if _is_date_text([rows[0][0]]):
        return False
    return bool(below) and _is_date_text(below)


def _numeric_codes_header(rows: list[list[Any]]) -> bool:
    """True when the first row is ticker codes typed as text (e.g. the Tokyo codes
    ``'7203'``, ``'6758'``): every filled cell of it is a string, and every other
    cell is a number, a date or blank.  Numbers stored as text are otherwise read as
    numbers, which would make such a header a row of prices."""
    if len(rows) < 2:
        return False
    first = [c for c in rows[0] if not is_missing(c)]
    if not first or not all(isinstance(c, str) and not is_excel_error(c) for c in first):
        return False
    return not any(isinstance(c, str) and c.strip() for r in rows[1:] for c in r)


def _refuse_row_per_asset(rows: list[list[Any]], name: str, corner: bool) -> None:
    """Raise when the range holds one row per asset (a ticker, then its prices).

    The sign: every row starts with a text label that is not a date and goes on
    with numbers, the first row included, so the first row is not a header of
    tickers.  Read as dates x assets such a table would give a few bars of many
    assets and a meaningless backtest, so it is refused with the fix instead.
    ``corner`` is :func:`_corner_over_dates` of ``rows`` (a dated table's header).
    """
    if len(rows) < 2 or any(len(r) < 3 for r in rows):
        return
    labels = [r[0] for r in rows]
    if not all(is_text(c) for c in labels) or corner:
        return  # a header label (日付, Month) over text dates is a dated table
    # a header "Date" over text dates (with ticker codes as numbers beside it) is a dated
    # table, not one row per asset
    body = labels[1:] if is_date_word(labels[0]) else labels
    if pd.to_datetime(pd.Series([str(c) for c in body]), errors="coerce",
                      format="mixed").notna().all():
        return  # dated rows
    numeric = all(
        all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in r[1:] if c is not None)
        for r in rows
    )
    if numeric:
        raise InputError(name, f"has one row per asset ({labels[0]!s:.12}, {labels[1]!s:.12}, "
                         "...)", "give one row per date and one column per asset: transpose the "
                         "range, e.g. =TRANSPOSE(...)")


def _opt(value: Any, name: str, **kw) -> float | None:
    return None if is_missing(value) else to_float(value, name, **kw)


def _lot_size(value: Any, n: int) -> float | tuple[float, ...] | None:
    """``lot_size`` as None (blank), one number, or one number per asset (hashable)."""
    if is_missing(value):
        return None
    v = to_vector(value, "lot_size", nonnegative=True)
    if v.size == 1:
        return float(v[0])
    if v.size not in (n, n + 1):
        raise InputError("lot_size", f"has {v.size} values for {n} assets",
                         f"give one number (e.g. 100) or {n} values, one per asset ({n + 1} "
                         "with hedge TRUE: the hedge's last)")
    return tuple(float(x) for x in v)


@memoize(maxsize=32)
def _backtest(prices: np.ndarray, weights: Any, benchmark: np.ndarray | None,
              hedge: bool, throttle: bool, cfg_kwargs: tuple) -> tuple:
    """Run the backtest on converted inputs; ``(keys, values)`` in display order."""
    kw = dict(cfg_kwargs)
    ppy = kw["periods_per_year"]
    config = research_config(**kw)
    inputs = build_inputs(prices, weights, benchmark=benchmark, hedge=hedge, throttle=throttle)
    res = run_strategy(prices, config, inputs)
    m = backtest_metrics(res, prices, benchmark=benchmark, periods_per_year=ppy)
    m["identity_residual"] = float(res.identity_residual())
    m["risk_events"] = float(len(res.risk_events))
    m["mean_rho"] = mean_rho(prices, inputs.weights)
    keys = tuple(list(METRICS) + list(EXTRA))
    return keys, tuple(m[k] for k in keys)


def _labels() -> dict[str, str]:
    return {**METRICS, **EXTRA}


def _pick_metric(metric: Any) -> str | None:
    if is_missing(metric):
        return None
    text = " ".join(str(metric).split()).lower()
    for key, label in _labels().items():
        low = label.lower()
        # the label without its bracketed unit reads too: "Max DD duration", "Mean rho"
        if text in (key, low, low.split(" (")[0]):
            return key
    raise InputError("metric", f"{str(metric)[:30]!r} is not a metric name",
                     "use a label of the table, e.g. Sharpe, or leave blank")


@xw.func(category="PyXL")
@xl_arg("prices", ndim=2, doc="T x N prices > 0, oldest first; header row of tickers and a date "
        "column allowed.")
@xl_arg("lam", doc=f"Inventory decay lambda in [0, 1]; default {DEFAULT_LAM:g}.")
@xl_arg("beta", doc=f"Trading intensity; nav mode: multiple of NAV (default {DEFAULT_BETA:g}), "
        "absolute: currency (required).")
@xl_arg("weights", ndim=2, doc='"equal" (default), "invvol", "markowitz", or one weight per '
        "asset (sum 1).")
@xl_arg("fee_rate", doc="Commission, fraction of traded notional; default 0.0005 (5 bp).")
@xl_arg("half_spread", doc="Half spread paid per trade, fraction of price; default 0.0001.")
@xl_arg("benchmark", ndim=2, doc="Benchmark prices, T rows (header/date column allowed); for "
        "beta, correlation and the hedge.")
@xl_arg("hedge", doc="TRUE: beta-neutral hedge in the benchmark; default FALSE.")
@xl_arg("throttle", doc="TRUE: scale beta down when rolling rho is low; default FALSE.")
@xl_arg("beta_mode", doc='"nav" (default: beta x NAV) or "absolute" (eq. 1, currency).')
@xl_arg("cash0", doc="Starting cash, the only capital; default 1,000,000.")
@xl_arg("max_gross", doc="Cap on gross exposure, multiple of NAV; blank = none.")
@xl_arg("max_position", doc="Cap on each position's notional, fraction of NAV; blank = none.")
@xl_arg("drawdown_stop", doc="Liquidate and stop at this drawdown (0.2 = 20 %); blank = none.")
@xl_arg("exec_lag", doc="0 (default): trade at the bar the signal is known; 1: next bar.")
@xl_arg("fixed_fee", doc="Fixed fee per non-zero trade, currency; default 0.")
@xl_arg("borrow_rate", doc="Annual borrow fee on short notional, decimal; default 0.")
@xl_arg("cash_rate", doc="Annual interest on cash (on negative cash too unless debit_rate); "
        "default 0.")
@xl_arg("min_cash", doc="Cash floor after each trade and costs, currency; default 0.")
@xl_arg("periods_per_year", doc="Bars per year for annualising; default 252 (daily).")
@xl_arg("metric", doc="Blank: the whole table; a label or key (e.g. Sharpe): that value only.")
@xl_arg("debit_rate", doc="Annual interest charged on negative cash; blank = cash_rate.")
@xl_arg("lot_size", ndim=2, doc="Board lot in shares (e.g. 100): positions in whole lots; one "
        "number, or one per asset (0 = fractional); blank = fractional shares.")
@excel_formula
def MNVH_BACKTEST(prices, lam=DEFAULT_LAM, beta=None, weights="equal",
                  fee_rate=DEFAULT_FEE_RATE, half_spread=DEFAULT_HALF_SPREAD, benchmark=None,
                  hedge=False, throttle=False, beta_mode="nav", cash0=1_000_000.0,
                  max_gross=None, max_position=None, drawdown_stop=None, exec_lag=0,
                  fixed_fee=0.0, borrow_rate=0.0, cash_rate=0.0, min_cash=0.0,
                  periods_per_year=252, metric=None, debit_rate=None, lot_size=None):
    """MNVH backtest on the Ledger-SPT cash account; returns metrics (label, value) rows."""
    # beta left out or blank is the engine's DEFAULT_BETA (a multiple of NAV) in "nav" mode
    # and an error in "absolute" mode, where beta is in currency and that default would
    # barely trade; its signature default is None so that an argument left out in Excel
    # (which xlwings fills with the signature default) is told apart from a typed 35
    p, _, _, p_flipped, p_dates = _parse_dated(prices, "prices", 3)
    T, N = p.shape
    if is_missing(weights):
        w_spec: Any = "equal"
    elif isinstance(weights, str) or (
        isinstance(weights, (list, tuple)) and len(weights) == 1 and len(weights[0]) == 1
        and isinstance(weights[0][0], str)
    ):
        text = weights if isinstance(weights, str) else weights[0][0]
        w_spec = to_choice(text, "weights", SCHEMES, default="equal")
    else:
        w_spec = to_vector(weights, "weights", length=N)
        if abs(w_spec.sum() - 1.0) > 1e-6:
            raise InputError("weights", f"sum to {w_spec.sum():.6g}, expected 1",
                             "rescale them to sum to 1")
    bench = None
    if not is_missing(benchmark):
        bm, _, b_dated, _, b_dates = _parse_dated(benchmark, "benchmark", 1)
        if bm.shape[1] != 1:
            raise InputError("benchmark", f"has {bm.shape[1]} columns", "select one column")
        if p_dates is not None and b_dates is not None:
            # both dated: the benchmark meets the prices by date, as in `pyxl backtest
            # --benchmark` (before, a benchmark of other dates was paired row by row)
            bm = on_dates(pd.Series(bm[:, 0], index=b_dates), p_dates,
                          "benchmark").to_numpy()[:, None]
        elif bm.shape[0] != T:
            raise InputError("benchmark", f"has {bm.shape[0]} rows, prices have {T}",
                             "select the same dates")
        bench = bm[:, 0]
        if p_flipped and not b_dated:
            # a benchmark column without dates sits row by row next to the prices as they
            # are on the sheet (newest first): put it in the prices' (oldest-first) order
            bench = bench[::-1].copy()
    hedge_b = to_bool(hedge, "hedge", default=False)
    if hedge_b and bench is None:
        raise InputError("benchmark", "is blank but hedge is TRUE", "give benchmark prices")
    ppy = to_int(periods_per_year, "periods_per_year", default=252, lo=1)
    mode = to_choice(beta_mode, "beta_mode", ("nav", "absolute"), default="nav")
    if mode == "absolute" and is_missing(beta):
        # the default (35) is a multiple of NAV; as currency it would barely trade
        raise InputError("beta", 'is blank with beta_mode "absolute", where it is in currency '
                         "and has no default", f"enter beta (currency; {DEFAULT_BETA:g} x cash0 "
                         "starts at the nav default's exposure)")
    cfg = {
        "lam": to_float(lam, "lam", default=DEFAULT_LAM, lo=0.0, hi=1.0),
        "beta": to_float(beta, "beta", default=DEFAULT_BETA, lo=0.0),
        "beta_mode": mode,
        "cash0": to_float(cash0, "cash0", default=1_000_000.0, lo=0.0, lo_open=True),
        "min_cash": to_float(min_cash, "min_cash", default=0.0),
        "max_gross": _opt(max_gross, "max_gross", lo=0.0, lo_open=True),
        "max_position": _opt(max_position, "max_position", lo=0.0, lo_open=True),
        "drawdown_stop": _opt(drawdown_stop, "drawdown_stop", lo=0.0, hi=1.0, lo_open=True,
                              hi_open=True),
        "exec_lag": to_int(exec_lag, "exec_lag", default=0, lo=0, hi=1),
        # a cost of 100 % of the notional or more is a percent or bp typed as a number
        "fee_rate": to_float(fee_rate, "fee_rate", default=DEFAULT_FEE_RATE, lo=0.0, hi=1.0,
                             hi_open=True, fix=_DECIMAL_FIX),
        "fixed_fee": to_float(fixed_fee, "fixed_fee", default=0.0, lo=0.0),
        "half_spread": to_float(half_spread, "half_spread", default=DEFAULT_HALF_SPREAD, lo=0.0,
                                hi=1.0, hi_open=True, fix=_DECIMAL_FIX),
        "borrow_rate": to_float(borrow_rate, "borrow_rate", default=0.0, lo=0.0),
        "cash_rate": to_float(cash_rate, "cash_rate", default=0.0, lo=-1.0, lo_open=True),
        # added after metric (a public signature only grows at its end); blank: cash_rate
        "debit_rate": _opt(debit_rate, "debit_rate", lo=-1.0, lo_open=True),
        "periods_per_year": ppy,
        # argument 23, after debit_rate: whole board lots (blank: fractional shares)
        "lot_size": _lot_size(lot_size, N),
    }
    key = _pick_metric(metric)
    keys, values = _backtest(p, w_spec, bench, hedge_b,
                             to_bool(throttle, "throttle", default=False),
                             tuple(sorted(cfg.items())))
    if key is not None:
        return values[keys.index(key)]
    labels = _labels()
    return table([labels[k] for k in keys], list(values))
