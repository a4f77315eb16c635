"""Convert Excel-shaped values into validated numpy inputs, and results back.

Every adapter (formulas, macros, the workbook engine) goes through these
helpers, so a blank cell, a text cell, NaN or a shape mismatch produces the
same short message everywhere: ``"<argument>: <problem>; <fix>"``.

What arrives from Excel after xlwings' conversion with ``ndim=2``: a list of
row lists, ``None`` for blank cells, ``str`` for text, ``float``/``int``/``bool``
for values.  Direct Python callers (tests, the workbook engine) may also pass
numpy arrays, pandas objects or scalars; all are accepted.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pyxl.core.labels import date_order
from pyxl.errors import InputError, one_line
from pyxl.numparse import (
    UNDATED_FIX,
    WIDE_FORMS,
    dated_texts,
    is_code_row,
    is_date_word,
    numeric_dates,
    text_dates,
)
from pyxl.numparse import text_number as _text_number

__all__ = [
    "ERROR_PREFIX",
    "EXCEL_ERRORS",
    "check_date_rows",
    "refuse_dates_across",
    "trim_range",
    "drop_date_column",
    "oldest_first_rows",
    "excel_formula",
    "has_header_row",
    "is_date",
    "excel_error_text",
    "is_excel_error",
    "is_missing",
    "is_text",
    "to_bool",
    "to_choice",
    "to_float",
    "to_int",
    "to_labelled_matrix",
    "to_matrix",
    "to_text",
    "to_vector",
    "vector_like",
    "table",
    "xl_arg",
]

ERROR_PREFIX = "#PyXL! "
#: Longest text a formula returns for an error (see :func:`excel_formula`).
MAX_ERROR_CHARS = 255

F = TypeVar("F", bound=Callable[..., Any])

#: What an Excel error cell reads as with xlwings' ``err_to_str=True`` (see :func:`xl_arg`).
EXCEL_ERRORS = frozenset({
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
    "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#BUSY!", "#CONNECT!",
    "#PYTHON!",
})


#: COM passes an error cell as its SCODE, ``0x800A0000 + n`` (a negative int in Python) with
#: ``n`` the XlCVError number.  xlwings' ``err_to_str`` maps the seven classic errors to
#: their text but passes the newer ones (#SPILL! 2045, #CALC!, #FIELD!, ...) on as that
#: int, which would otherwise read as the number -2146826243.  Numbers never arrive as
#: Python ints from Excel (COM sends doubles), so such an int is an error cell.
_SCODE_BASE = -2146828288  # 0x800A0000 as a signed 32-bit int
_XL_ERRORS = {2000: "#NULL!", 2007: "#DIV/0!", 2015: "#VALUE!", 2023: "#REF!",
              2029: "#NAME?", 2036: "#NUM!", 2042: "#N/A", 2045: "#SPILL!"}


def excel_error_text(value: Any) -> str | None:
    """The text of an Excel error cell (``"#N/A"``; ``"#SPILL!"`` or ``"#ERROR 2050"`` for
    an error xlwings passes on as its COM code), or None for any other value."""
    if isinstance(value, str):
        return value.strip() if value.strip().upper() in EXCEL_ERRORS else None
    if type(value) is int and 2000 <= value - _SCODE_BASE <= 2300:
        n = value - _SCODE_BASE
        return _XL_ERRORS.get(n, f"#ERROR {n}")
    return None


def is_excel_error(value: Any) -> bool:
    """True for an Excel error cell: its text (``"#N/A"``, ``"#DIV/0!"`` ...) or the COM
    code xlwings passes on for the newer errors (see :func:`excel_error_text`)."""
    return excel_error_text(value) is not None


def xl_arg(name: str, **options: Any) -> Callable[[F], F]:
    """``@xw.arg(name, ...)`` with ``err_to_str=True``: every formula argument declares it.

    By default xlwings reads an Excel error cell (``#N/A``, ``#DIV/0!``) as ``None``,
    the same as a blank cell, so an error in an optional argument silently meant its
    default.  With ``err_to_str`` the error arrives as its text and the converters
    below answer it with a line naming the argument.
    """
    import xlwings as xw

    return xw.arg(name, err_to_str=True, **options)


def excel_formula(func: F) -> F:
    """Turn exceptions into one short line shown in the cell.

    :class:`~pyxl.errors.InputError` becomes ``"#PyXL! arg: problem; fix"``.
    Any other exception becomes ``"#PyXL! internal error: <type>: <message>"``
    cut to one line, never a traceback.  Both are at most :data:`MAX_ERROR_CHARS`
    characters (strings longer than 255 characters passed from VBA, which the
    xlwings wrappers are, may be cut or refused by Excel: Microsoft KB 213841);
    line breaks from cell text (Alt+Enter in a ticker) become spaces, and an
    over-long problem is shortened so that the argument and the fix stay.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as err:
            return _input_error_line(err)
        except Exception as err:  # noqa: BLE001 - a cell must never show a traceback
            text = str(err).splitlines()[0] if str(err) else ""
            return f"{ERROR_PREFIX}internal error: {type(err).__name__}: {text}"[:MAX_ERROR_CHARS]

    return wrapper  # type: ignore[return-value]


def _input_error_line(err: InputError) -> str:
    """``"#PyXL! arg: problem; fix"`` on one line of at most :data:`MAX_ERROR_CHARS`."""
    text = ERROR_PREFIX + one_line(str(err))
    if len(text) <= MAX_ERROR_CHARS:
        return text
    arg = one_line(getattr(err, "arg", ""))
    problem = one_line(getattr(err, "problem", str(err)))
    fix = one_line(getattr(err, "fix", ""))
    tail = f" ...; {fix}" if fix else " ..."
    room = MAX_ERROR_CHARS - len(ERROR_PREFIX) - len(arg) - 2 - len(tail)
    if room < 20:  # a fix too long to keep whole: plain cut
        return text[:MAX_ERROR_CHARS]
    return f"{ERROR_PREFIX}{arg}: {problem[:room].rstrip()}{tail}"


def is_missing(value: Any) -> bool:
    """True for an omitted argument or a blank cell (None, "", or an all-blank range)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):
        return all(is_missing(v) for v in value)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return all(is_missing(v) for v in value.ravel())
        return value.size == 0
    return False


def _rows(value: Any) -> list[list[Any]]:
    """Normalise a scalar, 1-D or 2-D value to a list of row lists."""
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return [[value.item()]]
        if value.ndim == 1:
            return [list(value)]
        if value.ndim == 2:
            return [list(r) for r in value]
        raise InputError("value", f"has {value.ndim} dimensions", "pass a 2-D range")
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            return []
        if all(isinstance(r, (list, tuple, np.ndarray)) for r in value):
            return [list(r) for r in value]
        return [list(value)]
    return [[value]]


def text_number(text: str) -> float:
    """The number a text cell holds (Excel's ``VALUE``); ValueError when none.

    The rule is :func:`pyxl.numparse.text_number`, which the CLI readers apply to CSV
    cells too (before, each kept its own copy and the CLI refused full-width digits
    and read ``inf`` as a number).

    A comma is read only as a thousands separator in groups of three (``1,234.5``): a
    text such as ``0,9`` or ``10,5`` is a decimal comma (or a typo), and dropping the
    comma, as this did before, read it as 9 or 105 without a word; likewise
    ``1.234,56`` (a German price) became 1.23456.  Both are now not numbers, and
    :func:`_cell_to_float` says which fix applies.

    Full-width digits typed by a Japanese IME (``１２３．５``) are read as the number
    they show, as Japanese Excel's ``VALUE`` reads them (before, ``１２３`` was read and
    ``１２３．５`` refused).  Texts that Python's ``float`` reads but Excel's ``VALUE``
    does not are not numbers: ``nan``, ``inf``, ``Infinity`` (they passed every range
    check as NaN and gave blank results), ``1e999`` (overflow) and ``1_000``.  A
    percentage (``5%``, ``5.2 %``) is its decimal, 0.05 and 0.052, as Excel's ``VALUE``
    reads it and as the CLI readers read ``5.2%`` in a CSV (before, it was refused here).
    """
    x = _text_number(text)
    if math.isnan(x):
        raise ValueError(f"{text!r} is not a number")
    return x


def is_text(cell: Any) -> bool:
    """Text that is not a number (a name, a text date such as '2013-01'); not an error."""
    if not isinstance(cell, str) or not cell.strip() or is_excel_error(cell):
        return False
    try:
        text_number(cell)
    except ValueError:
        return True
    return False


def is_date(cell: Any) -> bool:
    """A date cell (xlwings gives dates as ``datetime``; pandas and numpy dates too)."""
    return isinstance(cell, (_dt.date, np.datetime64))  # pd.Timestamp is a datetime


def _is_label(cell: Any) -> bool:
    """A date cell or a text label: what a date or label column holds."""
    return is_date(cell) or is_text(cell)


def trim_range(value: Any) -> Any:
    """The range without its trailing blank rows and trailing blank columns.

    A whole-column reference (``=MNVH_BACKTEST(Prices!A:K)``) arrives as 1,048,576 rows,
    nearly all blank, and a range drawn a little too large has blank rows under the data
    and blank columns to its right; they are dropped here.  Only the trailing ones: a
    blank row or column inside the data stays, so that its error names it.  A column is
    dropped only when every cell of it, the header's included, is blank.  Values that
    are not a list of rows (numpy arrays, DataFrames, scalars) are returned unchanged,
    as is a range that is blank everywhere (its caller says it is empty).

    Parameters
    ----------
    value : range value
        What xlwings passes for a range with ``ndim=2``: a list or tuple of row lists.

    Returns
    -------
    list of list or the value unchanged
    """
    if not isinstance(value, (list, tuple)) or not value or not all(
            isinstance(r, (list, tuple)) for r in value):
        return value
    end = len(value)
    while end:
        row = value[end - 1]
        # count(None) is a C loop: a whole column of blank rows trims in a fraction of a second
        if row.count(None) != len(row) and not all(is_missing(c) for c in row):
            break
        end -= 1
    if end == 0:
        return value
    rows = [list(r) for r in value[:end]]
    width = max(len(r) for r in rows)
    keep = width
    while keep > 1 and all(len(r) < keep or is_missing(r[keep - 1]) for r in rows):
        keep -= 1
    if keep < width:
        rows = [r[:keep] for r in rows]
    return rows


def _text_date(cell: Any) -> bool:
    """Text that reads as a date with a year >= 1800 (``2024-01-31``, ``2024年1月31日``;
    not ``t1`` or ``May``, which dateutil reads as other years)."""
    if not is_text(cell):
        return False
    stamp = text_dates([cell])[0]
    return stamp is not pd.NaT and not pd.isna(stamp) and stamp.year >= 1800


def _dated(cell: Any, numbers_are_dates: bool) -> bool:
    """A date cell, a text date, or (under a date word) a number such as 20240131."""
    if is_date(cell):
        return True
    if _is_number(cell):
        return numbers_are_dates
    return _text_date(cell)


def _dated_column(cells: Sequence[Any], numbers_are_dates: bool) -> list[bool]:
    """:func:`_dated` of every cell, with the text cells parsed together
    (:func:`pyxl.numparse.dated_texts`, a few calls): one call per cell took 0.6 s on
    2,520 text dates."""
    texts = [c for c in cells if is_text(c)]
    # each text date in its own format: 15/01/2024 under 02/01/2024 is a date too
    stamps = iter(dated_texts(texts))
    out = []
    for c in cells:
        if is_date(c):
            out.append(True)
        elif _is_number(c):
            out.append(numbers_are_dates)
        elif is_text(c):
            out.append(bool(next(stamps)))
        else:
            out.append(False)
    return out


def check_date_rows(body: Sequence[Sequence[Any]], name: str, *,
                    numbers_are_dates: bool = False) -> None:
    """Refuse a row without a date in a first column that holds dates.

    A total or average row typed under the prices (``Average`` in the date column, or a
    blank date cell beside ``=AVERAGE(...)`` figures) was read as one more bar; worse,
    the cell that is not a date made the date-order check give up, so a table newest
    first was then run backwards in time.  When more than half of the first column's
    cells are dates, a row that has numbers but no date is refused, naming it (rows
    counted from the first data row, as every message of the range counts them).  A
    fully blank row, or one holding text (a second header row), is left to the number
    conversion, which names its first bad cell.

    Parameters
    ----------
    body : sequence of rows
        The rows under the header row, date column first.
    name : str
        Argument name for the message.
    numbers_are_dates : bool
        The header's first cell is a date word (``Date``, ``日付``): whole numbers in the
        column (20240131, Excel serials) are dates.
    """
    first = [r[0] if len(r) else None for r in body]
    dated = _dated_column(first, numbers_are_dates)
    if sum(dated) < 2 or 2 * sum(dated) <= len(first):
        return
    for i, (cell, ok) in enumerate(zip(first, dated, strict=True)):
        rest = body[i][1:]
        if ok or all(is_missing(c) for c in rest) or any(is_text(c) for c in rest):
            continue  # a blank row or a second header row: the conversion names its cell
        what = "a blank cell" if is_missing(cell) else f"{str(cell)[:20]!r}"
        raise InputError(name, f"row {i + 1} has {what} in the date column", UNDATED_FIX)


def refuse_dates_across(value: Any, name: str) -> None:
    """Raise when dates run across the first row: a table with one row per asset.

    Read as dates down and assets across, such a table gives a few "periods" of many
    "assets" and wrong figures without a word (``=MNVH_BACKTEST`` over 4 tickers x 60
    dates laid out sideways reported 3 periods of 60 assets).  The sign: at least two
    cells after the first cell of the first row, all of them filled, are dates, and the
    first column holds no date (nor a date word such as ``Date`` in its first cell):
    columns named by dates over a date column (futures by expiry month) are a normal table.
    """
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        return
    rows = _rows(value)
    cells = rows[0][1:]
    if (len(cells) >= 2 and all(not is_missing(c) and _dated(c, False) for c in cells)
            and not is_date_word(rows[0][0])
            and not any(r and _dated(r[0], False) for r in rows[1:])):
        raise InputError(name, "has dates across its first row (one row per asset)",
                         "give one row per date and one column per asset: transpose the "
                         "range, e.g. =TRANSPOSE(...)")


def drop_date_column(value: Any, name: str | None = None) -> Any:
    """The range without its first column when that column holds dates or row labels.

    A returns table is often selected with its date column (as ``=MNVH_BACKTEST``'s
    prices and ``pyxl scenarios``' CSVs may be).  The first column is dropped when the
    range has at least two columns and every filled cell of it, below a header cell
    (text or blank) if the range has one, is a date or non-numeric text; a column of
    numbers with a stray text cell is data and kept, so its error names the cell.
    With ``name`` (the argument's name), a dropped column of dates is checked by
    :func:`check_date_rows`: a total row under the data is refused, not read as data.
    """
    if is_missing(value) or not isinstance(value, (list, tuple, np.ndarray)):
        return value
    rows = _rows(value)
    if len(rows) < 2 or min(len(r) for r in rows) < 2:
        return value
    first = [r[0] for r in rows]
    header_cell = first[0] is None or isinstance(first[0], str)
    body = first[1:] if header_cell else first
    filled = [c for c in body if not is_missing(c)]
    # under a date word (Date, 日付, 年月) whole numbers are dates too: 20240104, 202401 or
    # Excel serials of a date column formatted as General
    dated = (is_date_word(first[0])
             and all(_is_number(c) and math.isfinite(c) and float(c) == int(c) for c in filled))
    if filled and (dated or all(_is_label(c) for c in filled)):
        if name is not None:
            # the first row is data when it starts with a date (no header row)
            head = first[0] is None or (isinstance(first[0], str) and not _text_date(first[0]))
            check_date_rows(rows[1:] if head else rows, name,
                            numbers_are_dates=is_date_word(first[0]))
        out = [r[1:] for r in rows]
        if header_cell and _is_code_header(out[0]):
            # numeric ticker codes (7203, 6758) over the date column's header cell: a
            # header row, which would otherwise be read as a row of 720,300 % returns
            out[0] = [c if isinstance(c, str) else str(int(c)) for c in out[0]]
        return out
    return value


def oldest_first_rows(value: Any, name: str) -> Any:
    """The range with its rows oldest first when its first column is a date column.

    When :func:`drop_date_column` would drop the first column and every filled cell of
    it (below a header cell) is a date (a date cell, a text date, or a whole number
    under a date word: 20240131), rows newest first are reversed (the header row kept
    on top) and rows out of date order are refused naming ``name``; any other range is
    returned as it is.  ``pyxl scenarios`` reads a dated CSV the same way.
    """
    if drop_date_column(value, name) is value:
        return value
    rows = _rows(value)
    # a header cell is blank or text that is not a date: a first cell holding a text date
    # (2024-01-31, 2024年1月31日) is the first row of data of a range without a header row
    header = rows[0][0] is None or (isinstance(rows[0][0], str)
                                    and not _text_date(rows[0][0]))
    body = rows[1:] if header else rows
    cells = [r[0] for r in body]
    if len(cells) < 2 or any(is_missing(c) for c in cells):
        return value
    if all(_is_number(c) for c in cells):
        idx = numeric_dates(cells) if header and is_date_word(rows[0][0]) else None
    else:
        idx = text_dates(cells)
    if idx is None or idx.isna().any():
        return value
    order = date_order(idx)
    if order == "oldest first":
        return value
    if order == "newest first":
        return ([rows[0]] if header else []) + body[::-1]
    raise InputError(name, "dates in the first column are not in order",
                     "sort the range by date, oldest first")


def _is_code_header(row: list[Any]) -> bool:
    """True when ``row`` holds numeric ticker codes (whole numbers >= 1000), possibly
    beside text tickers, and nothing else."""
    codes = [c for c in row if _is_number(c)]
    return (bool(codes) and all(_is_number(c) or is_text(c) for c in row)
            and is_code_row(codes))


def _cell_to_float(cell: Any, name: str, where: str) -> float:
    if cell is None or (isinstance(cell, str) and cell.strip() == ""):
        raise InputError(name, f"blank cell at {where}", "fill it or shrink the range")
    if isinstance(cell, (bool, np.bool_)):
        # Excel's SUM skips TRUE/FALSE in a range; reading them as 1/0 would turn a
        # stray TRUE into a price of 1 or a 100 % fee
        raise InputError(name, f"{str(bool(cell)).upper()} at {where}", "enter a number")
    if is_excel_error(cell):
        raise InputError(name, f"error value {excel_error_text(cell)} at {where}",
                         "fix that cell or its formula")
    if isinstance(cell, str):
        if cell.startswith(ERROR_PREFIX):
            # another PyXL formula's error passed on: point at that cell, not at "text"
            upstream = cell[len(ERROR_PREFIX):].split(";")[0].strip()
            raise InputError(
                name, f"{where} shows another formula's error ({upstream[:60]})",
                "fix that cell first",
            )
        try:
            return text_number(cell)
        except ValueError:
            if "," in cell:
                try:  # a decimal comma: name the number meant
                    meant = float(cell.translate(WIDE_FORMS).strip().replace(".", "")
                                  .replace(",", "."))
                except ValueError:
                    pass
                else:
                    raise InputError(
                        name, f"text {cell[:20]!r} at {where} has a decimal comma",
                        f"enter {meant:g} with a decimal point") from None
            raise InputError(
                name, f"text {cell[:20]!r} at {where}", "enter a number"
            ) from None
    try:
        x = float(cell)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond 1.8e308
        raise InputError(name, f"not a number at {where}", "enter a number") from None
    if math.isnan(x):
        raise InputError(name, f"NaN or error value at {where}", "enter a number")
    if math.isinf(x):
        raise InputError(name, f"infinite value at {where}", "enter a finite number")
    return x


def _is_number(cell: Any) -> bool:
    """A number cell (not TRUE/FALSE; text such as a ticker "7203" is not a number here)."""
    return (isinstance(cell, (int, float, np.number)) and not isinstance(cell, (bool, np.bool_))
            and not is_excel_error(cell))


def _where(i: int, j: int, nrows: int, ncols: int) -> str:
    if nrows == 1 and ncols == 1:
        return "the cell"
    if nrows == 1:
        return f"column {j + 1}"
    if ncols == 1:
        return f"row {i + 1}"
    return f"row {i + 1}, column {j + 1}"


def _check_sign(arr: np.ndarray, name: str, positive: bool, nonnegative: bool) -> None:
    """Raise on the first value that is not > 0 (``positive``) or is < 0 (``nonnegative``).

    The cell is named as for a text or blank cell: ``row i, column j`` of a 2-D range
    (``row i`` / ``column j`` when it is one column / one row, ``the cell`` for one
    cell, see :func:`_where`), and ``item k`` of a 1-D vector, as :func:`to_vector`
    names its cells.  NaN (a blank allowed in a vector) is neither.
    """
    for on, fails, problem, fix in (
            (positive, np.less_equal, "is not > 0", "enter strictly positive values"),
            (nonnegative, np.less, "is negative", "enter values >= 0")):
        if not on:
            continue
        hit = fails(arr, 0)
        if not np.any(hit):
            continue
        k = int(np.argmax(hit.ravel()))
        if arr.ndim == 2:
            i, j = divmod(k, arr.shape[1])
            where = _where(i, j, arr.shape[0], arr.shape[1])
        else:
            where = f"item {k + 1}"
        raise InputError(name, f"value {arr.ravel()[k]:g} at {where} {problem}", fix)


#: Cell types converted in one numpy call (bool is not among them: TRUE is refused).
_NUMBER_TYPES = frozenset({float, int, np.float64, np.int64, np.float32, np.int32})


def _all_numbers(rows: list[list[Any]]) -> np.ndarray | None:
    """The range as a float array when every cell is a finite number, else None.

    The common case (a range of numbers) in one numpy call: 2520 x 200 prices convert in
    about 30 ms instead of 0.4 s cell by cell, so an unchanged range recalculates from
    the cache at once.  Anything else (blank, text, TRUE, NaN, inf) returns None and
    the caller converts cell by cell to name the first bad cell.
    """
    types = _NUMBER_TYPES
    if not all(type(c) in types for r in rows for c in r):
        return None
    try:
        out = np.array(rows, dtype=float)
    except (OverflowError, ValueError):  # an int beyond double range: named cell by cell
        return None
    if out.ndim != 2 or not np.isfinite(out).all():
        return None
    if np.any((out >= _SCODE_BASE + 2000) & (out <= _SCODE_BASE + 2300)):
        return None  # maybe an error cell's COM code (an int): decided cell by cell
    return out


def to_matrix(
    value: Any,
    name: str,
    *,
    shape: tuple[int | None, int | None] | None = None,
    min_rows: int = 1,
    min_cols: int = 1,
    positive: bool = False,
    nonnegative: bool = False,
    drop_blank_rows: bool = True,
) -> np.ndarray:
    """Convert a 2-D range to a float matrix, rejecting blanks, text and NaN.

    Parameters
    ----------
    value : range value
        List of row lists (Excel), array, DataFrame or scalar.
    name : str
        Argument name used in the error message.
    shape : (rows, cols), optional
        Required shape; ``None`` in either slot means any.
    min_rows, min_cols : int
        Minimum size.
    positive, nonnegative : bool
        Require every value > 0 (prices) or >= 0 (variances).
    drop_blank_rows : bool
        Trailing entirely blank rows (a range drawn too long) are dropped
        instead of rejected.

    Returns
    -------
    numpy.ndarray
        2-D float64 array.
    """
    if is_missing(value):
        raise InputError(name, "is empty", "select a range of numbers")
    rows = _rows(value)
    if drop_blank_rows:
        while rows and is_missing(rows[-1]):
            rows.pop()
    nrows = len(rows)
    ncols = max(len(r) for r in rows)
    if any(len(r) != ncols for r in rows):
        raise InputError(name, "rows have different lengths", "select a rectangular range")
    out = _all_numbers(rows)
    if out is None:  # a cell to refuse (or text holding a number): cell by cell, naming it
        out = np.empty((nrows, ncols))
        for i, r in enumerate(rows):
            for j, cell in enumerate(r):
                out[i, j] = _cell_to_float(cell, name, _where(i, j, nrows, ncols))
    if nrows < min_rows:
        raise InputError(name, f"has {nrows} rows, needs at least {min_rows}", "select more rows")
    if ncols < min_cols:
        raise InputError(
            name, f"has {ncols} columns, needs at least {min_cols}", "select more columns"
        )
    if shape is not None:
        want_r, want_c = shape
        if (want_r is not None and nrows != want_r) or (want_c is not None and ncols != want_c):
            if want_r is None:
                want = f"{want_c} columns (any number of rows)"
            elif want_c is None:
                want = f"{want_r} rows (any number of columns)"
            else:
                want = f"{want_r}x{want_c}"
            raise InputError(
                name, f"is {nrows}x{ncols}, expected {want}", "resize the range"
            )
    _check_sign(out, name, positive, nonnegative)
    return out


def to_labelled_matrix(
    value: Any, name: str, **kwargs: Any
) -> tuple[np.ndarray, list[str] | None]:
    """Like :func:`to_matrix`, but a first row of text, or of numeric ticker codes (whole
    numbers >= :data:`~pyxl.numparse.CODE_MIN`, e.g. 7203), is taken as column labels.

    A first column of dates or text (an index column) is not accepted here;
    callers strip it if they allow it.
    """
    if is_missing(value):
        raise InputError(name, "is empty", "select a range of numbers")
    rows = _rows(value)
    labels = None
    if has_header_row(rows):
        if any(_is_number(c) for c in rows[0]):  # numeric ticker codes (7203, 6758)
            labels = [c.strip() if isinstance(c, str) else str(int(c)) for c in rows[0]]
        else:
            labels = [str(c).strip() if c is not None else "" for c in rows[0]]
        rows = rows[1:]
    return to_matrix(rows, name, **kwargs), labels


def has_header_row(rows: Sequence[Sequence[Any]]) -> bool:
    """True when :func:`to_labelled_matrix` takes the first of ``rows`` for column labels.

    A header is a row of labels: a first row that also holds numbers is data with a
    typo in it, and taking it for labels would silently drop that row.  Numeric ticker
    codes (7203, 6758) typed as numbers are a header too: no return, weight or
    covariance is a whole number >= 1,000 (100,000 %).
    """
    if not rows:
        return False
    first = list(rows[0])
    if (any(isinstance(c, str) and c.strip() and not is_excel_error(c) for c in first)
            and not any(_is_number(c) for c in first)):
        return True
    return len(rows) > 1 and _is_code_header(first)


def to_vector(
    value: Any,
    name: str,
    *,
    length: int | None = None,
    positive: bool = False,
    nonnegative: bool = False,
    allow_blank: bool = False,
) -> np.ndarray:
    """Convert a row, a column or a single cell into a 1-D float vector.

    Parameters
    ----------
    allow_blank : bool
        Blank cells become NaN instead of an error (for "blank means no limit").
    """
    if is_missing(value) and not allow_blank:
        raise InputError(name, "is empty", "select a row or column of numbers")
    rows = _rows(value)
    nrows, ncols = len(rows), max((len(r) for r in rows), default=0)
    if nrows > 1 and ncols > 1:
        raise InputError(name, f"is {nrows}x{ncols}", "select a single row or column")
    flat = [c for r in rows for c in r]
    out = np.empty(len(flat))
    for k, cell in enumerate(flat):
        if allow_blank and (cell is None or (isinstance(cell, str) and not cell.strip())):
            out[k] = np.nan
        else:
            out[k] = _cell_to_float(cell, name, f"item {k + 1}")
    if length is not None and out.size != length:
        raise InputError(
            name, f"has {out.size} values, expected {length}", "match the number of assets"
        )
    # on the vector itself (NaN, a blank allowed, is neither < 0 nor <= 0), so the
    # item named is the cell's own number
    _check_sign(out, name, positive, nonnegative)
    return out


def _single_cell(value: Any, name: str) -> Any:
    """The value of a one-cell argument; a range of several cells is refused."""
    if isinstance(value, (list, tuple, np.ndarray)):
        rows = _rows(value)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise InputError(name, "must be a single cell", "select one cell")
        value = rows[0][0]
    return value


def to_float(
    value: Any,
    name: str,
    *,
    default: float | None = None,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    fix: str = "change the value",
) -> float:
    """Convert a single cell to a float in [lo, hi] (or open bounds).

    A blank or omitted argument takes ``default``; without a default it is an error.
    ``fix`` is the advice given when the value is outside the bounds.
    """
    value = _single_cell(value, name)
    if is_missing(value):
        if default is None:
            raise InputError(name, "is blank", "enter a number")
        return float(default)
    x = _cell_to_float(value, name, "the cell")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        op = ">" if lo_open else ">="
        raise InputError(name, f"must be {op} {lo:g}, got {x:g}", fix)
    if hi is not None and (x > hi or (hi_open and x == hi)):
        op = "<" if hi_open else "<="
        raise InputError(name, f"must be {op} {hi:g}, got {x:g}", fix)
    return x


def to_int(
    value: Any, name: str, *, default: int | None = None, lo: int | None = None,
    hi: int | None = None,
) -> int:
    """Convert a single cell to an integer (a float must be whole)."""
    x = to_float(value, name, default=None if default is None else float(default), lo=lo, hi=hi)
    if x != int(x):
        raise InputError(name, f"must be a whole number, got {x:g}", "enter an integer")
    return int(x)


_TRUE = {"true", "yes", "y", "1", "on", "はい"}
_FALSE = {"false", "no", "n", "0", "off", "いいえ"}


def to_bool(value: Any, name: str, *, default: bool) -> bool:
    """Convert TRUE/FALSE, 1/0 or yes/no to bool; blank takes the default."""
    value = _single_cell(value, name)
    if is_missing(value):
        return default
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.number)):
        if value in (0, 1):
            return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InputError(name, f"{value!r} is not TRUE or FALSE", "enter TRUE or FALSE")


def to_text(value: Any, name: str, *, default: str | None = None) -> str:
    """A single text cell, stripped; blank takes the default."""
    value = _single_cell(value, name)
    if is_missing(value):
        if default is None:
            raise InputError(name, "is blank", "enter a value")
        return default
    if is_excel_error(value):
        raise InputError(name, f"shows the error {excel_error_text(value)}",
                         "fix that cell or its formula")
    return str(value).strip()


def to_choice(value: Any, name: str, choices: Sequence[str], *, default: str) -> str:
    """A text cell that must be one of ``choices`` (case-insensitive)."""
    text = to_text(value, name, default=default).lower()
    lookup = {c.lower(): c for c in choices}
    if text not in lookup:
        raise InputError(name, f"{text!r} is not one of {', '.join(choices)}", "pick one")
    return lookup[text]


def vector_like(result: np.ndarray, template: Any) -> list[list[float]]:
    """Shape a 1-D result as a column, or as a row when ``template`` was a row.

    Formulas that take a vector argument answer in the same orientation, so
    ``=MNVH_STEP(B2:F2, ...)`` spills across and ``=MNVH_STEP(B2:B6, ...)`` down.
    """
    rows = _rows(template) if not is_missing(template) else [[None]]
    is_row = len(rows) == 1 and len(rows[0]) > 1
    res = np.asarray(result, dtype=float).ravel()
    if is_row:
        return [res.tolist()]
    return [[v] for v in res.tolist()]


def table(labels: Sequence[str], values: Sequence[Any], header: Sequence[str] | None = None
          ) -> list[list[Any]]:
    """A two-or-more column table with labels in the first column.

    ``values`` is a sequence of scalars (one value column) or of sequences
    (several value columns).  NaN stays NaN: the xlwings engine writes it as
    a blank cell.
    """
    out: list[list[Any]] = []
    if header is not None:
        out.append(list(header))
    for lab, val in zip(labels, values, strict=True):
        if isinstance(val, (list, tuple, np.ndarray)):
            out.append([lab, *[_py(v) for v in val]])
        else:
            out.append([lab, _py(val)])
    return out


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v
