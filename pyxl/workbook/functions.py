"""PyXL formulas as custom functions of the ``formulas`` Excel engine.

The workbook engine evaluates PyXL's formulas through *the same Python
functions* the add-in calls (the ones :mod:`pyxl.udfs` exports); this module
only adapts the calling convention:

* arguments arrive from ``formulas`` as 2-D numpy object arrays (one per
  range or constant).  They are handed over the way xlwings hands a range to a
  UDF on Windows: a bare scalar for a single cell, a list of row lists for a
  larger range, ``None`` for blank cells, the error's text (``"#N/A"``) for
  cells holding an Excel error (as xlwings with ``err_to_str``, which every
  formula argument declares, see :func:`pyxl.xl.convert.xl_arg`), whole numbers
  as ``float`` (Excel stores doubles);
* the result goes back the way xlwings writes it: a list of rows becomes a
  2-D block (ragged rows padded with blanks), NaN and ``None`` become ``""``
  (xlwings writes an empty cell), numpy scalars become Python numbers.

A result that does not fit the array block it is entered into follows
Excel's legacy array rule (:class:`_Fitted`): cut where larger, a single
row or column repeated across the block, ``#N/A`` elsewhere.  Without it the
``formulas`` package would fill the whole block with ``#VALUE!`` when the
result is larger, and silently re-flow the values row by row when result and
block hold the same number of cells in another shape.

Limit: an argument left out in the middle of a call (``=F(a,,c)``) reaches
the function as 0, because the ``formulas`` parser makes it a zero; leave
trailing optional arguments out instead, or point them at a blank cell.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pyxl.numparse import SERIAL_EPOCH, percent_value

__all__ = ["pyxl_formulas", "register", "to_excel_arg", "from_excel_result"]


def pyxl_formulas() -> dict[str, Callable[..., Any]]:
    """Every PyXL formula by Excel name (upper-case callables of :mod:`pyxl.udfs`)."""
    import pyxl.udfs as udfs

    names = getattr(udfs, "__all__", None) or [n for n in dir(udfs) if n.isupper()]
    return {n: getattr(udfs, n) for n in names if n.isupper() and callable(getattr(udfs, n))}


def _cell(v: Any) -> Any:
    import schedula as sh
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY or v is None:
        return None
    if isinstance(v, XlError):
        # its text, as xlwings' err_to_str: the converters refuse it with a line naming
        # the argument (as None it would silently mean an optional argument's default)
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return float(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def to_excel_arg(value: Any) -> Any:
    """A ``formulas`` argument as xlwings passes it: scalar or list of row lists."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _cell(value.item())
        arr = value if value.ndim == 2 else value.reshape(1, -1)
        if arr.shape == (1, 1):
            return _cell(arr[0, 0])
        return [[_cell(c) for c in row] for row in arr.tolist()]
    return _cell(value)


@functools.cache  # one class, built on first use (formulas is imported lazily)
def _fitted_class() -> type:
    from formulas.functions import Array
    from formulas.tokens.operand import Error

    class _Fitted(Array):
        """A PyXL result that fits an array block the way Excel fits legacy arrays.

        ``reshape((rows, cols))`` to a block of another shape: the result is
        cut where it is larger; a one-row (one-column) result is repeated down
        (across) the block; every other cell past the result is ``#N/A``.  A
        one-cell target keeps the ``formulas`` behaviour (``#VALUE!`` for a
        multi-cell result: store it as an array formula over its block).
        """

        def reshape(self, shape: Any, *shapes: Any, order: str = "C") -> Any:
            if shapes or not isinstance(shape, tuple):
                shape = (shape, *shapes) if shapes else shape
            if (not isinstance(shape, tuple) or len(shape) != 2 or self.ndim != 2
                    or any(not isinstance(n, (int, np.integer)) or n < 1 for n in shape)
                    or tuple(shape) == self.shape):
                return super().reshape(shape, order=order)
            rows, cols = (int(n) for n in shape)
            if (rows, cols) == (1, 1):
                out = np.empty((1, 1), dtype=object)
                out[0, 0] = Error.errors["#VALUE!"]
                return out.view(type(self))
            src = np.asarray(self, dtype=object)
            if src.shape[0] == 1:
                src = np.repeat(src, rows, axis=0)
            if src.shape[1] == 1:
                src = np.repeat(src, cols, axis=1)
            out = np.empty((rows, cols), dtype=object)
            out[:, :] = Error.errors["#N/A"]
            r, c = min(rows, src.shape[0]), min(cols, src.shape[1])
            out[:r, :c] = src[:r, :c]
            return out.view(type(self))

    return _Fitted


def _fitted(arr: np.ndarray) -> np.ndarray:
    return arr.view(_fitted_class())


def _out(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer, np.floating)):
        v = float(v)
    if isinstance(v, float) and math.isnan(v):
        return ""
    return v


def from_excel_result(result: Any) -> Any:
    """A formula's return value as a scalar or a 2-D object array that spills."""
    if isinstance(result, np.ndarray) and result.ndim == 0:
        result = result.item()
    if isinstance(result, np.ndarray):
        result = result.tolist() if result.ndim == 2 else [result.tolist()]
    if isinstance(result, (list, tuple)):
        rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in result]
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        out = np.empty((len(rows), width), dtype=object)
        out[:, :] = ""
        for i, r in enumerate(rows):
            for j, c in enumerate(r):
                out[i, j] = _out(c)
        if out.shape == (1, 1):
            return out[0, 0]
        return _fitted(out)
    return _out(result)


def _adapter(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any) -> Any:
        return from_excel_result(func(*[to_excel_arg(a) for a in args]))

    return call


def _one_number(v: Any) -> float | None:
    """``v`` as one finite number, else None: a scalar, a 1x1 array, or a one-cell
    reference (a ``Ranges``), as INDEX reads its row/column numbers: a blank cell is 0
    and a number stored as text is that number (Excel coerces both); a logical is not.
    """
    import schedula as sh
    from formulas.ranges import Ranges

    if isinstance(v, Ranges):  # a reference to a cell holding the number (INDEX(r, B5, 0))
        v = v.value
    a = np.asarray(v, dtype=object)
    if a.size != 1:
        return None
    x = a.reshape(-1)[0]
    if x is sh.EMPTY:
        return 0.0
    if isinstance(x, str):
        x = _as_number(x)
    if x is None or isinstance(x, (bool, np.bool_)) or not isinstance(
            x, (int, float, np.integer, np.floating)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def _index_whole_row_or_column(original: Callable[..., Any]) -> Callable[..., Any]:
    """``INDEX(array, row, 0)`` and ``INDEX(array, 0, column)`` as Excel evaluates them.

    Excel returns the whole row (column) when the column (row) number is 0, and the
    whole vector for ``INDEX(vector, 0)`` on one row or column; the ``formulas``
    package (1.3.4) returns the first cell instead, so ``SUMPRODUCT(INDEX(prices, t, 0),
    q)`` summed one price.  Only those cases are handled here, on a one-area array with
    one-number arguments (typed, computed, or read from a cell: :func:`_one_number`;
    fractions are truncated, negative numbers are ``#VALUE!``, numbers past the array
    ``#REF!``); every other call goes to the package's own INDEX.
    """
    from formulas.functions import Array
    from formulas.ranges import Ranges
    from formulas.tokens.operand import Error

    def xindex(array: Any, row_num: Any, col_num: Any = None, area_num: Any = 1) -> Any:
        r, area = _one_number(row_num), _one_number(area_num)
        c = None if col_num is None else _one_number(col_num)
        # Excel truncates the numbers first (INDEX(r, 0.5, 2) is the whole column)
        r, c = (None if x is None else float(math.trunc(x)) for x in (r, c))
        one_area = not (isinstance(array, Ranges) and len(array.ranges) != 1)
        if r is None or area != 1 or not one_area:
            return original(array, row_num, col_num, area_num)
        values = np.asarray(array.value if isinstance(array, Ranges) else array, dtype=object)
        if col_num is None:  # INDEX(vector, 0): the whole row or column
            if r != 0 or values.ndim != 2 or 1 not in values.shape:
                return original(array, row_num, col_num, area_num)
            return np.array(values, dtype=object).view(Array)
        if c is None or (r != 0 and c != 0):
            return original(array, row_num, col_num, area_num)
        if r < 0 or c < 0:
            return Error.errors["#VALUE!"]
        if values.ndim != 2 or r > values.shape[0] or c > values.shape[1]:
            return Error.errors["#REF!"]
        rows = slice(None) if r == 0 else slice(int(r) - 1, int(r))
        cols = slice(None) if c == 0 else slice(int(c) - 1, int(c))
        return np.array(values[rows, cols], dtype=object).view(Array)

    return functools.update_wrapper(xindex, original)


# --- Criteria of SUMIF, SUMIFS, COUNTIF(S), AVERAGEIF(S), MAXIFS, MINIFS -------------------

_CRIT_OPS = ("<=", ">=", "<>", "<", ">", "=")
_ORDER = {"<": lambda a, b: a < b, ">": lambda a, b: a > b,
          "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def _as_number(v: Any) -> float | None:
    """A cell or criterion as Excel's criteria read a number: a number, or text that
    reads as one (``"5"``, ``"5%"``, a date text), else None (bools are not numbers)."""
    import schedula as sh
    from formulas.functions import _text2num
    from formulas.tokens.operand import XlError

    if v is sh.EMPTY or isinstance(v, (bool, np.bool_, XlError)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, str) and v.strip():
        text = v.strip()
        if text.endswith("%"):
            # the project's one percent rule: the double nearest 5.2 / 100, as Excel parses
            # it (float("5.2") / 100 is one unit in the last place off, so "=5.2%" missed 0.052)
            return percent_value(text)
        try:
            x = _text2num(text)
        except (ValueError, TypeError, ArithmeticError):
            return None
        if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
            return float(x)
    return None


def _wildcard(text: str) -> Any:
    """Excel's wildcard text (``?`` one character, ``*`` any run, ``~`` escapes) as a
    compiled case-insensitive whole-text pattern."""
    import re

    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "~" and i + 1 < len(text) and text[i + 1] in "?*~":
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append("." if ch == "?" else ".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _criterion_test(criterion: Any) -> Callable[[Any], bool]:
    """One Excel criterion as a test of one cell, as Excel's SUMIF family reads it.

    A bare value matches equal cells; a text criterion may start with ``=``, ``<>``,
    ``<``, ``>``, ``<=``, ``>=``.  ``""`` matches blank cells (and empty text), ``"="``
    blank cells only, ``"<>"`` every non-blank cell.  ``"<>x"`` matches every cell that
    ``"=x"`` does not match, blank cells and cells of other types included.  A number
    (or text reading as one) matches equal numbers and number texts (``"=3"`` counts a
    text ``"3"``), while ``<``, ``>``, ``<=``, ``>=`` compare number cells only; other
    text compares text cells case-insensitively, whole text, with the wildcards ``?``
    ``*`` ``~`` for ``=`` and ``<>``; ``TRUE``/``FALSE`` compare logical cells; an error
    text matches that error.  Ordering operators never match blank cells.  A criterion
    that refers to a blank cell means 0 (as Excel's COUNTIFS documents).
    """
    import schedula as sh
    from formulas.tokens.operand import Error, XlError

    def blank(v: Any) -> bool:
        return v is sh.EMPTY or v is None

    def is_text(v: Any) -> bool:  # schedula's EMPTY is a str subclass too
        return isinstance(v, str) and not isinstance(v, XlError) and not blank(v)

    if blank(criterion):  # a reference to a blank cell: Excel reads it as 0
        criterion = 0.0
    if isinstance(criterion, XlError):
        return lambda v: isinstance(v, XlError) and str(v) == str(criterion)
    if isinstance(criterion, (bool, np.bool_)):
        flag = bool(criterion)
        return lambda v: isinstance(v, (bool, np.bool_)) and bool(v) == flag
    if not isinstance(criterion, str):
        x = _as_number(criterion)
        if x is None:
            return lambda v: False
        return lambda v: (not isinstance(v, (bool, np.bool_))
                          and _as_number(v) == x)
    op, operand = "", criterion
    for k in _CRIT_OPS:
        if criterion.startswith(k):
            op, operand = k, criterion[len(k):]
            break
    number = _as_number(operand)
    upper = operand.strip().upper()

    def equal(v: Any) -> bool:
        if operand == "":
            return blank(v) if op in ("=", "<>") else (blank(v) or v == "")
        if number is not None:
            return not isinstance(v, (bool, np.bool_)) and _as_number(v) == number
        if upper in ("TRUE", "FALSE"):
            return isinstance(v, (bool, np.bool_)) and bool(v) == (upper == "TRUE")
        if upper in Error.errors:
            return isinstance(v, XlError) and str(v) == upper
        return is_text(v) and pattern.fullmatch(v) is not None

    pattern = _wildcard(operand)
    if op in ("", "="):
        return equal
    if op == "<>":
        return lambda v: not equal(v)
    order = _ORDER[op]
    if number is not None:
        # ordering compares number cells only: a number stored as text is not counted
        # by ">2" (it is by "=3"), as Excel's COUNTIF reads it
        def numeric(v: Any) -> bool:
            return (isinstance(v, (int, float, np.integer, np.floating))
                    and not isinstance(v, (bool, np.bool_)) and order(float(v), number))
        return numeric
    if upper in ("TRUE", "FALSE"):
        flag = upper == "TRUE"
        return lambda v: isinstance(v, (bool, np.bool_)) and order(bool(v), flag)
    if upper in Error.errors:
        return lambda v: False
    folded = operand.casefold()
    return lambda v: is_text(v) and order(v.casefold(), folded)


def _criteria_mask(values: Any, criterion: Any) -> np.ndarray:
    """Boolean mask of the cells of ``values`` (2-D) that meet ``criterion``."""
    test = _criterion_test(criterion)
    arr = np.asarray(values, dtype=object)
    if arr.ndim < 2:
        arr = arr.reshape(1, -1)
    out = np.zeros(arr.shape, dtype=bool)
    for idx, v in np.ndenumerate(arr):
        out[idx] = bool(test(v))
    return out


def _ifs_one(accumulator: Callable[[Any], Any], operating: Any, tests: list[Any],
             *conditions: Any) -> Any:
    """One criteria aggregate: ``accumulator`` of the cells of ``operating`` whose
    rows/columns meet every ``(tests[i], conditions[i])``."""
    from formulas.errors import FoundError
    from formulas.tokens.operand import Error

    def two_d(a: Any) -> np.ndarray:
        a = np.asarray(a, dtype=object)
        return a.reshape(1, -1) if a.ndim < 2 else a

    tests = [two_d(t) for t in tests]
    shape = tests[0].shape
    if any(t.shape != shape for t in tests):
        return Error.errors["#VALUE!"]
    operating = two_d(operating)
    if operating.shape != shape:
        return Error.errors["#VALUE!"]
    mask = np.ones(shape, dtype=bool)
    for t, c in zip(tests, conditions, strict=True):
        mask &= _criteria_mask(t, c)
    try:
        return accumulator(operating[mask])
    except FoundError as ex:
        return ex.err


def _numbers_and_errors(accumulator: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``accumulator`` of the number cells (and error cells, which it passes on) among
    the matched cells of a sum/average/max range: Excel's SUMIF, AVERAGEIF and MAXIFS
    skip text (``"4"`` included), logicals and blanks there."""
    from formulas.tokens.operand import XlError

    def keep(v: Any) -> bool:
        return isinstance(v, XlError) or (
            isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))

    def acc(cells: Any) -> Any:
        cells = np.asarray(cells, dtype=object).ravel()
        return accumulator(np.array([v for v in cells if keep(v)], dtype=object))

    return acc


def _criteria_functions() -> dict[str, Callable[..., Any]]:
    """SUMIF, SUMIFS, COUNTIF, COUNTIFS, AVERAGEIF, AVERAGEIFS, MAXIFS, MINIFS with
    Excel's criteria (:func:`_criterion_test`).

    The ``formulas`` package (1.3.4) reads ``"<>"`` and ``"="`` as the literal texts,
    makes ``"<>x"`` skip blank cells and cells of another type, matches wildcards
    case-sensitively as a prefix (``"a?"`` matched ``"abc"``), and lets ``"*"`` and
    ``"<b"`` match blank cells: ``SUMIF(g, "<>a", x)`` summed the wrong rows, silently.
    A condition given as an array (``SUMIF(g, {"a","b"}, x)``) gives an array, as in
    Excel.  SUMIF's sum range must have the shape of the test range (Excel would
    stretch a smaller one over the sheet; here it is ``#VALUE!``).  The package also
    summed numbers stored as text in the sum range, and gave ``#VALUE!`` for text in
    AVERAGEIF's or MAXIFS's: only number cells are aggregated there
    (:func:`_numbers_and_errors`).
    """
    from formulas.functions import wrap_func
    from formulas.functions.math import xsum
    from formulas.functions.stat import xaverage, xfunc

    vec = np.vectorize(_ifs_one, otypes=[object], excluded={0, 1, 2})

    def one(acc: Callable[[Any], Any], count: bool) -> Callable[..., Any]:
        def f(test_range: Any, condition: Any, operating_range: Any = None) -> Any:
            operating = test_range if count or operating_range is None else operating_range
            return _array(vec(acc, operating, [test_range], condition))
        return f

    def many(acc: Callable[[Any], Any], count: bool) -> Callable[..., Any]:
        def f(*args: Any) -> Any:
            from formulas.tokens.operand import Error

            operating, rest = (None, args) if count else (args[0], args[1:])
            if len(rest) < 2 or len(rest) % 2:
                return Error.errors["#VALUE!"]
            tests, conds = list(rest[0::2]), rest[1::2]
            operating = tests[0] if operating is None else operating
            return _array(vec(acc, operating, tests, *conds))
        return f

    total, average = _numbers_and_errors(xsum), _numbers_and_errors(xaverage)
    maximum = _numbers_and_errors(xfunc)
    minimum = _numbers_and_errors(functools.partial(xfunc, func=min))
    return {
        "SUMIF": wrap_func(one(total, False)), "SUMIFS": wrap_func(many(total, False)),
        "COUNTIF": wrap_func(one(len, True)), "COUNTIFS": wrap_func(many(len, True)),
        "AVERAGEIF": wrap_func(one(average, False)),
        "AVERAGEIFS": wrap_func(many(average, False)),
        "MAXIFS": wrap_func(many(maximum, False)), "MINIFS": wrap_func(many(minimum, False)),
    }


def _array(res: Any) -> Any:
    from formulas.functions import Array

    return np.asarray(res, dtype=object).view(Array)


# --- ROUND, ROUNDUP, ROUNDDOWN on the decimal number Excel shows -------------------------


def _shown(x: float) -> Any:
    """The decimal Excel shows for the double ``x``: its 15 significant digits (a
    ``decimal.Decimal``), the number Excel's rounding functions work on."""
    from decimal import Decimal

    return Decimal(f"{x:.15g}")


def excel_round(x: float, digits: float, mode: str = "half") -> float:
    """``ROUND``/``ROUNDUP``/``ROUNDDOWN`` as Excel: on the number's 15 significant digits.

    Excel rounds the decimal number it shows, so ``ROUND(1.005, 2)`` is 1.01 and
    ``ROUNDDOWN(4.35, 2)`` is 4.35 although the doubles are 1.00499999999999989... and
    4.34999999999999964...  Scaling the double (``x * 10**d``) and rounding that, as the
    ``formulas`` package does, gives 1.0 and 4.34.

    Parameters
    ----------
    x : float
        The number.
    digits : float
        Decimal places (negative: tens, hundreds, ...); truncated to an integer.
    mode : {"half", "up", "down"}
        Half away from zero (ROUND), away from zero (ROUNDUP), toward zero (ROUNDDOWN).

    Returns
    -------
    float
        ``x`` rounded to ``int(digits)`` decimal places.
    """
    from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, localcontext

    x, d = float(x), int(float(digits))
    if not math.isfinite(x) or x == 0.0:
        return x
    rounding = {"half": ROUND_HALF_UP, "up": ROUND_UP, "down": ROUND_DOWN}[mode]
    with localcontext() as ctx:
        ctx.prec = 40
        shown = _shown(x)
        # the shown number's last digit is at 10**(adjusted - 14): rounding at or past
        # it changes nothing (and quantizing 1E+300 to 300 places would need 601 digits)
        if d >= 14 - shown.adjusted():
            out = float(shown)
        else:
            out = float(shown.quantize(Decimal(1).scaleb(-d), rounding=rounding))
    if not math.isfinite(out):  # 1.79769313486232E+308, the largest double shown
        return x
    return out + 0.0  # -0.0 (ROUND(-2.55, -1)) is 0 in a cell


def _round_functions() -> dict[str, Callable[..., Any]]:
    from formulas.functions import wrap_ufunc

    return {name: wrap_ufunc(functools.partial(excel_round, mode=mode))
            for name, mode in (("ROUND", "half"), ("ROUNDUP", "up"), ("ROUNDDOWN", "down"))}


# --- FLOOR, CEILING, MROUND on the decimal numbers Excel shows ----------------------------


def excel_step(x: float, sig: float | None, kind: str, mode: float = 0) -> Any:
    """FLOOR / CEILING / MROUND and their .MATH / .PRECISE forms as Excel: on the
    numbers' 15 significant digits, exactly (the rule of :func:`excel_round`).

    The ``formulas`` package divides the doubles, so a step of 0.1 or 0.01 lands one
    step off whenever the quotient falls just short of a whole number: ``FLOOR(4.35,
    0.01)`` gave 4.34 (4.35 / 0.01 = 434.99999999999994), ``FLOOR(0.3, 0.1)`` 0.2 and
    ``MROUND(1.3, 0.2)`` 1.2, where Microsoft's documentation of MROUND gives 1.4 (and
    its MROUND rounded halves to even: ``MROUND(13, 2)`` 12, Excel 14).  A tick size
    of 0.1 yen or a lot of 0.01 is such a step.  Here the quotient is taken of the
    decimals shown (:func:`_shown`), so it is a whole number exactly when the
    decimals are multiples, and the result is the double nearest the decimal multiple.

    The sign rules are the package's (Excel's): FLOOR and CEILING refuse a negative step
    for a positive number (#NUM!), FLOOR by a 0 step is #DIV/0! and CEILING 0; the
    .MATH forms use the step's magnitude (1 when omitted; the package took the number's
    magnitude then, so ``CEILING.MATH(-2.5)`` gave 3, Excel -2) and with a nonzero
    ``mode`` round negative numbers toward (FLOOR) or away from (CEILING) zero; MROUND
    rounds halves away from zero and refuses opposite signs (#NUM!).

    Parameters
    ----------
    x : float
        The number.
    sig : float or None
        The step (significance, multiple); None when omitted (.MATH forms only).
    kind : {"floor", "ceiling", "floor.math", "ceiling.math", "mround"}
    mode : float
        The .MATH forms' third argument.

    Returns
    -------
    float, or the package's error value
        ``nan`` for #NUM! (the package's convention), its #DIV/0! error for FLOOR by 0.
    """
    from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, localcontext

    from formulas.functions import Error

    x = float(x)
    sig = 1.0 if sig is None else float(sig)
    if not (math.isfinite(x) and math.isfinite(sig)):
        return np.nan
    if sig == 0:
        return Error.errors["#DIV/0!"] if kind == "floor" else 0.0
    if kind in ("floor", "ceiling", "mround") and (sig < 0 < x or (kind == "mround"
                                                                  and x < 0 < sig)):
        return np.nan
    with localcontext() as ctx:
        ctx.prec = 60
        X, S = _shown(x), _shown(sig)
        if kind.endswith(".math"):
            S = abs(S)
        rounding = {"floor": ROUND_FLOOR, "ceiling": ROUND_CEILING,
                    "mround": ROUND_HALF_UP}[kind.split(".")[0]]
        if kind.endswith(".math") and mode and X < 0:  # negatives toward / away from 0
            rounding = ROUND_CEILING if rounding == ROUND_FLOOR else ROUND_FLOOR
        q = (X / S).to_integral_value(rounding=rounding)
        out = float(q * S)
    return out + 0.0  # -0.0 is 0 in a cell


def _step_functions() -> dict[str, Callable[..., Any]]:
    from formulas.functions import (
        Error,
        flatten,
        raise_errors,
        replace_empty,
        wrap_func,
        wrap_ufunc,
    )

    def math_form(kind: str) -> Callable[..., Any]:
        def f(num: float, sig: float | None = None, mode: float = 0) -> Any:
            return excel_step(num, sig, kind, mode)
        return wrap_ufunc(f)

    def mround(*args: Any) -> Any:  # the package's argument handling, then excel_step
        raise_errors(args)
        num, sig = tuple(flatten(map(replace_empty, args), None))
        if isinstance(num, bool) or isinstance(sig, bool):
            return Error.errors["#VALUE!"]
        x = excel_step(float(num), float(sig), "mround")
        return Error.errors["#NUM!"] if isinstance(x, float) and math.isnan(x) else x

    out = {"FLOOR": wrap_ufunc(functools.partial(excel_step, kind="floor")),
           "CEILING": wrap_ufunc(functools.partial(excel_step, kind="ceiling")),
           "MROUND": wrap_func(mround)}
    for name in ("FLOOR.MATH", "FLOOR.PRECISE"):
        out[name] = math_form("floor.math")
    for name in ("CEILING.MATH", "CEILING.PRECISE", "ISO.CEILING"):
        out[name] = math_form("ceiling.math")
    return out


# --- YEARFRAC, bases 0 and 1 --------------------------------------------------------------


def yearfrac_days(y1: int, m1: int, d1: int, y2: int, m2: int, d2: int, basis: int) -> float:
    """Excel's ``YEARFRAC`` for basis 0 (US 30/360) and 1 (actual/actual), start <= end.

    Basis 0: day 31 counts as 30 (the end date's 31 only when the start is the 30th or
    31st); the last day of February counts as 30 at the start, and at the end too when
    both dates are February month-ends; ``(360 (y2-y1) + 30 (m2-m1) + d2-d1) / 360``.
    Basis 1: dates at most one year apart divide the actual days by 366 when the
    period holds a 29 February (or both dates lie in one leap year), else by 365;
    longer periods divide by the average length of the calendar years y1..y2.

    Returns
    -------
    float
        The year fraction (years).
    """
    import calendar
    import datetime as dt

    if basis == 0:
        def feb_end(y: int, m: int, d: int) -> bool:
            return m == 2 and d == calendar.monthrange(y, 2)[1]

        if d1 == 31 and d2 == 31:
            d1 = d2 = 30
        elif d1 == 31:
            d1 = 30
        elif d1 == 30 and d2 == 31:
            d2 = 30
        elif feb_end(y1, m1, d1) and feb_end(y2, m2, d2):
            d1 = d2 = 30
        elif feb_end(y1, m1, d1):
            d1 = 30
        return (360 * (y2 - y1) + 30 * (m2 - m1) + (d2 - d1)) / 360.0
    start, end = dt.date(y1, m1, d1), dt.date(y2, m2, d2)
    days = (end - start).days
    within = y1 == y2 or (y2 == y1 + 1 and (m1, d1) >= (m2, d2))
    if not within:
        years = y2 - y1 + 1
        return days / ((dt.date(y2 + 1, 1, 1) - dt.date(y1, 1, 1)).days / years)
    leap = calendar.isleap
    if y1 == y2 and leap(y1):
        length = 366
    elif (leap(y1) and start < dt.date(y1, 3, 1)) or (leap(y2) and end >= dt.date(y2, 3, 1)) \
            or (m2 == 2 and d2 == 29):
        length = 366
    else:
        length = 365
    return days / length


def _yearfrac(original: Callable[..., Any]) -> Callable[..., Any]:
    """``YEARFRAC`` with Excel's bases 0 and 1 (:func:`yearfrac_days`); the package's
    own result (and its argument checks) otherwise.  ``formulas`` 1.3.4 divides
    basis 1 by the average year length even for dates less than a year apart in two
    calendar years (2023-12-31 to 2024-06-30: 182/365.5 where Excel takes 182/366), and
    counts 28 Feb 2023 to 29 Feb 2024 on basis 0 as 359 days, not 360."""
    import schedula as sh
    from formulas.functions import flatten
    from formulas.functions.date import xday
    from formulas.tokens.operand import XlError

    def xyearfrac(start_date: Any, end_date: Any, basis: Any = 0) -> Any:
        res = original(start_date, end_date, basis)
        if isinstance(np.asarray(res, dtype=object).reshape(-1)[0], XlError):
            return res
        b = tuple(flatten(basis, None))[0]
        b = 0 if b is sh.EMPTY else int(float(b))
        if b not in (0, 1):
            return res
        dates = sorted(xday(*tuple(flatten(d, None)), slice(0, 3))
                       for d in (start_date, end_date))
        return yearfrac_days(*dates[0], *dates[1], basis=b)

    return functools.update_wrapper(xyearfrac, original)


# --- PERCENTRANK ---------------------------------------------------------------------------


def percentrank(values: list[float], x: float, significance: float = 3,
                exclusive: bool = False) -> Any:
    """``PERCENTRANK.INC`` / ``.EXC`` as Excel: ``n_below / (n - 1)`` (inclusive) or
    ``(n_below + 1) / (n + 1)`` (exclusive), where ``n_below`` counts the values below
    ``x`` (tied values share the lowest rank), interpolated linearly between neighbours
    when ``x`` is not in the data, then cut (not rounded) to ``significance`` digits.

    ``formulas`` 1.3.4 gave tied values their average rank (PERCENTRANK.INC of 2 in
    {1, 2, 2, 3, 4, 5}: 0.3 where Excel gives 0.2) and cut ``0.29 * 100`` at 28.
    """
    from formulas.tokens.operand import Error

    vals = sorted(float(v) for v in values)
    n = len(vals)
    if n == 0 or x < vals[0] or x > vals[-1]:
        return Error.errors["#N/A"]
    sig = int(significance)
    if sig < 1:
        return Error.errors["#NUM!"]
    lo = int(np.searchsorted(vals, x, side="left"))
    if lo < n and vals[lo] == x:
        r = float(lo)
    else:
        y, z = vals[lo - 1], vals[lo]
        r = (lo - 1) + (x - y) / (z - y)
    if exclusive:
        pct = (r + 1) / (n + 1)
    elif n == 1:
        pct = 1.0
    else:
        pct = r / (n - 1)
    return excel_round(pct, sig, "down")


def _percentrank_functions() -> dict[str, Callable[..., Any]]:
    from formulas.functions import wrap_ufunc
    from formulas.functions.stat import _percentrank_kw

    def inc(vals: Any, x: Any, significance: Any = 3) -> Any:
        return percentrank(vals, x, significance, exclusive=False)

    def exc(vals: Any, x: Any, significance: Any = 3) -> Any:
        return percentrank(vals, x, significance, exclusive=True)

    return {"PERCENTRANK.INC": wrap_ufunc(inc, **_percentrank_kw),
            "PERCENTRANK.EXC": wrap_ufunc(exc, **_percentrank_kw)}


# --- Text and logical cells in references, as Excel's aggregate functions skip them -------

#: Functions that skip text and logical values held in cells (or arrays) and count only
#: numbers (Microsoft's documentation of each: "If an argument is an array or reference,
#: only numbers in that array or reference are counted"); SUMPRODUCT takes them as 0.
SKIP_TEXT_IN_REFERENCES = (
    "SUM", "AVERAGE", "COUNT", "MAX", "MIN", "PRODUCT", "MEDIAN", "SUMSQ", "SUMPRODUCT",
    "STDEV", "STDEV.S", "STDEV.P", "STDEVP", "VAR", "VAR.S", "VAR.P", "VARP",
    "LARGE", "SMALL", "GEOMEAN", "HARMEAN", "AVEDEV", "DEVSQ",
)


def _each_value(v: Any, fn: Callable[[Any], Any], scalars: bool = True) -> Any:
    """``fn`` applied to every value of an array or reference argument (an object array
    of the same kind back) and, when ``scalars``, to a scalar (typed) argument, which is
    otherwise returned unchanged; a reference without values (while the model compiles)
    is returned as it is."""
    from formulas.ranges import Ranges

    if isinstance(v, Ranges):
        try:
            v = v.value
        except Exception:  # noqa: BLE001 - a range without values while the model compiles
            return v
    if not isinstance(v, np.ndarray) or (v.ndim == 0 and not scalars):
        return fn(v) if scalars else v
    out = np.array(v, dtype=object)
    flat = out.reshape(-1)
    for i, x in enumerate(flat):
        flat[i] = fn(x)
    return out.view(type(v)) if type(v) is not np.ndarray else out


def _numbers_only(v: Any) -> Any:
    """An array or reference argument with its text and logical cells blanked (the
    numbers, blanks and error values kept); a scalar (typed) argument unchanged."""
    import schedula as sh
    from formulas.tokens.operand import XlError

    def one(x: Any) -> Any:
        text = isinstance(x, str) and x is not sh.EMPTY and not isinstance(x, XlError)
        return sh.EMPTY if isinstance(x, (bool, np.bool_)) or text else x

    return _each_value(v, one, scalars=False)


def _skipping_text(original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` called with text and logical cells of its array arguments blanked.

    The ``formulas`` package (1.3.4) read a number stored as text in a range as that
    number in SUM, COUNT, PRODUCT and SUMPRODUCT (SUM over 1, '12.5', 3 gave 16.5 where
    Excel and LibreOffice give 4) and gave #VALUE! in AVERAGE, MAX, MIN, MEDIAN and STDEV
    (Excel: 2, 3, 1, 2, 1.414...).  Numbers stored as text are common in pasted or
    exported price tables.  A typed argument (``SUM("12.5")``) is still coerced.
    """
    def f(*args: Any) -> Any:
        return original(*(_numbers_only(a) for a in args))

    return functools.update_wrapper(f, original)


# --- The 1904 date system (Excel for Mac workbooks, workbookPr date1904="1") --------------

#: Days from 1900-01-00 (serial 0 of the 1900 system) to 1904-01-01 (serial 0 of 1904).
DAYS_1904 = 1462


def _shift_serial(v: Any, days: int, blank: Any = None) -> Any:
    """A date serial (or every number of an array) moved by ``days``; text, logical and
    error values unchanged; a blank cell becomes ``blank`` when given."""
    import schedula as sh
    from formulas.tokens.operand import XlError

    def one(x: Any) -> Any:
        if x is sh.EMPTY:
            return x if blank is None else blank
        if isinstance(x, (bool, np.bool_, XlError, str)):
            return x
        if isinstance(x, (int, float, np.integer, np.floating)):
            return float(x) + days
        return x

    return _each_value(v, one)


def _in_1904(original: Callable[..., Any], dates: tuple[int, ...] = (),
             lists: tuple[int, ...] = (), result: bool = False) -> Callable[..., Any]:
    """``original`` (a 1900-system date function) for a 1904-system workbook.

    The arguments at ``dates`` (a date each; a blank is serial 0, 1904-01-01) and at
    ``lists`` (ranges of dates, holidays) move up by :data:`DAYS_1904`; a date result
    (``result``) moves down by it, and a date before 1904-01-01 is ``#NUM!``, as Excel
    gives there.
    """
    from formulas.tokens.operand import Error, XlError

    def f(*args: Any) -> Any:
        moved = [_shift_serial(a, DAYS_1904, blank=float(DAYS_1904)) if i in dates
                 else _shift_serial(a, DAYS_1904) if i in lists else a
                 for i, a in enumerate(args)]
        for i in dates:
            if i < len(args):
                first = np.asarray(moved[i], dtype=object).reshape(-1)
                if (first.size and isinstance(first[0], float) and first[0] < DAYS_1904):
                    return Error.errors["#NUM!"]
        res = original(*moved)
        if not result:
            return res
        out = _shift_serial(res, -DAYS_1904)
        vals = np.asarray(out, dtype=object).reshape(-1)
        if any(isinstance(x, float) and not isinstance(x, XlError) and x < 0 for x in vals):
            return Error.errors["#NUM!"]
        return out

    return functools.update_wrapper(f, original)


#: Date functions of the ``formulas`` package by name: (date argument positions, date-list
#: argument positions, returns a date).
_DATE_FUNCTIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...], bool]] = {
    "DATE": ((), (), True), "DATEVALUE": ((), (), True),
    "TODAY": ((), (), True), "NOW": ((), (), True),
    "DAY": ((0,), (), False), "MONTH": ((0,), (), False), "YEAR": ((0,), (), False),
    "WEEKDAY": ((0,), (), False), "WEEKNUM": ((0,), (), False),
    "ISOWEEKNUM": ((0,), (), False),
    "EDATE": ((0,), (), True), "EOMONTH": ((0,), (), True),
    "YEARFRAC": ((0, 1), (), False), "DAYS": ((0, 1), (), False),
    "DAYS360": ((0, 1), (), False), "DATEDIF": ((0, 1), (), False),
    "NETWORKDAYS": ((0, 1), (2,), False), "NETWORKDAYS.INTL": ((0, 1), (3,), False),
    "WORKDAY": ((0,), (2,), True), "WORKDAY.INTL": ((0,), (3,), True),
}


@contextlib.contextmanager
def date_system_1904() -> Iterator[None]:
    """Evaluate date functions for a workbook saved in the 1904 date system.

    In such a workbook (Excel for Mac before 2016, and files made from them:
    ``<workbookPr date1904="1"/>``) serial 0 is 1904-01-01, 1,462 days later than in
    the 1900 system the ``formulas`` package assumes, so without this ``YEAR`` of
    2024-01-31 gave 2020, ``DATE(2024,1,31)`` a serial Excel shows as 2028-02-01 and
    ``WEEKDAY`` the wrong day.  Inside the block the date functions of
    :data:`_DATE_FUNCTIONS` (and ``TEXT`` with a date format) read and write 1904
    serials, and PyXL's formulas read a date column of serials from 1904-01-01
    (:data:`pyxl.numparse.SERIAL_EPOCH`); on leaving, the 1900 ones are back.  Not
    converted: date texts coerced
    by arithmetic or ``VALUE`` (``="2024-01-31"+0``) and the bond functions (COUP*).
    """
    import formulas
    import formulas.functions.text as ftext

    register()
    table = formulas.get_functions()
    saved = dict(table)
    fmt = ftext._format_datetime

    def wrap(entry: Any, spec: tuple[tuple[int, ...], tuple[int, ...], bool]) -> Any:
        if isinstance(entry, dict):
            return dict(entry, function=_in_1904(entry["function"], *spec))
        return _in_1904(entry, *spec)

    token = SERIAL_EPOCH.set("1904-01-01")  # PyXL's formulas read date serials as 1904
    try:
        for name, spec in _DATE_FUNCTIONS.items():
            for key in (name, "_XLFN." + name):
                if key in table:
                    table[key] = wrap(saved[key], spec)
        ftext._format_datetime = lambda value, codes, types: fmt(
            value + DAYS_1904, codes, types)
        yield
    finally:
        table.clear()
        table.update(saved)
        ftext._format_datetime = fmt
        SERIAL_EPOCH.reset(token)


def _replace(table: Any, name: str, new: Any) -> None:
    """Put ``new`` under ``name`` and every alias of ``name`` (``_XLFN.``, compat names)."""
    old = table[name]
    for key in [k for k, v in table.items() if v is old]:
        table[key] = new
    table[name] = table["_XLFN." + name] = new


@functools.lru_cache(maxsize=1)
def register() -> tuple[str, ...]:
    """Register every PyXL formula with the ``formulas`` engine; return their names.

    Also mends the package's functions that gave Excel's formulas a different
    value, silently: INDEX with a 0 row or column number
    (:func:`_index_whole_row_or_column`, which the MNVH Ledger sheet uses), the
    criteria of SUMIF(S)/COUNTIF(S)/AVERAGEIF(S)/MAXIFS/MINIFS
    (:func:`_criterion_test`), ROUND/ROUNDUP/ROUNDDOWN (:func:`excel_round`),
    FLOOR/CEILING/MROUND and their .MATH/.PRECISE forms (:func:`excel_step`),
    YEARFRAC bases 0 and 1 (:func:`yearfrac_days`) and PERCENTRANK(.INC/.EXC) with
    tied values (:func:`percentrank`).
    """
    import formulas
    from formulas.functions import wrap_func, wrap_impure_func, wrap_ranges_func
    from formulas.functions.date import xyearfrac
    from formulas.functions.look import xindex

    table = formulas.get_functions()
    found = pyxl_formulas()
    for name, func in found.items():
        table[name] = wrap_ranges_func(_adapter(func))
    table["INDEX"] = dict(table["INDEX"], function=wrap_impure_func(
        wrap_func(_index_whole_row_or_column(xindex), ranges=True)))
    mended = {**_criteria_functions(), **_round_functions(), **_step_functions(),
              **_percentrank_functions(),
              "YEARFRAC": wrap_func(_yearfrac(xyearfrac))}
    for name in SKIP_TEXT_IN_REFERENCES:
        if callable(table.get(name)) and name not in mended:
            mended[name] = _skipping_text(table[name])
    for name, func in mended.items():
        _replace(table, name, func)
    return tuple(sorted(found))
