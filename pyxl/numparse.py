"""Reading numbers and header labels from CSV text and cells: exact floats on every
supported pandas, and the header rules (date-column words, numeric ticker codes) that the
CLI readers and the Excel formulas share.

Excel, Python's ``float()`` and pandas 3 turn the text ``0.07350227158742713``
into the nearest double.  pandas before 3.0 parses CSV numbers (``read_csv``'s
default C parser and ``to_numeric`` on text) with a faster routine that is often
one unit in the last place off: 93 % of 100,000 random 17-digit returns with
pandas 2.2.  The error is ~1e-17 relative, far below a yen, but it breaks the
promise that a CSV run through the CLI gives the same bits as the same numbers
typed into the Excel formula.  Every CSV reader of PyXL goes through here.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import unicodedata
import warnings

import numpy as np
import pandas as pd

__all__ = ["EXACT_CSV", "CSV_ENCODINGS", "CSV_OUT", "read_csv", "to_numbers", "DATE_HEADERS",
           "CODE_MIN", "is_code_row", "is_date_word", "jp_date_text", "numeric_dates",
           "text_dates"]

#: Keyword arguments for ``pd.read_csv`` that make it parse numbers exactly: the
#: round-trip parser before pandas 3.0; nothing from 3.0 on, where it is the default
#: and the option is deprecated.
EXACT_CSV: dict[str, str] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {})


#: Encodings a CSV is tried in, in order: UTF-8 (with or without the BOM Excel's "CSV
#: UTF-8" writes), cp932 (Shift-JIS: what Excel's plain "CSV" writes on Japanese Windows,
#: e.g. a header 日付,トヨタ), cp1252 (the same on Western Windows).  Japanese text is
#: never valid UTF-8 by accident, so the first that decodes is the file's encoding.
CSV_ENCODINGS = ("utf-8-sig", "cp932", "cp1252")


#: Keyword arguments for the CSV files PyXL writes: UTF-8 with a BOM, so that Excel (which
#: reads a CSV without one in the system code page, cp932 on Japanese Windows) shows
#: Japanese tickers as written; pandas and :func:`read_csv` skip the BOM.
CSV_OUT: dict[str, str] = {"encoding": "utf-8-sig"}


def read_csv(path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with numbers parsed exactly (:data:`EXACT_CSV`, unless ``dtype=str``)
    and the encoding found among :data:`CSV_ENCODINGS`.

    Raises
    ------
    UnicodeDecodeError
        When no encoding decodes the file (the UTF-8 error, which names the byte).
    """
    if kwargs.get("dtype") is not str:
        kwargs = {**EXACT_CSV, **kwargs}
    first = None
    for enc in CSV_ENCODINGS:
        try:
            return pd.read_csv(path, encoding=enc, **kwargs)
        except UnicodeDecodeError as err:
            first = first or err
    raise first


def to_numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``, with text parsed to the nearest double.

    Parameters
    ----------
    values : pandas.Series
        Cells read from a CSV (text, numbers or blanks).

    Returns
    -------
    pandas.Series
        Numbers, NaN where a cell is not a number (as ``to_numeric`` decides).
    """
    num = pd.to_numeric(values, errors="coerce")
    if not EXACT_CSV or values.dtype != object:
        return num
    raw = values.to_numpy()
    ok = num.notna().to_numpy() & np.array([isinstance(v, str) for v in raw], dtype=bool)
    if not ok.any():
        return num
    out = num.to_numpy(dtype=float, copy=True)
    for k in np.flatnonzero(ok):
        try:
            out[k] = float(raw[k])
        except ValueError:  # a form to_numeric reads and float() does not: keep pandas' value
            pass
    return pd.Series(out, index=values.index, name=values.name)


#: First-cell texts of a header row above a date or label column (``=MNVH_BACKTEST``, the
#: returns ranges of ``=MBB_RECOLOR`` / ``=KELLY_SCENARIO`` and the CLI's CSVs).
DATE_HEADERS = frozenset({"", "date", "dates", "time", "datetime", "timestamp", "day", "week",
                          "month", "year", "period",
                          # what Japanese sheets and data vendors write over a date column
                          "日付", "年月日", "年月", "日時", "基準日", "営業日", "月末", "期間",
                          "年", "月", "週", "日"})


def is_date_word(cell) -> bool:
    """True when a header cell names a date column (``Date``, ``日付``, ``Month`` ...: one
    of :data:`DATE_HEADERS` other than the blank corner)."""
    return str(cell).strip().lower() in DATE_HEADERS - {""}


#: Smallest whole number read as a numeric ticker code (Tokyo ``7203``, Seoul ``005930``)
#: rather than a number: no return, weight, mean or variance is 1,000 (100,000 %).
CODE_MIN = 1000


def is_code_row(values) -> bool:
    """True when every cell of a CSV's first row is a whole number >= :data:`CODE_MIN`:
    numeric ticker codes in a header row, which a CSV cannot mark as text."""
    try:
        nums = [float(str(v).strip()) for v in values]
    except ValueError:
        return False
    return bool(nums) and all(math.isfinite(x) and x == int(x) and abs(x) >= CODE_MIN
                              for x in nums)


#: Japanese dates written as text: ``2024年1月4日``, ``2024年1月`` and the era forms
#: ``令和6年1月4日`` / ``令和元年5月1日`` / ``平成31年4月30日`` (full-width digits too).
_JP_DATE = re.compile(r"^(?:(令和|平成|昭和)(元|\d{1,2})|(\d{4}))年(\d{1,2})月(?:(\d{1,2})日)?$")
#: Year before year 1 (元年) of each era: 令和 N = 2018 + N, 平成 N = 1988 + N, 昭和 N = 1925 + N.
_ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925}


def jp_date_text(cell):
    """``cell`` as ISO text (``2024-01-04``, or ``2024-01`` without a day) when it is a
    Japanese date written as text (``2024年1月4日``, ``令和6年1月4日``), else ``cell``
    unchanged.

    Excel turns such an entry into a date cell, but a CSV import or a cell formatted
    as text keeps it as text, which pandas and dateutil cannot read.
    """
    if not isinstance(cell, str) or "年" not in cell:
        return cell
    m = _JP_DATE.match(re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell)))
    if m is None:
        return cell
    era, era_year, year, month, day = m.groups()
    y = int(year) if year else _ERAS[era] + (1 if era_year == "元" else int(era_year))
    try:
        _dt.date(y, int(month), int(day or 1))
    except ValueError:  # 2024年2月30日: not a date, left as text to be refused
        return cell
    return f"{y:04d}-{int(month):02d}" + (f"-{int(day):02d}" if day else "")


def numeric_dates(values) -> pd.DatetimeIndex | None:
    """Dates written as numbers in a column headed by a date word: ``20240104``
    (YYYYMMDD, as data vendors write them) or Excel date serials (45295 = 2024-01-04,
    a date column saved as "General"); None when the numbers are neither.

    Parameters
    ----------
    values : array-like of float
        The column's numbers.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0 or not np.isfinite(x).all() or (x != np.round(x)).any():
        return None
    if ((x >= 1000_01_01) & (x <= 9999_12_31)).all():
        out = pd.to_datetime(pd.Series(x.astype(np.int64)).astype(str), format="%Y%m%d",
                             errors="coerce")
        return None if out.isna().any() else pd.DatetimeIndex(out)
    if ((x >= 1) & (x <= 2_958_465)).all():  # 1900-01-01 .. 9999-12-31 in Excel's serials
        return pd.DatetimeIndex(pd.Timestamp("1899-12-30") + pd.to_timedelta(x, unit="D"))
    return None


def text_dates(values) -> pd.DatetimeIndex:
    """Dates of cells written as date cells or as text (``2024-01-04``, ``2024/01/04``,
    ``2024年1月4日``, ``令和6年1月4日``); NaT where a cell is not one.

    The one parser of a first column's dates for every reader that puts rows oldest
    first (the CLI readers, ``=MNVH_BACKTEST``, ``=MBB_RECOLOR``).

    Parameters
    ----------
    values : iterable
        The cells (text, date cells, or anything else).
    """
    texts = pd.Series([jp_date_text(v) for v in values])
    with warnings.catch_warnings():  # "could not infer format": every row is checked
        warnings.simplefilter("ignore", UserWarning)
        try:
            return pd.DatetimeIndex(pd.to_datetime(texts, errors="coerce"))
        except (TypeError, ValueError):  # cells no date parser takes (mixed kinds)
            return pd.DatetimeIndex([pd.NaT] * len(texts))

