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

import contextvars
import csv as _csv
import datetime as _dt
import decimal as _decimal
import io
import math
import re
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from pyxl.errors import InputError

__all__ = ["EXACT_CSV", "CSV_ENCODINGS", "CSV_OUT", "read_csv", "csv_source", "to_numbers",
           "DATE_HEADERS", "CODE_MIN", "is_code_row", "text_number", "percent_value",
           "WIDE_FORMS", "dated_texts", "first_undated", "check_label_dates", "UNDATED_FIX",
           "is_date_word", "jp_date_text", "numeric_dates", "text_dates"]

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


#: Byte-order marks of UTF-16, which Excel's "Unicode Text" export writes (tab-separated).
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


#: File signatures of formats given where a CSV is expected.
_NOT_CSV = ((b"PK\x03\x04", "an Excel workbook (.xlsx, a zip file)"),
            (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"),
            (b"PAR1", "a Parquet file"))


def _decode(raw: bytes) -> tuple[str, str]:
    """The text of a CSV file and its encoding: UTF-16 when it starts with a UTF-16
    byte-order mark (Excel's "Unicode Text"), else the first of :data:`CSV_ENCODINGS`
    that decodes it."""
    if raw.startswith(_UTF16_BOMS):
        return raw.decode("utf-16"), "utf-16"
    first = None
    for enc in CSV_ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError as err:
            first = first or err
    raise first


def _blank(cell: str) -> bool:
    return not cell.strip()


def _extent(row: list[str]) -> int:
    """Number of cells up to the row's last non-blank one."""
    k = len(row)
    while k and _blank(row[k - 1]):
        k -= 1
    return k


def _is_number_or_date(cell: str) -> bool:
    text = cell.strip().replace(",", "").rstrip("%")
    try:
        float(text)
        return True
    except ValueError:
        return not pd.isna(text_dates([cell])[0])


def _first_filled_line(text: str) -> str:
    """The first line of ``text`` that is not blank ("" when none), without splitting the
    whole text."""
    pos = 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].rstrip("\r")
        if line.strip():
            return line
        pos = end + 1
    return ""


def _refuse_inner_blank_line(text: str, shown: str, name: str) -> None:
    """Refuse a blank line between two filled lines of a one-column file.

    Excel saves an empty cell of a one-column range as an empty line, and ``pd.read_csv``
    skips empty lines: a missing return or price would vanish and every later value move
    up one row, without a word.  (In a file of several columns Excel writes ``,,,``,
    which is read and refused as missing values.)  Blank lines before the first and after
    the last filled line are left alone.
    """
    first = re.search(r"\S", text)
    if first is None:
        return
    last = len(text.rstrip())
    m = re.compile(r"\n[ \t\r]*\n").search(text, first.start(), last)
    if m is not None:
        line = text.count("\n", 0, m.start()) + 2
        raise InputError(name, f"{shown}: line {line} is blank, between values (Excel saves "
                         "an empty cell of a one-column range so; it would be skipped and "
                         "every later value moved up a row)",
                         "fill in the missing value, or delete the line if it holds none")


def _clean_text(text: str, shown: str, name: str) -> str:
    """CSV text as pandas should see it: comma-separated, without the empty columns Excel
    leaves on the right (``,,,``) and the blank lines at the end.

    Raises
    ------
    InputError
        A semicolon-separated file (European Excel, decimal commas), or a line below the
        data holding text and no numbers (a ``Source: ...`` footer).
    """
    head = _first_filled_line(text)
    sep = ","
    if "," not in head and "\t" in head:
        sep = "\t"  # Excel's "Text (Tab delimited)" and "Unicode Text"
    elif "," not in head and ";" in head:
        raise InputError(name, f"{shown} is separated by semicolons (a European-format CSV, "
                         "decimal commas)", "save it with commas between cells and points as "
                         "decimals (Excel: File > Options > Advanced, untick 'Use system "
                         "separators', decimal '.', thousands ',')")
    # a line ending in an empty cell: Excel's empty columns on the right, or ',,,' lines
    # (CRLF included: '$' matches before the '\n' only, so '\r' is allowed before it; Excel
    # on Windows ends its CSV lines so)
    fast = sep == "," and "\n" in text and re.search(r',[ \t"]*\r?$', text, re.M) is None
    if fast:  # the usual file: only its last 20 lines are looked at (a footer), unsplit
        body = text[:-1] if text.endswith("\n") else text
        cut = len(body)
        for _ in range(20):
            cut = body.rfind("\n", 0, cut)
            if cut < 0:
                break
        last = body[cut + 1:].split("\n")
        n_lines = len(last) if cut < 0 else None  # counted only when a footer is named
        first = 0 if cut < 0 else None
        rows = list(_csv.reader([ln.rstrip("\r") for ln in last]))
        width = len(next(_csv.reader([head]), []))
        # the widest of the head and the last lines (a title line over a table is one
        # cell wide, its rows are not)
        widest = max(width, max(map(_extent, rows), default=0))
    else:
        lines = text.splitlines()
        n_lines = len(lines)
        first = 0
        rows = list(_csv.reader(io.StringIO(text), delimiter=sep))
        while rows and all(_blank(c) for c in rows[-1]):
            rows.pop()  # blank lines (or lines of bare commas) at the end
        width = widest = max(map(_extent, rows), default=0)
    if widest <= 1:  # a one-column file
        _refuse_inner_blank_line(text, shown, name)
    if (n_lines is None or n_lines > 2) and width > 1:
        tail = len(rows)
        while tail > (1 if first == 0 else 0) and all(_blank(c) for c in rows[tail - 1][1:]) \
                and not _is_number_or_date(rows[tail - 1][0] if rows[tail - 1] else ""):
            tail -= 1
        foot = next((k for k in range(tail, len(rows)) if rows[k] and not _blank(rows[k][0])),
                    None)
        if foot is not None:
            if first is None:  # the lines before the last 20
                first = body.count("\n") + 1 - len(last)
            raise InputError(name, f"{shown}: line {first + foot + 1} "
                             f"({rows[foot][0].strip()[:30]!r}) below the data holds no "
                             "numbers", "delete it and any line below it (a footer such as "
                             "'Source: ...'), or fill in its numbers")
    if fast:
        return text
    out = io.StringIO()
    writer = _csv.writer(out, lineterminator="\n")
    for r in rows:
        writer.writerow(r[:width] if r else r)
    return out.getvalue()


def read_csv(path, name: str = "file", **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` with numbers parsed exactly (:data:`EXACT_CSV`, unless ``dtype=str``),
    the encoding found among :data:`CSV_ENCODINGS` (or UTF-16 with its byte-order mark),
    and the layouts real exports come in (:func:`_clean_text`): tab-separated text,
    CRLF line ends, empty columns on the right and blank lines at the end.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    name : str, optional
        The argument or option the file was given as, for the errors.
    **kwargs
        Passed on to ``pd.read_csv``.

    Raises
    ------
    UnicodeDecodeError
        When no encoding decodes the file (the UTF-8 error, which names the byte).
    InputError
        A semicolon-separated file or a footer line below the data (:func:`_clean_text`).
    """
    if kwargs.get("dtype") is not str:
        kwargs = {**EXACT_CSV, **kwargs}
    return pd.read_csv(**csv_source(path, name)[1], **kwargs)


def csv_source(path, name: str = "file") -> tuple[str, dict]:
    """The text of a CSV file as :func:`read_csv` parses it (decoded, tab- or
    comma-separated, without Excel's empty right-hand columns and trailing blank lines),
    and the ``pd.read_csv`` arguments that parse it: the file itself with its encoding
    when the text needed no change (the usual file: no copy of it in memory), else the
    cleaned text.  A reader parsing one file twice (its header rows, then its data)
    reads and checks it once.

    Returns
    -------
    text : str
    source : dict
        ``{"filepath_or_buffer": ..., "encoding": ...}`` for ``pd.read_csv``.

    Raises
    ------
    InputError
        Not a CSV (an Excel workbook, a Parquet file), a semicolon-separated file or a
        footer line (:func:`_clean_text`).
    """
    with open(path, "rb") as fh:
        raw = fh.read()
    kind = next((k for magic, k in _NOT_CSV if raw.startswith(magic)), None)
    if kind is not None:
        raise InputError(name, f"{Path(path).name} is {kind}, not a CSV file",
                         "save the sheet as CSV (Excel: File > Save As > CSV UTF-8) and give "
                         "that file")
    decoded, enc = _decode(raw)
    text = _clean_text(decoded, Path(path).name, name)
    if text is decoded and enc != "utf-16":
        return text, {"filepath_or_buffer": path, "encoding": enc}
    return text, {"filepath_or_buffer": io.StringIO(text)}


#: A number written with thousands separators (``1,234.5``): Excel's CSV export writes a cell
#: formatted "#,##0.00" that way, quoted.  Only groups of three: ``1,5`` is a decimal comma.
_THOUSANDS = re.compile(r"\s*[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?\s*")
#: A percentage as Excel's CSV export writes a cell formatted "0.00%": ``5.20%``, ``-0.5 %``.
_PERCENT = re.compile(r"\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)\s*%\s*")


def percent_value(text: str) -> float | None:
    """``5.2%`` -> 0.052, the double nearest the decimal (5.2 / 100 is one unit in the last
    place off); None when ``text`` is not a percentage (Excel's ``VALUE`` reads ``5.2%`` so).
    """
    m = _PERCENT.fullmatch(text)
    if not m:
        return None
    x = float(_decimal.Decimal(m.group(1)).scaleb(-2))
    return x if math.isfinite(x) else None


#: Full-width forms a Japanese IME types (``１２３．５``, ``－１，２３４``, ``１．５Ｅ－３``,
#: ``５％``), the minus sign U+2212 and the ideographic space, as their ASCII counterparts:
#: Japanese Excel's ``VALUE`` reads them as numbers.
WIDE_FORMS = str.maketrans({**{chr(0xFF10 + k): str(k) for k in range(10)},
                            "．": ".", "，": ",", "－": "-", "＋": "+", "ｅ": "e", "Ｅ": "E",
                            "％": "%", "\u2212": "-", "\u3000": " "})


def text_number(text: str) -> float:
    """The number a cell's text stands for, as Excel's ``VALUE`` reads it; NaN when it is
    not a number.  The one rule of the formulas (:func:`pyxl.xl.convert.text_number`)
    and the CLI readers (:func:`to_numbers`).

    ``1,234.5`` (thousands separators in groups of three) is 1234.5; ``5.2%`` (a cell
    formatted as percent) is 0.052; full-width IME digits (``１２３．５``) and the minus
    sign U+2212 read as their ASCII forms.  Not numbers: a decimal comma (``1,5``,
    ``1.234,56``), and texts Python's ``float`` reads but ``VALUE`` does not: ``nan``,
    ``inf``, ``Infinity``, ``1e999`` (overflow) and ``1_000``.

    Parameters
    ----------
    text : str
        The cell's text.

    Returns
    -------
    float
        The number, finite; NaN when ``text`` is not one.
    """
    text = text.translate(WIDE_FORMS)
    if "_" in text:
        return math.nan
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    else:
        pct = percent_value(text)
        if pct is not None:
            return pct
        if "," in text:
            return math.nan
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def to_numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``, with text parsed to the nearest double,
    thousands separators (``1,234.5``), percentages (``5.2%`` = 0.052) and full-width
    digits read as Excel reads them (:func:`text_number`, the formulas' rule); ``inf``
    and ``1e999`` are not numbers (NaN), as in the formulas.

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
    inf = np.isinf(num.to_numpy(dtype=float))
    if inf.any():  # 'inf', '1e999': not numbers to Excel's VALUE, nor to the formulas
        num = num.mask(inf)
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return num
    raw = values.to_numpy(dtype=object)
    miss = num.isna().to_numpy()
    if not EXACT_CSV and not miss.any():
        return num
    exact = np.zeros(len(raw), dtype=bool)
    if EXACT_CSV:
        exact = ~miss & np.array([isinstance(v, str) for v in raw], dtype=bool)
    formatted = np.zeros(len(raw), dtype=bool)
    for k in np.flatnonzero(miss):
        v = raw[k]
        # 1,234.5 / 5.2% / full-width IME digits (any non-ASCII text): text_number's forms
        formatted[k] = isinstance(v, str) and ("," in v or "%" in v or not v.isascii())
    if not (exact.any() or formatted.any()):
        return num
    out = num.to_numpy(dtype=float, copy=True)
    for k in np.flatnonzero(exact):
        try:
            out[k] = float(raw[k])
        except ValueError:  # a form to_numeric reads and float() does not: keep pandas' value
            pass
    for k in np.flatnonzero(formatted):
        out[k] = text_number(raw[k])
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


#: Day 0 of Excel's date serials: 1899-12-30 (the 1900 system, as Excel counts it past
#: its 1900-02-29), or 1904-01-01 while a 1904-system workbook is evaluated
#: (:func:`pyxl.workbook.functions.date_system_1904` sets it).
SERIAL_EPOCH: contextvars.ContextVar[str] = contextvars.ContextVar(
    "pyxl_serial_epoch", default="1899-12-30")


def numeric_dates(values) -> pd.DatetimeIndex | None:
    """Dates written as numbers in a column headed by a date word: ``20240104``
    (YYYYMMDD, as data vendors write them) or Excel date serials (45295 = 2024-01-04,
    a date column saved as "General"; counted from :data:`SERIAL_EPOCH`, so 43833 in
    a 1904-system workbook); None when the numbers are neither.

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
    epoch = pd.Timestamp(SERIAL_EPOCH.get())
    last = (pd.Timestamp("9999-12-31") - epoch).days
    if ((x >= 1) & (x <= last)).all():  # day 1 .. 9999-12-31 in the workbook's serials
        return pd.DatetimeIndex(epoch + pd.to_timedelta(x, unit="D"))
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


def dated_texts(values) -> np.ndarray:
    """Which cells read as a date with a year >= 1800, each in its own format.

    :func:`text_dates` parses a column in the format of its first date (so that
    ``01/02/2024`` reads the same way down the column), which leaves ``15/01/2024`` NaT
    under ``02/01/2024``: day-first dates are dates all the same.  The cells left NaT are
    parsed again among themselves (a few calls, not one per cell), so a column of
    ``dd/mm/yyyy`` dates is all dates while ``Average``, ``t1`` or ``May`` (which dateutil
    reads as year 1) are not.

    Parameters
    ----------
    values : sequence
        The cells (text; date cells count too).

    Returns
    -------
    numpy.ndarray of bool
    """
    cells = list(values)
    out = np.zeros(len(cells), dtype=bool)
    todo = np.arange(len(cells))
    for _ in range(4):  # a format per round; a round that reads nothing ends it
        if not todo.size:
            break
        stamps = text_dates([cells[i] for i in todo])
        ok = np.asarray(stamps.notna()) & np.asarray(stamps.year >= 1800, dtype=bool)
        if not ok.any():
            break
        out[todo[ok]] = True
        todo = todo[~ok]
    return out


#: The fix named for a row without a date in a date column (formulas and CLI readers).
UNDATED_FIX = ("enter its date, or delete the row (a total or average row would be read as "
               "one more period)")


def first_undated(labels, numbers_are_dates: bool = False) -> int | None:
    """Position of the first label that is not a date when the labels are a date column.

    The labels (a CSV's first column, as text) are a date column when at least two and
    more than half of them are dates: text dates with a year >= 1800 (``2024-01-31``,
    ``2024年1月31日``; not ``t1`` or ``May``, which dateutil reads as year 1), or, under a
    date word (``numbers_are_dates``), numbers such as 20240131.  A label then that is
    blank or a word (``Average``, ``Total``) marks a total row typed under the data, read
    otherwise as one more period; its position is returned.  The rule of
    :func:`pyxl.xl.convert.check_date_rows` for ranges (text dates by :func:`dated_texts`).

    Parameters
    ----------
    labels : sequence
        The row labels, in file order.
    numbers_are_dates : bool, optional
        The column is headed by a date word (``Date``, ``日付``).

    Returns
    -------
    int or None
        0-based position of the first label that is not a date; None when every label
        is one or the labels are not a date column.
    """
    cells = [str(c).strip() for c in labels]
    if len(cells) < 2:
        return None
    number = to_numbers(pd.Series(cells, dtype=object)).notna().to_numpy()
    texts = iter(dated_texts([c for c, n in zip(cells, number, strict=True) if c and not n]))
    dated = [bool(n) and numbers_are_dates if n or not c else bool(next(texts))
             for c, n in zip(cells, number, strict=True)]
    count = sum(dated)
    if count < 2 or 2 * count <= len(cells) or count == len(cells):
        return None
    return dated.index(False)


def check_label_dates(labels, name: str, shown: str, first_row: int,
                      numbers_are_dates: bool = False) -> None:
    """Refuse a CSV's total row under dated rows (:func:`first_undated`), naming its row.

    Parameters
    ----------
    labels : sequence
        The row labels (the first column) of the data rows, in file order.
    name : str
        The argument or option the file was given as.
    shown : str
        The file's name, for the message.
    first_row : int
        The file's row number of the first label (2 under a header row).
    numbers_are_dates : bool, optional
        The column is headed by a date word.

    Raises
    ------
    InputError
        ``row N has 'Average' in the date column`` (or ``a blank cell``).
    """
    k = first_undated(labels, numbers_are_dates)
    if k is not None:
        cell = str(labels[k]).strip()
        what = f"{cell[:20]!r}" if cell else "a blank cell"
        raise InputError(name, f"{shown}: row {first_row + k} has {what} in the date column",
                         UNDATED_FIX)
