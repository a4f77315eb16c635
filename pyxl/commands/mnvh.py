"""CLI sub-commands for MNVH: ``pyxl backtest``, ``pyxl ablation``, ``pyxl walkforward``.

Prices come from a CSV file (first column dates, one column per asset, a
header row of tickers) or, when no file is given, from the bundled S&P 500
sample (20 stocks, from 2005 unless ``--start`` says otherwise) with the
S&P 500 index as benchmark.  Outputs go to ``<out>/mnvh/``.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.core.labels import date_order, on_dates
from pyxl.errors import InputError
from pyxl.numparse import (
    CSV_OUT,
    EXACT_CSV,
    csv_source,
    is_date_word,
    numeric_dates,
    text_dates,
    to_numbers,
)

__all__ = ["register", "read_price_csv", "file_errors", "staged", "publish",
           "partial_path", "write_csv_atomic"]


def file_errors(handler):
    """Wrap a CLI handler so that a file it cannot read or write (no such folder,
    no permission, a file where a folder should be) ends in one ``pyxl: file: ...``
    line with exit code 2 (via :class:`InputError`) instead of a traceback."""
    import functools

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except BrokenPipeError:  # output piped into e.g. head: not a file problem
            raise
        except OSError as err:
            where = err.filename if err.filename is not None else "an output file"
            raise InputError("file", f"cannot access {str(where)!r} ({err.strerror or err})",
                             "check the path and that its folder is writable (-o)") from None

    return run


#: Column heads of one ticker's fields, as Yahoo Finance (``Open ... Adj Close, Volume``) and
#: Bloomberg (``PX_OPEN ... PX_LAST, PX_VOLUME``) write a single-ticker download.  Case
#: matters: the tickers LOW (Lowe's) and OPEN (Opendoor) are upper case.
_FIELDS_OF_ONE = frozenset({"Open", "High", "Low", "Close", "Adj Close", "Volume", "PX_OPEN",
                            "PX_HIGH", "PX_LOW", "PX_LAST", "PX_VOLUME", "PX_CLOSE_1D"})


#: Rows read as text to find the header rows (vendor files have at most three).
_HEAD_ROWS = 50


def _number_or_date(cell: str) -> bool:
    return bool(to_numbers(pd.Series([cell], dtype=object)).notna().iloc[0]) or \
        not pd.isna(text_dates([cell])[0])


def _header(raw: pd.DataFrame, shown: str, name: str) -> tuple[int, str, list[str]]:
    """How many rows of ``raw`` (a CSV read as text) are header rows, the first column's
    head and the tickers.

    One header row of tickers is the plain layout.  Vendor downloads add rows: Bloomberg's
    ``Ticker`` / ``Date, PX_LAST, ...`` and yfinance's ``Price, Close, ...`` / ``Ticker`` /
    ``Date`` (rows whose first cell is neither a number nor a date and whose other cells
    hold no number).  The row of tickers is kept; a row repeating one field (``PX_LAST``,
    ``Close``) and a row of blanks are dropped; several fields per ticker are refused.
    """
    k = 1
    while k < len(raw) and not _number_or_date(raw.iloc[k, 0]) and \
            to_numbers(raw.iloc[k, 1:]).isna().all():
        k += 1
    rows = [[str(c).strip() for c in raw.iloc[r]] for r in range(k)]
    corner = next((r[0] for r in rows if is_date_word(r[0])), rows[0][0])
    named = [r for r in rows if any(r[1:])]
    if len(named) > 1:
        fields = [r for r in named if len(set(r[1:])) == 1 and
                  (len(r) > 2 or r[1] in _FIELDS_OF_ONE or r[1].upper().startswith("PX_"))]
        several = [r for r in named if set(r[1:]) <= _FIELDS_OF_ONE and len(set(r[1:])) > 1]
        if several:
            shown_fields = ", ".join(dict.fromkeys(several[0][1:]))
            raise InputError(name, f"{shown}: has several fields per ticker ({shown_fields})",
                             "keep one column per ticker (its Adj Close or PX_LAST) and "
                             "one header row of tickers")
        tickers = [r for r in named if r not in fields]
        if len(tickers) != 1:
            raise InputError(name, f"{shown}: has {len(named)} header rows and no single "
                             "row of tickers", "keep one header row, the tickers")
        named = tickers
    heads = (named or rows)[0][1:]
    one = [h for h in heads if h in _FIELDS_OF_ONE]
    if len(one) >= 3:
        raise InputError(name, f"{shown}: columns {', '.join(one)} are the fields of one "
                         "ticker (a single-ticker download), not tickers",
                         "give one column of prices per ticker (e.g. each ticker's Adj Close)")
    seen: dict[str, int] = {}
    for j, h in enumerate(heads):
        if h and h in seen:
            raise InputError(name, f"{shown}: ticker {h!r} heads columns {seen[h] + 2} and "
                             f"{j + 2}", "remove the repeated column or rename it")
        seen.setdefault(h, j)
    return k, corner, heads


def read_price_csv(path: str | Path, name: str = "prices", start=None,
                   end=None) -> pd.DataFrame:
    """A price table from CSV: dates in the first column (if not numeric), tickers as header.

    Rows are put in ascending date order (``frame.attrs["reversed"]`` is then True);
    blanks, text and prices <= 0 are rejected with the column and row named; a date
    that appears twice and a ticker heading two columns are refused.  Vendor layouts are
    read as their plain equivalent (:func:`_header`, :func:`pyxl.numparse.read_csv`):
    two header rows (ticker and field), tab-separated or UTF-16 text, empty columns on the
    right, numbers written ``1,234.5``.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    name : str, optional
        The argument or option, for the errors (``prices``, ``--benchmark``).
    start, end : pandas.Timestamp, optional
        Keep the rows dated from ``start`` to ``end`` (inclusive) before the prices are
        checked, so that ``--start`` after a blank stretch (a ticker listed later) works.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(name, f"{str(p)!r} is a folder", "give the path of a CSV file")
    if not p.is_file():
        raise InputError(name, f"file {str(p)!r} not found", "give the path of a CSV file")
    try:
        # the first rows as text for the header rows, then the rest with numbers parsed
        text, source = csv_source(p, name)  # read, decoded and checked once
        head_end = -1
        for _ in range(_HEAD_ROWS):  # the first rows only (not a copy of a 40 MB file)
            head_end = text.find("\n", head_end + 1)
            if head_end < 0:
                break
        raw = pd.read_csv(io.StringIO(text if head_end < 0 else text[:head_end + 1]),
                          header=None, dtype=str, keep_default_na=False)
        if raw.shape[1] == 0 or raw.shape[0] < 2:
            raise InputError(name, f"{p.name} is empty", "give a CSV with a header and prices")
        k, first, heads = _header(raw, p.name, name)
        frame = pd.read_csv(**source, header=None, skiprows=k, keep_default_na=False,
                            **EXACT_CSV)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(name, f"cannot read {p.name} ({str(err).splitlines()[0]})",
                         "give a CSV with a header and prices") from None
    columns = [first] + [h or f"Unnamed: {j + 1}" for j, h in enumerate(heads)]
    if frame.shape[1] != len(columns):
        raise InputError(name, f"{p.name}: the data rows have {frame.shape[1]} cells, the "
                         f"header {len(columns)}", "give every column a header")
    frame.columns = columns
    if frame.shape[0] == 0:
        raise InputError(name, f"{p.name} is empty", "give a CSV with a header and prices")
    line = np.arange(k + 1, k + 1 + len(frame))  # the file's row number of each row
    lead = to_numbers(frame[first])
    numeric_first = bool(lead.notna().all())
    dated = is_date_word(first)
    if numeric_first and dated and frame.shape[1] > 1:
        # a column headed 日付 / Date is dates also when written as numbers: 20240104 or
        # Excel serials (45295), not an asset named 日付 with prices of 20 million
        idx = numeric_dates(lead)
        if idx is None:
            raise InputError(name, f"{p.name}: column {first!r} holds numbers that are not "
                             "dates", "write dates as YYYY-MM-DD, 2024/01/04 or 20240104")
    elif not numeric_first:
        idx = text_dates(frame[first])  # also 2024年1月4日, 令和6年1月4日
        if idx.isna().any():
            bad = int(np.flatnonzero(idx.isna())[0])
            raise InputError(name, f"{p.name}: first column row {line[bad]} "
                             f"({str(frame[first].iloc[bad])[:20]!r}) is not a date",
                             "put dates (YYYY-MM-DD, 2024/01/04 or 2024年1月4日) in the "
                             "first column")
    else:
        idx = None
    if idx is not None:
        frame = frame.drop(columns=first).set_index(pd.DatetimeIndex(idx).rename("Date"))
        order = date_order(frame.index)
        if order == "newest first":
            frame, line = frame.iloc[::-1], line[::-1]
            frame.attrs["reversed"] = True  # newest first in the file
        elif order == "not in date order":
            raise InputError(name, f"{p.name}: dates are not in order", "sort by date")
        twice = frame.index.duplicated()
        if twice.any():
            j = int(np.flatnonzero(twice)[0])
            rows = sorted(line[frame.index == frame.index[j]])
            raise InputError(name, f"{p.name}: date {frame.index[j].date()} is on rows "
                             f"{' and '.join(map(str, rows[:2]))}",
                             "remove the repeated row (one row per date)")
        if start is not None or end is not None:
            keep = np.ones(len(frame), dtype=bool)
            if start is not None:
                keep &= frame.index >= start
            if end is not None:
                keep &= frame.index <= end
            frame, line = frame.loc[keep], line[keep]
            frame.attrs["reversed"] = order == "newest first"
    elif start is not None or end is not None:
        raise InputError("--start/--end", f"{p.name} has no dates",
                         "put dates in the first column, or leave out --start/--end")
    for col in frame.columns:
        values = to_numbers(frame[col])
        bad = values.isna() | (values <= 0)
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy())[0])
            raw_cell = frame[col].iloc[k]
            where = frame.index[k]
            where = where.date() if isinstance(where, pd.Timestamp) else int(line[k])
            blank = str(raw_cell).strip() == ""
            what = "blank" if blank else repr(raw_cell.item() if hasattr(raw_cell, "item")
                                              else raw_cell)
            fix = "fill or remove that row"
            if "," in str(raw_cell) and not blank:
                fix = "write it with a decimal point (1234.56), not a decimal comma"
            elif k == 0 and isinstance(frame.index, pd.DatetimeIndex) and (~bad).any():
                # no price before some date: a ticker listed later (or delisted data)
                begins = frame.index[int(np.flatnonzero(~bad.to_numpy())[0])].date()
                if not bad.to_numpy()[np.flatnonzero(~bad.to_numpy())[0]:].any():
                    fix = (f"its prices begin on {begins}: start there (--start {begins}) "
                           "or remove the column")
            raise InputError(name, f"{p.name}: column {col!r}, row {where}: {what} "
                             "is not a price > 0", fix)
        frame[col] = values.astype(float).to_numpy()
    if len(frame) < 3:
        if start is not None or end is not None:
            raise InputError("--start/--end", f"leave {len(frame)} rows of {p.name}",
                             "widen the date range")
        raise InputError(name, f"{p.name} has {len(frame)} rows", "need at least 3")
    return frame


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden folder next to ``out`` to write a report into before :func:`publish` moves
    it into place: a refusal, an error or Ctrl-C half-way leaves ``out`` as it was (no
    half-written file, no mix of this run's and an earlier run's files, no empty folder).
    """
    from pyxl.cli import STAGE_PREFIX, _blocked

    parent = out.parent
    made = next((a for a in reversed((parent, *parent.parents)) if not a.exists()), None)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=parent))
    except OSError as err:
        raise _blocked(err, parent) from None
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made is not None and not out.exists():  # folders made for a run that failed
            for folder in (parent, *parent.parents):
                try:
                    folder.rmdir()
                except OSError:
                    break
                if folder == made:
                    break


def publish(stage: Path, out: Path, files) -> list[Path]:
    """Move the finished ``files`` from ``stage`` into ``out`` (renames, Ctrl-C held back)."""
    from pyxl.cli import _publish, _sigint_deferred

    with _sigint_deferred():
        return _publish(stage, out, list(files))


def partial_path(path: Path) -> Path:
    """The hidden name a file is written under until it is complete (then renamed)."""
    return path.with_name(f".{path.name}.partial")


def write_csv_atomic(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    """``frame.to_csv(path)`` through a temporary file renamed into place, so that an error
    or Ctrl-C while writing leaves no half-written CSV (an earlier one stays as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    try:
        frame.to_csv(tmp, **kwargs, **CSV_OUT)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _date(text: str | None, name: str) -> pd.Timestamp | None:
    if not text:
        return None
    try:
        return pd.Timestamp(text)
    except (ValueError, TypeError):
        raise InputError(name, f"{text!r} is not a date", "use YYYY-MM-DD") from None


def _floats(text: str, name: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(name, f"{text!r} is not a comma-separated list of numbers",
                         "e.g. 0.8,0.9,0.95") from None


def _load(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.Series | None]:
    if args.prices:
        start, end = _date(args.start, "--start"), _date(args.end, "--end")
        prices = read_price_csv(args.prices, start=start, end=end)
        bench = None
        if args.benchmark:
            b = read_price_csv(args.benchmark, "--benchmark", start=start, end=end)
            if b.shape[1] != 1:
                raise InputError("--benchmark", f"has {b.shape[1]} columns", "give one column")
            s = b.iloc[:, 0]
            if isinstance(prices.index, pd.DatetimeIndex) and isinstance(s.index,
                                                                        pd.DatetimeIndex):
                s = on_dates(s, prices.index, "--benchmark", Path(args.benchmark).name)
            elif len(s) != len(prices):
                raise InputError("--benchmark", f"has {len(s)} rows, prices {len(prices)}",
                                 "align the files")
            elif prices.attrs.get("reversed") and not s.attrs.get("reversed"):
                # no dates in the benchmark file: its rows follow the price file's rows,
                # which were newest first and have been put oldest first
                s = s.iloc[::-1]
            bench = s
    else:
        from pyxl.data import load_sp500_index, load_sp500_prices
        from pyxl.reports.mnvh import DEMO_START

        start = args.start or DEMO_START
        prices = load_sp500_prices(start, args.end)
        bench = load_sp500_index(start, args.end).reindex(prices.index)
    if len(prices) < 3:
        raise InputError("--start/--end", f"leave {len(prices)} rows", "widen the date range")
    note = frequency_note(prices.index, args.periods_per_year)
    if note:
        print(f"pyxl: note: {note}", file=sys.stderr)
    return prices, bench


#: Bars per year the note suggests, by the dates' typical spacing: daily (business days),
#: weekly, monthly, quarterly, yearly.
_FREQUENCIES = ((252, "daily"), (52, "weekly"), (12, "monthly"), (4, "quarterly"),
                (1, "yearly"))


def frequency_note(index: pd.Index | None, periods_per_year: int,
                   option: str = "--periods-per-year") -> str | None:
    """A note when the dates' spacing disagrees with ``--periods-per-year`` (default 252;
    ``pyxl scenarios`` passes its ``--periods``, default 12, as ``option``).

    The periods per year set the per-bar cash and borrow rates and annualise CAGR, vol,
    Sharpe and turnover, so monthly prices run as daily bars earned 1/21 of their interest
    and showed a CAGR over (T - 1) / 252 "years".  Dates about 30 days apart with 252
    (more than a factor of 2 from the frequency the median spacing implies, business-day
    weekends included) get a line suggesting the matching value; undated rows get none.

    Returns
    -------
    str or None
        The note, or None when the frequencies agree or the rows have no dates.
    """
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3 or periods_per_year <= 0:
        return None  # (a value <= 0 is the engine's to refuse, naming the option)
    gap = float(np.median(np.diff(index.values).astype("timedelta64[s]").astype(float)))
    gap /= 86_400.0  # days
    if gap <= 0:
        return None
    # business days: a median gap of 1 day (weekends make a few 3-day gaps) is 252 a year
    per_year = 252.0 if gap <= 1.5 else 365.25 / gap
    if max(per_year, periods_per_year) / min(per_year, periods_per_year) <= 2.0:
        return None
    ppy, word = min(_FREQUENCIES, key=lambda f: abs(np.log(f[0] / per_year)))
    return (f"the dates are {gap:.3g} days apart (median), {word} bars, but periods per "
            f"year is {periods_per_year}: every per-period conversion and annualised figure "
            f"assume {periods_per_year} bars a year; give {option} {ppy}")


def _beta(args: argparse.Namespace) -> float:
    """``--beta``, or the nav-mode default; with ``--beta-mode absolute`` (currency) it has
    no default, except for a grid whose ``--betas`` replace it."""
    from pyxl.core.mnvh import DEFAULT_BETA

    if args.beta is not None:
        return args.beta
    if args.beta_mode == "absolute" and not getattr(args, "betas", None):
        raise InputError("--beta", "has no default with --beta-mode absolute, where beta is "
                         "in currency", f"give --beta ({DEFAULT_BETA:g} x --cash0 starts at "
                         "the nav default's exposure)")
    return DEFAULT_BETA


#: The options of the strategy and cost settings, under the core's argument names.
_CONFIG_FLAGS = {name: "--" + name.replace("_", "-") for name in (
    "lam", "beta", "beta_mode", "cash0", "min_cash", "max_gross", "max_position",
    "drawdown_stop", "exec_lag", "lot_method", "fee_rate", "fixed_fee", "half_spread",
    "borrow_rate", "cash_rate", "debit_rate", "periods_per_year", "lot_size")}


def _lot_size(text: str | None, n_assets: int | None,
              hedge: bool) -> float | tuple[float, ...] | None:
    """``--lot-size``: None, one number, or a comma list (one per asset, and with a hedge
    one more for it, last)."""
    if text is None or not text.strip():
        return None
    try:
        v = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError("--lot-size", f"{text!r} is not a number or a comma list of numbers",
                         "e.g. 100 (shares per board lot)") from None
    if len(v) == 1:
        return v[0]
    if n_assets is not None and len(v) not in ((n_assets, n_assets + 1) if hedge
                                               else (n_assets,)):
        more = f" (or {n_assets + 1} with the hedge's last)" if hedge else ""
        raise InputError("--lot-size", f"has {len(v)} values for {n_assets} assets",
                         f"give one number (e.g. 100) or {n_assets} values{more}, one per "
                         "asset")
    return tuple(v)


def _config(args: argparse.Namespace, n_assets: int | None = None):
    from pyxl.commands import options_named
    from pyxl.core.mnvh.ablation import research_config

    # an error names the option typed (--debit-rate), not the core's argument
    with options_named(_CONFIG_FLAGS):
        return research_config(
            lam=args.lam, beta=_beta(args), beta_mode=args.beta_mode, cash0=args.cash0,
            min_cash=args.min_cash, max_gross=args.max_gross, max_position=args.max_position,
            drawdown_stop=args.drawdown_stop, exec_lag=args.exec_lag,
            lot_method=args.lot_method, fee_rate=args.fee_rate, fixed_fee=args.fixed_fee,
            half_spread=args.half_spread, borrow_rate=args.borrow_rate,
            cash_rate=args.cash_rate, debit_rate=args.debit_rate,
            periods_per_year=args.periods_per_year,
            lot_size=_lot_size(args.lot_size, n_assets,
                               getattr(args, "hedge", False) not in (False, "off")),
        )


def _scheme(text: str, n: int):
    from pyxl.core.mnvh.weights import SCHEMES

    if text.lower() in SCHEMES:
        return text.lower()
    w = np.array(_floats(text, "--weights"))
    if w.size != n:
        raise InputError("--weights", f"has {w.size} numbers for {n} assets",
                         f"give one of {', '.join(SCHEMES)} or {n} weights")
    return w


def _common(p: argparse.ArgumentParser) -> None:
    from pyxl.core.mnvh import DEFAULT_BETA, DEFAULT_LAM
    from pyxl.core.mnvh.ablation import DEFAULT_FEE_RATE, DEFAULT_HALF_SPREAD

    p.add_argument("prices", nargs="?", help="CSV of prices (dates first, tickers as header); "
                   "default: the bundled 20 S&P 500 stocks")
    p.add_argument("--benchmark", help="CSV with one column of benchmark prices (default with "
                   "bundled data: the S&P 500 index)")
    p.add_argument("--start", help="first date (YYYY-MM-DD)")
    p.add_argument("--end", help="last date (YYYY-MM-DD)")
    p.add_argument("-o", "--out", default="pyxl-out", help="output folder (default ./pyxl-out)")
    g = p.add_argument_group("strategy and costs")
    g.add_argument("--lam", type=float, default=DEFAULT_LAM,
                   help=f"inventory decay ({DEFAULT_LAM})")
    g.add_argument("--beta", type=float, default=None,
                   help=f"trading intensity (x NAV in nav mode, default {DEFAULT_BETA:g}; "
                   "currency in absolute mode, required)")
    g.add_argument("--beta-mode", choices=("nav", "absolute"), default="nav")
    g.add_argument("--cash0", type=float, default=1_000_000.0, help="starting cash (1e6)")
    g.add_argument("--min-cash", type=float, default=0.0, help="cash floor (0)")
    g.add_argument("--max-gross", type=float, default=None, help="gross cap, x NAV (none)")
    g.add_argument("--max-position", type=float, default=None,
                   help="per-position cap, fraction of NAV (none)")
    g.add_argument("--drawdown-stop", type=float, default=None, help="stop at this drawdown")
    g.add_argument("--exec-lag", type=int, choices=(0, 1), default=0)
    g.add_argument("--lot-method", choices=("fifo", "average"), default="fifo")
    g.add_argument("--fee-rate", type=float, default=DEFAULT_FEE_RATE,
                   help=f"commission, fraction of notional ({DEFAULT_FEE_RATE})")
    g.add_argument("--half-spread", type=float, default=DEFAULT_HALF_SPREAD,
                   help=f"half spread, fraction of price ({DEFAULT_HALF_SPREAD})")
    g.add_argument("--fixed-fee", type=float, default=0.0, help="per non-zero trade (0)")
    g.add_argument("--borrow-rate", type=float, default=0.0, help="annual, on shorts (0)")
    g.add_argument("--cash-rate", type=float, default=0.0, help="annual, on cash (0)")
    g.add_argument("--debit-rate", type=float, default=None,
                   help="annual, charged on negative cash (default: --cash-rate)")
    g.add_argument("--periods-per-year", type=int, default=252)
    g.add_argument("--lot-size", default=None,
                   help="board lot in shares, e.g. 100: positions in whole lots; one number "
                   "or a comma list, one per asset, 0 = fractional (default: fractional)")


def _grid_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("grid")
    g.add_argument("--lams", default="0.8,0.9,0.95", help="comma list (0.8,0.9,0.95)")
    g.add_argument("--betas", default=None, help="comma list (default beta/4, beta, 2*beta)")
    g.add_argument("--schemes", default="equal,invvol,markowitz", help="comma list of schemes")
    g.add_argument("--hedge", choices=("off", "on", "both"), default="both")
    g.add_argument("--throttle", choices=("off", "on", "both"), default="off")
    g.add_argument("--jobs", type=int, default=None, help="threads (default: all cores)")


def _grid_kw(args: argparse.Namespace, bench) -> dict:
    from pyxl.core.mnvh.weights import SCHEMES

    onoff = {"off": [False], "on": [True], "both": [False, True]}
    schemes = [s.strip().lower() for s in args.schemes.split(",") if s.strip()]
    for s in schemes:
        if s not in SCHEMES:
            raise InputError("--schemes", f"{s!r} is not one of {', '.join(SCHEMES)}", "fix it")
    hedges = onoff[args.hedge]
    if True in hedges and bench is None:
        if args.hedge == "on":
            raise InputError("--hedge", "needs a benchmark", "give --benchmark")
        print("pyxl: note: no --benchmark, so the grid has no hedged points "
              "(give --benchmark to include them)", file=sys.stderr)
        hedges = [False]
    if args.betas:
        betas = _floats(args.betas, "--betas")
    else:
        beta = _beta(args)
        betas = [beta / 4, beta, beta * 2]
    return {"lams": _floats(args.lams, "--lams"), "betas": betas, "schemes": schemes,
            "hedges": hedges, "throttles": onoff[args.throttle], "n_jobs": args.jobs}


def _cmd_backtest(args: argparse.Namespace) -> int:
    from pyxl.reports.mnvh import write_backtest_report

    prices, bench = _load(args)
    if args.hedge and bench is None:
        raise InputError("--hedge", "needs a benchmark", "give --benchmark")
    out = Path(args.out) / "mnvh"
    scheme = _scheme(args.weights, prices.shape[1])
    with staged(out) as stage:
        rep = write_backtest_report(prices, _config(args, prices.shape[1]), stage,
                                    scheme=scheme,
                                    benchmark=bench, hedge=args.hedge, throttle=args.throttle,
                                    xlsx=not args.no_xlsx)
        files = publish(stage, out, rep.files)
    print(f"\n{len(files)} files in {out.resolve()}")
    return 0


def _cmd_ablation(args: argparse.Namespace) -> int:
    from pyxl.core.mnvh.ablation import ablation_grid, ruined

    prices, bench = _load(args)
    kw = _grid_kw(args, bench)
    tab = ablation_grid(prices.to_numpy(float), _config(args, prices.shape[1]),
                        benchmark=None if bench is None else bench.to_numpy(float), **kw)
    path = write_csv_atomic(tab, Path(args.out) / "mnvh" / "ablation.csv", index=False,
                            float_format="%.6g")
    show = ["lam", "beta", "weights", "hedge", "throttle", "cagr", "sharpe", "max_drawdown",
            "turnover", "fee_gross", "avg_gross"]
    # the top 20 by Sharpe among points that kept some capital (a ruined run, NAV <= 0,
    # has a blank Sharpe)
    lost = ruined(tab["cagr"], tab["max_drawdown"])
    with pd.option_context("display.width", 160, "display.max_rows", 60):
        print(tab[~lost].sort_values("sharpe", ascending=False)[show].head(20)
              .to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    note = f", {int(lost.sum())} ruined (NAV <= 0) left out of the top 20" if lost.any() else ""
    print(f"\n{len(tab)} grid points{note} -> {path.resolve()}")
    return 0


def _cmd_walkforward(args: argparse.Namespace) -> int:
    from pyxl.core.metrics import METRICS
    from pyxl.core.mnvh.ablation import walk_forward

    prices, bench = _load(args)
    kw = _grid_kw(args, bench)
    wf = walk_forward(prices.to_numpy(float), _config(args, prices.shape[1]),
                      benchmark=None if bench is None else bench.to_numpy(float),
                      is_periods=args.is_periods, oos_periods=args.oos_periods,
                      anchored=args.anchored, criterion=args.criterion, **kw)
    out = Path(args.out) / "mnvh"
    folds = wf.folds.copy()
    folds.insert(1, "oos_first_date", prices.index[folds["oos_first"].to_numpy()])
    folds.insert(2, "oos_last_date", prices.index[folds["oos_last"].to_numpy()])
    path = write_csv_atomic(folds, out / "walkforward.csv", index=False, float_format="%.6g")
    path2 = write_csv_atomic(
        pd.DataFrame({"metric": list(wf.metrics), "label": [METRICS[k] for k in wf.metrics],
                      "oos": list(wf.metrics.values())}),
        out / "walkforward_oos_metrics.csv", index=False)
    cols = ["fold", "oos_first_date", "oos_last_date", "lam", "beta", "weights", "hedge",
            f"is_{args.criterion}", "sharpe", "cagr"]
    print(folds[cols].to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    print("\nOut-of-sample (chained folds):")
    from pyxl.reports.mnvh import format_table, ruin_note  # `pyxl backtest`'s units (%)

    print(format_table(pd.DataFrame({"out of sample": pd.Series(wf.metrics)})))
    ruin = ruin_note(wf.oos_nav, prices.index[wf.oos_rows], "the chained out-of-sample book")
    if ruin:
        print("\n" + ruin)
    print(f"\n-> {path.resolve()}\n-> {path2.resolve()}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``backtest``, ``ablation`` and ``walkforward``."""
    p = sub.add_parser("backtest", help="MNVH backtest with the full Ledger-SPT report")
    _common(p)
    p.add_argument("--weights", default="equal",
                   help="equal | invvol | markowitz | comma list of N weights (sum 1)")
    p.add_argument("--hedge", action="store_true", help="beta-neutral hedge in the benchmark")
    p.add_argument("--throttle", action="store_true", help="scale beta down when rho is low")
    p.add_argument("--no-xlsx", action="store_true", help="skip ledger.xlsx")
    p.set_defaults(func=file_errors(_cmd_backtest))

    p = sub.add_parser("ablation", help="MNVH metrics over a (lam, beta, weights, hedge) grid")
    _common(p)
    _grid_args(p)
    p.set_defaults(func=file_errors(_cmd_ablation))

    p = sub.add_parser("walkforward", help="MNVH walk-forward: choose in sample, report OOS")
    _common(p)
    _grid_args(p)
    p.add_argument("--is-periods", type=int, default=756, help="in-sample bars (756)")
    p.add_argument("--oos-periods", type=int, default=252, help="out-of-sample bars (252)")
    p.add_argument("--anchored", action="store_true", help="expanding in-sample window")
    p.add_argument("--criterion", choices=("sharpe", "sortino", "cagr", "calmar"),
                   default="sharpe")
    p.set_defaults(func=file_errors(_cmd_walkforward))
